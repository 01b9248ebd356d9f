/**
 * The fake exchange: Binance spot's WebSocket and REST protocols on loopback, fed by a seeded
 * generator per symbol (a random walk with volatility and activity bursts, prices on the tick size
 * and quantities on the lot step). It generates `historyMs` of past trades at start, then trades in
 * real time, pushed to `/stream?streams=` and `/ws/<stream>` subscribers; REST serves `ping`, `time`,
 * `exchangeInfo`, `aggTrades` and `klines` with Binance's parameter rules, errors and weight headers.
 * Frames and bodies are keyed and ordered like the real ones in ../shared/data/binance. It is the
 * offline source of `ticklake start` and the ground truth of tests: `aggTrades(symbol)` is exactly
 * what it has published.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocket, WebSocketServer } from 'ws'
import { nativeSymbol } from '@ticklake/core/market'

export const defaults = {
  host: '127.0.0.1',
  /** 0 picks a free port. */
  port: 0,
  symbols: ['BTC-USDT', 'ETH-USDT'],
  seed: 1,
  /** History generated into the past at start, served over REST. */
  historyMs: 6 * 3_600_000,
  /** Mean aggTrades per second per symbol, bursts included (bursts run 3-8 times the calm rate). */
  ratePerSec: 4,
  /** Activity bursts on (realistic) or off (a steady rate, for load tests and soaks). */
  bursts: true,
  pingIntervalMs: 20_000,
  /** A connection that has not answered a ping for this long is dropped (Binance: one minute). */
  pongTimeoutMs: 60_000,
  /** Binance closes every connection after 24 hours. */
  maxConnectionMs: 24 * 3_600_000,
  /** Oldest trades are dropped beyond this many per symbol. */
  maxTrades: 2_000_000,
  /** Live generation period. */
  tickMs: 100,
  /** REQUEST_WEIGHT per minute; beyond it REST answers 429 with Retry-After. */
  weightLimit: 6000,
}

/** A Binance aggTrade as REST returns it (WebSocket adds `e`, `E`, `s` in front). */
export interface AggTrade { a: number; p: string; q: string; f: number; l: number; T: number; m: boolean; M: boolean }

/**
 * Faults to inject, for the fault suite: shares are probabilities per frame or request. Ids removed
 * by `idGap` never existed (REST lacks them too), so `aggTrades()` stays the ground truth.
 */
export interface Faults {
  /** Stream frames not sent (REST still has the trades: a gap ingest can fill). */
  drop: number
  /** Stream frames sent twice. */
  duplicate: number
  /** Stream frames swapped with the next one. */
  reorder: number
  /** Aggregate trade ids skipped by the exchange altogether. */
  idGap: number
  /** Until this time (ms) the stream sends nothing, connections stay open. */
  stallUntil: number
  /** REST requests answered 429 (with Retry-After) or 418 (banned, with Retry-After). */
  rest429: number
  rest418: number
}
export const noFaults: Faults = { drop: 0, duplicate: 0, reorder: 0, idGap: 0, stallUntil: 0, rest429: 0, rest418: 0 }

/** Replay mode: the exchange plays these trades (per native symbol) instead of generating. */
export interface Replay {
  trades: Map<string, AggTrade[]>
  /** Normalized symbols, one per native symbol of `trades`. */
  symbols: string[]
  /** Capture time per wall time (2 = twice as fast); `max` sends everything at once. The clock starts with the first stream connection. */
  speed: number | 'max'
}

/** Kline fields by their index in a REST kline row. */
export const KLINE_INDEX = { open: 1, high: 2, low: 3, close: 4, volume: 5, quote_volume: 7, trades: 8, taker_buy_volume: 9, taker_buy_quote_volume: 10 } as const

/**
 * A kline the exchange reports wrongly on purpose (tests of `ticklake verify`): `GET /api/v3/klines`
 * answers `value` for `field` of the kline of `symbol` and `interval` opening at `openTime`.
 */
export interface PlantedKline { symbol: string; interval: string; openTime: number; field: keyof typeof KLINE_INDEX; value: string | number }

