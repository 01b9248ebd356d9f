/**
 * Coinbase: the Advanced Trade WebSocket (`market_trades`), the legacy Exchange ws-feed (`match`,
 * `last_match`) and the Exchange public REST trades endpoint turned into normalized trades. Builds
 * the per-channel subscribe messages, tracks the per-connection `sequence_num` to detect lost
 * frames, and pages REST trades backwards from the newest to a checkpoint for backfill. Coinbase
 * reports the MAKER order's side on all three; every trade here carries the TAKER side (see
 * `takerSide`). Every parse failure is returned as a reason, never thrown into the stream.
 */
import type { Quote, Side, Trade, TradeSource } from '../../market/index'
import { isSymbol, roundValue, tradeValues } from '../../market/index'
import type { Venue } from '../../ports/index'
import { HttpError, pacer, request } from '../http/index'

export const defaults = {
  /** Coinbase Exchange public REST API (products, trades). */
  restUrl: 'https://api.exchange.coinbase.com',
  /** Advanced Trade market-data WebSocket. */
  wsUrl: 'wss://advanced-trade-ws.coinbase.com',
  /** Legacy Exchange WebSocket feed (`matches`, `ticker`, `level2`). */
  exchangeWsUrl: 'wss://ws-feed.exchange.coinbase.com',
  /** Channels subscribed when none are named; `heartbeats` keeps quiet subscriptions open. */
  channels: ['market_trades', 'ticker', 'heartbeats'],
  /** Largest page the Exchange REST API serves (`limit`, at most 1000). */
  pageLimit: 1000,
  /** Pages `tradesBefore` walks back at most before it refuses (50 pages = 50,000 trades). */
  maxPages: 50,
  /** Pause between REST pages: Coinbase allows about 10 public requests a second per IP. */
  pageDelayMs: 110,
  requestTimeoutMs: 10_000,
}

/** How trades of a frame or page become normalized trades. */
export interface CoinbaseContext {
  ingestTs: number
  source: TradeSource
  /** Normalized symbol of a product id, undefined to skip its trades. Default: the product id itself when it is `BASE-QUOTE`. */
  resolve?: (productId: string) => string | undefined
  /** Also turn `ticker` frames into best bid/ask quotes (result kind `quotes`); otherwise they are ignored. */
  quotes?: boolean
}

/**
 * One frame's outcome. `trades` holds every trade of the frame, oldest first; `snapshot` is true
 * when they come from a snapshot (the history Coinbase sends on subscribe, or a legacy
 * `last_match`), which may repeat trades already stored: treat them as backfill, not as live.
 * `sequence` is the Advanced Trade `sequence_num` (per connection, all channels) or the legacy
 * Exchange `sequence` (per product).
 */
export type CoinbaseResult =
  | { kind: 'trades'; trades: Trade[]; sequence: number; snapshot: boolean }
  | { kind: 'quotes'; quotes: Quote[]; sequence: number }
  | { kind: 'ignored'; channel?: string; sequence?: number; latest?: { productId: string; tradeId: number } }
  | { kind: 'error'; reason: string }

/** One raw trade as Coinbase sends it (Advanced Trade: id string, side upper case; Exchange: id number, side lower case). */
export interface RawTrade { trade_id: string | number; product_id?: string; price: string; size: string; side: string; time: string }

const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isDecimal = (v: unknown): v is string => typeof v === 'string' && /^\d{1,20}(\.\d{1,20})?$/.test(v)
const isProductId = (v: unknown): v is string => typeof v === 'string' && /^[A-Z0-9]{1,20}(-[A-Z0-9]{1,20}){1,3}$/.test(v)
const defaultResolve = (productId: string) => (isSymbol(productId) ? productId : undefined)
const byId = (a: Trade, b: Trade) => a.trade_id - b.trade_id

