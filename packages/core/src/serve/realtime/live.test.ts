import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Candle, Trade } from '../../market/index'
import type { ConnectionPoster, ConnectionStore, ObjectStore } from '../../ports/index'
import { broadcast } from './server'
import type { ServerMessage } from './index'
import { coalescer, defaults, liveFeed, liveKey, livePort, rollUp, type Publish } from './live'

const CH = 'candles:binance:BTC-USDT:1m'
const T0 = Date.UTC(2026, 10, 24, 15, 7, 0)

function trade(id: number, tsMs: number, price = 100, o: Partial<Trade> = {}): Trade {
  return { exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: id, first_trade_id: id, last_trade_id: id, ts: tsMs * 1000, price, qty: 1, side: 'buy', trades: 1, ingest_ts: (tsMs + 20) * 1000, source: 'ws', ...o }
}

const partial = (close: number, open_time = T0): ServerMessage => ({ type: 'candle', channel: CH, candle: { open_time, close } as Candle, final: false })

/** A publish that records what it is called with, optionally slow. */
function recorder(delayMs = 0) {
  const calls: { at: number; channel: string; m: any }[] = []
  const publish: Publish = async (channel, m) => {
    calls.push({ at: Date.now(), channel, m })
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs))
  }
  return { calls, publish, of: (ch: string) => calls.filter((c) => c.channel === ch) }
}

/** An ObjectStore over a map. */
function objects(files: Record<string, string> = {}): ObjectStore & { files: Record<string, string> } {
  const enc = new TextEncoder()
  return {
    files,
    async get(key) { return key in files ? enc.encode(files[key]) : undefined },
    async head() { return undefined },
    async put(key, body) { files[key] = typeof body === 'string' ? body : new TextDecoder().decode(body); return { etag: '1' } },
    async list() { return [] },
    async delete(key) { delete files[key] },
  }
}

afterEach(() => { vi.useRealTimers() })

