import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket, type ClientOptions } from 'ws'
import { startFakeExchange, type AggTrade, type FakeExchange } from './index'

/** Real recordings, read in place (../shared/data next to the repository); absent in a fresh clone. */
const DATA = fileURLToPath(new URL('../../../../../shared/data/binance/be4e5c81354b/', import.meta.url))
const hasData = existsSync(DATA)
const NO_DATA = `skipped: ${DATA} is absent (the real Binance recordings live in ../shared/data)`
if (!hasData) console.warn(`fake exchange tests: comparisons with real recordings ${NO_DATA}`)

/** The first line of a recording holding `needle`, as parsed JSON (lines are `<recv_ts>: <json>`). */
function recorded(file: string, needle: string) {
  const line = readFileSync(DATA + file, 'utf8').split('\n').find((l) => l.includes(needle))!
  return JSON.parse(line.slice(line.indexOf(': {') + 2))
}

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0) + 345
const HOUR = 3_600_000
const get = async (fx: FakeExchange, path: string) => {
  const r = await fetch(fx.restUrl + path)
  return { status: r.status, headers: r.headers, body: await r.json() }
}

/** Collects the next `n` messages of a socket (or those arriving before a timeout). */
function messages(ws: WebSocket, n: number, ms = 3000) {
  return new Promise<any[]>((resolve) => {
    const out: any[] = []
    const done = () => { ws.off('message', on); clearTimeout(timer); resolve(out) }
    const on = (d: Buffer) => { out.push(JSON.parse(d.toString())); if (out.length >= n) done() }
    const timer = setTimeout(done, ms)
    ws.on('message', on)
  })
}
const opened = (url: string, opts?: ClientOptions) => new Promise<WebSocket>((resolve, reject) => {
  const ws = new WebSocket(url, opts)
  ws.once('open', () => resolve(ws))
  ws.once('error', reject)
})
const closed = (ws: WebSocket) => new Promise<number>((resolve) => ws.readyState === WebSocket.CLOSED ? resolve(0) : ws.once('close', (code) => resolve(code)))