/**
 * The taker side of a Coinbase trade from the side Coinbase prints, which is the MAKER order's side
 * on every feed used here, so the taker is the opposite.
 * - Exchange ws-feed `match`/`last_match` and REST `/products/{id}/trades`: Coinbase's docs say so
 *   ("The side field indicates the maker order side"; REST: "The side of a trade indicates the maker
 *   order side ... A buy side indicates a down-tick"). The legacy recording agrees: each of its 107
 *   `ticker` frames (whose `side` is documented as the taker side) names the opposite side of the
 *   `match` with the same trade id.
 * - Advanced Trade `market_trades`: Coinbase's page does not describe the field (a third-party schema
 *   calls it the taker side), so the recording decided it: replaying its `l2_data` book, all 48
 *   trades printed at or above the best ask are reported `SELL` and all 23 at or below the best bid
 *   `BUY`, none the other way: `side` is the resting (maker) order's side, as on the Exchange feed.
 *   `index.test.ts` repeats that check on the recording.
 */
export function takerSide(makerSide: unknown): Side | undefined {
  const s = typeof makerSide === 'string' ? makerSide.toLowerCase() : undefined
  return s === 'buy' ? 'sell' : s === 'sell' ? 'buy' : undefined
}

/**
 * Epoch MICROseconds of an ISO-8601 UTC time with up to 9 fraction digits
 * (`2026-08-09T21:05:42.514318Z`); digits past the microsecond are dropped. Undefined when invalid.
 */
export function isoToMicros(iso: unknown): number | undefined {
  if (typeof iso !== 'string' || iso.length > 40) return undefined
  const fast = lastSecond && iso.startsWith(lastSecond) ? fractionMicros(iso) : -1
  if (fast >= 0) return lastSecondMs * 1000 + fast
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(iso)
  if (!m) return undefined
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number)
  const ms = Date.UTC(y, mo - 1, d, h, mi, s)
  const back = new Date(ms)
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return undefined
  const micros = Number((m[7] ?? '').padEnd(6, '0').slice(0, 6))
  const offset = m[8] === 'Z' ? 0 : (m[8][0] === '-' ? -1 : 1) * (Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(4, 6))) * 60_000
  if (offset === 0 && m[8] === 'Z') { lastSecond = iso.slice(0, 19); lastSecondMs = ms }
  return (ms - offset) * 1000 + micros
}

/**
 * The fast path of `isoToMicros`: the trades of a frame mostly share their second, so the last
 * valid `YYYY-MM-DDTHH:MM:SS` seen (UTC) is kept and only the rest (`Z` or `.ffffffZ`) is read here.
 */
let lastSecond = ''
let lastSecondMs = 0
/** Microseconds of the `[.f{1,9}]Z` tail after the 19-character second; -1 when it is not that form. */
function fractionMicros(iso: string): number {
  const n = iso.length
  if (iso.charCodeAt(n - 1) !== 90) return -1 // 'Z'
  if (n === 20) return 0
  if (iso.charCodeAt(19) !== 46 || n < 22 || n > 30) return -1 // '.' and 1-9 digits
  let micros = 0
  for (let i = 20; i < n - 1; i++) {
    const d = iso.charCodeAt(i) - 48
    if (d < 0 || d > 9) return -1
    if (i < 26) micros = micros * 10 + d
  }
  for (let i = Math.min(n - 1, 26); i < 26; i++) micros *= 10
  return micros
}

/** Checks one raw trade; returns the reason it is bad, or undefined when good. */
export function tradeProblem(t: any, needProduct = true): string | undefined {
  if (!t || typeof t !== 'object' || Array.isArray(t)) return 'trade is not an object'
  const id = t.trade_id
  if (!(typeof id === 'string' ? /^\d{1,15}$/.test(id) && Number.isSafeInteger(Number(id)) : isSeq(id))) return 'trade_id is not a non-negative integer (or a string of up to 15 digits)'
  if (needProduct && !isProductId(t.product_id)) return 'product_id is not a Coinbase product id'
  if (!isDecimal(t.price) || !(Number(t.price) > 0)) return 'price is not a positive decimal string'
  if (!isDecimal(t.size) || !(Number(t.size) > 0)) return 'size is not a positive decimal string'
  if (!takerSide(t.side)) return 'side is neither buy nor sell'
  if (isoToMicros(t.time) === undefined) return 'time is not an ISO-8601 UTC time'
  const v = tradeValues(Number(t.price), Number(t.size)) // the bounds every door applies (core/market TRADE_LIMITS)
  return 'reason' in v ? v.reason : undefined
}