/** Where a symbol's trades go on from: the last aggTrade id, its time (ms) and price (a restart on a lake that holds them). */
export interface ResumeAt extends Resume { ts: number }

export interface FakeExchangeOptions extends Partial<typeof defaults> {
  now?: () => number; faults?: Partial<Faults>; replay?: Replay
  /**
   * Per normalized symbol, where the exchange goes on from instead of starting afresh: ids after
   * `id`, times after `ts` (history generated from there, at most `historyMs` back), from `price`.
   */
  resume?: Record<string, ResumeAt | undefined>
}

export interface FakeExchange {
  /** `http://127.0.0.1:PORT` */
  restUrl: string
  /** `ws://127.0.0.1:PORT` */
  wsUrl: string
  port: number
  symbols: string[]
  /** Every aggTrade generated so far, oldest first (the oldest are dropped past `maxTrades`). */
  aggTrades(symbol: string): ReadonlyArray<AggTrade>
  /** In replay mode: true once every captured trade has been published. */
  replayDone(): boolean
  /** Changes the faults injected from now on. */
  setFaults(f: Partial<Faults>): void
  /** Closes every stream connection abruptly (as a network cut does: code 1006 at the client). */
  dropConnections(): void
  /** Makes `GET /api/v3/klines` report one field of one kline wrongly from now on. */
  plantKline(p: PlantedKline): void
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

export const hash = (s: string) => [...s].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, 7)

/** A decimal string with 8 decimals as an integer of 1e-8 units: `units8('1.5') === 150000000n`. */
export const units8 = (s: string) => {
  const dot = s.indexOf('.')
  if (dot === s.length - 9) return BigInt(s.slice(0, dot) + s.slice(dot + 1))
  const [i, f = ''] = s.split('.')
  return BigInt(i + f.padEnd(8, '0').slice(0, 8))
}
/** 1e-8 units printed as Binance prints decimals: `dec8(150000000n) === '1.50000000'`. */
export const dec8 = (u: bigint) => { const s = (u < 0n ? -u : u).toString().padStart(9, '0'); return `${u < 0n ? '-' : ''}${s.slice(0, -8)}.${s.slice(-8)}` }

/** Market parameters of a normalized symbol: start price, price and quantity decimals, tick size and lot step. */
export function marketOf(symbol: string) {
  const [base, quote = 'USDT'] = symbol.split('-')
  const known: Record<string, [number, number, number]> = { BTC: [60_000, 2, 5], ETH: [3_000, 2, 4], BNB: [550, 2, 3], SOL: [150, 2, 3], XRP: [0.55, 4, 1], DOGE: [0.15, 5, 0], ADA: [0.45, 4, 1], LTC: [80, 2, 3] }
  const [usd, priceDecimals, qtyDecimals] = known[base] ?? [5 + (hash(base) % 200), 3, 2]
  const price = quote === 'BTC' ? usd / 60_000 : quote === 'ETH' ? usd / 3_000 : usd
  const pd = quote === 'BTC' || quote === 'ETH' ? 6 : priceDecimals
  return { base, quote, price, priceDecimals: pd, qtyDecimals, tickSize: dec8(10n ** BigInt(8 - pd)), stepSize: dec8(10n ** BigInt(8 - qtyDecimals)) }
}

/** Time share of activity bursts (15 s mean in 105 s) and their mean multiplier (5.5): the calm rate is scaled so the mean is `ratePerSec`. */
const regime = { calmMs: 90_000, burstMs: 15_000, meanActivity: (90 + 15 * 5.5) / 105 }

/**
 * Where a generator goes on from (a restart on a lake that already holds its trades): the last
 * aggTrade id and, when known, the last price. Times go on from the generator's `start`.
 */
export interface Resume { id: number; price?: number }

/**
 * One symbol's generator, deterministic for (seed, symbol, start, from): the trade sequence does not
 * depend on how often it is called. `generate(until, out)` appends the trades with `T <= until`.
 * With `from` it goes on after that aggTrade id (and price): individual trade ids then start above
 * any the same symbol's generator gave up to that id (a record covers at most 3 of them).
 */