describe('REST on a frozen clock', () => {
  let fx: FakeExchange
  let btc: ReadonlyArray<AggTrade>
  beforeAll(async () => {
    fx = await startFakeExchange({ seed: 42, now: () => T0, historyMs: 3 * HOUR, symbols: ['BTC-USDT', 'ETH-USDT', 'SOL-BTC'] })
    btc = fx.aggTrades('BTC-USDT')
  })
  afterAll(() => fx.close())

  it('generates trades with consecutive ids, non-decreasing times, prices on the tick and quantities on the lot step', () => {
    expect(btc.length).toBeGreaterThan(3 * 3600 * 2)
    const broken = btc.filter((t, i) => i > 0 && (t.a !== btc[i - 1].a + 1 || t.f !== btc[i - 1].l + 1 || t.T < btc[i - 1].T))
    expect(broken).toEqual([])
    expect(btc.every((t) => t.l >= t.f && t.M && /^\d+\.\d{2}000000$/.test(t.p) && /^\d+\.\d{5}000$/.test(t.q) && Number(t.q) > 0)).toBe(true)
    expect(fx.aggTrades('ETH-USDT').every((t) => /^\d+\.\d{2}000000$/.test(t.p) && /^\d+\.\d{4}0000$/.test(t.q))).toBe(true)
    expect(Number(btc[0].p)).toBeGreaterThan(40_000)
    expect(Number(btc[0].p)).toBeLessThan(80_000)
    expect(Number(fx.aggTrades('ETH-USDT')[0].p)).toBeGreaterThan(2_000)
    expect(btc[0].T).toBeGreaterThanOrEqual(T0 - 3 * HOUR)
    expect(btc.at(-1)!.T).toBeLessThanOrEqual(T0)
    expect(new Set(btc.map((t) => t.m)).size).toBe(2)
  })

  it('pages by fromId return consecutive ids with no gap and no duplicate across pages, equal to the ground truth', async () => {
    const from = btc[100].a
    const got: AggTrade[] = []
    for (let next = from, page = 0; page < 5; page++) {
      const { status, body } = await get(fx, `/api/v3/aggTrades?symbol=BTCUSDT&fromId=${next}&limit=1000`)
      expect(status).toBe(200)
      expect(body).toHaveLength(1000)
      got.push(...body)
      next = body.at(-1).a + 1
    }
    expect(got.map((t) => t.a)).toEqual(Array.from({ length: 5000 }, (_, i) => from + i))
    expect(got).toEqual(btc.slice(100, 5100))
    expect(Object.keys(got[0])).toEqual(['a', 'p', 'q', 'f', 'l', 'T', 'm', 'M'])
    const tail = await get(fx, `/api/v3/aggTrades?symbol=BTCUSDT&fromId=${btc.at(-1)!.a - 2}`)
    expect(tail.body).toEqual(btc.slice(-3))
  })

  it('startTime and endTime select an inclusive window, and a window over one hour is refused with -1127', async () => {
    const a = btc[2000].T
    const b = btc[2600].T
    const { body } = await get(fx, `/api/v3/aggTrades?symbol=BTCUSDT&startTime=${a}&endTime=${b}&limit=1000`)
    expect(body).toEqual(btc.filter((t) => t.T >= a && t.T <= b).slice(0, 1000))
    expect(body[0].T).toBe(a)
    expect(body.at(-1).T).toBe(b)
    const hour = await get(fx, `/api/v3/aggTrades?symbol=BTCUSDT&startTime=${a}&endTime=${a + HOUR}&limit=1`)
    expect(hour.status).toBe(200)
    const over = await get(fx, `/api/v3/aggTrades?symbol=BTCUSDT&startTime=${a}&endTime=${a + HOUR + 1}`)
    expect(over).toMatchObject({ status: 400, body: { code: -1127, msg: 'More than 1 hours between startTime and endTime.' } })
    const only = await get(fx, `/api/v3/aggTrades?symbol=BTCUSDT&startTime=${a}&limit=3`)
    expect(only.body).toEqual(btc.filter((t) => t.T >= a).slice(0, 3))
  })

  it('without fromId or startTime returns the most recent trades, 500 by default and at most 1000', async () => {
    expect((await get(fx, '/api/v3/aggTrades?symbol=BTCUSDT')).body).toEqual(btc.slice(-500))
    expect((await get(fx, '/api/v3/aggTrades?symbol=BTCUSDT&limit=5000')).body).toEqual(btc.slice(-1000))
  })

  it('missing or unknown symbols and malformed parameters answer 400 with Binance codes', async () => {
    expect(await get(fx, '/api/v3/aggTrades')).toMatchObject({ status: 400, body: { code: -1102 } })
    expect(await get(fx, '/api/v3/aggTrades?symbol=DOGEUSDT')).toMatchObject({ status: 400, body: { code: -1121, msg: 'Invalid symbol.' } })
    expect(await get(fx, '/api/v3/aggTrades?symbol=BTCUSDT&fromId=abc')).toMatchObject({ status: 400, body: { code: -1100 } })
    expect(await get(fx, '/api/v3/klines?symbol=BTCUSDT&interval=7m')).toMatchObject({ status: 400, body: { code: -1120 } })
    expect(await get(fx, '/api/v3/klines?symbol=BTCUSDT')).toMatchObject({ status: 400, body: { code: -1102 } })
  })

  it('answers ping, time, an unknown path with 404 JSON, and counts request weight per minute in X-MBX-USED-WEIGHT-1M', async () => {
    const ping = await get(fx, '/api/v3/ping')
    expect(ping.body).toEqual({})
    expect(ping.headers.get('content-type')).toMatch(/^application\/json/)
    const w0 = Number(ping.headers.get('x-mbx-used-weight-1m'))
    const time = await get(fx, '/api/v3/time')
    expect(time.body).toEqual({ serverTime: T0 })
    expect(Number(time.headers.get('x-mbx-used-weight-1m'))).toBe(w0 + 1)
    const info = await get(fx, '/api/v3/exchangeInfo')
    expect(Number(info.headers.get('x-mbx-used-weight-1m'))).toBe(w0 + 21)
    const missing = await get(fx, '/api/v3/nope')
    expect(missing.status).toBe(404)
    expect(missing.body).toMatchObject({ code: expect.any(Number), msg: expect.any(String) })
  })

  it('exchangeInfo lists the symbols with tick and step sizes, filters by symbol or symbols, and refuses unknown ones with -1121', async () => {
    const { body } = await get(fx, '/api/v3/exchangeInfo')
    expect(Object.keys(body)).toEqual(['timezone', 'serverTime', 'rateLimits', 'exchangeFilters', 'symbols'])
    expect(body.symbols.map((s: any) => s.symbol)).toEqual(['BTCUSDT', 'ETHUSDT', 'SOLBTC'])
    const [b, e] = body.symbols
    expect(b).toMatchObject({ status: 'TRADING', baseAsset: 'BTC', quoteAsset: 'USDT' })
    expect(b.filters.find((f: any) => f.filterType === 'PRICE_FILTER').tickSize).toBe('0.01000000')
    expect(b.filters.find((f: any) => f.filterType === 'LOT_SIZE').stepSize).toBe('0.00001000')
    expect(e.filters.find((f: any) => f.filterType === 'LOT_SIZE').stepSize).toBe('0.00010000')
    expect((await get(fx, '/api/v3/exchangeInfo?symbol=ETHUSDT')).body.symbols.map((s: any) => s.symbol)).toEqual(['ETHUSDT'])
    expect((await get(fx, `/api/v3/exchangeInfo?symbols=${encodeURIComponent('["SOLBTC","BTCUSDT"]')}`)).body.symbols.map((s: any) => s.symbol)).toEqual(['SOLBTC', 'BTCUSDT'])
    expect(await get(fx, '/api/v3/exchangeInfo?symbol=XXXUSDT')).toMatchObject({ status: 400, body: { code: -1121, msg: 'Invalid symbol.' } })
    expect(await get(fx, `/api/v3/exchangeInfo?symbols=${encodeURIComponent('["BTCUSDT","XXXUSDT"]')}`)).toMatchObject({ status: 400, body: { code: -1121 } })
  })

  it.skipIf(!hasData)(`exchangeInfo has the keys, in order, of the real response and its BTCUSDT entry${hasData ? '' : ` (${NO_DATA})`}`, async () => {
    const real = recorded('BINANCE.0', 'api/v3/exchangeInfo')
    const { body } = await get(fx, '/api/v3/exchangeInfo?symbol=BTCUSDT')
    const realBtc = real.symbols.find((s: any) => s.symbol === 'BTCUSDT')
    expect(Object.keys(body)).toEqual(Object.keys(real))
    expect(Object.keys(body.symbols[0])).toEqual(Object.keys(realBtc))
    expect(body.symbols[0].filters.map((f: any) => [f.filterType, Object.keys(f)])).toEqual(realBtc.filters.map((f: any) => [f.filterType, Object.keys(f)]))
    expect(Object.keys(body.rateLimits[0])).toEqual(Object.keys(real.rateLimits[0]))
    expect(body.symbols[0].filters[0].tickSize).toBe(realBtc.filters[0].tickSize)
  })

  it('klines agree with klines computed from the aggTrades ground truth, for 1m and 1h', async () => {
    const u8 = (s: string) => BigInt(s.replace('.', ''))
    const d8 = (u: bigint) => `${u / 100_000_000n}.${(u % 100_000_000n).toString().padStart(8, '0')}`
    const expected = (open: number, ms: number) => {
      const ts = btc.filter((t) => t.T >= open && t.T < open + ms)
      const ps = ts.map((t) => u8(t.p))
      const sum = (f: (t: AggTrade) => bigint, only = (_: AggTrade) => true) => d8(ts.filter(only).reduce((s, t) => s + f(t), 0n))
      const quote = (t: AggTrade) => (u8(t.p) * u8(t.q)) / 100_000_000n
      return [open, ts[0].p, d8(ps.reduce((a, b) => (b > a ? b : a))), d8(ps.reduce((a, b) => (b < a ? b : a))), ts.at(-1)!.p, sum((t) => u8(t.q)), open + ms - 1,
        sum(quote), ts.reduce((n, t) => n + t.l - t.f + 1, 0), sum((t) => u8(t.q), (t) => !t.m), sum(quote, (t) => !t.m), '0']
    }
    const open = Math.floor(btc[3000].T / 60_000) * 60_000
    const m1 = await get(fx, `/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=${open}&limit=3`)
    expect(m1.body).toEqual([0, 1, 2].map((i) => expected(open + i * 60_000, 60_000)))
    const h1 = await get(fx, `/api/v3/klines?symbol=BTCUSDT&interval=1h&startTime=${T0 - 2 * HOUR}&endTime=${T0 - HOUR}`)
    const hourOpen = Math.ceil((T0 - 2 * HOUR) / HOUR) * HOUR
    expect(h1.body).toEqual([expected(hourOpen, HOUR)])
    const recent = await get(fx, '/api/v3/klines?symbol=BTCUSDT&interval=15m&limit=4')
    expect(recent.body.map((r: any[]) => r[0])).toEqual([3, 2, 1, 0].map((i) => (Math.floor(T0 / 900_000) - i) * 900_000))
  })
})