/** A normalized trade from one raw trade already checked by `tradeProblem`; the side is flipped to the taker's, price and size taken at 8 decimals (`roundValue`). */
export function toTrade(t: RawTrade, productId: string, symbol: string, ctx: CoinbaseContext): Trade {
  const id = Number(t.trade_id)
  return {
    exchange: 'coinbase', symbol, native_symbol: productId,
    trade_id: id, first_trade_id: id, last_trade_id: id,
    ts: isoToMicros(t.time)!, price: roundValue(Number(t.price)), qty: roundValue(Number(t.size)),
    side: takerSide(t.side)!, trades: 1,
    ingest_ts: ctx.ingestTs, source: ctx.source,
  }
}

/**
 * Subscribe messages for the Advanced Trade WebSocket, one per channel as Coinbase requires
 * (a message names one channel; no subscribe within 5 s closes the connection). JSON strings, ready to send.
 */
export function subscribeMessages(productIds: string[], channels: string[] = defaults.channels): string[] {
  return channels.map((channel) => JSON.stringify({ type: 'subscribe', product_ids: productIds, channel }))
}

function parseJson(raw: string): { msg?: any; error?: string } {
  let msg: any
  try { msg = JSON.parse(raw) } catch { return { error: 'frame is not valid JSON' } }
  if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return { error: 'frame is not a JSON object' }
  return { msg }
}

/** The error Coinbase itself sent (`{"type":"error","message":...}`), as a reason. */
const coinbaseError = (msg: any) => `Coinbase sent an error: ${String(msg.message ?? '').slice(0, 200)}${msg.reason ? ` (${String(msg.reason).slice(0, 200)})` : ''}`

/** Raw trades to normalized ones (oldest first), or the first problem found, naming its index. */
function normalize(raws: any[], ctx: CoinbaseContext, label: string): { trades?: Trade[]; error?: string } {
  const resolve = ctx.resolve ?? defaultResolve
  const trades: Trade[] = []
  for (let i = 0; i < raws.length; i++) {
    const problem = tradeProblem(raws[i])
    if (problem) return { error: `${label}[${i}]: ${problem}` }
    const symbol = resolve(raws[i].product_id)
    if (symbol) trades.push(toTrade(raws[i], raws[i].product_id, symbol, ctx))
  }
  return { trades: trades.sort(byId) }
}

/**
 * Parses one Advanced Trade WebSocket frame. `market_trades` frames give all their trades (events
 * of type `snapshot` mark the result `snapshot`); every other channel is ignored with its
 * `sequence_num`, so the caller can feed each frame to a `sequenceTracker`. One bad trade makes the
 * whole frame an error (it belongs in the dead-letter queue whole). Never throws.
 */
export function parseAdvancedFrame(raw: string, ctx: CoinbaseContext): CoinbaseResult {
  const { msg, error } = parseJson(raw)
  if (error) return { kind: 'error', reason: error }
  if (msg.type === 'error') return { kind: 'error', reason: coinbaseError(msg) }
  if (typeof msg.channel !== 'string') return { kind: 'error', reason: 'frame has no channel' }
  const sequence = isSeq(msg.sequence_num) ? msg.sequence_num : undefined
  if (msg.channel === 'ticker' && ctx.quotes && sequence !== undefined) return tickerQuotes(msg, sequence, ctx)
  if (msg.channel !== 'market_trades') return sequence === undefined ? { kind: 'ignored', channel: msg.channel } : { kind: 'ignored', channel: msg.channel, sequence }
  if (sequence === undefined) return { kind: 'error', reason: 'sequence_num is not a non-negative integer' }
  if (!Array.isArray(msg.events)) return { kind: 'error', reason: 'events is not an array' }
  const trades: Trade[] = []
  let snapshot = false
  for (let e = 0; e < msg.events.length; e++) {
    const ev = msg.events[e]
    if (!ev || typeof ev !== 'object' || typeof ev.type !== 'string') return { kind: 'error', reason: `events[${e}] has no type` }
    if (ev.type !== 'snapshot' && ev.type !== 'update') continue // new event types may appear: Coinbase asks clients to ignore them
    if (!Array.isArray(ev.trades)) return { kind: 'error', reason: `events[${e}].trades is not an array` }
    const r = normalize(ev.trades, ctx, `events[${e}].trades`)
    if (r.error) return { kind: 'error', reason: r.error }
    if (r.trades!.length) { trades.push(...r.trades!); snapshot ||= ev.type === 'snapshot' }
  }
  if (!trades.length) return { kind: 'ignored', channel: msg.channel, sequence }
  return { kind: 'trades', trades: trades.sort(byId), sequence, snapshot }
}

