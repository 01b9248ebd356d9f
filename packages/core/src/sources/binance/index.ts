/**
 * Binance (spot, Binance.US and USD-M futures: `ENDPOINTS`): the WebSocket and REST protocols
 * turned into normalized trades. Parses combined stream frames
 * (`{"stream":"btcusdt@aggTrade","data":{...}}`) and REST `aggTrades` pages, builds stream URLs,
 * pages `aggTrades` by `fromId` for backfill within the request-weight budget
 * (`X-MBX-USED-WEIGHT-1M`, through the sources' HTTP client), pages `klines` for verification,
 * parses kline stream events and reads `exchangeInfo`. Ingest's venue is made of these in
 * `./venue.ts`. Every parse failure is returned as a reason, never thrown into the stream.
 */
import type { Exchange, Quote, Trade, TradeSource } from '../../market/index'
import { nativeSymbol, roundValue, tradeValues } from '../../market/index'
import { HttpError, request, weightBudget, weightWaitMs as minuteWaitMs } from '../http/index'

/** Public endpoints of each Binance venue: REST host, its API path, WebSocket host. */
export const ENDPOINTS: Record<string, { rest: string; api: string; ws: string }> = {
  binance: { rest: 'https://api.binance.com', api: '/api/v3', ws: 'wss://stream.binance.com:9443' },
  'binance-us': { rest: 'https://api.binance.us', api: '/api/v3', ws: 'wss://stream.binance.us:9443' },
  'binance-futures': { rest: 'https://fapi.binance.com', api: '/fapi/v1', ws: 'wss://fstream.binance.com' },
}

/** The REST base (host and API path) of a venue at `restUrl`: `restBase('binance-futures', host) === host + '/fapi/v1'`. */
export const restBase = (exchange: string, restUrl: string) => restUrl + (ENDPOINTS[exchange]?.api ?? '/api/v3')

export const defaults = {
  /** Largest page Binance serves for aggTrades. */
  pageLimit: 1000,
  /** Binance allows at most one hour between startTime and endTime. */
  maxWindowMs: 3_600_000,
  requestTimeoutMs: 10_000,
  /**
   * REQUEST_WEIGHT per minute (spot's limit; USD-M futures hosts get 2400). Once a host has
   * used `weightShare` of it in the current minute, requests wait for the next minute instead of
   * running into a 429, and the wait is logged through `onWeightPause`.
   */
  weightLimit: 6000,
  weightShare: 0.8,
  /** Streams one connection may listen to (spot and USD-M futures: 1024). A run's symbols and kinds share one combined-stream connection. */
  maxStreams: 1024,
}

/** Called when `getJson` holds a request back to stay under the weight limit (the ingest logs it). */
let onWeightPause: ((base: string, usedWeight: number, waitMs: number) => void) | undefined
export const setWeightPauseListener = (f: typeof onWeightPause) => { onWeightPause = f }

/** Raw aggTrade as Binance sends it (stream frames add e, E, s). */
export interface AggTrade { e?: string; E?: number; s?: string; a: number; p: string; q: string; f: number; l: number; T: number; m: boolean; M?: boolean }

export interface ParseContext {
  exchange: Exchange
  /** Normalized symbol of a native one (`BTCUSDT` -> `BTC-USDT`), undefined if not configured. */
  resolve: (native: string) => string | undefined
  ingestTs: number
  source: TradeSource
}

export type FrameResult =
  | { kind: 'trade'; trade: Trade }
  | { kind: 'quote'; quote: Quote }
  | { kind: 'ignored'; stream?: string }
  | { kind: 'error'; reason: string }

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isDecimal = (v: unknown): v is string => typeof v === 'string' && /^\d{1,20}(\.\d{1,20})?$/.test(v)

