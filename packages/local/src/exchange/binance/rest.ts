/**
 * The fake Binance's REST API: `ping`, `time`, `exchangeInfo`, `aggTrades` and `klines` with
 * Binance's parameter rules, error codes and bodies, REQUEST_WEIGHT counted per minute (429 with
 * Retry-After past the limit, `X-MBX-USED-WEIGHT-1M` on every answer), the 418/429 storms of the
 * fault suite, and klines planted wrong on purpose for `ticklake verify`'s tests.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { nativeSymbol } from '@ticklake/core/market'
import { marketOf, type AggTrade } from '../generator'
import type { Faults } from '../faults'
import { klinesOf, lowerBound, type Book } from './book'

/** Kline fields by their index in a REST kline row. */
export const KLINE_INDEX = { open: 1, high: 2, low: 3, close: 4, volume: 5, quote_volume: 7, trades: 8, taker_buy_volume: 9, taker_buy_quote_volume: 10 } as const

/**
 * A kline the exchange reports wrongly on purpose (tests of `ticklake verify`): `GET /api/v3/klines`
 * answers `value` for `field` of the kline of `symbol` and `interval` opening at `openTime`.
 */
export interface PlantedKline { symbol: string; interval: string; openTime: number; field: keyof typeof KLINE_INDEX; value: string | number }

/** A Binance REST error: HTTP status and `{code, msg}` body. */
class RestError extends Error { constructor(readonly status: number, readonly code: number, msg: string, readonly headers: Record<string, string> = {}) { super(msg) } }

/** Kline intervals (fixed-length ones; `1w` and `1M` are not served). */
export const INTERVALS: Record<string, number> = { '1s': 1_000, '1m': 60_000, '3m': 180_000, '5m': 300_000, '15m': 900_000, '30m': 1_800_000, '1h': 3_600_000, '2h': 7_200_000, '4h': 14_400_000, '6h': 21_600_000, '8h': 28_800_000, '12h': 43_200_000, '1d': 86_400_000 }

/** REQUEST_WEIGHT of each endpoint (Binance's current values). */
const WEIGHTS: Record<string, number> = { '/api/v3/ping': 1, '/api/v3/time': 1, '/api/v3/exchangeInfo': 20, '/api/v3/aggTrades': 4, '/api/v3/klines': 2 }