/**
 * Best bid/ask quotes of a `ticker` frame (one per ticker that carries `best_bid` and `best_ask`;
 * `ticker_batch` omits them). `update_id` is the frame's `sequence_num`, `ts` the frame's
 * `timestamp` (the exchange's time). Products the resolver does not know are skipped.
 */
function tickerQuotes(msg: any, sequence: number, ctx: CoinbaseContext): CoinbaseResult {
  if (!Array.isArray(msg.events)) return { kind: 'error', reason: 'events is not an array' }
  const resolve = ctx.resolve ?? defaultResolve
  const ts = isoToMicros(msg.timestamp) ?? ctx.ingestTs
  const quotes: Quote[] = []
  for (let e = 0; e < msg.events.length; e++) {
    const tickers = msg.events[e]?.tickers
    if (!Array.isArray(tickers)) return { kind: 'error', reason: `events[${e}].tickers is not an array` }
    for (const t of tickers) {
      if (!t || typeof t !== 'object' || !isProductId(t.product_id)) return { kind: 'error', reason: `events[${e}]: a ticker has no Coinbase product_id` }
      if (t.best_bid === undefined && t.best_ask === undefined) continue
      if (![t.best_bid, t.best_ask, t.best_bid_quantity, t.best_ask_quantity].every(isDecimal)) return { kind: 'error', reason: `events[${e}]: ticker of ${t.product_id} has a best bid/ask that is not a decimal string` }
      const symbol = resolve(t.product_id)
      if (!symbol) continue
      quotes.push({
        exchange: 'coinbase', symbol, native_symbol: t.product_id, update_id: sequence, ts,
        bid: Number(t.best_bid), bid_qty: Number(t.best_bid_quantity), ask: Number(t.best_ask), ask_qty: Number(t.best_ask_quantity),
        ingest_ts: ctx.ingestTs, source: ctx.source,
      })
    }
  }
  return quotes.length ? { kind: 'quotes', quotes, sequence } : { kind: 'ignored', channel: msg.channel, sequence }
}

/**
 * Parses one legacy Exchange ws-feed frame: `match` (live) and `last_match` (the latest trade, sent
 * on subscribe: marked `snapshot`) give one trade; every other type is ignored. `sequence` here is
 * per product and counts every order event, so with only `matches` subscribed it jumps between
 * matches without any loss: do not feed it to a `sequenceTracker`. A `heartbeat` with a
 * `last_trade_id` above 0 gives it as `latest` (the product's newest trade; Coinbase has been seen
 * sending 0 there, which says nothing). Never throws.
 */