/** Checks one aggTrade's fields; returns the reason it is bad, or undefined when good. */
export function aggTradeProblem(d: any): string | undefined {
  if (!d || typeof d !== 'object') return 'aggTrade is not an object'
  if (!isInt(d.a)) return 'aggTrade id "a" is not a non-negative integer'
  if (!isInt(d.f) || !isInt(d.l) || d.l < d.f) return 'first/last trade ids "f"/"l" are not integers with l >= f'
  if (!isInt(d.T)) return 'trade time "T" is not an integer'
  if (!isDecimal(d.p) || !(Number(d.p) > 0)) return 'price "p" is not a positive decimal string'
  if (!isDecimal(d.q) || !(Number(d.q) > 0)) return 'quantity "q" is not a positive decimal string'
  if (typeof d.m !== 'boolean') return 'buyer-is-maker "m" is not a boolean'
  const v = tradeValues(Number(d.p), Number(d.q)) // the bounds every door applies (core/market TRADE_LIMITS)
  return 'reason' in v ? v.reason : undefined
}

/**
 * A normalized trade from one aggTrade of `native` symbol (checked by `aggTradeProblem`). The taker
 * side is `buy` when the buyer was not the maker (`m == false`); `trades` is the individual trades
 * it covers (`l - f + 1`); price and quantity are taken at 8 decimals (`roundValue`).
 */
export function toTrade(d: AggTrade, native: string, symbol: string, ctx: ParseContext): Trade {
  return {
    exchange: ctx.exchange, symbol, native_symbol: native,
    trade_id: d.a, first_trade_id: d.f, last_trade_id: d.l,
    ts: d.T * 1000, price: roundValue(Number(d.p)), qty: roundValue(Number(d.q)),
    side: d.m ? 'sell' : 'buy', trades: d.l - d.f + 1,
    ingest_ts: ctx.ingestTs, source: ctx.source,
  }
}

/** Parses one WebSocket frame (combined or raw stream). Never throws. */
export function parseFrame(raw: string, ctx: ParseContext): FrameResult {
  let msg: any
  try { msg = JSON.parse(raw) } catch { return { kind: 'error', reason: 'frame is not valid JSON' } }
  if (!msg || typeof msg !== 'object') return { kind: 'error', reason: 'frame is not a JSON object' }
  const data = 'stream' in msg && 'data' in msg ? msg.data : msg
  if ('result' in msg && 'id' in msg) return { kind: 'ignored' }
  if (data && typeof data === 'object' && data.e === 'trade') return parseTrade(data, ctx)
  if (data && typeof data === 'object' && (data.e === 'bookTicker' || (typeof msg.stream === 'string' && msg.stream.endsWith('@bookTicker')))) return parseBookTicker(data, ctx)
  if (!data || typeof data !== 'object' || data.e !== 'aggTrade') {
    if (typeof msg.stream === 'string' || typeof data?.e === 'string') return { kind: 'ignored', stream: msg.stream ?? data.e }
    return { kind: 'error', reason: 'frame is neither a stream event nor a method reply' }
  }
  const problem = aggTradeProblem(data) ?? (typeof data.s === 'string' ? undefined : 'symbol "s" is missing')
  if (problem) return { kind: 'error', reason: problem }
  const symbol = ctx.resolve(data.s)
  if (!symbol) return { kind: 'ignored', stream: msg.stream }
  return { kind: 'trade', trade: toTrade(data, data.s, symbol, ctx) }
}

/** A plain `trade` stream event (one individual trade: `t` is its id). */
function parseTrade(d: any, ctx: ParseContext): FrameResult {
  if (!isInt(d.t)) return { kind: 'error', reason: 'trade id "t" is not a non-negative integer' }
  const problem = aggTradeProblem({ ...d, a: d.t, f: d.t, l: d.t }) ?? (typeof d.s === 'string' ? undefined : 'symbol "s" is missing')
  if (problem) return { kind: 'error', reason: problem }
  const symbol = ctx.resolve(d.s)
  if (!symbol) return { kind: 'ignored' }
  return { kind: 'trade', trade: toTrade({ a: d.t, f: d.t, l: d.t, p: d.p, q: d.q, T: d.T, m: d.m }, d.s, symbol, ctx) }
}