describe('coalescer', () => {
  it('sends the trades still waiting for their interval when closed, and nothing offered after', async () => {
    vi.useFakeTimers({ now: T0 })
    const r = recorder()
    const c = coalescer(r.publish)
    const ch = 'trades:binance:BTC-USDT'
    const trade = (id: number): ServerMessage => ({ type: 'trade', channel: ch, trades: [{ id, time: 0, price: 1, qty: 1, side: 'buy' }] })
    void c.publish(ch, trade(1))
    await vi.advanceTimersByTimeAsync(1)
    void c.publish(ch, trade(2)) // waits for the trade interval
    void c.publish(ch, trade(3))
    c.close()
    void c.publish(ch, trade(4))
    await vi.advanceTimersByTimeAsync(100)
    expect(r.of(ch).flatMap((s) => s.m.trades.map((t: { id: number }) => t.id))).toEqual([1, 2, 3])
  })

  it('sends at most 4 partial candle updates a second per channel, 250 ms apart, and the latest one last', async () => {
    vi.useFakeTimers({ now: T0 })
    const r = recorder()
    const c = coalescer(r.publish)
    for (let i = 0; i < 200; i++) { void c.publish(CH, partial(i)); await vi.advanceTimersByTimeAsync(10) }
    await vi.advanceTimersByTimeAsync(300)
    const sends = r.of(CH)
    expect(sends.length).toBeGreaterThanOrEqual(8)
    expect(sends.length).toBeLessThanOrEqual(9) // 2 s of offers: at 0, 250, ..., 2000 ms
    for (let i = 1; i < sends.length; i++) expect(sends[i].at - sends[i - 1].at).toBeGreaterThanOrEqual(250)
    for (let t = T0; t < T0 + 2_000; t += 100) expect(sends.filter((s) => s.at >= t && s.at < t + 1_000).length).toBeLessThanOrEqual(4)
    expect(sends[0].m.candle.close).toBe(0)
    expect(sends.at(-1)!.m.candle.close).toBe(199)
    expect(c.stats()).toEqual({ offered: 200, sent: sends.length, droppedTrades: 0 })
    c.close()
  })

  it('sends the trades offered in one turn as one message once the turn is over, not the first alone', async () => {
    const r = recorder()
    const c = coalescer(r.publish)
    const ch = 'trades:binance:BTC-USDT'
    // an exchange frame of 100 trades, offered one by one in the same turn on a quiet channel
    for (let i = 0; i < 100; i++) void c.publish(ch, { type: 'trade', channel: ch, trades: [{ id: i, time: i, price: 1, qty: 1, side: 'buy' }] })
    expect(r.calls).toHaveLength(0)
    await new Promise((res) => setImmediate(res))
    await Promise.resolve()
    expect(r.of(ch).map((x) => x.m.trades.length)).toEqual([100])
    c.close()
  })

  it('merges trades of a channel into one message instead of dropping any', async () => {
    vi.useFakeTimers({ now: T0 })
    const r = recorder()
    const c = coalescer(r.publish)
    const ch = 'trades:binance:BTC-USDT'
    for (let i = 0; i < 100; i++) { void c.publish(ch, { type: 'trade', channel: ch, trades: [{ id: i, time: i, price: 1, qty: 1, side: 'buy' }] }); await vi.advanceTimersByTimeAsync(3) }
    await vi.advanceTimersByTimeAsync(200)
    const ids = r.of(ch).flatMap((s) => s.m.trades.map((t: any) => t.id))
    expect(ids).toEqual(Array.from({ length: 100 }, (_, i) => i))
    expect(r.of(ch).length).toBeLessThanOrEqual(Math.ceil(300 / defaults.intervalMs.trade) + 2) // 300 ms of trades, one message per interval
    c.close()
  })

  it('splits trades that pile up during a slow broadcast into messages of at most maxTrades, dropping the oldest beyond the backlog', async () => {
    const r = recorder(200)
    const c = coalescer(r.publish, { settings: { maxTrades: 10, maxBacklog: 3 } })
    const ch = 'trades:binance:BTC-USDT'
    const offer = (from: number, n: number) => c.publish(ch, { type: 'trade', channel: ch, trades: Array.from({ length: n }, (_, i) => ({ id: from + i, time: 0, price: 1, qty: 1, side: 'buy' as const })) })
    void offer(0, 1) // goes out at the end of this turn and takes 200 ms
    await new Promise((res) => setImmediate(res))
    void offer(1, 25)
    void offer(26, 25) // 50 waiting: 3 full messages and 10 pending kept, the oldest full one dropped
    await c.idle()
    const ids = r.of(ch).map((x) => x.m.trades.map((t: any) => t.id))
    expect(ids.every((m) => m.length <= 10)).toBe(true)
    expect(ids.flat()).toEqual([0, ...Array.from({ length: 40 }, (_, i) => 11 + i)])
    expect(c.stats().droppedTrades).toBe(10)
    c.close()
  })

  it('holds one broadcast in flight per channel: updates offered during a slow one collapse into the latest', async () => {
    const r = recorder(300)
    const c = coalescer(r.publish)
    void c.publish(CH, partial(0))
    await new Promise((res) => setImmediate(res)) // partial 0 goes out and takes 300 ms
    for (let i = 1; i < 50; i++) void c.publish(CH, partial(i))
    await new Promise((res) => setTimeout(res, 20))
    for (let i = 50; i < 60; i++) void c.publish(CH, partial(i))
    await c.idle()
    expect(r.of(CH).map((s) => s.m.candle.close)).toEqual([0, 59])
    c.close()
  })

  it('never lets a hung channel hold another channel', async () => {
    const calls: string[] = []
    const c = coalescer(async (ch) => { calls.push(ch); if (ch === CH) await new Promise(() => {}) })
    void c.publish(CH, partial(1))
    for (let i = 0; i < 3; i++) {
      void c.publish('ticker:binance:BTC-USDT', { type: 'ticker', channel: 'ticker:binance:BTC-USDT', ticker: { exchange: 'binance', symbol: 'BTC-USDT', time: i, price: i } })
      await new Promise((res) => setTimeout(res, 300))
    }
    expect(calls.filter((ch) => ch === 'ticker:binance:BTC-USDT')).toHaveLength(3)
    c.close()
  })

  it('keeps updating the subscribers of a channel while one of them hangs every post', async () => {
    const subs = ['a', 'hung', 'b']
    const store = { subscribers: async () => subs, remove: async () => {} } as unknown as ConnectionStore
    const got: Record<string, number[]> = { a: [], b: [] }
    const poster: ConnectionPoster = { post: (id, data) => id === 'hung' ? new Promise(() => {}) : (got[id].push(JSON.parse(data).candle.close), Promise.resolve('ok')) }
    const c = coalescer((channel, message) => broadcast({ store, poster, channel, message, timeoutMs: 100 }))
    for (let i = 0; i < 20; i++) { void c.publish(CH, partial(i)); await new Promise((r) => setTimeout(r, 50)) }
    await c.idle()
    expect(got.a.length).toBeGreaterThanOrEqual(4) // 1 s of updates, each broadcast held 100 ms by the hung client at most
    expect(got.a.at(-1)).toBe(19)
    expect(got.b).toEqual(got.a)
    c.close()
  })

  it('sends a final candle at once and drops a waiting partial of the same candle', async () => {
    vi.useFakeTimers({ now: T0 })
    const r = recorder()
    const c = coalescer(r.publish)
    void c.publish(CH, partial(1))
    await vi.advanceTimersByTimeAsync(1)
    void c.publish(CH, partial(2)) // waits for its turn
    void c.publish(CH, { type: 'candle', channel: CH, candle: { open_time: T0, close: 3 } as Candle, final: true })
    await vi.advanceTimersByTimeAsync(1_000)
    expect(r.of(CH).map((s) => [s.m.candle.close, s.m.final])).toEqual([[1, false], [3, true]])
    c.close()
  })
})