export function parseExchangeFrame(raw: string, ctx: CoinbaseContext): CoinbaseResult {
  const { msg, error } = parseJson(raw)
  if (error) return { kind: 'error', reason: error }
  if (msg.type === 'error') return { kind: 'error', reason: coinbaseError(msg) }
  if (typeof msg.type !== 'string') return { kind: 'error', reason: 'frame has no type' }
  const sequence = isSeq(msg.sequence) ? msg.sequence : undefined
  if (msg.type === 'heartbeat' && isSeq(msg.last_trade_id) && msg.last_trade_id > 0 && isProductId(msg.product_id)) {
    return { kind: 'ignored', channel: msg.type, ...(sequence === undefined ? {} : { sequence }), latest: { productId: msg.product_id, tradeId: msg.last_trade_id } }
  }
  if (msg.type !== 'match' && msg.type !== 'last_match') return sequence === undefined ? { kind: 'ignored', channel: msg.type } : { kind: 'ignored', channel: msg.type, sequence }
  if (sequence === undefined) return { kind: 'error', reason: 'sequence is not a non-negative integer' }
  const r = normalize([msg], ctx, msg.type)
  if (r.error) return { kind: 'error', reason: r.error }
  if (!r.trades!.length) return { kind: 'ignored', channel: msg.type, sequence }
  return { kind: 'trades', trades: r.trades!, sequence, snapshot: msg.type === 'last_match' }
}

/** What `sequenceTracker().check` found: a gap (frames lost: `expected` was due), a repeat or late frame, or neither. */
export interface SequenceCheck { gap: boolean; expected?: number; duplicate?: boolean }

/**
 * Watches the Advanced Trade `sequence_num` of ONE connection (it counts every frame of every
 * channel, from 0 on a new connection). A jump means frames were lost on this connection: the
 * caller backfills over REST. A number at or below the last one is a repeat, not a gap. Give
 * `first: 0` when the tracker sees the connection's first frame, so a loss there is caught too;
 * call `reset()` on reconnect.
 */
export function sequenceTracker(opts: { first?: number } = {}) {
  let last: number | undefined = opts.first !== undefined ? opts.first - 1 : undefined
  return {
    check(seq: number): SequenceCheck {
      if (!isSeq(seq)) return { gap: false }
      if (last === undefined) { last = seq; return { gap: false } }
      if (seq <= last) return { gap: false, duplicate: true }
      const expected = last + 1
      last = seq
      return seq === expected ? { gap: false } : { gap: true, expected }
    },
    /** Forgets the connection: the next number starts afresh (or must be `first`). */
    reset() { last = opts.first !== undefined ? opts.first - 1 : undefined },
    /** The highest number seen, undefined before the first. */
    get last() { return last },
  }
}

/** All callers share Coinbase's per-IP limit of about 10 public requests a second: one pacer per REST host, a 429's wait held for all. */
const hosts = pacer()

/** A 429's wait: its Retry-After, else 1 s; other refusals ask none. */
const waitFor = (status: number, retryAfter: number | undefined) => (status === 429 ? (retryAfter && retryAfter > 0 ? retryAfter : 1000) : undefined)

/**
 * One page of `/products/{id}/trades` (newest first) and its `CB-AFTER` cursor (undefined when
 * Coinbase sends none). With `gapMs` it waits for this host's next free slot (`pacer`) and asks again
 * after a 429, up to `tries` times; without, it is not paced (a 429 still holds the host for the paced callers).
 */
async function tradesPage(restUrl: string, productId: string, after: string | undefined, fetchImpl: typeof fetch, o: { gapMs?: number; signal?: AbortSignal; tries?: number } = {}) {
  const url = `${restUrl}/products/${encodeURIComponent(productId)}/trades?limit=${defaults.pageLimit}${after ? `&after=${encodeURIComponent(after)}` : ''}`
  const res = await request(url, {
    fetch: fetchImpl, headers: { accept: 'application/json' }, signal: o.signal, timeoutMs: defaults.requestTimeoutMs, name: 'Coinbase',
    explain: (status, body: any) => `Coinbase answered HTTP ${status}${body?.message ? `: ${body.message}` : ''} for ${url}`, waitFor,
    gate: o.gapMs === undefined ? { after: hosts.after } : hosts.every(o.gapMs), key: restUrl,
    retries: (o.tries ?? 1) - 1, retryIf: (e) => e.status === 429,
  })
  if (!Array.isArray(res.json)) throw new HttpError(res.status, `Coinbase answered ${url} with something other than a list of trades`, { url })
  return { rows: res.json as RawTrade[], after: res.headers.get('cb-after') ?? undefined, url }
}