describe('the seeded generator', () => {
  it('reproduces the same history for the same seed and start time, and another with another seed', async () => {
    const run = async (seed: number) => {
      const fx = await startFakeExchange({ seed, now: () => T0, historyMs: 20 * 60_000, symbols: ['BTC-USDT'] })
      const trades = [...fx.aggTrades('BTC-USDT')]
      await fx.close()
      return trades
    }
    const [a, b, c] = [await run(7), await run(7), await run(8)]
    expect(a.length).toBeGreaterThan(1000)
    expect(b).toEqual(a)
    expect(c).not.toEqual(a)
  })

  it('keeps at most maxTrades per symbol, dropping the oldest', async () => {
    const fx = await startFakeExchange({ now: () => T0, historyMs: HOUR, maxTrades: 1000, symbols: ['ETH-USDT'] })
    const trades = fx.aggTrades('ETH-USDT')
    expect(trades.length).toBeLessThanOrEqual(1000)
    expect(trades.at(-1)!.T).toBeGreaterThan(T0 - 60_000)
    await fx.close()
  })
})

describe('WebSocket streams in real time', () => {
  let fx: FakeExchange
  beforeAll(async () => { fx = await startFakeExchange({ historyMs: 60_000, ratePerSec: 100, pingIntervalMs: 100, pongTimeoutMs: 400 }) })
  afterAll(() => fx.close())

  it('pushes live aggTrades on /stream in the combined {stream, data} shape, equal to the ground truth', async () => {
    const ws = await opened(`${fx.wsUrl}/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade/nonexistent@aggTrade`)
    const frames = await messages(ws, Infinity, 600)
    ws.close()
    expect(frames.length).toBeGreaterThan(20)
    expect(new Set(frames.map((f) => f.stream))).toEqual(new Set(['btcusdt@aggTrade', 'ethusdt@aggTrade']))
    for (const f of frames) {
      expect(Object.keys(f)).toEqual(['stream', 'data'])
      expect(Object.keys(f.data)).toEqual(['e', 'E', 's', 'a', 'p', 'q', 'f', 'l', 'T', 'm', 'M'])
      const { e, E, s, ...trade } = f.data
      expect([e, s]).toEqual(['aggTrade', f.stream === 'btcusdt@aggTrade' ? 'BTCUSDT' : 'ETHUSDT'])
      expect(E).toBeGreaterThanOrEqual(trade.T)
      const truth = fx.aggTrades(s)
      expect(truth[trade.a - truth[0].a]).toEqual(trade)
    }
    const btcIds = frames.filter((f) => f.data.s === 'BTCUSDT').map((f) => f.data.a)
    expect(btcIds).toEqual(btcIds.map((_, i) => btcIds[0] + i))
  })

  it.skipIf(!hasData)(`combined-stream frames have exactly the keys, in order, of a real Binance aggTrade frame${hasData ? '' : ` (${NO_DATA})`}`, async () => {
    const real = recorded('BINANCE.ws.1.0', '@aggTrade","data"')
    const ws = await opened(`${fx.wsUrl}/stream?streams=btcusdt@aggTrade`)
    const [frame] = await messages(ws, 1)
    ws.close()
    expect(Object.keys(frame)).toEqual(Object.keys(real))
    expect(Object.keys(frame.data)).toEqual(Object.keys(real.data))
    for (const k of Object.keys(real.data)) expect([k, typeof frame.data[k]]).toEqual([k, typeof real.data[k]])
    expect(frame.data.p).toMatch(/^\d+\.\d{8}$/)
  })

  it('sends bare aggTrade payloads on a raw /ws/<stream> connection', async () => {
    const ws = await opened(`${fx.wsUrl}/ws/ethusdt@aggTrade`)
    const frames = await messages(ws, 5)
    ws.close()
    expect(frames).toHaveLength(5)
    expect(frames.every((f) => f.e === 'aggTrade' && f.s === 'ETHUSDT' && !('stream' in f))).toBe(true)
  })

  it('SUBSCRIBE, LIST_SUBSCRIPTIONS and UNSUBSCRIBE work live, and an unknown stream answers error code 2', async () => {
    const ws = await opened(`${fx.wsUrl}/stream`)
    // the answer to `msg`: the frame with its id (live trades may come first once subscribed)
    const reply = (msg: { method: string; params?: string[]; id: number }) => new Promise<any>((resolve) => {
      const on = (d: Buffer) => { const m = JSON.parse(d.toString()); if (m.id === msg.id) { ws.off('message', on); resolve(m) } }
      ws.on('message', on)
      ws.send(JSON.stringify(msg))
    })
    expect(await reply({ method: 'SUBSCRIBE', params: ['btcusdt@aggTrade'], id: 1 })).toEqual({ result: null, id: 1 })
    const [frame] = await messages(ws, 1)
    expect(frame.stream).toBe('btcusdt@aggTrade')
    expect(await reply({ method: 'LIST_SUBSCRIPTIONS', id: 2 })).toEqual({ result: ['btcusdt@aggTrade'], id: 2 })
    expect(await reply({ method: 'SUBSCRIBE', params: ['xyzusdt@aggTrade'], id: 3 })).toEqual({ error: { code: 2, msg: 'Invalid request: unknown variable' }, id: 3 })
    ws.send(JSON.stringify({ method: 'UNSUBSCRIBE', params: ['btcusdt@aggTrade'], id: 4 }))
    const after = await messages(ws, 1000, 400)
    expect(after.find((m) => m.id === 4)).toEqual({ result: null, id: 4 })
    const late = await messages(ws, 1, 300)
    expect(late).toEqual([])
    ws.close()
  })

  it('pings every pingIntervalMs and drops a client that stops answering with pongs', async () => {
    const polite = await opened(`${fx.wsUrl}/stream?streams=btcusdt@aggTrade`)
    let pings = 0
    polite.on('ping', () => pings++)
    const mute = await opened(`${fx.wsUrl}/stream?streams=btcusdt@aggTrade`, { autoPong: false })
    const code = await Promise.race([closed(mute), new Promise((r) => setTimeout(() => r('still open'), 2000))])
    expect(code).not.toBe('still open')
    expect(pings).toBeGreaterThanOrEqual(3)
    expect(polite.readyState).toBe(WebSocket.OPEN)
    polite.close()
  })
})