/** The `exchangeInfo` entry of one symbol, keyed like the real one. */
function symbolInfo(native: string, symbol: string) {
  const m = marketOf(symbol)
  return {
    symbol: native, status: 'TRADING', baseAsset: m.base, baseAssetPrecision: 8, quoteAsset: m.quote, quotePrecision: 8, quoteAssetPrecision: 8, baseCommissionPrecision: 8, quoteCommissionPrecision: 8,
    orderTypes: ['LIMIT', 'LIMIT_MAKER', 'MARKET', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT_LIMIT'], icebergAllowed: true, ocoAllowed: true, quoteOrderQtyMarketAllowed: true, isSpotTradingAllowed: true, isMarginTradingAllowed: true,
    filters: [
      { filterType: 'PRICE_FILTER', minPrice: m.tickSize, maxPrice: '1000000.00000000', tickSize: m.tickSize },
      { filterType: 'PERCENT_PRICE', multiplierUp: '5', multiplierDown: '0.2', avgPriceMins: 5 },
      { filterType: 'LOT_SIZE', minQty: m.stepSize, maxQty: '9000.00000000', stepSize: m.stepSize },
      { filterType: 'MIN_NOTIONAL', minNotional: '5.00000000', applyToMarket: true, avgPriceMins: 5 },
      { filterType: 'ICEBERG_PARTS', limit: 10 },
      { filterType: 'MARKET_LOT_SIZE', minQty: '0.00000000', maxQty: '100.00000000', stepSize: '0.00000000' },
      { filterType: 'MAX_NUM_ORDERS', maxNumOrders: 200 },
      { filterType: 'MAX_NUM_ALGO_ORDERS', maxNumAlgoOrders: 5 },
    ],
    permissions: ['SPOT', 'MARGIN'],
  }
}

/** Binance's message for a malformed numeric parameter. */
const illegal = (name: string) => new RestError(400, -1100, `Illegal characters found in parameter '${name}'; legal range is '^[0-9]{1,20}$'.`)

/** An optional non-negative integer parameter. */
function int(params: URLSearchParams, name: string) {
  const v = params.get(name)
  if (v === null) return undefined
  if (!/^\d{1,19}$/.test(v)) throw illegal(name)
  return Number(v)
}

/** A `limit` parameter: default 500, clamped to 1000, at least 1. */
function limitOf(params: URLSearchParams) {
  const limit = int(params, 'limit') ?? 500
  if (limit < 1) throw new RestError(400, -1100, "Illegal characters found in parameter 'limit'; legal range is '1..1000'.")
  return Math.min(limit, 1000)
}

/** The aggTrades a Binance `GET /api/v3/aggTrades` query selects from `tr` (sorted, consecutive ids). */
export function selectAggTrades(tr: readonly AggTrade[], params: URLSearchParams) {
  const limit = limitOf(params)
  const fromId = int(params, 'fromId')
  const startTime = int(params, 'startTime')
  const endTime = int(params, 'endTime')
  if (startTime !== undefined && endTime !== undefined && endTime - startTime > 3_600_000) throw new RestError(400, -1127, 'More than 1 hours between startTime and endTime.')
  let from: number
  if (fromId !== undefined) from = lowerBound(tr, fromId, (t) => t.a)
  else if (startTime !== undefined) from = lowerBound(tr, startTime, (t) => t.T)
  else if (endTime !== undefined) from = lowerBound(tr, endTime - 3_600_000, (t) => t.T)
  else from = Math.max(0, tr.length - limit)
  const out: AggTrade[] = []
  for (let i = from; i < tr.length && out.length < limit; i++) {
    const t = tr[i] // one read: a book's trades are a view that makes the object at each read
    if (endTime !== undefined && t.T > endTime) break
    out.push(t)
  }
  return out
}

export interface RestOptions {
  books: Map<string, Book>
  /** REQUEST_WEIGHT per minute. */
  weightLimit: number
  /** The faults in force (`rest429`, `rest418`) and the fake's seeded draw. */
  faults: Faults
  chance: () => number
  /** Klines to report wrongly (grows with `plantKline`). */
  planted: PlantedKline[]
  /** Generates trades up to now (and streams them), so REST never serves less than the stream sent. */
  tick: () => void
  start: number
  now: () => number
}

/**
 * The REST request handler of the fake Binance; `peakWeight()` is the most weight an answer reported.
 * @example createServer(binanceRest({ books, weightLimit: 6000, faults, chance, planted: [], tick, start, now }))
 */
export function binanceRest(o: RestOptions) {
  // Long by design: the fake's REST handlers over its books in this closure; each is a small named function inside.
  const { books, faults, chance, planted, now } = o
  const weight = { minute: Math.floor(o.start / 60_000), used: 0 }
  /** The most weight any answer reported used (a test's peak). */
  let peak = 0

  function book(params: URLSearchParams) {
    const s = params.get('symbol')
    if (!s) throw new RestError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
    const b = books.get(s)
    if (!b) throw new RestError(400, -1121, 'Invalid symbol.')
    return b
  }

  function exchangeInfo(params: URLSearchParams) {
    let names = [...books.keys()]
    if (params.has('symbol')) names = [nativeSymbol(book(params).symbol)]
    else if (params.has('symbols')) {
      let list: unknown
      try { list = JSON.parse(params.get('symbols')!) } catch { list = undefined }
      if (!Array.isArray(list) || !list.length || !list.every((s) => typeof s === 'string')) throw new RestError(400, -1100, "Illegal characters found in parameter 'symbols'; legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.")
      if (list.some((s) => !books.has(s))) throw new RestError(400, -1121, 'Invalid symbol.')
      names = list
    }
    return {
      timezone: 'UTC',
      serverTime: now(),
      rateLimits: [
        { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: o.weightLimit },
        { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
        { rateLimitType: 'ORDERS', interval: 'DAY', intervalNum: 1, limit: 200000 },
        { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 61000 },
      ],
      exchangeFilters: [],
      symbols: names.map((n) => symbolInfo(n, books.get(n)!.symbol)),
    }
  }

  function klines(params: URLSearchParams) {
    const b = book(params)
    const name = params.get('interval')
    if (!name) throw new RestError(400, -1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed.")
    const interval = INTERVALS[name]
    if (!interval) throw new RestError(400, -1120, 'Invalid interval.')
    const limit = limitOf(params)
    const endTime = Math.min(int(params, 'endTime') ?? Infinity, now())
    const startTime = int(params, 'startTime') ?? (Math.floor(endTime / interval) - limit + 1) * interval
    const rows = klinesOf(b.tape, interval, startTime, endTime, limit)
    for (const p of planted) {
      if (nativeSymbol(p.symbol) !== params.get('symbol') || p.interval !== name) continue
      const row = rows.find((r) => r[0] === p.openTime)
      if (row) row[KLINE_INDEX[p.field]] = p.value
    }
    return rows
  }

  /** Counts the request's weight in the current minute; throws 429 past the limit. */
  function charge(path: string) {
    const t = now()
    const minute = Math.floor(t / 60_000)
    if (minute !== weight.minute) Object.assign(weight, { minute, used: 0 })
    weight.used += WEIGHTS[path] ?? 1
    if (weight.used > o.weightLimit) throw new RestError(429, -1003, `Too much request weight used; current limit is ${o.weightLimit} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.`, { 'retry-after': String(Math.ceil(((minute + 1) * 60_000 - t) / 1000)) })
  }

  function route(u: URL) {
    switch (u.pathname) {
      case '/api/v3/ping': return {}
      case '/api/v3/time': return { serverTime: now() }
      case '/api/v3/exchangeInfo': return exchangeInfo(u.searchParams)
      case '/api/v3/aggTrades': return selectAggTrades(book(u.searchParams).trades, u.searchParams)
      case '/api/v3/klines': return klines(u.searchParams)
    }
  }

  function rest(req: IncomingMessage, res: ServerResponse) {
    const u = new URL(req.url ?? '/', 'http://x')
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      peak = Math.max(peak, weight.used)
      res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8', 'x-mbx-used-weight': String(weight.used), 'x-mbx-used-weight-1m': String(weight.used), ...headers })
      res.end(JSON.stringify(body))
    }
    try {
      if (req.method !== 'GET') return send(405, { code: -1000, msg: `Method ${req.method} is not supported.` })
      if (!(u.pathname in WEIGHTS)) return send(404, { code: -1000, msg: `Unknown path ${u.pathname}.` })
      if (chance() < faults.rest418) return send(418, { code: -1003, msg: 'Way too much request weight used; IP banned until later. Please use WebSocket Streams for live updates to avoid bans.' }, { 'retry-after': '2' })
      if (chance() < faults.rest429) return send(429, { code: -1003, msg: 'Too much request weight used; please use WebSocket Streams for live updates to avoid polling the API.' }, { 'retry-after': '1' })
      charge(u.pathname)
      o.tick()
      send(200, route(u))
    } catch (e) {
      if (e instanceof RestError) return send(e.status, { code: e.code, msg: e.message }, e.headers)
      send(500, { code: -1000, msg: 'An unknown error occurred while processing the request.' })
    }
  }

  return Object.assign(rest, { peakWeight: () => peak })
}