/** `tradesPage` in this host's pace, asked again after a 429 (its wait kept), up to `tries` times; `signal` ends the waits and the request. */
function pacedPage(restUrl: string, productId: string, after: string | undefined, fetchImpl: typeof fetch, gapMs: number, signal?: AbortSignal, tries = 4) {
  return tradesPage(restUrl, productId, after, fetchImpl, { gapMs, signal, tries })
}

/** A page's rows as normalized REST trades, newest first as sent; a malformed row throws (the page is retried or the gap deferred, never half used). */
function pageTrades(page: { rows: RawTrade[]; url: string }, productId: string, symbol: string, ingestTs: number): Trade[] {
  const ctx: CoinbaseContext = { ingestTs, source: 'rest' }
  return page.rows.map((row, i) => {
    const problem = tradeProblem(row, false)
    if (problem) throw new HttpError(200, `${page.url}: row ${i}: ${problem}`, { url: page.url })
    return toTrade(row, productId, symbol, ctx)
  })
}

/** `signal` (a run's deadline) ends the waits between pages and after a 429. */
export interface RestOptions { pageDelayMs?: number; ingestTs?: number; symbol?: string; signal?: AbortSignal }

/**
 * Every trade of `productId` with an id in `fromId..untilId` (inclusive; `Infinity`: up to the
 * newest when the walk starts), oldest first, page by page, with `source: 'rest'`. This is how a
 * gap is filled BY ID: Coinbase's trade ids are consecutive integers per product and the trades
 * cursor is the trade id, so `after=C` asks for the (up to 1000) trades just below id C. Each
 * request sets `after` to `next + 999`, which gives `next..next+998` whether the cursor is
 * exclusive (as documented) or inclusive. Ids the exchange does not have are simply absent. A 429
 * is waited out and asked again (up to 4 tries a page); other errors throw.
 * @example for await (const page of tradesFrom(restUrl, 'BTC-USD', 1068572000, 1068572090)) console.log(page.length)
 */
export async function* tradesFrom(restUrl: string, productId: string, fromId: number, untilId = Infinity, fetchImpl: typeof fetch = fetch, opts: RestOptions = {}): AsyncGenerator<Trade[]> {
  const symbol = opts.symbol ?? productId
  const gap = opts.pageDelayMs ?? defaults.pageDelayMs
  const ingestTs = () => opts.ingestTs ?? Date.now() * 1000
  let next = fromId
  let until = untilId
  if (until === Infinity) {
    const newest = pageTrades(await pacedPage(restUrl, productId, undefined, fetchImpl, gap, opts.signal), productId, symbol, ingestTs())
    if (!newest.length) return
    until = newest[0].trade_id
    if (newest[newest.length - 1].trade_id <= next) {
      const wanted = newest.filter((t) => t.trade_id >= next).reverse()
      if (wanted.length) yield wanted
      return
    }
  }
  while (next <= until) {
    const cursor = Math.min(next + defaults.pageLimit - 1, until + 1)
    const rows = pageTrades(await pacedPage(restUrl, productId, String(cursor), fetchImpl, gap, opts.signal), productId, symbol, ingestTs())
    const wanted = rows.filter((t) => t.trade_id >= next && t.trade_id < cursor).reverse()
    if (wanted.length) yield wanted
    next = cursor
  }
}

/**
 * The id of the first trade of `productId` at or after `sinceMs`, for a first run's backfill; undefined
 * when no trade is that recent. The trades endpoint has no time filter, so it looks by id: from the
 * newest page it estimates the trade rate and jumps back to a page near `sinceMs`, then halves the
 * range page by page (each page covers 1000 ids) until one page holds the boundary. Typically 2-4 requests.
 */