export function generator(symbol: string, seed: number, start: number, ratePerSec: number, bursts = true, from?: Resume) {
  const m = marketOf(symbol)
  const rand = prng(seed ^ hash(symbol) ^ (from ? from.id + 1 : 0))
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())
  const expo = () => -Math.log(1 - rand())
  const priceUnit = 10n ** BigInt(8 - m.priceDecimals)
  const qtyUnit = 10n ** BigInt(8 - m.qtyDecimals)
  const baseRate = bursts ? ratePerSec / regime.meanActivity : ratePerSec
  let price = from?.price && from.price > 0 ? from.price : m.price * (0.9 + 0.2 * rand())
  let t = start
  let activity = 1
  let vol = 1
  let aggId = from ? from.id + 1 : 100_000_000 + (hash(symbol + seed) % 1_000_000) * 100
  // at most 3 individual trades a record: trade ids stay at or below 3 * aggId + 12,345, so a resumed generator starts above them
  let tradeId = aggId * 3 + 12_345
  function draw(): AggTrade {
    const gap = (expo() * 1000) / (baseRate * activity)
    t += gap
    if (rand() < gap / (activity > 1 ? regime.burstMs : regime.calmMs) && bursts) activity = activity > 1 ? 1 : 3 + 5 * rand()
    vol = 1 + (vol - 1) * Math.exp(-gap / 60_000)
    if (rand() < gap / 900_000) vol = 2 + 3 * rand()
    const move = gauss() * 0.00015 * vol * Math.sqrt(Math.max(gap, 1) / 1000)
    price *= Math.exp(move)
    const n = Math.min(3, 1 + Math.floor(expo() * 0.8 * (activity > 1 ? 2 : 1)))
    const notional = n * (5 + Math.exp(gauss() * 1.5 + 4))
    const p = BigInt(Math.max(1, Math.round(price * 10 ** m.priceDecimals)))
    const q = BigInt(Math.max(1, Math.round((notional / price) * 10 ** m.qtyDecimals)))
    const trade = { a: aggId++, p: dec8(p * priceUnit), q: dec8(q * qtyUnit), f: tradeId, l: tradeId + n - 1, T: Math.floor(t), m: rand() < (move < 0 ? 0.65 : 0.35), M: true }
    tradeId += n
    return trade
  }
  let next = draw()
  return function generate(until: number, out: AggTrade[]) {
    while (next.T <= until) { out.push(next); next = draw() }
  }
}

/**
 * When a symbol's generated history starts: `historyMs` before `start`, or where the lake stands
 * (`resume.ts`) when that is later (a restart), never after `start`.
 */
export const resumeStart = (resume: ResumeAt | undefined, start: number, historyMs: number) =>
  resume ? Math.min(start, Math.max(resume.ts, start - historyMs)) : start - historyMs

/** A Binance REST error: HTTP status and `{code, msg}` body. */
class RestError extends Error { constructor(readonly status: number, readonly code: number, msg: string, readonly headers: Record<string, string> = {}) { super(msg) } }

/** Kline intervals (fixed-length ones; `1w` and `1M` are not served). */
export const INTERVALS: Record<string, number> = { '1s': 1_000, '1m': 60_000, '3m': 180_000, '5m': 300_000, '15m': 900_000, '30m': 1_800_000, '1h': 3_600_000, '2h': 7_200_000, '4h': 14_400_000, '6h': 21_600_000, '8h': 28_800_000, '12h': 43_200_000, '1d': 86_400_000 }

/** REQUEST_WEIGHT of each endpoint (Binance's current values). */
const WEIGHTS: Record<string, number> = { '/api/v3/ping': 1, '/api/v3/time': 1, '/api/v3/exchangeInfo': 20, '/api/v3/aggTrades': 4, '/api/v3/klines': 2 }

/** First index in `trades` (sorted by `key`) whose key is >= v. */
function lowerBound(trades: readonly AggTrade[], v: number, key: (t: AggTrade) => number) {
  let lo = 0
  let hi = trades.length
  while (lo < hi) { const mid = (lo + hi) >> 1; if (key(trades[mid]) < v) lo = mid + 1; else hi = mid }
  return lo
}

