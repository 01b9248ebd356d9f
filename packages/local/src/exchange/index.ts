/**
 * The fake exchange: Binance spot's WebSocket and REST protocols on loopback, from a seeded
 * generator (a random walk with volatility and activity bursts, prices on the tick size and
 * quantities on the lot step). It is the offline source of `ticklake start` and the ground truth
 * of tests: `aggTrades(symbol)` is exactly what it has published. Frames are shaped and ordered
 * like the real ones in ../shared/data/binance.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import { nativeSymbol } from '@ticklake/core/market'

export const defaults = {
  host: '127.0.0.1',
  port: 0,
  symbols: ['BTC-USDT', 'ETH-USDT'],
  seed: 1,
  /** History generated into the past at start, served over REST. */
  historyMs: 6 * 3_600_000,
  /** Mean aggTrades per second per symbol (bursts go several times higher). */
  ratePerSec: 4,
  pingIntervalMs: 20_000,
  /** Oldest trades are dropped beyond this many per symbol. */
  maxTrades: 2_000_000,
  tickMs: 100,
}

export interface AggTrade { a: number; p: string; q: string; f: number; l: number; T: number; m: boolean; M: boolean }

export interface FakeExchangeOptions extends Partial<typeof defaults> { now?: () => number }

export interface FakeExchange {
  restUrl: string
  wsUrl: string
  port: number
  symbols: string[]
  /** Every aggTrade published so far (oldest may be dropped past `maxTrades`). */
  aggTrades(symbol: string): ReadonlyArray<AggTrade>
  close(): Promise<void>
}

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
export function prng(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const hash = (s: string) => [...s].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, 7)

/** Market parameters of a symbol: start price, tick size and lot step as decimals. */
export function marketOf(symbol: string) {
  const [base, quote] = symbol.split('-')
  const known: Record<string, [number, number, number]> = { BTC: [60_000, 2, 5], ETH: [3_000, 2, 4], BNB: [550, 2, 3], SOL: [150, 2, 3], XRP: [0.55, 4, 1], DOGE: [0.15, 5, 0] }
  const [price, priceDecimals, qtyDecimals] = known[base] ?? [20 + (hash(symbol) % 200), 3, 2]
  return { base, quote, price, priceDecimals, qtyDecimals, tickSize: 10 ** -priceDecimals, stepSize: 10 ** -qtyDecimals }
}

/** One symbol's generator: deterministic for a seed, a symbol and a start time. */
function generator(symbol: string, seed: number, start: number, ratePerSec: number) {
  const m = marketOf(symbol)
  const rand = prng(seed ^ hash(symbol))
  const gauss = () => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand())
  let price = m.price * (0.9 + 0.2 * rand())
  let t = start
  let aggId = 100_000_000 + (hash(symbol) % 1_000_000) * 100
  let tradeId = aggId * 3
  let vol = 1
  let activity = 1
  const priceScale = 10 ** m.priceDecimals
  const qtyScale = 10 ** m.qtyDecimals
  /** Appends trades with times up to `until` (ms). */
  return function generate(until: number, out: AggTrade[]) {
    while (true) {
      if (rand() < 0.002) vol = 1 + 4 * rand()
      if (rand() < 0.002) activity = rand() < 0.5 ? 1 : 2 + 6 * rand()
      vol = 1 + (vol - 1) * 0.999
      const gap = -Math.log(1 - rand()) * 1000 / (ratePerSec * activity)
      if (t + gap > until) return
      t += gap
      price *= Math.exp(gauss() * 0.00015 * vol * Math.sqrt(Math.max(gap, 1) / 1000))
      const n = 1 + Math.floor(-Math.log(1 - rand()) * 1.2)
      const notional = 5 + Math.exp(gauss() * 1.5 + 4)
      const q = Math.max(1, Math.round((notional / price) * qtyScale))
      const p = Math.max(1, Math.round(price * priceScale))
      out.push({ a: aggId++, p: (p / priceScale).toFixed(8), q: (q / qtyScale).toFixed(8), f: tradeId, l: tradeId + n - 1, T: Math.floor(t), m: rand() < 0.5, M: true })
      tradeId += n
    }
  }
}

