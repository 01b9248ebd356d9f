import { describe, expect, it } from 'vitest'
import type { ConnectionPoster, ConnectionStore, ObjectStore } from '../../ports/index'
import { broadcast, onConnect, onDisconnect, onMessage, snapshotOf } from './server'

/** A minimal ConnectionStore over one map (core may not import the local one). */
function connections(): ConnectionStore {
  const subs = new Map<string, Set<string>>()
  return {
    async add(id) { if (!subs.has(id)) subs.set(id, new Set()) },
    async remove(id) { subs.delete(id) },
    async subscribe(id, chs) { const s = subs.get(id); if (!s) return 0; chs.forEach((c) => s.add(c)); return s.size },
    async unsubscribe(id, chs) { chs.forEach((c) => subs.get(id)?.delete(c)) },
    async subscribers(ch) { return [...subs].filter(([, s]) => s.has(ch)).map(([id]) => id) },
    async channelsOf(id) { return [...(subs.get(id) ?? [])] },
    async tally(id, counter, windowMs, now) {
      const key = `${id} ${counter} ${Math.floor(now / windowMs)}`
      counts.set(key, (counts.get(key) ?? 0) + 1)
      return counts.get(key)!
    },
  }
}
const counts = new Map<string, number>()

/** A poster that records what it sends; `answers` decides per connection. */
function recorder(answers: Record<string, () => Promise<'ok' | 'gone'>> = {}) {
  const sent: { id: string; msg: any }[] = []
  const poster: ConnectionPoster = {
    async post(id, data) {
      const answer = answers[id] ? await answers[id]() : 'ok'
      if (answer === 'ok') sent.push({ id, msg: JSON.parse(data) })
      return answer
    },
  }
  return { poster, sent, to: (id: string) => sent.filter((s) => s.id === id).map((s) => s.msg) }
}

/** An ObjectStore holding a few keys. */
function objects(files: Record<string, string> = {}): ObjectStore {
  const enc = new TextEncoder()
  return {
    async get(key) { return key in files ? enc.encode(files[key]) : undefined },
    async head() { return undefined },
    async put() { throw new Error('read only') },
    async list() { return [] },
    async delete() {},
  }
}

const BTC = 'candles:binance:BTC-USDT:1m'
const candle = { open_time: 60_000, close: 5 }

async function connected(id = 'c1') {
  const store = connections()
  await onConnect(store, id, 1)
  return store
}

