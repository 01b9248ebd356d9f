import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { parseCapture } from '@ticklake/core/sources/capture'
import { firstTradeAfter, isoToMicros, parseAdvancedFrame, parseExchangeFrame, subscribeMessages, tradesBefore, tradesFrom } from '@ticklake/core/sources/coinbase'
import { startFakeCoinbase, type FakeCoinbase } from './coinbase'

/** The real Advanced Trade recording, read in place (../shared/data next to the repository); absent in a fresh clone. */
const RECORDING = fileURLToPath(new URL('../../../../../shared/data/coinbase/57d5f18d6098/COINBASE.jsonl.zst', import.meta.url))
const hasData = existsSync(RECORDING)
if (!hasData) console.warn(`fake Coinbase tests: comparisons with the real recording skipped: ${RECORDING} is absent (it lives in ../shared/data)`)
const LEGACY = fileURLToPath(new URL('../../../../../shared/data/coinbase/be4e5c81354b/COINBASE.ws.28.0', import.meta.url))
/** The first `match` of the legacy ws-feed recording, parsed. */
const recordedMatch = () => existsSync(LEGACY) ? JSON.parse(readFileSync(LEGACY, 'utf8').split('\n').find((l) => l.includes('"type":"match"'))!.replace(/^[^{]*/, '')) : undefined
/** The first recorded frame of a channel (and event type), parsed. */
const recorded = (() => {
  const frames = hasData ? parseCapture(readFileSync(RECORDING)).filter((m) => m.kind === 'ws').map((m) => JSON.parse(m.data)) : []
  return (channel: string, type?: string) => frames.find((f) => f.channel === channel && (!type || f.events[0]?.type === type))
})()

/** Opens a socket and collects its frames, parsed. */
async function client(url: string) {
  const ws = new WebSocket(url)
  const got: any[] = []
  ws.on('message', (d) => got.push(JSON.parse(d.toString())))
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  const until = async (pred: () => boolean, ms = 3_000) => {
    for (const end = Date.now() + ms; !pred() && Date.now() < end;) await new Promise((r) => setTimeout(r, 20))
    return got
  }
  return { ws, got, until }
}
const get = async (cb: FakeCoinbase, path: string) => {
  const r = await fetch(cb.restUrl + path)
  return { status: r.status, headers: r.headers, body: await r.json() as any }
}

describe('fake coinbase websocket', () => {
  let cb: FakeCoinbase
  beforeAll(async () => { cb = await startFakeCoinbase({ symbols: ['BTC-USD', 'ETH-USD'], historyMs: 120_000, ratePerSec: 30, heartbeatMs: 200, seed: 5 }) })
  afterAll(() => cb.close())

  it('answers subscriptions like the recording: snapshots of the last 100 trades, subscriptions frames, ticker, heartbeats, numbered from 0', async () => {
    const c = await client(cb.wsUrl)
    for (const m of subscribeMessages(['BTC-USD', 'ETH-USD'])) c.ws.send(m)
    const got = await c.until(() => c.got.some((f) => f.channel === 'heartbeats') && c.got.filter((f) => f.channel === 'market_trades').length > 3)
    c.ws.close()
    expect(got.map((f) => f.sequence_num)).toEqual(got.map((_, i) => i))
    expect(got.slice(0, 3).map((f) => [f.channel, f.events[0].type])).toEqual([['market_trades', 'snapshot'], ['market_trades', 'snapshot'], ['subscriptions', undefined]])
    for (const [i, product] of ['BTC-USD', 'ETH-USD'].entries()) {
      const snap = got[i].events[0].trades
      expect(snap.length).toBe(100)
      expect(snap.every((t: any) => t.product_id === product)).toBe(true)
      expect(snap.map((t: any) => Number(t.trade_id))).toEqual(cb.trades(product).map((t) => t.trade_id).filter((id) => id <= Number(snap[0].trade_id)).slice(-100).reverse())
    }
    const subs = got.filter((f) => f.channel === 'subscriptions').at(-1)
    expect(subs.events[0].subscriptions).toEqual({ market_trades: ['BTC-USD', 'ETH-USD'], ticker: ['BTC-USD', 'ETH-USD'], heartbeats: ['heartbeats'] })
    const update = got.find((f) => f.channel === 'market_trades' && f.events[0].type === 'update')
    const r = parseAdvancedFrame(JSON.stringify(update), { ingestTs: 1, source: 'ws' })
    expect(r.kind).toBe('trades')
    const quotes = parseAdvancedFrame(JSON.stringify(got.find((f) => f.channel === 'ticker')), { ingestTs: 1, source: 'ws', quotes: true })
    expect(quotes.kind).toBe('quotes')
    if (quotes.kind === 'quotes') expect(quotes.quotes[0].ask).toBeGreaterThan(quotes.quotes[0].bid)
    if (!hasData) return
    // Keys and their order as Coinbase sends them; values of the same kind (decimal strings, ISO times).
    const keys = (o: any) => Object.keys(o)
    for (const [channel, type] of [['market_trades', 'snapshot'], ['market_trades', 'update'], ['ticker', 'snapshot'], ['ticker', 'update'], ['heartbeats', undefined], ['subscriptions', undefined]] as const) {
      const mine = got.find((f) => f.channel === channel && (!type || f.events[0]?.type === type))
      const real = recorded(channel, type)
      expect(keys(mine), channel).toEqual(keys(real))
      expect(keys(mine.events[0]), channel).toEqual(keys(real.events[0]))
    }
    const [mineTrade, realTrade] = [update.events[0].trades[0], recorded('market_trades', 'update').events[0].trades[0]]
    expect(keys(mineTrade)).toEqual(keys(realTrade))
    expect(Object.values(mineTrade).map((v) => typeof v)).toEqual(Object.values(realTrade).map((v) => typeof v))
    expect(isoToMicros(mineTrade.time)).toBeDefined()
    expect(isoToMicros(got[0].timestamp)).toBeDefined()
    expect(keys(got.find((f) => f.channel === 'ticker').events[0].tickers[0])).toEqual(keys(recorded('ticker').events[0].tickers[0]))
    expect(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} \+0000 UTC m=\+\d+\.\d{9}$/.test(got.find((f) => f.channel === 'heartbeats').events[0].current_time)).toBe(true)
  })

  it('sends each new trade once in update events, ids consecutive after the snapshot', async () => {
    const c = await client(cb.wsUrl)
    c.ws.send(subscribeMessages(['BTC-USD'], ['market_trades'])[0])
    const got = await c.until(() => c.got.filter((f) => f.channel === 'market_trades').length > 5)
    c.ws.close()
    const ids = got.filter((f) => f.channel === 'market_trades').flatMap((f) => f.events[0].trades.map((t: any) => Number(t.trade_id)).reverse())
    const truth = cb.trades('BTC-USD').map((t) => t.trade_id)
    expect(ids.slice(100)).toEqual(truth.slice(truth.indexOf(ids[100]), truth.indexOf(ids[100]) + ids.length - 100))
    expect(ids[100]).toBe(ids[99] + 1)
  })

  it('speaks the legacy ws-feed on /ws-feed: subscriptions, last_match then match frames keyed like the recording, heartbeats with last_trade_id', async () => {
    const c = await client(`${cb.wsUrl}/ws-feed`)
    c.ws.send(JSON.stringify({ type: 'subscribe', product_ids: ['BTC-USD'], channels: ['matches', 'heartbeat'] }))
    const got = await c.until(() => c.got.some((f) => f.type === 'heartbeat') && c.got.filter((f) => f.type === 'match').length > 3)
    c.ws.close()
    expect(got[0]).toEqual({ type: 'subscriptions', channels: [{ name: 'matches', product_ids: ['BTC-USD'] }, { name: 'heartbeat', product_ids: ['BTC-USD'] }] })
    expect(got[1].type).toBe('last_match')
    const matches = got.filter((f) => f.type === 'match' || f.type === 'last_match')
    const ids = matches.map((f) => f.trade_id)
    expect(ids).toEqual(ids.map((_, i) => ids[0] + i))
    const truth = new Map(cb.trades('BTC-USD').map((t) => [t.trade_id, t]))
    for (const f of matches) {
      const r = parseExchangeFrame(JSON.stringify(f), { ingestTs: 1, source: 'ws' })
      expect(r.kind).toBe('trades')
      if (r.kind === 'trades') expect([r.trades[0].price, r.trades[0].qty, r.trades[0].side]).toEqual([Number(truth.get(f.trade_id)!.price), Number(truth.get(f.trade_id)!.size), truth.get(f.trade_id)!.side === 'buy' ? 'sell' : 'buy'])
    }
    const hb = got.find((f) => f.type === 'heartbeat')
    expect(hb.last_trade_id).toBeGreaterThanOrEqual(ids[0])
    expect(parseExchangeFrame(JSON.stringify(hb), { ingestTs: 1, source: 'ws' })).toMatchObject({ kind: 'ignored', latest: { productId: 'BTC-USD', tradeId: hb.last_trade_id } })
    const real = recordedMatch()
    if (real) expect(Object.keys(matches[1])).toEqual(Object.keys(real))
  })

  it('answers an unknown channel or product with an error frame, and closes a connection that never subscribes', async () => {
    const c = await client(cb.wsUrl)
    c.ws.send(JSON.stringify({ type: 'subscribe', product_ids: ['BTC-USD'], channel: 'nope' }))
    c.ws.send(JSON.stringify({ type: 'subscribe', product_ids: ['DOGE-EUR'], channel: 'market_trades' }))
    await c.until(() => c.got.length >= 2)
    expect(c.got.map((f) => [f.type, f.message])).toEqual([['error', 'Failed to subscribe'], ['error', 'Failed to subscribe']])
    c.ws.close()
    const quiet = await startFakeCoinbase({ symbols: ['BTC-USD'], historyMs: 1_000, subscribeTimeoutMs: 150 })
    const q = await client(quiet.wsUrl)
    const closed = await new Promise<number>((r) => q.ws.once('close', (code) => r(code)))
    expect(closed).toBe(1000)
    await quiet.close()
  })
})