export async function firstTradeAfter(restUrl: string, productId: string, sinceMs: number, fetchImpl: typeof fetch = fetch, opts: RestOptions = {}): Promise<number | undefined> {
  const gap = opts.pageDelayMs ?? defaults.pageDelayMs
  const since = sinceMs * 1000
  const probe = async (cursor?: number) => pageTrades(await pacedPage(restUrl, productId, cursor === undefined ? undefined : String(cursor), fetchImpl, gap), productId, productId, 0)
  const boundary = (page: Trade[]) => page.filter((t) => t.ts >= since).at(-1)?.trade_id
  let page = await probe()
  if (!page.length || page[0].ts < since) return undefined
  let hi = page[page.length - 1]
  if (hi.ts < since || page.length < defaults.pageLimit) return boundary(page)
  const perMicro = (page[0].trade_id - hi.trade_id) / Math.max(1, page[0].ts - hi.ts)
  let lo: number | undefined
  for (let i = 0; i < 60; i++) {
    const cursor = lo === undefined
      ? Math.max(1, hi.trade_id - Math.max(defaults.pageLimit, Math.ceil((hi.ts - since) * perMicro * 1.2)))
      : Math.floor((lo + hi.trade_id) / 2) + Math.floor(defaults.pageLimit / 2)
    page = await probe(cursor)
    if (!page.length) { lo = cursor - 1; if (cursor <= 1) return hi.trade_id; continue }
    if (page[0].ts < since) lo = page[0].trade_id
    else if (page[page.length - 1].ts < since || page.length < defaults.pageLimit) return boundary(page)
    else hi = page[page.length - 1]
    if (lo !== undefined && hi.trade_id - lo <= 1) return hi.trade_id
  }
  throw new HttpError(0, `${productId}: could not find the first trade after ${new Date(sinceMs).toISOString()}`)
}

/**
 * Every trade of `productId` newer than `afterTradeId` (the checkpoint), oldest first, from the
 * Exchange public REST API, as normalized trades with `source: 'rest'`.
 *
 * Pagination, per Coinbase's "Exchange REST API Pagination" page: `/trades` returns the LATEST
 * trades first (newest first, up to `limit=1000`); the response's `CB-AFTER` header is the cursor of
 * the last (oldest) item, and `after=<CB-AFTER>` asks for the page after it, which is OLDER
 * (`CB-BEFORE`/`before` go the other way, to newer). So the walk starts at the newest page and
 * follows `CB-AFTER` back until a page reaches `afterTradeId`, runs empty, or has no `CB-AFTER`
 * (the start of the product's history). Rows already seen are dropped, so an inclusive cursor does
 * no harm. More than `maxPages` pages throws rather than return trades with a hole before them:
 * a checkpoint that old is backfilled from an archive. The REST `side` is the maker's: flipped.
 */
export async function tradesBefore(restUrl: string, productId: string, afterTradeId: number, fetchImpl: typeof fetch = fetch,
  opts: { maxPages?: number; pageDelayMs?: number; ingestTs?: number; symbol?: string } = {}): Promise<Trade[]> {
  const maxPages = opts.maxPages ?? defaults.maxPages
  const symbol = opts.symbol ?? productId
  const delayMs = opts.pageDelayMs ?? defaults.pageDelayMs
  const seen = new Map<number, Trade>()
  let after: string | undefined
  let oldest = Infinity
  for (let page = 0; ; page++) {
    if (page >= maxPages) throw new HttpError(0, `${productId}: trade ${afterTradeId} is more than ${maxPages} REST pages back (oldest reached: ${oldest}); raise maxPages or backfill from an archive`)
    if (page > 0 && delayMs > 0) await new Promise((r) => setTimeout(r, delayMs))
    const { rows, after: next, url } = await tradesPage(restUrl, productId, after, fetchImpl)
    const ctx: CoinbaseContext = { ingestTs: opts.ingestTs ?? Date.now() * 1000, source: 'rest' }
    for (let i = 0; i < rows.length; i++) {
      const problem = tradeProblem(rows[i], false)
      if (problem) throw new HttpError(200, `${url}: row ${i}: ${problem}`, { url })
      const t = toTrade(rows[i], productId, symbol, ctx)
      if (t.trade_id > afterTradeId && t.trade_id < oldest && !seen.has(t.trade_id)) seen.set(t.trade_id, t)
    }
    const older = rows.map((r) => Number(r.trade_id)).filter((id) => id < oldest) // an inclusive cursor repeats its own row
    if (!older.length) break // nothing older: the start of the product's history
    oldest = Math.min(...older)
    if (oldest <= afterTradeId || !next) break
    after = next
  }
  return [...seen.values()].sort(byId)
}