/** A `bookTicker` event: best bid and ask. Spot sends no time, so the receive time stands in. */
function parseBookTicker(d: any, ctx: ParseContext): FrameResult {
  if (!isInt(d.u)) return { kind: 'error', reason: 'bookTicker update id "u" is not a non-negative integer' }
  if (typeof d.s !== 'string') return { kind: 'error', reason: 'symbol "s" is missing' }
  for (const k of ['b', 'B', 'a', 'A']) if (!isDecimal(d[k])) return { kind: 'error', reason: `bookTicker "${k}" is not a decimal string` }
  if (d.T !== undefined && !isInt(d.T)) return { kind: 'error', reason: 'transaction time "T" is not an integer' }
  const symbol = ctx.resolve(d.s)
  if (!symbol) return { kind: 'ignored' }
  return {
    kind: 'quote',
    quote: {
      exchange: ctx.exchange, symbol, native_symbol: d.s, update_id: d.u, ts: d.T !== undefined ? d.T * 1000 : ctx.ingestTs,
      bid: Number(d.b), bid_qty: Number(d.B), ask: Number(d.a), ask_qty: Number(d.A), ingest_ts: ctx.ingestTs, source: ctx.source,
    },
  }
}

/** Resolver for a list of normalized symbols: `resolverFor(['BTC-USDT'])('BTCUSDT') === 'BTC-USDT'`. */
export function resolverFor(symbols: string[]) {
  const map = new Map(symbols.map((s) => [nativeSymbol(s), s]))
  return (native: string) => map.get(native)
}

/** Combined-stream URL: `streamUrl(ws, ['BTC-USDT'])` -> `<ws>/stream?streams=btcusdt@aggTrade`. */
export function streamUrl(wsBase: string, symbols: string[], kinds: string | string[] = 'aggTrade') {
  const list = typeof kinds === 'string' ? [kinds] : kinds
  return `${wsBase}/stream?streams=${symbols.flatMap((s) => list.map((k) => `${nativeSymbol(s).toLowerCase()}@${k}`)).join('/')}`
}

function explain(status: number, body: any, url: string): string {
  if (status === 451) return `Binance refuses this region (HTTP 451) for ${url}: run where Binance serves, or use --exchange binance-us`
  if (status === 418) return `Binance has banned this IP for a while (HTTP 418) after too many requests`
  if (status === 429) return `Binance rate limit reached (HTTP 429)`
  return `Binance answered HTTP ${status}${body?.msg ? `: ${body.msg}` : ''} for ${url}`
}

/** How long a refusal asks to wait: its Retry-After, else 2 min after a 418 (a ban) and 1 min after a 429. */
const waitFor = (status: number, retryAfter: number | undefined) => (retryAfter && retryAfter > 0 ? retryAfter : status === 418 ? 120_000 : status === 429 ? 60_000 : undefined)

/**
 * What Binance last said of this process's request budget, per REST host: weight used this minute
 * (`X-MBX-USED-WEIGHT-1M`) and, after a 429 or 418, when requests may resume. While a host is
 * backing off, `getJson` refuses without sending, so retries cannot turn a 429 into a 418 ban.
 */