describe('connection lifetime', () => {
  it('closes a connection after maxConnectionMs, as Binance does after 24 hours', async () => {
    const fx = await startFakeExchange({ historyMs: 0, maxConnectionMs: 200, symbols: ['BTC-USDT'] })
    const ws = await opened(`${fx.wsUrl}/ws/btcusdt@aggTrade`)
    expect(await closed(ws)).toBe(1000)
    await fx.close()
  })
})

describe('connection limits (Binance spot: 1024 streams a connection, 5 incoming messages a second, 300 connections in 5 minutes)', () => {
  const refusal = (url: string) => new Promise<string>((resolve) => {
    const ws = new WebSocket(url)
    ws.once('open', () => { ws.close(); resolve('open') })
    ws.once('error', (e) => resolve(e.message))
  })

  it('opens a connection of 1024 streams and refuses one of 1025, and a SUBSCRIBE past 1024', async () => {
    const fx = await startFakeExchange({ historyMs: 0, symbols: ['BTC-USDT'] })
    const names = (n: number) => Array.from({ length: n }, (_, i) => `a${i}@aggTrade`).join('/')
    expect(await refusal(`${fx.wsUrl}/stream?streams=${names(1025)}`)).toBe('Unexpected server response: 400')
    expect(await refusal(`${fx.wsUrl}/stream?streams=${names(1024)}`)).toBe('open')
    expect(fx.streamStats().refusedStreams).toBe(1)
    await fx.close()
    const small = await startFakeExchange({ historyMs: 0, symbols: ['BTC-USDT', 'ETH-USDT'], maxStreams: 1 })
    const ws = await opened(`${small.wsUrl}/stream?streams=btcusdt@aggTrade`)
    const answer = messages(ws, 1)
    ws.send(JSON.stringify({ method: 'SUBSCRIBE', params: ['ethusdt@aggTrade'], id: 1 }))
    expect((await answer).filter((m) => m.id === 1)).toEqual([{ error: { code: 2, msg: 'Invalid request: a connection listens to at most 1 streams' }, id: 1 }])
    expect(small.streamStats()).toMatchObject({ refusedStreams: 1, mostStreams: 1 })
    ws.close()
    await small.close()
  })

  it('closes a connection that sends more than 5 messages in a second with 1008', async () => {
    const fx = await startFakeExchange({ historyMs: 0, symbols: ['BTC-USDT'] })
    const ws = await opened(`${fx.wsUrl}/stream?streams=btcusdt@aggTrade`)
    // 12 at once: whatever second boundary falls between them, one second gets more than 5
    for (let id = 1; id <= 12; id++) ws.send(JSON.stringify({ method: 'LIST_SUBSCRIPTIONS', id }))
    expect(await closed(ws)).toBe(1008)
    expect(fx.streamStats().closedForRate).toBe(1)
    await fx.close()
  })

  it('refuses connection attempts past its 5-minute allowance with 429', async () => {
    const fx = await startFakeExchange({ historyMs: 0, symbols: ['BTC-USDT'], maxConnectionsPer5Min: 2 })
    const url = `${fx.wsUrl}/ws/btcusdt@aggTrade`
    expect([await refusal(url), await refusal(url), await refusal(url)]).toEqual(['open', 'open', 'Unexpected server response: 429'])
    expect(fx.streamStats()).toMatchObject({ connections: 2, refusedConnections: 1 })
    await fx.close()
  })
})