describe('liveFeed', () => {
  it('publishes partial candles of all six timeframes, trades with their ingest time, a ticker with best bid/ask, and stats', async () => {
    vi.useFakeTimers({ now: T0 + 30_000 })
    const r = recorder()
    const feed = liveFeed({ exchange: 'binance', publish: r.publish, settings: { tickMs: 10_000 } })
    feed.quote({ exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', update_id: 1, ts: 0, bid: 99, bid_qty: 2, ask: 101, ask_qty: 3, ingest_ts: 0, source: 'ws' })
    feed.trade(trade(1, T0 + 1_000, 100))
    feed.trade(trade(2, T0 + 2_000, 104, { qty: 2, side: 'sell', trades: 3, first_trade_id: 2, last_trade_id: 4 }))
    feed.trade(trade(3, T0 + 3_000, 98, { first_trade_id: 5, last_trade_id: 5 }))
    feed.quote({ exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', update_id: 2, ts: 0, bid: 97, bid_qty: 1, ask: 99, ask_qty: 1, ingest_ts: 0, source: 'ws' })
    feed.flush()
    await vi.advanceTimersByTimeAsync(1)
    const candles = r.calls.filter((c) => c.m.type === 'candle')
    expect(candles.map((c) => c.channel)).toEqual(['1m', '5m', '15m', '1h', '4h', '1d'].map((tf) => `candles:binance:BTC-USDT:${tf}`))
    for (const { m } of candles) expect(m.candle).toMatchObject({ open: 100, high: 104, low: 98, close: 98, volume: 4, trades: 5, taker_buy_volume: 2, first_trade_id: 1, last_trade_id: 5, final: false })
    expect(candles.find((c) => c.m.candle.tf === '1h')!.m.candle.open_time).toBe(Date.UTC(2026, 10, 24, 15))
    expect(candles.find((c) => c.m.candle.tf === '4h')!.m.candle).toMatchObject({ open_time: Date.UTC(2026, 10, 24, 12), close_time: Date.UTC(2026, 10, 24, 16) - 1 })
    expect(r.calls.filter((c) => c.m.type === 'trade').flatMap((c) => c.m.trades)).toEqual([
      { id: 1, time: T0 + 1_000, price: 100, qty: 1, side: 'buy', ingest_time: T0 + 1_020 },
      { id: 2, time: T0 + 2_000, price: 104, qty: 2, side: 'sell', ingest_time: T0 + 2_020 },
      { id: 3, time: T0 + 3_000, price: 98, qty: 1, side: 'buy', ingest_time: T0 + 3_020 },
    ])
    expect(r.calls.find((c) => c.m.type === 'ticker')!.m.ticker).toEqual({ exchange: 'binance', symbol: 'BTC-USDT', time: T0 + 3_000, price: 98, bid: 97, bid_qty: 1, ask: 99, ask_qty: 1 })
    expect(r.calls.find((c) => c.m.type === 'stats')).toMatchObject({ channel: 'stats:binance:BTC-USDT', m: { stats: { trades_per_s: 0, minute_volume: 4, minute_trades: 5, hour_volume: 4, hour_trades: 5, ingest_lag_ms: 20 } } })
    await feed.close()
  })

  it('counts trades per second over the stats window by receipt time', async () => {
    vi.useFakeTimers({ now: T0 })
    const r = recorder()
    const feed = liveFeed({ exchange: 'binance', publish: r.publish, settings: { tickMs: 10_000 } })
    for (let i = 0; i < 50; i++) feed.trade(trade(i, T0 - 5_000 + i * 100, 100, { ingest_ts: (T0 - 5_000 + i * 100) * 1000 }))
    feed.flush()
    await vi.advanceTimersByTimeAsync(1)
    expect(r.calls.find((c) => c.m.type === 'stats')!.m.stats).toMatchObject({ trades_per_s: 5, window_ms: 10_000 })
    await feed.close()
  })

  it('starts each timeframe from the candle the lake already holds, never counting a trade twice', async () => {
    vi.useFakeTimers({ now: T0 + 30_000 })
    const hourOpen = Date.UTC(2026, 10, 24, 15)
    const base = { exchange: 'binance', symbol: 'BTC-USDT', tf: '1h', open_time: hourOpen, close_time: hourOpen + 3_599_999, open: 90, high: 120, low: 80, close: 100, volume: 10, quote_volume: 1000, trades: 50, taker_buy_volume: 5, taker_buy_quote_volume: 500, vwap: 100, first_trade_id: 1, last_trade_id: 100, final: false }
    const minute = (i: number) => ({ ...base, tf: '1m', open_time: hourOpen + i * 60_000, close_time: hourOpen + i * 60_000 + 59_999, volume: 1, trades: 5, first_trade_id: i * 5 + 1, last_trade_id: i * 5 + 5, open: 95 + i, final: true })
    const store = objects({
      'serving/binance/BTC-USDT/1h.json': JSON.stringify({ candles: [base] }),
      'serving/binance/BTC-USDT/1m.json': JSON.stringify({ candles: [0, 1, 2, 3, 4, 5, 6].map(minute) }),
    })
    const r = recorder()
    const feed = liveFeed({ exchange: 'binance', publish: r.publish, store, settings: { tickMs: 10_000 } })
    feed.trade(trade(100, T0 + 1_000, 130)) // already in the 1h candle: not added again
    feed.trade(trade(101, T0 + 2_000, 130))
    await vi.advanceTimersByTimeAsync(5)
    feed.flush()
    await vi.advanceTimersByTimeAsync(5)
    const of = (tf: string) => r.calls.filter((c) => c.m.type === 'candle' && c.m.candle.tf === tf).at(-1)!.m.candle
    expect(of('1h')).toMatchObject({ open_time: hourOpen, open: 90, high: 130, low: 80, close: 130, volume: 11, trades: 51, first_trade_id: 1, last_trade_id: 101 })
    // 15m has no window of its own: rolled up from the 1m window (minutes 0..6 hold ids 1..35)
    expect(of('15m')).toMatchObject({ open_time: hourOpen, open: 95, volume: 7 + 2, trades: 35 + 2, last_trade_id: 101 })
    // the current minute (7) is not in the 1m window: it starts from this run's trades
    expect(of('1m')).toMatchObject({ open_time: T0, open: 130, volume: 2, trades: 2 })
    await feed.close()
  })

  it('writes live.json with recent trades, ticker and stats for the snapshots', async () => {
    const store = objects()
    const feed = liveFeed({ exchange: 'binance', publish: async () => {}, store, settings: { snapshotTrades: 3 } })
    for (let i = 1; i <= 5; i++) feed.trade(trade(i, T0 + i, 100 + i))
    await feed.drain()
    const doc = JSON.parse(store.files[liveKey('binance', 'BTC-USDT')])
    expect(doc.trades.map((t: any) => t.id)).toEqual([3, 4, 5])
    expect(doc.ticker).toMatchObject({ price: 105, time: T0 + 5 })
    expect(doc.stats).toMatchObject({ symbol: 'BTC-USDT', ingest_lag_ms: 20 })
    await feed.close()
  })
})

describe('livePort', () => {
  it('gives each ingest run a feed of its exchange whose drain sends the last candles and writes live.json', async () => {
    const r = recorder()
    const store = objects()
    const logs: string[] = []
    const live = livePort(r.publish, { store })({ exchange: 'sim-binance', now: Date.now, log: (l) => logs.push(l) })
    live.trade(trade(1, Date.now() - 1_000, 100, { exchange: 'sim-binance' }))
    await new Promise((r) => setTimeout(r, 20)) // the candles are seeded from the store first
    await live.drain()
    live.close()
    expect(r.of('trades:sim-binance:BTC-USDT').flatMap((c) => c.m.trades.map((t: any) => t.id))).toEqual([1])
    expect(r.of('candles:sim-binance:BTC-USDT:1m').at(-1)?.m.candle).toMatchObject({ close: 100, trades: 1, final: false })
    expect(JSON.parse(store.files[liveKey('sim-binance', 'BTC-USDT')]).trades.map((t: any) => t.id)).toEqual([1])
    expect(logs).toEqual([])
  })

  it('sends nothing more once closed', async () => {
    const r = recorder()
    const live = livePort(r.publish)({ exchange: 'binance', now: Date.now, log: () => {} })
    live.close()
    live.trade(trade(1, Date.now()))
    await new Promise((r) => setTimeout(r, 100))
    expect(r.calls).toEqual([])
  })
})

describe('rollUp', () => {
  it('gives nothing for a period without minutes', () => {
    expect(rollUp([], '5m', 0)).toBeUndefined()
  })
})