/** Binance's REST error body and status. */
class RestError extends Error { constructor(readonly status: number, readonly code: number, msg: string) { super(msg) } }

const INTERVALS: Record<string, number> = { '1m': 60_000, '3m': 180_000, '5m': 300_000, '15m': 900_000, '30m': 1_800_000, '1h': 3_600_000, '2h': 7_200_000, '4h': 14_400_000, '6h': 21_600_000, '8h': 28_800_000, '12h': 43_200_000, '1d': 86_400_000 }

/** First index in trades (sorted by `key`) whose key is >= v. */
function lowerBound(trades: readonly AggTrade[], v: number, key: (t: AggTrade) => number) {
  let lo = 0
  let hi = trades.length
  while (lo < hi) { const mid = (lo + hi) >> 1; if (key(trades[mid]) < v) lo = mid + 1; else hi = mid }
  return lo
}

/** Kline rows as Binance returns them, computed from the trades. */
export function klinesOf(trades: readonly AggTrade[], interval: number, startTime: number, endTime: number, limit: number) {
  const rows: (number | string)[][] = []
  let i = lowerBound(trades, Math.floor(startTime / interval) * interval, (t) => t.T)
  while (i < trades.length && rows.length < limit) {
    const open = Math.floor(trades[i].T / interval) * interval
    if (open > endTime) break
    let o = trades[i].p, h = Number(o), l = Number(o), c = o, v = 0, qv = 0, n = 0, tb = 0, tq = 0
    for (; i < trades.length && trades[i].T < open + interval; i++) {
      const t = trades[i]; const p = Number(t.p); const q = Number(t.q)
      h = Math.max(h, p); l = Math.min(l, p); c = t.p; v += q; qv += p * q; n += t.l - t.f + 1
      if (!t.m) { tb += q; tq += p * q }
    }
    if (open >= Math.floor(startTime / interval) * interval) rows.push([open, o, h.toFixed(8), l.toFixed(8), c, v.toFixed(8), open + interval - 1, qv.toFixed(8), n, tb.toFixed(8), tq.toFixed(8), '0'])
  }
  return rows
}

/**
 * Starts the fake exchange.
 * @example const fx = await startFakeExchange({ symbols: ['BTC-USDT'] }); fetch(`${fx.restUrl}/api/v3/aggTrades?symbol=BTCUSDT`)
 */