/**
 * The Coinbase venue for `runIngest`: the Advanced Trade WebSocket (`market_trades`, `heartbeats`,
 * and `ticker` when quotes are on), its per-connection `sequence_num` checked for lost frames, and
 * gaps filled by id from the Exchange REST trades endpoint (`tradesFrom`). The Advanced Trade REST
 * `market/products/{id}/ticker` is not used for backfill: it selects by time window, not by trade
 * id, so it cannot say whether a hole is filled. Symbols are Coinbase product ids (`BTC-USD`).
 */
export function coinbaseVenue(o: { restUrl: string; wsUrl: string; symbols: string[]; quotes?: boolean; pageDelayMs?: number }): Venue {
  const wanted = new Set(o.symbols)
  const resolve = (productId: string) => (wanted.has(productId) ? productId : undefined)
  const rest: RestOptions = { pageDelayMs: o.pageDelayMs }
  return {
    exchange: 'coinbase',
    sequenced: true,
    streamUrl: () => o.wsUrl,
    subscribe: () => subscribeMessages(o.symbols, o.quotes ? defaults.channels : defaults.channels.filter((c) => c !== 'ticker')),
    parse(raw, ingestTs, source) {
      const r = parseAdvancedFrame(raw, { ingestTs, source, resolve, quotes: o.quotes })
      if (r.kind === 'trades') return { trades: r.trades, sequence: r.sequence }
      if (r.kind === 'quotes') return { quotes: r.quotes, sequence: r.sequence }
      if (r.kind === 'error') return { error: r.reason }
      return { sequence: r.sequence }
    },
    pages: (symbol, fromId, untilId, fetchImpl, signal) => tradesFrom(o.restUrl, symbol, fromId, untilId, fetchImpl, { ...rest, symbol, signal }),
    firstIdAfter: (symbol, sinceMs, _now, fetchImpl) => firstTradeAfter(o.restUrl, symbol, sinceMs, fetchImpl, rest),
    async latestId(symbol, fetchImpl, signal) {
      const page = await pacedPage(o.restUrl, symbol, undefined, fetchImpl, o.pageDelayMs ?? defaults.pageDelayMs, signal)
      return page.rows.length ? Math.max(...page.rows.map((r) => Number(r.trade_id))) : undefined
    },
  }
}

/**
 * The legacy Exchange ws-feed as an alternative source (`wss://ws-feed.exchange.coinbase.com`):
 * `matches` and `heartbeat` in one subscribe message, trades from `match`/`last_match`, REST
 * backfill as `coinbaseVenue`. Its `sequence` is per product and counts every order event, so it
 * cannot reveal lost matches; a heartbeat's `last_trade_id` (when not 0) can, and makes ingest catch
 * up; otherwise a loss shows at the next trade id. No quotes (its ticker lacks sizes on older feeds).
 */
export function coinbaseExchangeVenue(o: { restUrl: string; wsUrl: string; symbols: string[]; pageDelayMs?: number }): Venue {
  const wanted = new Set(o.symbols)
  const resolve = (productId: string) => (wanted.has(productId) ? productId : undefined)
  return {
    ...coinbaseVenue(o),
    sequenced: false,
    subscribe: () => [JSON.stringify({ type: 'subscribe', product_ids: o.symbols, channels: ['matches', 'heartbeat'] })],
    parse(raw, ingestTs, source) {
      const r = parseExchangeFrame(raw, { ingestTs, source, resolve })
      if (r.kind === 'trades') return { trades: r.trades }
      if (r.kind === 'error') return { error: r.reason }
      if (r.kind === 'ignored' && r.latest && wanted.has(r.latest.productId)) return { latest: { symbol: r.latest.productId, id: r.latest.tradeId } }
      return {}
    },
  }
}