/**
 * Kline rows as Binance returns them for open times in [startTime, endTime], at most `limit`, computed
 * exactly (decimal) from the trades. Intervals without trades repeat the previous close with zero
 * volume; none are returned before the first trade.
 */
export function klinesOf(trades: readonly AggTrade[], interval: number, startTime: number, endTime: number, limit: number) {
  const rows: (number | string)[][] = []
  if (!trades.length) return rows
  let i = 0
  let prev: bigint | undefined
  for (let open = Math.max(Math.ceil(startTime / interval), Math.floor(trades[0].T / interval)) * interval; open <= endTime && rows.length < limit; open += interval) {
    if (i === 0 || trades[i - 1].T >= open) { i = lowerBound(trades, open, (t) => t.T); prev = i > 0 ? units8(trades[i - 1].p) : undefined }
    let o = prev, h = prev, l = prev, v = 0n, qv = 0n, n = 0, tb = 0n, tq = 0n
    for (; i < trades.length && trades[i].T < open + interval; i++) {
      const t = trades[i], p = units8(t.p), q = units8(t.q), pq = (p * q) / 100_000_000n
      if (!n) { o = h = l = p }
      if (p > h!) h = p
      if (p < l!) l = p
      v += q; qv += pq; n += t.l - t.f + 1
      if (!t.m) { tb += q; tq += pq }
      prev = p
    }
    if (o === undefined) continue
    rows.push([open, dec8(o), dec8(h!), dec8(l!), dec8(prev!), dec8(v), open + interval - 1, dec8(qv), n, dec8(tb), dec8(tq), '0'])
  }
  return rows
}

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
  for (let i = from; i < tr.length && out.length < limit && (endTime === undefined || tr[i].T <= endTime); i++) out.push(tr[i])
  return out
}

/**
 * Starts the fake exchange on one port (REST and WebSocket).
 * @example const fx = await startFakeExchange({ symbols: ['BTC-USDT'] }); await fetch(`${fx.restUrl}/api/v3/aggTrades?symbol=BTCUSDT`)
 */