describe('onMessage', () => {
  it('subscribes, answers subscribed, then sends a snapshot from the serving window of each candle channel', async () => {
    const store = await connected()
    const r = recorder()
    const objs = objects({ 'serving/binance/BTC-USDT/1m.json': JSON.stringify({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', updated_at: 1, candles: [candle] }) })
    await onMessage({ store, poster: r.poster, objects: objs, connectionId: 'c1', body: JSON.stringify({ action: 'subscribe', channels: [BTC, 'trades:binance:BTC-USDT', 'candles:binance:ETH-USDT:5m'] }) })
    expect(r.to('c1')).toEqual([
      { type: 'subscribed', channels: [BTC, 'trades:binance:BTC-USDT', 'candles:binance:ETH-USDT:5m'] },
      { type: 'snapshot', channel: BTC, candles: [candle] },
      { type: 'snapshot', channel: 'trades:binance:BTC-USDT', candles: [], trades: [] },
      { type: 'snapshot', channel: 'candles:binance:ETH-USDT:5m', candles: [] },
    ])
    expect(await store.subscribers(BTC)).toEqual(['c1'])
  })

  it('sends an empty snapshot when the serving window is unreadable', async () => {
    const store = await connected()
    const r = recorder()
    await onMessage({ store, poster: r.poster, objects: objects({ 'serving/binance/BTC-USDT/1m.json': '{broken' }), connectionId: 'c1', body: JSON.stringify({ action: 'subscribe', channels: [BTC] }) })
    expect(r.to('c1')[1]).toEqual({ type: 'snapshot', channel: BTC, candles: [] })
  })

  it('keeps a snapshot frame under API Gateway\'s 128 KB post limit by sending the newest candles of a long window', async () => {
    const full = (i: number) => ({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', open_time: i * 60_000, close_time: i * 60_000 + 59_999, open: 97012.5, high: 97020.1, low: 97001, close: 97015.3, volume: 3.214, quote_volume: 311825.7, trades: 412, taker_buy_volume: 1.9, taker_buy_quote_volume: 184330.2, vwap: 97020.5, first_trade_id: 3301200 + i, last_trade_id: 3301611 + i, final: true })
    const candles = Array.from({ length: 720 }, (_, i) => full(i))
    const s = await snapshotOf(objects({ 'serving/binance/BTC-USDT/1m.json': JSON.stringify({ candles }) }), BTC)
    const bytes = JSON.stringify(s).length
    expect(bytes).toBeLessThanOrEqual(120_000)
    expect(bytes).toBeGreaterThan(100_000)
    expect(s.candles.at(-1)).toEqual(candles.at(-1))
    expect(s.candles.map((c) => c.open_time)).toEqual(candles.slice(-s.candles.length).map((c) => c.open_time))
  })

  it('sends snapshots of every timeframe from its own serving window, rolled up from 1m when that window is missing', async () => {
    const m = (i: number, o: object = {}) => ({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', open_time: i * 60_000, close_time: i * 60_000 + 59_999, open: i, high: i + 1, low: i - 1, close: i + 0.5, volume: 1, quote_volume: i, trades: 2, taker_buy_volume: 0.5, taker_buy_quote_volume: i / 2, vwap: i, first_trade_id: i * 10, last_trade_id: i * 10 + 1, final: true, ...o })
    const hour = { ...m(0), tf: '1h', close_time: 3_599_999, volume: 60 }
    const objs = objects({
      'serving/binance/BTC-USDT/1m.json': JSON.stringify({ candles: [m(0), m(1), m(2), m(3), m(4), m(5), m(6)] }),
      'serving/binance/BTC-USDT/1h.json': JSON.stringify({ candles: [hour] }),
    })
    const five = await snapshotOf(objs, 'candles:binance:BTC-USDT:5m')
    expect(five.candles.map((c) => [c.tf, c.open_time, c.open, c.high, c.low, c.close, c.volume, c.trades, c.first_trade_id, c.last_trade_id, c.final])).toEqual([
      ['5m', 0, 0, 5, -1, 4.5, 5, 10, 0, 41, true],
      ['5m', 300_000, 5, 7, 4, 6.5, 2, 4, 50, 61, false],
    ])
    expect((await snapshotOf(objs, 'candles:binance:BTC-USDT:1h')).candles).toEqual([hour])
    expect((await snapshotOf(objs, 'candles:binance:BTC-USDT:1d')).candles).toHaveLength(1)
    expect((await snapshotOf(objects(), 'candles:binance:BTC-USDT:4h')).candles).toEqual([])
  })

  it('sends the snapshot of trades, ticker and stats channels from live.json, or an empty one when there is none', async () => {
    const ticker = { exchange: 'binance', symbol: 'BTC-USDT', time: 5, price: 100, bid: 99, ask: 101 }
    const stats = { exchange: 'binance', symbol: 'BTC-USDT', time: 6, trades_per_s: 3, window_ms: 10_000, minute_volume: 1, minute_trades: 2, hour_volume: 3, hour_trades: 4, ingest_lag_ms: 7 }
    const trades = [{ id: 1, time: 5, price: 100, qty: 1, side: 'buy', ingest_time: 6 }]
    const objs = objects({ 'serving/binance/BTC-USDT/live.json': JSON.stringify({ exchange: 'binance', symbol: 'BTC-USDT', updated_at: 6, trades, ticker, stats }), 'serving/binance/ETH-USDT/live.json': '{torn' })
    expect(await snapshotOf(objs, 'trades:binance:BTC-USDT')).toEqual({ type: 'snapshot', channel: 'trades:binance:BTC-USDT', candles: [], trades })
    expect(await snapshotOf(objs, 'ticker:binance:BTC-USDT')).toEqual({ type: 'snapshot', channel: 'ticker:binance:BTC-USDT', candles: [], ticker })
    expect(await snapshotOf(objs, 'stats:binance:BTC-USDT')).toEqual({ type: 'snapshot', channel: 'stats:binance:BTC-USDT', candles: [], stats })
    expect(await snapshotOf(objs, 'ticker:binance:ETH-USDT')).toEqual({ type: 'snapshot', channel: 'ticker:binance:ETH-USDT', candles: [], ticker: null })
    expect(await snapshotOf(objs, 'stats:binance:SOL-USDT')).toEqual({ type: 'snapshot', channel: 'stats:binance:SOL-USDT', candles: [], stats: null })
  })

  it('sends snapshots only for channels newly held: subscribing again to held channels costs one acknowledgement', async () => {
    const store = await connected()
    const r = recorder()
    const reads: string[] = []
    const base = objects({ 'serving/binance/BTC-USDT/1m.json': JSON.stringify({ candles: [candle] }) })
    const objs: ObjectStore = { ...base, get: async (key) => { reads.push(key); return base.get(key) } }
    const sub = (channels: string[]) => onMessage({ store, poster: r.poster, objects: objs, connectionId: 'c1', body: JSON.stringify({ action: 'subscribe', channels }) })
    await sub([BTC, 'trades:binance:BTC-USDT'])
    expect(r.to('c1').map((m) => m.type)).toEqual(['subscribed', 'snapshot', 'snapshot'])
    r.sent.length = 0
    for (let i = 0; i < 5; i++) await sub([BTC, 'trades:binance:BTC-USDT'])
    expect(r.to('c1')).toEqual(Array.from({ length: 5 }, () => ({ type: 'subscribed', channels: [BTC, 'trades:binance:BTC-USDT'] })))
    r.sent.length = 0
    await sub([BTC, 'ticker:binance:BTC-USDT'])
    expect(r.to('c1')).toEqual([{ type: 'subscribed', channels: [BTC, 'ticker:binance:BTC-USDT'] }, { type: 'snapshot', channel: 'ticker:binance:BTC-USDT', candles: [], ticker: null }])
    expect(reads.filter((k) => k.endsWith('1m.json'))).toHaveLength(1)
  })

  it('reads a channel\'s snapshot once for many clients subscribing within the reuse period', async () => {
    const store = connections()
    const r = recorder()
    let reads = 0
    const base = objects({ 'serving/binance/BTC-USDT/1m.json': JSON.stringify({ candles: [candle] }) })
    const objs: ObjectStore = { ...base, get: async (key) => { reads++; return base.get(key) } }
    const ids = Array.from({ length: 20 }, (_, i) => `c${i}`)
    for (const id of ids) await onConnect(store, id, 1)
    await Promise.all(ids.map((id) => onMessage({ store, poster: r.poster, objects: objs, connectionId: id, body: JSON.stringify({ action: 'subscribe', channels: [BTC] }), now: () => 5_000 })))
    for (const id of ids) expect(r.to(id)[1]).toEqual({ type: 'snapshot', channel: BTC, candles: [candle] })
    expect(reads).toBe(1)
    await onConnect(store, 'late', 1)
    await onMessage({ store, poster: r.poster, objects: objs, connectionId: 'late', body: JSON.stringify({ action: 'subscribe', channels: [BTC] }), now: () => 5_000 + 10_000 })
    expect(reads).toBe(2)
  })

  it('subscribes the good channels of a subscribe naming bad ones too, and names the bad ones in one bad_channel error', async () => {
    const store = await connected()
    const r = recorder()
    const bad = ['candles:binance:BTC-USDT:constructor', 'candles:binance:BTC-USDT:__proto__', 'trades:binance:toString', 42]
    await onMessage({ store, poster: r.poster, objects: objects(), connectionId: 'c1', body: JSON.stringify({ action: 'subscribe', channels: [BTC, ...bad, 'trades:binance:BTC-USDT'] }) })
    const frames = r.to('c1')
    expect(frames[0]).toEqual({ type: 'subscribed', channels: [BTC, 'trades:binance:BTC-USDT'] })
    expect(frames[1]).toMatchObject({ type: 'error', code: 'bad_channel', channels: ['candles:binance:BTC-USDT:constructor', 'candles:binance:BTC-USDT:__proto__', 'trades:binance:toString', '42'] })
    expect(frames.slice(2).map((m) => m.type)).toEqual(['snapshot', 'snapshot'])
    expect((await store.channelsOf('c1')).sort()).toEqual([BTC, 'trades:binance:BTC-USDT'])
    await onMessage({ store, poster: r.poster, objects: objects(), connectionId: 'c1', body: JSON.stringify({ action: 'unsubscribe', channels: [BTC, 'candles:binance:BTC-USDT:valueOf'] }) })
    expect(r.to('c1').slice(-2)).toMatchObject([{ type: 'unsubscribed', channels: [BTC] }, { type: 'error', code: 'bad_channel', channels: ['candles:binance:BTC-USDT:valueOf'] }])
  })

  it('unsubscribes and answers unsubscribed', async () => {
    const store = await connected()
    const r = recorder()
    await store.subscribe('c1', [BTC])
    await onMessage({ store, poster: r.poster, objects: objects(), connectionId: 'c1', body: JSON.stringify({ action: 'unsubscribe', channels: [BTC] }) })
    expect(r.to('c1')).toEqual([{ type: 'unsubscribed', channels: [BTC] }])
    expect(await store.subscribers(BTC)).toEqual([])
  })

  it('answers ping with pong and the server time', async () => {
    const r = recorder()
    await onMessage({ store: await connected(), poster: r.poster, objects: objects(), connectionId: 'c1', body: '{"action":"ping"}', now: () => 42 })
    expect(r.to('c1')).toEqual([{ type: 'pong', time: 42 }])
  })

  it('answers every kind of bad frame with an error code instead of throwing', async () => {
    const store = await connected()
    const r = recorder()
    const frames: [string | undefined, string][] = [
      [undefined, 'bad_json'], ['{nope', 'bad_json'], ['[]', 'bad_message'], ['{"action":"dance"}', 'unknown_action'],
      ['{"action":"subscribe","channels":["candles:binance:BTC-USDT"]}', 'bad_channel'], ['{"action":"subscribe","channels":[]}', 'bad_message'],
      ['x'.repeat(40_000), 'too_large'],
    ]
    for (const [body] of frames) await onMessage({ store, poster: r.poster, objects: objects(), connectionId: 'c1', body })
    expect(r.to('c1').map((m) => [m.type, m.code])).toEqual(frames.map(([, code]) => ['error', code]))
  })

  it('refuses subscriptions that would take a connection over the total bound, keeping what it held', async () => {
    const store = await connected()
    const r = recorder()
    const ch = (i: number) => `trades:binance:C${i}-USDT`
    const sub = (from: number, n: number) => onMessage({ store, poster: r.poster, objects: objects(), connectionId: 'c1', body: JSON.stringify({ action: 'subscribe', channels: Array.from({ length: n }, (_, i) => ch(from + i)) }) })
    await sub(0, 40)
    await sub(40, 11)
    expect(r.to('c1').at(-1)).toMatchObject({ type: 'error', code: 'too_many_subscriptions' })
    expect(await store.channelsOf('c1')).toHaveLength(40)
    await sub(30, 20) // 10 held again + 10 new = 50: allowed
    expect(r.to('c1').filter((m) => m.type !== 'snapshot').at(-1)).toMatchObject({ type: 'subscribed' })
    expect(await store.channelsOf('c1')).toHaveLength(50)
  })

  it('keeps the bound when two subscribes of one connection race', async () => {
    const store = await connected()
    const r = recorder()
    const body = (tag: string) => JSON.stringify({ action: 'subscribe', channels: Array.from({ length: 30 }, (_, i) => `trades:binance:${tag}${i}-USDT`) })
    await Promise.all([
      onMessage({ store, poster: r.poster, objects: objects(), connectionId: 'c1', body: body('A') }),
      onMessage({ store, poster: r.poster, objects: objects(), connectionId: 'c1', body: body('B') }),
    ])
    expect((await store.channelsOf('c1')).length).toBeLessThanOrEqual(50)
    expect(r.to('c1').map((m) => m.type).filter((t) => t !== 'snapshot').sort()).toEqual(['error', 'subscribed'])
  })

  it('answers internal when the store fails, and survives a poster that throws', async () => {
    const store = await connected()
    store.channelsOf = async () => { throw new Error('table down') }
    const r = recorder()
    await onMessage({ store, poster: r.poster, objects: objects(), connectionId: 'c1', body: JSON.stringify({ action: 'subscribe', channels: [BTC] }) })
    expect(r.to('c1')).toEqual([{ type: 'error', code: 'internal', message: expect.any(String) }])
    const broken: ConnectionPoster = { post: async () => { throw new Error('network') } }
    await expect(onMessage({ store, poster: broken, objects: objects(), connectionId: 'c1', body: '{"action":"ping"}' })).resolves.toBeUndefined()
  })
})

describe('connect and disconnect', () => {
  it('registers a connection on connect and forgets it with its subscriptions on disconnect', async () => {
    const store = await connected('c9')
    await store.subscribe('c9', [BTC])
    expect(await store.subscribers(BTC)).toEqual(['c9'])
    await onDisconnect(store, 'c9')
    expect(await store.subscribers(BTC)).toEqual([])
  })
})

describe('broadcast', () => {
  it('posts one message to every subscriber of the channel and to no one else', async () => {
    const store = connections()
    for (const id of ['a', 'b', 'c']) await store.add(id, 0)
    await store.subscribe('a', [BTC]); await store.subscribe('b', [BTC]); await store.subscribe('c', ['trades:binance:BTC-USDT'])
    const r = recorder()
    expect(await broadcast({ store, poster: r.poster, channel: BTC, message: { type: 'pong', time: 1 } })).toEqual({ sent: 2, gone: 0, failed: 0 })
    expect(r.sent.map((s) => s.id).sort()).toEqual(['a', 'b'])
  })

  it('removes connections that are gone and counts failures without stopping the others', async () => {
    const store = connections()
    const ids = Array.from({ length: 20 }, (_, i) => `c${i}`)
    for (const id of ids) { await store.add(id, 0); await store.subscribe(id, [BTC]) }
    const r = recorder({ c3: async () => 'gone', c7: async () => { throw new Error('boom') }, c8: () => new Promise(() => {}) })
    const out = await broadcast({ store, poster: r.poster, channel: BTC, message: { type: 'pong', time: 1 }, concurrency: 2, timeoutMs: 50 })
    expect(out).toEqual({ sent: 17, gone: 1, failed: 2 })
    expect(await store.subscribers(BTC)).not.toContain('c3')
    expect(await store.subscribers(BTC)).toHaveLength(19)
  })

  it('never has more posts in flight than its concurrency', async () => {
    const store = connections()
    for (let i = 0; i < 50; i++) { await store.add(`c${i}`, 0); await store.subscribe(`c${i}`, [BTC]) }
    let inFlight = 0
    let most = 0
    const poster: ConnectionPoster = {
      async post() {
        most = Math.max(most, ++inFlight)
        await new Promise((r) => setTimeout(r, 2))
        inFlight--
        return 'ok'
      },
    }
    expect(await broadcast({ store, poster, channel: BTC, message: { type: 'pong', time: 1 }, concurrency: 4 })).toEqual({ sent: 50, gone: 0, failed: 0 })
    expect(most).toBe(4)
  })

  it('posts in one pass through postMany where the poster has it, removing the connections it finds gone', async () => {
    const store = connections()
    for (const id of ['a', 'b', 'c']) { await store.add(id, 0); await store.subscribe(id, [BTC]) }
    const calls: { ids: readonly string[]; msg: any }[] = []
    const poster: ConnectionPoster = {
      post: async () => { throw new Error('not one by one') },
      postMany: (ids, data) => { calls.push({ ids, msg: JSON.parse(data) }); return ids.map((id) => (id === 'b' ? 'gone' : 'ok')) },
    }
    expect(await broadcast({ store, poster, channel: BTC, message: { type: 'pong', time: 1 } })).toEqual({ sent: 2, gone: 1, failed: 0 })
    expect(calls).toEqual([{ ids: ['a', 'b', 'c'], msg: { type: 'pong', time: 1 } }])
    expect(await store.subscribers(BTC)).toEqual(['a', 'c'])
  })

  it('does nothing for a channel without subscribers', async () => {
    expect(await broadcast({ store: connections(), poster: recorder().poster, channel: BTC, message: { type: 'pong', time: 1 } })).toEqual({ sent: 0, gone: 0, failed: 0 })
  })
})

describe('abuse limits in the handlers (API Gateway has no per-connection guard of its own)', () => {
  const objects = { get: async () => undefined } as unknown as ObjectStore
  const limits = { maxFrameBytes: 1024, maxSubscriptions: 5, abuseWindowMs: 10_000, maxFrames: 5, maxStrikes: 3 }

  it('refuses frames over the window\'s count with rate_limited, and serves again in the next window', async () => {
    const store = connections()
    const { poster, to } = recorder()
    await onConnect(store, 'flood')
    const at = (now: number) => onMessage({ store, poster, objects, connectionId: 'flood', body: '{"action":"ping"}', now: () => now, limits })
    for (let i = 0; i < 7; i++) await at(1_000_000 + i)
    expect(to('flood').map((m) => m.type === 'error' ? m.code : m.type)).toEqual(['pong', 'pong', 'pong', 'pong', 'pong', 'rate_limited', 'rate_limited'])
    await at(1_010_000)
    expect(to('flood').at(-1).type).toBe('pong')
  })

  it('answers actions and timeframes named after object built-ins as unknown_action and bad_channel, each a refused frame that counts toward closing', async () => {
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf']) {
      const store = connections()
      const closed: string[] = []
      const { poster: base, to } = recorder()
      const poster: ConnectionPoster = { post: base.post, deleteConnection: async (id) => { closed.push(id); return 'ok' } }
      const id = `proto-${name}`
      await onConnect(store, id)
      const frames = [JSON.stringify({ action: name }), `{"action":"subscribe","channels":["candles:binance:BTC-USDT:${name}"]}`, JSON.stringify({ action: { toString: 1, [name]: 1 } }), `{"action":"subscribe","channels":["${name}:binance:BTC-USDT"]}`]
      for (const [i, body] of frames.entries()) await onMessage({ store, poster, objects, connectionId: id, body, now: () => 3_000_000 + i, limits })
      expect(to(id).map((m) => m.code)).toEqual(['unknown_action', 'bad_channel', 'unknown_action', 'bad_channel', 'closing'])
      expect(to(id).every((m) => !/stack|at .*\.ts|TypeError/.test(m.message))).toBe(true)
      expect(closed).toEqual([id])
    }
  })

  it('closes a connection whose refused frames pass maxStrikes, and forgets it, while another is served', async () => {
    const store = connections()
    const closed: string[] = []
    const { poster: base, to } = recorder()
    const poster: ConnectionPoster = { post: base.post, deleteConnection: async (id) => { closed.push(id); return 'ok' } }
    await onConnect(store, 'bad'); await onConnect(store, 'good')
    await onMessage({ store, poster, objects, connectionId: 'bad', body: '{"action":"subscribe","channels":["trades:binance:BTC-USDT"]}', now: () => 2_000_000, limits })
    for (let i = 0; i < 4; i++) await onMessage({ store, poster, objects, connectionId: 'bad', body: 'not json', now: () => 2_000_000 + i, limits })
    await onMessage({ store, poster, objects, connectionId: 'good', body: '{"action":"ping"}', now: () => 2_000_010, limits })
    expect(to('bad').slice(-2).map((m) => m.code)).toEqual(['bad_json', 'closing'])
    expect(closed).toEqual(['bad'])
    expect(await store.channelsOf('bad')).toEqual([])
    expect(await store.subscribers('trades:binance:BTC-USDT')).toEqual([])
    expect(to('good').at(-1).type).toBe('pong')
  })
})