export async function startFakeExchange(options: FakeExchangeOptions = {}): Promise<FakeExchange> {
  const o = { ...defaults, ...options }
  const now = options.now ?? Date.now
  const start = now()
  const books = new Map(o.symbols.map((s) => {
    const gen = generator(s, o.seed, start - o.historyMs, o.ratePerSec)
    const trades: AggTrade[] = []
    gen(start, trades)
    return [nativeSymbol(s), { symbol: s, gen, trades }]
  }))
  const subs = new Map<WebSocket, Set<string>>()
  /** Sockets opened on `/ws/<stream>`: raw payloads, not the combined `{stream, data}` wrapper. */
  const raw = new WeakSet<WebSocket>()
  let weight = 0
  let weightMinute = Math.floor(start / 60_000)

  function tick() {
    const t = now()
    for (const [native, b] of books) {
      const before = b.trades.length
      b.gen(t, b.trades)
      const fresh = b.trades.slice(before)
      if (b.trades.length > o.maxTrades) b.trades.splice(0, b.trades.length - o.maxTrades)
      if (!fresh.length) continue
      const stream = `${native.toLowerCase()}@aggTrade`
      for (const [ws, streams] of subs) {
        if (!streams.has(stream)) continue
        for (const x of fresh) {
          const data = JSON.stringify({ e: 'aggTrade', E: x.T + 1, s: native, a: x.a, p: x.p, q: x.q, f: x.f, l: x.l, T: x.T, m: x.m, M: x.M })
          ws.send(raw.has(ws) ? data : `{"stream":"${stream}","data":${data}}`)
        }
      }
    }
  }
  const ticker = setInterval(tick, o.tickMs)

  function book(params: URLSearchParams) {
    const s = params.get('symbol')
    if (!s) throw new RestError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
    const b = books.get(s)
    if (!b) throw new RestError(400, -1121, 'Invalid symbol.')
    return b
  }
  function int(params: URLSearchParams, name: string) {
    const v = params.get(name)
    if (v === null) return undefined
    if (!/^\d{1,19}$/.test(v)) throw new RestError(400, -1100, `Illegal characters found in parameter '${name}'; legal range is '^[0-9]{1,20}$'.`)
    return Number(v)
  }

  function aggTrades(params: URLSearchParams) {
    const b = book(params)
    const limit = Math.min(int(params, 'limit') ?? 500, 1000)
    if (limit < 1) throw new RestError(400, -1100, "Illegal characters found in parameter 'limit'.")
    const fromId = int(params, 'fromId')
    const startTime = int(params, 'startTime')
    const endTime = int(params, 'endTime')
    if (startTime !== undefined && endTime !== undefined && endTime - startTime > 3_600_000) throw new RestError(400, -1127, 'More than 1 hours between startTime and endTime.')
    const tr = b.trades
    let from: number
    if (fromId !== undefined) from = lowerBound(tr, fromId, (t) => t.a)
    else if (startTime !== undefined) from = lowerBound(tr, startTime, (t) => t.T)
    else if (endTime !== undefined) from = Math.max(0, lowerBound(tr, endTime - 3_600_000, (t) => t.T))
    else from = Math.max(0, tr.length - limit)
    const out: AggTrade[] = []
    for (let i = from; i < tr.length && out.length < limit; i++) {
      if (endTime !== undefined && tr[i].T > endTime) break
      out.push(tr[i])
    }
    return out
  }

  function exchangeInfo(params: URLSearchParams) {
    let names = [...books.keys()]
    if (params.has('symbol')) names = [book(params).symbol].map(nativeSymbol)
    if (params.has('symbols')) {
      let list: unknown
      try { list = JSON.parse(params.get('symbols')!) } catch { throw new RestError(400, -1100, "Illegal characters found in parameter 'symbols'.") }
      if (!Array.isArray(list)) throw new RestError(400, -1100, "Illegal characters found in parameter 'symbols'.")
      for (const s of list) if (!books.has(String(s))) throw new RestError(400, -1121, 'Invalid symbol.')
      names = list.map(String)
    }
    return {
      timezone: 'UTC', serverTime: now(),
      rateLimits: [{ rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 6000 }, { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 }, { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 61000 }],
      exchangeFilters: [],
      symbols: names.map((n) => {
        const m = marketOf(books.get(n)!.symbol)
        return {
          symbol: n, status: 'TRADING', baseAsset: m.base, baseAssetPrecision: 8, quoteAsset: m.quote, quotePrecision: 8, quoteAssetPrecision: 8, baseCommissionPrecision: 8, quoteCommissionPrecision: 8,
          orderTypes: ['LIMIT', 'LIMIT_MAKER', 'MARKET', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT_LIMIT'], icebergAllowed: true, ocoAllowed: true, quoteOrderQtyMarketAllowed: true, isSpotTradingAllowed: true, isMarginTradingAllowed: true,
          filters: [
            { filterType: 'PRICE_FILTER', minPrice: m.tickSize.toFixed(8), maxPrice: '1000000.00000000', tickSize: m.tickSize.toFixed(8) },
            { filterType: 'LOT_SIZE', minQty: m.stepSize.toFixed(8), maxQty: '9000.00000000', stepSize: m.stepSize.toFixed(8) },
          ],
          permissions: ['SPOT', 'MARGIN'],
        }
      }),
    }
  }

  function klines(params: URLSearchParams) {
    const b = book(params)
    const interval = INTERVALS[params.get('interval') ?? '']
    if (!interval) throw new RestError(400, -1120, 'Invalid interval.')
    const limit = Math.min(int(params, 'limit') ?? 500, 1000)
    const endTime = int(params, 'endTime') ?? now()
    const startTime = int(params, 'startTime') ?? endTime - interval * limit
    return klinesOf(b.trades, interval, startTime, endTime, limit)
  }

  const WEIGHTS: Record<string, number> = { '/api/v3/ping': 1, '/api/v3/time': 1, '/api/v3/exchangeInfo': 20, '/api/v3/aggTrades': 2, '/api/v3/klines': 2 }
  function rest(req: IncomingMessage, res: ServerResponse) {
    const u = new URL(req.url ?? '/', 'http://x')
    const minute = Math.floor(now() / 60_000)
    if (minute !== weightMinute) { weightMinute = minute; weight = 0 }
    weight += WEIGHTS[u.pathname] ?? 1
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8', 'x-mbx-used-weight': String(weight), 'x-mbx-used-weight-1m': String(weight) })
      res.end(JSON.stringify(body))
    }
    try {
      if (req.method !== 'GET') return send(405, { code: -1000, msg: 'method not allowed' })
      tick()
      switch (u.pathname) {
        case '/api/v3/ping': return send(200, {})
        case '/api/v3/time': return send(200, { serverTime: now() })
        case '/api/v3/exchangeInfo': return send(200, exchangeInfo(u.searchParams))
        case '/api/v3/aggTrades': return send(200, aggTrades(u.searchParams))
        case '/api/v3/klines': return send(200, klines(u.searchParams))
        default: return send(404, { code: -1000, msg: `unknown path ${u.pathname}` })
      }
    } catch (e: any) {
      if (e instanceof RestError) return send(e.status, { code: e.code, msg: e.message })
      return send(500, { code: -1000, msg: 'An unknown error occurred while processing the request.' })
    }
  }

  const wss = new WebSocketServer({ noServer: true })
  const valid = (s: string) => /^[a-z0-9]+@aggTrade$/.test(s) && books.has(s.split('@')[0].toUpperCase())
  function onSocket(ws: WebSocket, streams: string[]) {
    subs.set(ws, new Set(streams.filter(valid)))
    let alive = true
    ws.on('pong', () => { alive = true })
    const pinger = setInterval(() => {
      if (!alive) return ws.terminate()
      alive = false
      ws.ping(String(now()))
    }, o.pingIntervalMs)
    ws.on('close', () => { clearInterval(pinger); subs.delete(ws) })
    ws.on('message', (raw) => {
      let msg: any
      try { msg = JSON.parse(raw.toString()) } catch { return ws.send(JSON.stringify({ error: { code: 3, msg: 'Invalid JSON: expected value at line 1 column 1' } })) }
      const id = msg?.id ?? null
      const params: unknown[] = Array.isArray(msg?.params) ? msg.params : []
      const set = subs.get(ws)!
      if (msg?.method === 'SUBSCRIBE' || msg?.method === 'UNSUBSCRIBE') {
        if (!params.every((p) => typeof p === 'string' && valid(p))) return ws.send(JSON.stringify({ error: { code: 2, msg: 'Invalid request: unknown variable' }, id }))
        for (const p of params as string[]) if (msg.method === 'SUBSCRIBE') set.add(p); else set.delete(p)
        return ws.send(JSON.stringify({ result: null, id }))
      }
      if (msg?.method === 'LIST_SUBSCRIPTIONS') return ws.send(JSON.stringify({ result: [...set], id }))
      ws.send(JSON.stringify({ error: { code: 1, msg: 'Invalid request: unknown method' }, id }))
    })
  }

  const server = createServer(rest)
  server.on('upgrade', (req, socket, head) => {
    const u = new URL(req.url ?? '/', 'http://x')
    const streams = u.pathname === '/stream' ? (u.searchParams.get('streams') ?? '').split('/') : u.pathname.startsWith('/ws/') ? [u.pathname.slice(4)] : u.pathname === '/ws' ? [] : undefined
    if (!streams) return socket.destroy()
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (u.pathname.startsWith('/ws')) raw.add(ws)
      onSocket(ws, streams.filter(Boolean))
    })
  })
  await new Promise<void>((r, j) => { server.once('error', j); server.listen(o.port, o.host, () => r()) })
  const port = (server.address() as AddressInfo).port
  return {
    restUrl: `http://${o.host}:${port}`,
    wsUrl: `ws://${o.host}:${port}`,
    port,
    symbols: o.symbols,
    aggTrades: (symbol) => books.get(nativeSymbol(symbol))?.trades ?? [],
    async close() {
      clearInterval(ticker)
      for (const ws of subs.keys()) ws.terminate()
      await new Promise((r) => wss.close(r))
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    },
  }
}