export async function startFakeExchange(options: FakeExchangeOptions = {}): Promise<FakeExchange> {
  const o = { ...defaults, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as typeof defaults
  const now = options.now ?? Date.now
  const start = now()
  /** Generates a book's trades up to `until`, trims the oldest beyond the cap (to 15/16 of it), returns the new ones. */
  const faults: Faults = { ...noFaults, ...options.faults }
  const planted: PlantedKline[] = []
  const chance = prng(o.seed + 7919)
  function advance(b: { gen: ReturnType<typeof generator>; trades: AggTrade[] }, until: number) {
    const before = b.trades.length
    b.gen(until, b.trades)
    if (faults.idGap > 0) {
      const kept = b.trades.slice(before).filter(() => chance() >= faults.idGap)
      b.trades.length = before
      for (const t of kept) b.trades.push(t)
    }
    const fresh = b.trades.slice(before)
    if (b.trades.length > o.maxTrades) b.trades.splice(0, b.trades.length - o.maxTrades + Math.floor(o.maxTrades / 16))
    return fresh
  }
  const replay = options.replay
  let replayStart = 0
  /** A generator that plays captured trades on the replay clock. */
  function player(native: string) {
    const list = replay!.trades.get(native) ?? []
    const t0 = list[0]?.T ?? 0
    let i = 0
    return (until: number, out: AggTrade[]) => {
      if (!replayStart) return
      const capTime = replay!.speed === 'max' ? Infinity : t0 + (until - replayStart) * replay!.speed
      while (i < list.length && list[i].T <= capTime) out.push(list[i++])
    }
  }
  if (replay) o.symbols = replay.symbols
  const books = new Map(o.symbols.map((s) => {
    if (replay) return [nativeSymbol(s), { symbol: s, stream: `${nativeSymbol(s).toLowerCase()}@aggTrade`, gen: player(nativeSymbol(s)), trades: [] as AggTrade[] }]
    const from = resumeStart(options.resume?.[s], start, o.historyMs)
    const gen = generator(s, o.seed, from, o.ratePerSec, o.bursts, options.resume?.[s])
    const book = { symbol: s, stream: `${nativeSymbol(s).toLowerCase()}@aggTrade`, gen, trades: [] as AggTrade[] }
    for (let t = from; t < start; t += 3_600_000) advance(book, Math.min(t + 3_600_000, start))
    return [nativeSymbol(s), book]
  }))
  /** Open sockets and their streams; `raw` sockets (`/ws...`) get bare payloads instead of `{stream, data}`. */
  const subs = new Map<WebSocket, { streams: Set<string>; raw: boolean }>()
  const weight = { minute: Math.floor(start / 60_000), used: 0 }

  /** Generates trades up to now and pushes them to subscribers. */
  function tick() {
    const t = now()
    for (const [native, b] of books) {
      const fresh = advance(b, t)
      if (fresh.length) { publish(native, b.stream, fresh, t); publishBook(native, b.symbol, fresh.at(-1)!) }
    }
  }
  /** The spot `bookTicker` after a batch: one tick either side of the last price. */
  let updateId = 400_000_000
  function publishBook(native: string, symbol: string, last: AggTrade) {
    const stream = `${native.toLowerCase()}@bookTicker`
    let frame: string | undefined
    for (const [ws, sub] of subs) {
      if (!sub.streams.has(stream) || ws.readyState !== WebSocket.OPEN || now() < faults.stallUntil) continue
      if (!frame) {
        const tick = units8(marketOf(symbol).tickSize)
        const p = units8(last.p)
        const qty = () => dec8(BigInt(Math.max(1, Math.round(chance() * 5e7))))
        frame = JSON.stringify({ u: ++updateId, s: native, b: dec8(p - tick), B: qty(), a: dec8(p + tick), A: qty() })
      }
      ws.send(sub.raw ? frame : `{"stream":"${stream}","data":${frame}}`)
    }
  }
  function publish(native: string, stream: string, fresh: AggTrade[], E: number) {
    let frames: string[] | undefined
    for (const [ws, sub] of subs) {
      if (!sub.streams.has(stream) || ws.readyState !== WebSocket.OPEN) continue
      frames ??= faulty(fresh.map((x) => JSON.stringify({ e: 'aggTrade', E, s: native, a: x.a, p: x.p, q: x.q, f: x.f, l: x.l, T: x.T, m: x.m, M: x.M })))
      for (const data of frames) ws.send(sub.raw ? data : `{"stream":"${stream}","data":${data}}`)
    }
  }
  /** Applies the stream faults to one batch of frames. */
  function faulty(frames: string[]): string[] {
    if (now() < faults.stallUntil) return []
    if (!faults.drop && !faults.duplicate && !faults.reorder) return frames
    const out: string[] = []
    for (const f of frames) {
      if (chance() < faults.drop) continue
      out.push(f)
      if (chance() < faults.duplicate) out.push(f)
      if (out.length > 1 && chance() < faults.reorder) out.push(out.splice(out.length - 2, 1)[0])
    }
    return out
  }
  const ticker = setInterval(tick, o.tickMs)

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
    const rows = klinesOf(b.trades, interval, startTime, endTime, limit)
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
      res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8', 'x-mbx-used-weight': String(weight.used), 'x-mbx-used-weight-1m': String(weight.used), ...headers })
      res.end(JSON.stringify(body))
    }
    try {
      if (req.method !== 'GET') return send(405, { code: -1000, msg: `Method ${req.method} is not supported.` })
      if (!(u.pathname in WEIGHTS)) return send(404, { code: -1000, msg: `Unknown path ${u.pathname}.` })
      if (chance() < faults.rest418) return send(418, { code: -1003, msg: 'Way too much request weight used; IP banned until later. Please use WebSocket Streams for live updates to avoid bans.' }, { 'retry-after': '2' })
      if (chance() < faults.rest429) return send(429, { code: -1003, msg: 'Too much request weight used; please use WebSocket Streams for live updates to avoid polling the API.' }, { 'retry-after': '1' })
      charge(u.pathname)
      tick()
      send(200, route(u))
    } catch (e) {
      if (e instanceof RestError) return send(e.status, { code: e.code, msg: e.message }, e.headers)
      send(500, { code: -1000, msg: 'An unknown error occurred while processing the request.' })
    }
  }

  const wss = new WebSocketServer({ noServer: true })
  const valid = (s: unknown): s is string => typeof s === 'string' && /^[a-z0-9]+@(aggTrade|bookTicker)$/.test(s) && books.has(s.split('@')[0].toUpperCase())

  /** Answers a live method frame: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS. */
  function onMethod(ws: WebSocket, text: string) {
    let msg: { method?: unknown; params?: unknown; id?: unknown }
    try { msg = JSON.parse(text) } catch { return ws.send(JSON.stringify({ error: { code: 3, msg: 'Invalid JSON: expected value at line 1 column 1' } })) }
    const id = msg?.id ?? null
    const err = (code: number, m: string) => ws.send(JSON.stringify({ error: { code, msg: m }, id }))
    const set = subs.get(ws)!.streams
    const params = msg?.params
    switch (msg?.method) {
      case 'SUBSCRIBE':
      case 'UNSUBSCRIBE':
        if (!Array.isArray(params) || !params.every(valid)) return err(2, 'Invalid request: unknown variable')
        for (const p of params) { if (msg.method === 'SUBSCRIBE') set.add(p); else set.delete(p) }
        return ws.send(JSON.stringify({ result: null, id }))
      case 'LIST_SUBSCRIPTIONS': return ws.send(JSON.stringify({ result: [...set], id }))
      default: return err(2, 'Invalid request: unknown variable')
    }
  }

  /** Registers a socket: pings every `pingIntervalMs`, drops it after `pongTimeoutMs` without a pong or at `maxConnectionMs`. */
  function onSocket(ws: WebSocket, streams: string[], raw: boolean) {
    replayStart ||= now()
    subs.set(ws, { streams: new Set(streams.filter(valid)), raw })
    let lastPong = Date.now()
    ws.on('pong', () => { lastPong = Date.now() })
    const pinger = setInterval(() => {
      if (Date.now() - lastPong > o.pongTimeoutMs) return ws.terminate()
      ws.ping(String(now()))
    }, o.pingIntervalMs)
    const expiry = setTimeout(() => ws.close(1000, 'connection lifetime exceeded'), Math.min(o.maxConnectionMs, 2 ** 31 - 1))
    ws.on('close', () => { clearInterval(pinger); clearTimeout(expiry); subs.delete(ws) })
    ws.on('message', (data) => onMethod(ws, data.toString()))
  }

  const server = createServer(rest)
  server.on('upgrade', (req, socket, head) => {
    const u = new URL(req.url ?? '/', 'http://x')
    const combined = u.pathname === '/stream'
    const raw = u.pathname === '/ws' || u.pathname.startsWith('/ws/')
    if (!combined && !raw) { socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'); return }
    const streams = (combined ? u.searchParams.get('streams') ?? '' : u.pathname.slice(4)).split('/').filter(Boolean)
    wss.handleUpgrade(req, socket, head, (ws) => onSocket(ws, streams, raw))
  })
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(o.port, o.host, () => resolve()) })
  const port = (server.address() as AddressInfo).port
  return {
    restUrl: `http://${o.host}:${port}`,
    wsUrl: `ws://${o.host}:${port}`,
    port,
    symbols: [...o.symbols],
    aggTrades: (symbol) => books.get(nativeSymbol(symbol))?.trades ?? [],
    replayDone: () => !!replay && [...books.entries()].every(([n, b]) => b.trades.length === (replay.trades.get(n)?.length ?? 0)),
    setFaults(f) { Object.assign(faults, f) },
    dropConnections() { for (const ws of subs.keys()) ws.terminate() },
    plantKline(p) { planted.push(p) },
    async close() {
      clearInterval(ticker)
      for (const ws of subs.keys()) ws.terminate()
      await new Promise((r) => wss.close(r))
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    },
  }
}
