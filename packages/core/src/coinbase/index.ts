/**
 * Coinbase: the Advanced Trade WebSocket (`market_trades`), the legacy Exchange ws-feed (`match`,
 * `last_match`) and the Exchange public REST trades endpoint turned into normalized trades. Builds
 * the per-channel subscribe messages, tracks the per-connection `sequence_num` to detect lost
 * frames, and pages REST trades backwards from the newest to a checkpoint for backfill. Coinbase
 * reports the MAKER order's side on all three; every trade here carries the TAKER side (see
 * `takerSide`). Every parse failure is returned as a reason, never thrown into the stream.
 */
import type { Side, Trade, TradeSource } from '../market/index'
import { isSymbol } from '../market/index'

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
  | { kind: 'ignored'; channel?: string; sequence?: number }
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
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(iso)
  if (!m) return undefined
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number)
  const ms = Date.UTC(y, mo - 1, d, h, mi, s)
  const back = new Date(ms)
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return undefined
  const micros = Number((m[7] ?? '').padEnd(6, '0').slice(0, 6))
  const offset = m[8] === 'Z' ? 0 : (m[8][0] === '-' ? -1 : 1) * (Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(4, 6))) * 60_000
  return (ms - offset) * 1000 + micros
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
  return undefined
}

/** A normalized trade from one raw trade already checked by `tradeProblem`; the side is flipped to the taker's. */
export function toTrade(t: RawTrade, productId: string, symbol: string, ctx: CoinbaseContext): Trade {
  const id = Number(t.trade_id)
  return {
    exchange: 'coinbase', symbol, native_symbol: productId,
    trade_id: id, first_trade_id: id, last_trade_id: id,
    ts: isoToMicros(t.time)!, price: Number(t.price), qty: Number(t.size),
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
 * Parses one legacy Exchange ws-feed frame: `match` (live) and `last_match` (the latest trade, sent
 * on subscribe: marked `snapshot`) give one trade; every other type is ignored. `sequence` here is
 * per product and counts every order event, so with only `matches` subscribed it jumps between
 * matches without any loss: do not feed it to a `sequenceTracker`. Never throws.
 */
export function parseExchangeFrame(raw: string, ctx: CoinbaseContext): CoinbaseResult {
  const { msg, error } = parseJson(raw)
  if (error) return { kind: 'error', reason: error }
  if (msg.type === 'error') return { kind: 'error', reason: coinbaseError(msg) }
  if (typeof msg.type !== 'string') return { kind: 'error', reason: 'frame has no type' }
  const sequence = isSeq(msg.sequence) ? msg.sequence : undefined
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

/** An error answer of the Coinbase REST API, with its HTTP status and, after a 429, how long to wait. */
export class CoinbaseError extends Error {
  constructor(readonly status: number, message: string, readonly retryAfterMs?: number) { super(message) }
}

/** One page of `/products/{id}/trades` and its `CB-AFTER` cursor (undefined when Coinbase sends none). */
async function tradesPage(restUrl: string, productId: string, after: string | undefined, fetchImpl: typeof fetch) {
  const url = `${restUrl}/products/${encodeURIComponent(productId)}/trades?limit=${defaults.pageLimit}${after ? `&after=${encodeURIComponent(after)}` : ''}`
  const res = await fetchImpl(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(defaults.requestTimeoutMs) })
  const body: any = await res.json().catch(() => undefined)
  if (!res.ok) {
    const retry = Number(res.headers.get('retry-after'))
    const wait = res.status === 429 ? (Number.isFinite(retry) && retry > 0 ? retry * 1000 : 1000) : undefined
    throw new CoinbaseError(res.status, `Coinbase answered HTTP ${res.status}${body?.message ? `: ${body.message}` : ''} for ${url}`, wait)
  }
  if (!Array.isArray(body)) throw new CoinbaseError(res.status, `Coinbase answered ${url} with something other than a list of trades`)
  return { rows: body as RawTrade[], after: res.headers.get('cb-after') ?? undefined, url }
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
    if (page >= maxPages) throw new CoinbaseError(0, `${productId}: trade ${afterTradeId} is more than ${maxPages} REST pages back (oldest reached: ${oldest}); raise maxPages or backfill from an archive`)
    if (page > 0 && delayMs > 0) await new Promise((r) => setTimeout(r, delayMs))
    const { rows, after: next, url } = await tradesPage(restUrl, productId, after, fetchImpl)
    const ctx: CoinbaseContext = { ingestTs: opts.ingestTs ?? Date.now() * 1000, source: 'rest' }
    for (let i = 0; i < rows.length; i++) {
      const problem = tradeProblem(rows[i], false)
      if (problem) throw new CoinbaseError(200, `${url}: row ${i}: ${problem}`)
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