const weights = weightBudget({
  name: 'Binance', header: 'x-mbx-used-weight-1m',
  limit: (base) => (/\/fapi\//.test(base) ? 2400 : defaults.weightLimit), share: () => defaults.weightShare,
  onPause: (base, used, ms) => onWeightPause?.(base, used, ms),
})
export const budget = weights.state // by REST base

/** Ms to wait before the next request to a host that has used most of this minute's weight; 0 when it may go. */
export const weightWaitMs = (b: { usedWeight: number; minute?: number }, now: number, limit = defaults.weightLimit, share = defaults.weightShare) => minuteWaitMs(b, now, limit, share)

/**
 * GETs a path under a REST base (`https://api.binance.com/api/v3`) and returns the parsed JSON, or
 * throws an HttpError that names the fix (`retryAfterMs` after a 429/418). `signal` ends a weight
 * pause and the request itself (a run's deadline): the call then rejects with the signal's reason.
 */
export async function getJson<T>(base: string, path: string, params: Record<string, string | number | undefined>, fetchImpl: typeof fetch = fetch, signal?: AbortSignal): Promise<T> {
  const qs = Object.entries(params).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`).join('&')
  const url = `${base}${path}${qs ? `?${qs}` : ''}`
  const { json } = await request(url, { fetch: fetchImpl, signal, timeoutMs: defaults.requestTimeoutMs, name: 'Binance', gate: weights, key: base, explain, waitFor, codeOf: (body) => body?.code })
  return json as T
}

/**
 * Every aggTrade of `symbol` from `fromId` on, up to `untilId` (inclusive) or until the newest,
 * page by page. Yields each page's trades; stops at a short page. `signal` cuts off a weight pause
 * or a request in flight (see `getJson`).
 */
export async function* aggTradesFrom(base: string, symbol: string, fromId: number, untilId = Infinity, fetchImpl: typeof fetch = fetch, signal?: AbortSignal): AsyncGenerator<AggTrade[]> {
  let next = fromId
  while (next <= untilId) {
    const page = await getJson<AggTrade[]>(base, '/aggTrades', { symbol: nativeSymbol(symbol), fromId: next, limit: defaults.pageLimit }, fetchImpl, signal)
    const wanted = page.filter((t) => t.a >= next && t.a <= untilId)
    if (wanted.length) yield wanted
    if (page.length < defaults.pageLimit || !page.length) return
    next = page[page.length - 1].a + 1
  }
}

/** The first aggTrade at or after `startTime` (ms), looked up with a one-hour window; undefined if none. */
export async function firstAggTradeAfter(base: string, symbol: string, startTime: number, now: number, fetchImpl: typeof fetch = fetch): Promise<AggTrade | undefined> {
  for (let t = startTime; t <= now; t += defaults.maxWindowMs) {
    const page = await getJson<AggTrade[]>(base, '/aggTrades', { symbol: nativeSymbol(symbol), startTime: t, endTime: Math.min(now, t + defaults.maxWindowMs - 1), limit: 1 }, fetchImpl)
    if (page.length) return page[0]
  }
  return undefined
}

/** The newest aggTrade of a symbol, or undefined when it has none. */
export async function latestAggTrade(base: string, symbol: string, fetchImpl: typeof fetch = fetch, signal?: AbortSignal): Promise<AggTrade | undefined> {
  const page = await getJson<AggTrade[]>(base, '/aggTrades', { symbol: nativeSymbol(symbol), limit: 1 }, fetchImpl, signal)
  return page[page.length - 1]
}

/** Symbols Binance lists as trading, for a check of the configured ones: native -> `{ base, quote }`. */
export async function listedSymbols(base: string, symbols: string[], fetchImpl: typeof fetch = fetch) {
  const info = await getJson<{ symbols: { symbol: string; status: string; baseAsset: string; quoteAsset: string }[] }>(
    base, '/exchangeInfo', { symbols: JSON.stringify(symbols.map(nativeSymbol)) }, fetchImpl)
  return new Map(info.symbols.map((s) => [s.symbol, s]))
}

/** A REST kline by name: open/close times in ms, decimals kept as Binance's strings (exact). */
export interface RestKline {
  open_time: number; close_time: number
  open: string; high: string; low: string; close: string
  volume: string; quote_volume: string; trades: number
  taker_buy_volume: string; taker_buy_quote_volume: string
}

/** Reads one REST kline row (`GET /api/v3/klines`); returns the reason when it is not one. */
export function parseKlineRow(row: unknown): RestKline | { error: string } {
  if (!Array.isArray(row) || row.length < 11) return { error: 'kline is not an array of at least 11 fields' }
  const [t, o, h, l, c, v, T, q, n, V, Q] = row
  if (!isInt(t) || !isInt(T) || T < t) return { error: 'kline open/close times are not integers with close >= open' }
  if (!isInt(n)) return { error: 'kline trade count is not a non-negative integer' }
  const decimals = { o, h, l, c, v, q, V, Q }
  for (const [k, d] of Object.entries(decimals)) if (!isDecimal(d)) return { error: `kline field ${k} is not a decimal string` }
  return { open_time: t, close_time: T, open: o, high: h, low: l, close: c, volume: v, quote_volume: q, trades: n, taker_buy_volume: V, taker_buy_quote_volume: Q }
}

/**
 * Every kline of `symbol` and `interval` (`1m`, `1h`, ...) with open time in `[startTime, endTime]`,
 * page by page (`limit` 1000, next page from the last open time + 1), through `getJson` and its
 * rate-limit budget. Yields each page; throws on a malformed row.
 * @example for await (const page of klinesBetween(restBase('binance', host), 'BTC-USDT', '1m', from, to - 1)) ...
 */
export async function* klinesBetween(base: string, symbol: string, interval: string, startTime: number, endTime: number, fetchImpl: typeof fetch = fetch): AsyncGenerator<RestKline[]> {
  let next = startTime
  while (next <= endTime) {
    const rows = await getJson<unknown[]>(base, '/klines', { symbol: nativeSymbol(symbol), interval, startTime: next, endTime, limit: defaults.pageLimit }, fetchImpl)
    if (!Array.isArray(rows)) throw new HttpError(200, `klines answer for ${symbol} is not an array`, { url: base })
    const page = rows.map((r) => {
      const k = parseKlineRow(r)
      if ('error' in k) throw new HttpError(200, `bad kline from ${base}: ${k.error}`, { url: base })
      return k
    }).filter((k) => k.open_time >= next && k.open_time <= endTime)
    if (page.length) yield page
    if (rows.length < defaults.pageLimit || !page.length) return
    next = page[page.length - 1].open_time + 1
  }
}

/** The whole `exchangeInfo` of a venue (spot, US or futures: same shape where it matters). */
export const exchangeInfo = (base: string, fetchImpl: typeof fetch = fetch) => getJson<{ serverTime?: number; symbols: unknown[] }>(base, '/exchangeInfo', {}, fetchImpl)

/** A kline stream event's candle (`<symbol>@kline_<interval>`): decimals kept as strings, `closed` once final. */
export interface StreamKline extends RestKline { symbol: string; interval: string; first_trade_id: number; last_trade_id: number; closed: boolean; event_time: number }

/** Reads a `kline` stream event (the `data` of a combined frame); returns the reason when it is not one. */
export function parseKlineEvent(d: any): StreamKline | { error: string } {
  if (!d || typeof d !== 'object' || d.e !== 'kline' || !d.k || typeof d.k !== 'object') return { error: 'not a kline event' }
  const k = d.k
  const row = parseKlineRow([k.t, k.o, k.h, k.l, k.c, k.v, k.T, k.q, k.n, k.V, k.Q])
  if ('error' in row) return row
  if (typeof k.s !== 'string' || typeof k.i !== 'string') return { error: 'kline symbol "s" or interval "i" is missing' }
  if (!Number.isSafeInteger(k.f) || !Number.isSafeInteger(k.L) || typeof k.x !== 'boolean') return { error: 'kline trade ids "f"/"L" or closed flag "x" are malformed' }
  return { ...row, symbol: k.s, interval: k.i, first_trade_id: k.f, last_trade_id: k.L, closed: k.x, event_time: d.E }
}

export { binanceVenue } from './venue'