describe('fake coinbase REST', () => {
  let cb: FakeCoinbase
  beforeAll(async () => { cb = await startFakeCoinbase({ symbols: ['BTC-USD'], historyMs: 10 * 60_000, ratePerSec: 20, seed: 9, restRatePerSec: 10_000, restBurst: 10_000 }) })
  afterAll(() => cb.close())

  it('pages trades newest first with after and before id cursors and CB-AFTER/CB-BEFORE headers', async () => {
    const first = await get(cb, '/products/BTC-USD/trades?limit=5')
    const truth = cb.trades('BTC-USD')
    const top = first.body[0].trade_id
    const at = truth.findIndex((t) => t.trade_id === top)
    expect(first.body.map((t: any) => t.trade_id)).toEqual(truth.slice(at - 4, at + 1).map((t) => t.trade_id).reverse())
    expect(Object.keys(first.body[0])).toEqual(['time', 'trade_id', 'price', 'size', 'side'])
    expect(first.body[0].price).toMatch(/^\d+\.\d{8}$/)
    expect(first.headers.get('cb-before')).toBe(String(top))
    expect(first.headers.get('cb-after')).toBe(String(first.body[4].trade_id))
    const older = await get(cb, `/products/BTC-USD/trades?limit=5&after=${first.headers.get('cb-after')}`)
    expect(older.body.map((t: any) => t.trade_id)).toEqual(truth.slice(at - 9, at - 4).map((t) => t.trade_id).reverse())
    const newer = await get(cb, `/products/BTC-USD/trades?limit=3&before=${older.body[4].trade_id}`)
    expect(newer.body.map((t: any) => t.trade_id)).toEqual(truth.slice(at - 8, at - 5).map((t) => t.trade_id).reverse())
    expect((await get(cb, '/products/NOPE-USD/trades')).status).toBe(404)
    expect((await get(cb, '/products/BTC-USD/trades?after=x')).status).toBe(400)
  })

  it('serves core backfill exactly: tradesFrom by id range, tradesBefore to a checkpoint, firstTradeAfter to the trade', async () => {
    const truth = cb.trades('BTC-USD').slice()
    const ids = truth.map((t) => t.trade_id)
    const quick = { pageDelayMs: 0 }
    const pages: number[][] = []
    for await (const page of tradesFrom(cb.restUrl, 'BTC-USD', ids[100], ids[2_600], fetch, quick)) pages.push(page.map((t) => t.trade_id))
    expect(pages.flat()).toEqual(ids.slice(100, 2_601))
    expect(pages.length).toBe(3)
    const tail: number[] = []
    for await (const page of tradesFrom(cb.restUrl, 'BTC-USD', ids[ids.length - 1_500], Infinity, fetch, quick)) tail.push(...page.map((t) => t.trade_id))
    expect(tail.slice(0, 1_500)).toEqual(ids.slice(-1_500))
    expect((await tradesBefore(cb.restUrl, 'BTC-USD', ids[ids.length - 1_200], fetch, quick)).map((t) => t.trade_id).slice(0, 1_199)).toEqual(ids.slice(-1_199))
    for (const back of [30_000, 5 * 60_000, 9 * 60_000]) {
      const since = Date.now() - back
      expect(await firstTradeAfter(cb.restUrl, 'BTC-USD', since, fetch, quick)).toBe(truth.find((t) => isoToMicros(t.time)! >= since * 1000)!.trade_id)
    }
    expect(await firstTradeAfter(cb.restUrl, 'BTC-USD', Date.now() + 60_000, fetch, quick)).toBeUndefined()
    expect(await firstTradeAfter(cb.restUrl, 'BTC-USD', Date.now() - 3_600_000, fetch, quick)).toBe(ids[0])
  })

  it('answers 429 past Coinbase public limit of requests a second', async () => {
    const tight = await startFakeCoinbase({ symbols: ['BTC-USD'], historyMs: 1_000, restRatePerSec: 1, restBurst: 3 })
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) statuses.push((await fetch(`${tight.restUrl}/products/BTC-USD/trades?limit=1`)).status)
    expect(statuses).toEqual([200, 200, 200, 429, 429])
    expect(await (await fetch(`${tight.restUrl}/time`)).json()).toEqual({ message: 'Public rate limit exceeded' })
    await tight.close()
  })
})
