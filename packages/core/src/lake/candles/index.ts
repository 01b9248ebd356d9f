/**
 * Candles of the lake path, in every timeframe (1m 5m 15m 1h 4h 1d), exact to the exchange's
 * klines. The hour job reads an hour's bronze files straight into the columns candles need (only
 * those: see `readHourTrades`), orders them by trade id and counts every individual trade once,
 * computes the hour's exact 1m sums with the columnar kernel (`./kernel`) and keeps them as the hour's
 * state (`state/candles/...`, written only over an older view: fewer individual trades, or as many
 * with an earlier completeness horizon). Gold files and serving windows are then derived from the
 * day's states alone, coarser timeframes rolled up from the exact minute sums, and written over
 * the version seen before the states were read, so racing, repeated or late runs all converge on
 * the same files. Minutes without trades are flat at the previous close, across hour and day
 * boundaries; a candle is final once every minute of it is: it closes before the horizon and
 * opens after the first traded minute of the symbol's history in the lake (that minute may hold only
 * part of its trades), or a completeness record (`./complete`: an imported archive day) holds it. A
 * bronze row the kernel cannot take (outside `TRADE_LIMITS`, not finite, ids that are no range)
 * and an object that cannot be read are left out and written to `dlq/candles/` with the reason:
 * one bad record never blocks an hour.
 */
import { createHash } from 'node:crypto'
import { availableParallelism } from 'node:os'
import type { Candle, Timeframe, Trade } from '../../market/index'
import { CANDLE_COLUMNS, TIMEFRAMES, TRADE_COLUMNS, rowProblem, takeable } from '../../market/index'
import { bronzeDlqKey, bronzeTradesPrefix, candleStateKey, candleStatePrefix, goldCandleFileKey, partitionOf, relocatedCandleKey, servingKey, type ServingWindow } from '../layout/index'
import { readColumns, readParquet, writeTable, type ColumnRequest } from '../parquet/index'
import { TRADE_COLUMN_REQUESTS } from '../trades/index'
import { defineTask, onWorker } from '../workers/index'
import { PreconditionFailed, readJson, type ObjectInfo, type ObjectStore } from '../../ports/index'
import { readCheckpoint } from '../../sources/checkpoint/index'
import { dedupeOrder } from '../silver/index'
import { readCompleteSpan } from './complete'
import { ALL_TIMEFRAMES, WIDE_FROM, aggregateMinutes, pickRows, aggregateMinutesAt, fits, guessDecimals, sortedById, mergeAggregates, rescale, candlesOf, columnsOf, emptyAggregates, flatCandle, limbsOf, rollups, sumsAt, widen, type Aggregates, type TradeColumns } from './kernel'

export * from './kernel'
export * from './complete'

export const defaults = {
  /**
   * How long the delivery stream may hold records: a minute is final once a later trade is in the
   * lake, or once ingest's checkpoint has passed it and this long has gone by since.
   */
  finalAfterMs: 10_000,
  /** Candles kept in each `serving/<exchange>/<symbol>/<tf>.json`. */
  servingCandles: 720,
  /** Conditional-write retries when another run wrote the same key meanwhile. */
  writeRetries: 20,
  /**
   * Threads that decode the hour's bronze columns (worker threads, kept between runs): two where
   * the machine has two cores (a Lambda function gets its second vCPU from 3,538 MB of memory).
   */
  decodeThreads: Math.min(2, availableParallelism()),
  /** Hours of at least this many records have their minutes summed on two threads as well (where decoded on two). */
  parallelRows: 20_000,
}

const MINUTE = TIMEFRAMES['1m']
const HOUR = TIMEFRAMES['1h']
const DAY = TIMEFRAMES['1d']
/** An empty 1m candle for the minute that holds `tsMs`, ready for `addTrade`. */
export function emptyCandle(exchange: string, symbol: string, tsMs: number): Candle {
  return { ...flatCandle(exchange, symbol, '1m', Math.floor(tsMs / MINUTE) * MINUTE, 0), first_trade_id: Infinity }
}

export interface MinuteOptions {
  exchange: string
  symbol: string
  /** First minute to emit (ms); minutes before the first trade are flat only with `prevClose`. */
  from: number
  /** End of the range (ms, exclusive): minutes after the last trade up to here are flat. */
  until: number
  prevClose?: number
}

/** 1m candles over `[from, until)` from deduplicated trade rows in trade-id order (the kernel on rows). */
export function candles1m(trades: Trade[], o: MinuteOptions): Candle[] {
  return candlesOf(aggregateMinutes(columnsOf(trades), o.from, o.until), o)
}

// ---- the hour's state: exact minute sums -------------------------------------------------------

/** One minute with trades: times and prices as numbers, sums as decimal integer strings. */
type MinuteRow = [open_time: number, open: number, high: number, low: number, close: number, trades: number, records: number, first: number, last: number, v: string, q: string, bv: string, bq: string]

/** What `state/candles/<exchange>/<symbol>/<dt>/<hour>.json` holds. */
export interface HourState {
  exchange: string; symbol: string; dt: string; hour: string
  /** Individual trades covered (the view's version: the hour's bronze only grows). */
  individual: number
  /** Trades before this time (ms) are all in the lake: the completeness horizon. */
  complete: number
  /** Decimals of prices and quantities the sums are scaled by. */
  dp: number; dq: number
  minutes: MinuteRow[]
  /**
   * The bronze objects the view covers (names in the hour's folder with their versions), the last individual trade id
   * in them and the latest trade time of the hour (ms): the next run merges only objects added
   * since, when all their trades come after `lastId` (see `recomputeHour`). Absent in older states.
   */
  files?: string[]; lastId?: number; lastTs?: number
  /**
   * The span `[from, until)` (ms) of the day's completeness record that holds this hour, clipped
   * to the hour's end (so a day's later hours are final only once their own states exist).
   */
  covered?: [number, number]
}

function stateOf(a: Aggregates, base: Omit<HourState, 'individual' | 'dp' | 'dq' | 'minutes'>): HourState {
  // (`base` may carry `files`, `lastId` and `lastTs`, kept as they are)
  const minutes: MinuteRow[] = []
  let individual = 0
  for (let i = 0; i < a.length; i++) {
    if (a.records[i] === 0) continue
    individual += a.trades[i]
    const [v, q, bv, bq] = sumsAt(a, i)
    minutes.push([a.start + i * MINUTE, a.open[i], a.high[i], a.low[i], a.close[i], a.trades[i], a.records[i], a.first[i], a.last[i], v.toString(), q.toString(), bv.toString(), bq.toString()])
  }
  return { ...base, individual, dp: a.dp, dq: a.dq, minutes }
}

/** True when `a` is a newer view of the hour than `b`. */
const newer = (a: HourState, b: HourState) => a.individual > b.individual ||
  (a.individual === b.individual && (a.complete > b.complete || (a.covered?.[1] ?? -Infinity) > (b.covered?.[1] ?? -Infinity)))

/**
 * Writes an hour's state unless the stored one is as new or newer (then returns that one): an
 * older view never replaces a newer one, whatever order runs finish in.
 */
export async function writeHourState(store: ObjectStore, next: HourState, retries = defaults.writeRetries): Promise<{ state: HourState; written: boolean; previous?: HourState }> {
  const key = candleStateKey(next.exchange, next.symbol, next.dt, next.hour)
  for (let attempt = 0; ; attempt++) {
    const head = await store.head(key)
    const current = head ? await stateAt(store, key, head.etag) : undefined
    if (current && !newer(next, current)) return { state: current, written: false, previous: current }
    const state = current ? { ...next, complete: Math.max(next.complete, current.complete) } : next
    try {
      const { etag } = await store.put(key, JSON.stringify(state), head ? { ifMatch: head.etag, contentType: 'application/json' } : { ifNoneMatch: '*', contentType: 'application/json' })
      knownStates(store).set(key, { etag, state })
      return { state, written: true, previous: current }
    } catch (e) {
      if (!(e instanceof PreconditionFailed) || attempt >= retries) throw e
    }
  }
}

/**
 * States this process read or wrote, by key, with the ETag they were listed or written at: a
 * state listed at the same ETag again is not read and parsed again (where the store lists ETags).
 */
const statesBy = new WeakMap<ObjectStore, Map<string, { etag: string; state: HourState }>>()
const knownStates = (store: ObjectStore) => {
  let m = statesBy.get(store)
  if (!m) statesBy.set(store, (m = new Map()))
  if (m.size >= 4096) m.clear()
  return m
}

/**
 * The state at `key` as of `etag` (from a listing or a head), read only when this process has
 * not read or written that version; read after the listing, what is read is that version or a
 * newer one, never an older. Without an ETag (a store that lists none) it is read every time.
 */
async function stateAt(store: ObjectStore, key: string, etag: string): Promise<HourState | undefined> {
  const known = knownStates(store)
  const hit = etag ? known.get(key) : undefined
  if (hit && hit.etag === etag) return hit.state
  const state = await readJson<HourState>(store, key)
  if (state && etag) known.set(key, { etag, state })
  return state
}

/** The day's states, in hour order. */
async function dayStates(store: ObjectStore, exchange: string, symbol: string, dt: string): Promise<HourState[]> {
  const listed = (await store.list(candleStatePrefix(exchange, symbol, dt))).filter((o) => o.key.endsWith('.json'))
  const states = await Promise.all(listed.map(({ key, etag }) => stateAt(store, key, etag)))
  return states.filter((s): s is HourState => !!s).sort((a, b) => a.hour.localeCompare(b.hour))
}

/** Close of the last traded minute of the day before `dt` (undefined when that day has no state). */
async function closeBefore(store: ObjectStore, exchange: string, symbol: string, dt: string) {
  const prev = partitionOf(Date.parse(`${dt}T00:00:00Z`) - 1).dt
  const keys = (await store.list(candleStatePrefix(exchange, symbol, prev))).map((o) => o.key).filter((k) => k.endsWith('.json')).sort()
  for (let i = keys.length - 1; i >= 0; i--) {
    const m = (await readJson<HourState>(store, keys[i]))?.minutes.at(-1)
    if (m) return m[4]
  }
  return undefined
}

/** One day of exact 1m aggregates from its hour states, at the finest scale any of them uses. */
export function dayAggregates(states: HourState[], dayStart: number): Aggregates {
  return statesAggregates(states, dayStart, DAY / MINUTE)
}

/** Exact 1m aggregates of `length` minutes from `start`, from hour states, at the finest scale any of them uses (or finer). */
function statesAggregates(states: HourState[], start: number, length: number, minDp = 0, minDq = 0): Aggregates {
  const dp = Math.max(minDp, ...states.map((s) => s.dp)), dq = Math.max(minDq, ...states.map((s) => s.dq))
  const a = emptyAggregates('1m', start, length, dp, dq)
  // sums too large for limbs (a state of the kernel's wide path): every sum as a BigInt
  const w = states.some((s) => limbsOfState(s) === undefined) ? (widen(a).wide!) : undefined
  for (const s of states) {
    const kv = 10n ** BigInt(dq - s.dq), kq = 10n ** BigInt(dp + dq - s.dp - s.dq)
    // the sums as limbs, parsed once per state where its scale is the day's (the usual case)
    const limbs = !w && kv === 1n && kq === 1n ? limbsOfState(s) : undefined
    s.minutes.forEach(([t, o, h, l, c, n, r, f, last, v, q, bv, bq], j) => {
      const i = (t - start) / MINUTE
      if (!(i >= 0 && i < a.length)) return
      a.open[i] = o; a.high[i] = h; a.low[i] = l; a.close[i] = c; a.trades[i] = n; a.records[i] = r; a.first[i] = f; a.last[i] = last
      if (limbs) {
        const k = j * 8
        a.vHi[i] = limbs[k]; a.vLo[i] = limbs[k + 1]; a.qHi[i] = limbs[k + 2]; a.qLo[i] = limbs[k + 3]
        a.bvHi[i] = limbs[k + 4]; a.bvLo[i] = limbs[k + 5]; a.bqHi[i] = limbs[k + 6]; a.bqLo[i] = limbs[k + 7]
        return
      }
      if (w) {
        w.v[i] = BigInt(v) * kv; w.q[i] = BigInt(q) * kq; w.bv[i] = BigInt(bv) * kv; w.bq[i] = BigInt(bq) * kq
        return
      }
      [a.vHi[i], a.vLo[i]] = limbsOf(BigInt(v) * kv);
      [a.qHi[i], a.qLo[i]] = limbsOf(BigInt(q) * kq);
      [a.bvHi[i], a.bvLo[i]] = limbsOf(BigInt(bv) * kv);
      [a.bqHi[i], a.bqLo[i]] = limbsOf(BigInt(bq) * kq)
    })
  }
  // rescaled to a finer scale, limbs may have reached 2^52: kept wide from there
  return w || fits(a) ? a : statesAggregatesWide(states, start, length, dp, dq)
}

/** `statesAggregates` with every sum as a BigInt. */
function statesAggregatesWide(states: HourState[], start: number, length: number, dp: number, dq: number): Aggregates {
  const a = emptyAggregates('1m', start, length, dp, dq)
  const w = widen(a).wide!
  for (const s of states) {
    const kv = 10n ** BigInt(dq - s.dq), kq = 10n ** BigInt(dp + dq - s.dp - s.dq)
    for (const [t, o, h, l, c, n, r, f, last, v, q, bv, bq] of s.minutes) {
      const i = (t - start) / MINUTE
      if (!(i >= 0 && i < a.length)) continue
      a.open[i] = o; a.high[i] = h; a.low[i] = l; a.close[i] = c; a.trades[i] = n; a.records[i] = r; a.first[i] = f; a.last[i] = last
      w.v[i] = BigInt(v) * kv; w.q[i] = BigInt(q) * kq; w.bv[i] = BigInt(bv) * kv; w.bq[i] = BigInt(bq) * kq
    }
  }
  return a
}

/**
 * A state's four sums per minute as limbs at its own scale, eight numbers a minute, made once per
 * state object; undefined for a state with a sum of 2^104 or more (kept wide).
 */
const stateLimbs = new WeakMap<HourState, Float64Array | null>()
function limbsOfState(s: HourState): Float64Array | undefined {
  let x = stateLimbs.get(s)
  if (x !== undefined) return x ?? undefined
  x = new Float64Array(s.minutes.length * 8)
  for (let j = 0; j < s.minutes.length && x; j++) {
    const m = s.minutes[j]
    for (let f = 0; f < 4; f++) {
      const v = BigInt(m[9 + f])
      if (v >= WIDE_FROM) { x = null; break }
      [x[j * 8 + 2 * f], x[j * 8 + 2 * f + 1]] = limbsOf(v)
    }
  }
  stateLimbs.set(s, x)
  return x ?? undefined
}

// ---- gold and serving, derived from the states ------------------------------------------------

/** S3's ETag of a single-part object: a file whose ETag already matches the new bytes is not rewritten. */
const md5 = (b: Uint8Array) => `"${createHash('md5').update(b).digest('hex')}"`

export interface DayPlan { from: number; until: number; horizon: number }

/**
 * Candles of one day from its states, every timeframe: `until` is the end of the 1m candles (the
 * last trade's minute, or the horizon). Candles of 1m to 1h are made from `fineFrom` on (where
 * files are rewritten; the day's start by default), 4h and 1d for the whole day.
 */
export function dayCandles(exchange: string, symbol: string, dayStart: number, states: HourState[], prevClose: number | undefined, fineFrom = dayStart) {
  const minutes = dayAggregates(states, dayStart)
  const horizon = Math.max(-Infinity, ...states.map((s) => s.complete))
  const covered = states.flatMap((s) => (s.covered ? [s.covered] : []))
  let lastMinute = -1, firstMinute = -1
  for (let i = minutes.length - 1; i >= 0; i--) if (minutes.records[i]) { lastMinute = i; break }
  for (let i = 0; i <= lastMinute; i++) if (minutes.records[i]) { firstMinute = i; break }
  const lastEnd = lastMinute >= 0 ? dayStart + (lastMinute + 1) * MINUTE : -Infinity
  const end = Math.max(horizon, ...covered.map((c) => c[1]))
  const until = Math.min(dayStart + DAY, Math.max(lastEnd, Math.floor(end / MINUTE) * MINUTE))
  // With no trade known before the day (no close of the day before), the day's first traded minute
  // opens the symbol's history in the lake: a replay's or a first run's first minute, which holds
  // only the trades from where it started. It is final only where a completeness record holds it.
  const since = prevClose === undefined && firstMinute >= 0 ? dayStart + (firstMinute + 1) * MINUTE : -Infinity
  const spans: [number, number][] = [[since, horizon], ...covered]
  const out = {} as Record<Timeframe, Candle[]>
  const byTf = rollups(minutes)
  for (const tf of ALL_TIMEFRAMES) {
    const from = tf === '4h' || tf === '1d' ? dayStart : Math.max(dayStart, fineFrom)
    out[tf] = candlesOf(byTf[tf], { exchange, symbol, prevClose, spans, from, until })
  }
  return { candles: out, until, horizon }
}

interface Target {
  key: string; etag?: string; size?: number; body?: Uint8Array | string
  /** Gold: the rows encoded in `body`, as JSON. Serving: the window `body` holds. */
  rows?: Candle[]; window?: ServingWindow
  /** Serving: the window this process wrote at the version read, when it is the one merged into. */
  previous?: ServingWindow
}

/**
 * What this process last wrote at a key, by the ETag the store gave it: a gold file whose rows
 * are unchanged is not encoded again, and a serving window this process wrote is not read and
 * parsed again. Only ever a shortcut: a key whose ETag differs (another run wrote) is read.
 */
interface Written { etag: string; rows?: Candle[]; window?: ServingWindow }
const writtenBy = new WeakMap<ObjectStore, Map<string, Written>>()
const writtenIn = (store: ObjectStore) => {
  let m = writtenBy.get(store)
  if (!m) writtenBy.set(store, (m = new Map()))
  return m
}
const remember = (store: ObjectStore, key: string, entry: Written) => {
  // copies of gold rows: the candles themselves are the caller's (returned, published)
  if (entry.rows) entry = { ...entry, rows: entry.rows.map((c) => ({ ...c })) }
  const m = writtenIn(store)
  if (m.size >= 4096) m.clear()
  m.set(key, entry)
}

/**
 * Rewrites the gold files and serving windows of `dt` from hour `fromHour` on, from the day's
 * states. Every target's version is taken before the states are read and each write is
 * conditional on it, so a run that read older states can never overwrite a newer run's files.
 * Files still at the version this process wrote are neither encoded again when their candles
 * are unchanged nor (serving windows) read back.
 */
export async function deriveDay(store: ObjectStore, exchange: string, symbol: string, dt: string, fromHour: number, now: number, options: Partial<typeof defaults> = {}, hint?: HourState) {
  const o = { ...defaults, ...options }
  const dayStart = Date.parse(`${dt}T00:00:00Z`)
  const prevClose = await closeBefore(store, exchange, symbol, dt)
  // the first plan comes from the state keys alone (and the state this run wrote); states are read once, below
  const hours = (await store.list(candleStatePrefix(exchange, symbol, dt))).map((x) => Number(/(\d\d)\.json$/.exec(x.key)?.[1])).filter((h) => h >= 0 && h < 24)
  let plan: HourState[] | undefined
  for (let attempt = 0; ; attempt++) {
    // from the hour before the job's hour that holds state (its flat tail may grow) to the last hour with candles
    // (with no earlier state, from the day's start when the day before gave a close: its flat minutes)
    const before = plan ? plan.map((x) => Number(x.hour)).filter((h) => h < fromHour).at(-1) : Math.max(-1, ...hours.filter((h) => h < fromHour))
    const start = dayStart + Math.min(fromHour, before !== undefined && before >= 0 ? before : prevClose !== undefined ? 0 : fromHour) * HOUR
    const plannedUntil = plan ? dayCandles(exchange, symbol, dayStart, plan, prevClose, dayStart + DAY).until
      : Math.min(dayStart + DAY, Math.max(dayStart + (Math.max(fromHour, ...hours) + 1) * HOUR, Math.ceil(Math.max(hint?.complete ?? 0, hint?.covered?.[1] ?? 0) / HOUR) * HOUR))
    const end = Math.max(plannedUntil, start + HOUR)
    const keys = new Set<string>()
    for (let h = start; h < end; h += HOUR) for (const tf of ['1m', '5m', '15m', '1h'] as const) keys.add(goldCandleFileKey(exchange, symbol, tf, h))
    keys.add(goldCandleFileKey(exchange, symbol, '4h', dayStart)).add(goldCandleFileKey(exchange, symbol, '1d', dayStart))
    for (const tf of ALL_TIMEFRAMES) keys.add(servingKey(exchange, symbol, tf))
    const targets = new Map<string, Target>()
    await Promise.all([...keys].map(async (key) => { const h = await store.head(key); targets.set(key, { key, etag: h?.etag, size: h?.size }) }))
    // the states, read after every version above was taken
    const states = await dayStates(store, exchange, symbol, dt)
    const { candles, until } = dayCandles(exchange, symbol, dayStart, states, prevClose, start)
    if (until > end) { plan = states; continue } // the horizon moved past what was planned: plan again
    for (const [tf, list] of Object.entries(candles) as [Timeframe, Candle[]][]) {
      const inRange = tf === '4h' || tf === '1d' ? list : list.filter((c) => c.open_time >= start && c.open_time < end)
      const files = new Map<string, Candle[]>()
      for (const c of inRange) { const k = goldCandleFileKey(exchange, symbol, tf, c.open_time); const rows = files.get(k); if (rows) rows.push(c); else files.set(k, [c]) }
      for (const [k, rows] of files) {
        const t = targets.get(k)!
        if (tf === '1d') { t.rows = await mergeYear(store, t, rows); t.body = writeTable(CANDLE_COLUMNS, t.rows, GOLD); continue }
        // rows this process wrote at this very version are not encoded (nor written) again
        t.rows = rows
        const last = writtenIn(store).get(k)
        if (t.etag && last?.etag === t.etag && last.rows && sameCandles(last.rows, rows)) continue
        t.body = writeTable(CANDLE_COLUMNS, rows, GOLD)
      }
      const servingFrom = tf === '4h' || tf === '1d' ? dayStart : start
      const s = targets.get(servingKey(exchange, symbol, tf))!
      s.window = await mergeServing(store, s, exchange, symbol, tf, servingFrom, dayStart + DAY, inRange, now, o.servingCandles)
      s.body = servingJson(s.window, s.previous)
    }
    try {
      await Promise.all([...targets.values()].filter((t) => t.body !== undefined).map(async (t) => {
        const bytes = typeof t.body === 'string' ? new TextEncoder().encode(t.body) : t.body!
        // S3's ETag of a single-part object is its MD5: the same bytes are not written again (a different size cannot be the same;
        // a serving window carries the run's time, so it is not worth hashing)
        if (t.etag && !t.window && (t.size === undefined || t.size === bytes.length) && md5(bytes) === t.etag) { remember(store, t.key, { etag: t.etag, rows: t.rows, window: t.window }); return }
        const { etag } = await store.put(t.key, bytes, t.etag ? { ifMatch: t.etag, contentType: t.key.endsWith('.json') ? 'application/json' : undefined } : { ifNoneMatch: '*' })
        remember(store, t.key, { etag, rows: t.rows, window: t.window })
      }))
      return { candles, from: start, until, states }
    } catch (e) {
      if (!(e instanceof PreconditionFailed) || attempt >= o.writeRetries) throw e
      plan = states
      await new Promise((r) => setTimeout(r, Math.random() * 20))
    }
  }
}

/** Each candle's JSON as UTF-8, made once: a serving window keeps most of its candles from one run to the next. */
const candleJson = new WeakMap<Candle, Uint8Array>()
const utf8 = new TextEncoder()

/** Where each candle's JSON lies in the bytes made for a window: runs of its candles are copied from there whole. */
interface Layout { bytes: Uint8Array; start: Uint32Array; end: Uint32Array; index: Map<Candle, number> }
const layouts = new WeakMap<ServingWindow, Layout>()

/**
 * The bytes of `JSON.stringify(w)`, from the candles' cached JSON; candles that follow each other
 * in `previous` (a window made here before) are copied from its bytes in one piece.
 */
export function servingJson(w: ServingWindow, previous?: ServingWindow): Uint8Array {
  const head = utf8.encode(`{"exchange":${JSON.stringify(w.exchange)},"symbol":${JSON.stringify(w.symbol)},"tf":${JSON.stringify(w.tf)},"updated_at":${JSON.stringify(w.updated_at)},"candles":[`)
  const prev = previous && layouts.get(previous)
  const n = w.candles.length
  // pieces: [source bytes, from, to) in order, each a run of candles with the commas between them
  const pieces: [Uint8Array, number, number][] = []
  const runs: number[] = [] // candles per piece
  let size = head.length + 2 + Math.max(0, n - 1)
  for (let i = 0; i < n;) {
    const j = prev?.index.get(w.candles[i])
    if (prev && j !== undefined) {
      let k = 1
      while (i + k < n && j + k < prev.start.length && w.candles[i + k] === previous!.candles[j + k]) k++
      pieces.push([prev.bytes, prev.start[j], prev.end[j + k - 1]]); runs.push(k)
      size += prev.end[j + k - 1] - prev.start[j] - (k - 1)
      i += k
      continue
    }
    const c = w.candles[i]
    let json = candleJson.get(c)
    if (json === undefined) candleJson.set(c, (json = utf8.encode(JSON.stringify(c))))
    pieces.push([json, 0, json.length]); runs.push(1)
    size += json.length
    i++
  }
  const out = new Uint8Array(size)
  const start = new Uint32Array(n), end = new Uint32Array(n)
  out.set(head)
  let at = head.length, c = 0
  for (let p = 0; p < pieces.length; p++) {
    if (p > 0) out[at++] = 44 // ,
    const [src, from, to] = pieces[p]
    out.set(src.subarray(from, to), at)
    if (runs[p] === 1) { start[c] = at; end[c] = at + to - from; c++ } else {
      // a run copied whole: its candles moved by the same distance
      const j = prev!.index.get(w.candles[c])!, shift = at - from
      for (let k = 0; k < runs[p]; k++, c++) { start[c] = prev!.start[j + k] + shift; end[c] = prev!.end[j + k] + shift }
    }
    at += to - from
  }
  out[at++] = 93; out[at] = 125 // ]}
  layouts.set(w, { bytes: out, start, end, index: new Map(w.candles.map((x, i) => [x, i])) })
  return out
}

/** Gold candle files: small (an hour of 1m candles is 60 rows), so not worth compressing in JavaScript. */
const GOLD = { codec: 'UNCOMPRESSED' } as const

/** True when two candles hold the same values in every column. */
function sameCandle(a: Candle, b: Candle) {
  for (const c of CANDLE_COLUMNS) if (!Object.is(a[c.name], b[c.name])) return false
  return true
}
const sameCandles = (a: Candle[], b: Candle[]) => a.length === b.length && a.every((c, i) => sameCandle(c, b[i]))

/** The year's daily candles: what the file held for other days (as this process wrote it, or read), plus `rows`. */
async function mergeYear(store: ObjectStore, t: Target, rows: Candle[]): Promise<Candle[]> {
  const last = t.etag ? writtenIn(store).get(t.key) : undefined
  const bytes = t.etag && !(last?.rows && last.etag === t.etag) ? await store.get(t.key) : undefined
  const old = last?.rows && last.etag === t.etag ? last.rows : bytes ? await readParquet<Candle>(bytes) : []
  const replaced = new Set(rows.map((r) => r.open_time))
  return [...old.filter((c) => !replaced.has(c.open_time)), ...rows].sort((a, b) => a.open_time - b.open_time)
}

/** What `moveOldCandleFiles` did: old keys moved as they were, old keys merged into a newer file, and files it left where they were, with why. */
export interface CandleFileMoves { moved: string[]; merged: string[]; failed: { key: string; error: string }[] }

/**
 * Moves the gold candle files of a lake written before issue 10 (`tf=4h/dt=D.parquet`,
 * `tf=1d/year=YYYY.parquet`) to their keys at the `dt` depth (`relocatedCandleKey`), so that the
 * whole gold tree reads as one Hive table again. A file whose new key is free is copied as it is;
 * where the candle job wrote the new file meanwhile, the two are merged by open time, the new
 * file's candles kept (the old year file holds the other days of the year). The old file is deleted
 * only once its candles are in the new one; a file that cannot be read as candles is left where it
 * is and named in `failed` (no view reads that depth). Running it again does nothing.
 * @example await moveOldCandleFiles(store) // { moved: ['gold/candles/.../tf=1d/year=2026.parquet'], merged: [], failed: [] }
 */
export async function moveOldCandleFiles(store: ObjectStore, options: Partial<typeof defaults> = {}): Promise<CandleFileMoves> {
  const o = { ...defaults, ...options }
  const out: CandleFileMoves = { moved: [], merged: [], failed: [] }
  for (const { key } of await store.list('gold/candles/')) {
    const to = relocatedCandleKey(key)
    if (!to) continue
    try {
      const bytes = await store.get(key)
      if (!bytes) continue // moved by another run meanwhile
      const old = await readParquet<Candle>(bytes)
      for (let attempt = 0; ; attempt++) {
        try {
          const cur = await store.head(to)
          const newer = cur && await store.get(to)
          if (!cur || !newer) { await store.put(to, bytes, { ifNoneMatch: '*' }); out.moved.push(key); break }
          const rows = await readParquet<Candle>(newer)
          const kept = new Set(rows.map((c) => c.open_time))
          const merged = [...old.filter((c) => !kept.has(c.open_time)), ...rows].sort((a, b) => a.open_time - b.open_time)
          await store.put(to, writeTable(CANDLE_COLUMNS, merged, GOLD), { ifMatch: cur.etag })
          out.merged.push(key)
          break
        } catch (e) {
          if (!(e instanceof PreconditionFailed) || attempt >= o.writeRetries) throw e
        }
      }
      await store.delete(key)
    } catch (e) {
      out.failed.push({ key, error: (e as Error).message })
    }
  }
  return out
}

/**
 * A serving window with the candles opening in `[from, until)` replaced by `candles`, newest
 * `keep` kept. The stored window is read unless this process wrote that very version.
 */
async function mergeServing(store: ObjectStore, t: Target, exchange: string, symbol: string, tf: Timeframe, from: number, until: number, candles: Candle[], now: number, keep: number): Promise<ServingWindow> {
  let old: ServingWindow | undefined
  const last = t.etag ? writtenIn(store).get(t.key) : undefined
  if (last?.window && last.etag === t.etag) old = last.window
  else try { old = t.etag ? await readJson<ServingWindow>(store, t.key) : undefined } catch { old = undefined }
  t.previous = old
  const kept: Candle[] = [], before = new Map<number, Candle>()
  for (const c of old?.candles ?? []) if (c.open_time < from || c.open_time >= until) kept.push(c); else before.set(c.open_time, c)
  // the window's own candle where it is unchanged (its JSON is made already), else a copy: the window
  // may be kept (see `written`), the caller's candles are the caller's
  const fresh = candles.map((c) => { const b = before.get(c.open_time); return b && sameCandle(b, c) ? b : { ...c } })
  const merged = [...kept, ...fresh]
  // usually in order already (the new candles follow the kept ones)
  for (let i = 1; i < merged.length; i++) if (merged[i].open_time < merged[i - 1].open_time) { merged.sort((a, b) => a.open_time - b.open_time); break }
  if (merged.length > keep) merged.splice(0, merged.length - keep)
  return { exchange, symbol, tf, updated_at: now, candles: merged }
}

// ---- the hour job ------------------------------------------------------------------------------

/**
 * The bronze columns candles need: not `trades`, which DESIGN.md defines as `last_trade_id -
 * first_trade_id + 1` (an aggTrade's l - f + 1, 1 for a plain trade; also how Binance counts a
 * kline's trades), nor `trade_id`, which only breaks ties between records of the same ids.
 */
const TRADE_NAMES = TRADE_COLUMNS.map((c) => c.name)
export const HOUR_COLUMNS: ColumnRequest[] = TRADE_COLUMN_REQUESTS.filter((r) => r.name !== 'trades' && r.name !== 'trade_id')

/**
 * The hour's bronze trades, every individual trade once and in trade-id order (as silver orders
 * them), decoded straight from the bronze files: only `HOUR_COLUMNS`, so the candle job never
 * waits for silver (the silver job merges the same files after it, see `../silver`).
 * `duplicates`: records dropped as already covered; `nulls`: rows left out for a null field.
 */
export async function readHourTrades(store: ObjectStore, exchange: string, symbol: string, dt: string, hour: string, threads = defaults.decodeThreads) {
  return readTrades(store, (await bronzeObjects(store, exchange, symbol, dt, hour)).map((x) => x.key), threads)
}

/** The hour's bronze objects, in key order. */
const bronzeObjects = async (store: ObjectStore, exchange: string, symbol: string, dt: string, hour: string) =>
  (await store.list(bronzeTradesPrefix(exchange, symbol, dt, hour))).filter((x) => x.key.endsWith('.parquet'))

/** An object as a state remembers it: its name in the hour's folder and its version (ETag, or size and time where a store lists no ETag). */
export const versionOf = (o: ObjectInfo, folder: string) => `${o.key.slice(folder.length)} ${o.etag || `${o.size}@${o.lastModified}`}`

/** `readHourTrades` of the bronze objects at `keys`. */
async function readTrades(store: ObjectStore, keys: string[], threads: number) {
  const got = (await Promise.all(keys.map(async (key) => ({ key, body: await store.get(key) })))).filter((x): x is { key: string; body: Uint8Array } => !!x.body)
  // a row with a null in any trade column is left out, as silver leaves it out
  const options = { threads, nullsOf: TRADE_NAMES, extra: ['trades'] }
  const { d, unreadable } = await decodeReadable(got, options)
  const v = d.values as Record<string, Float64Array>
  // laid out with the decoded columns (in shared memory where they are, for `hourMinutes`' worker), filled here
  const trades = v.trades
  const { price, qty, first_trade_id: first, last_trade_id: last } = v
  let bad = 0
  for (let i = 0; i < d.length; i++) {
    trades[i] = last[i] - first[i] + 1
    if (!(takeable(price[i], qty[i]) && first[i] >= 0 && trades[i] >= 1)) bad++
  }
  let read: TradeColumns = { length: d.length, ts: v.ts, price, qty, buy: d.values.side as Uint8Array, trades, first_trade_id: first, last_trade_id: last, trade_id: first }
  if (bad) {
    // rows the kernel cannot take (a bronze file of an older version, or made by hand): left out, to the DLQ with their reasons
    const keep = new Uint32Array(d.length - bad)
    for (let i = 0, k = 0; i < d.length; i++) if (!rowProblem(price[i], qty[i], first[i], last[i])) keep[k++] = i
    read = pickRows(read, keep)
  }
  const invalid = bad || unreadable.length ? await sendInvalidToDlq(store, got, unreadable, options) : 0
  // ties between records of the same ids are broken by their values, then by file order (the listing's key order)
  const columns = pickRows(read, dedupeOrder(read))
  return { columns, files: got.length, duplicates: read.length - columns.length, nulls: d.nulls, invalid, unreadable: unreadable.length }
}

type ReadColumnsOptions = NonNullable<Parameters<typeof readColumns>[2]>

/**
 * The bronze objects decoded as one set of columns; where that fails (an object that is no
 * Parquet, or lacks a column), each is tried alone and the ones that fail are left out (`unreadable`,
 * with the reason), so one bad object never blocks its hour. Rethrows when every object reads alone.
 */
async function decodeReadable(got: { key: string; body: Uint8Array }[], options: ReadColumnsOptions) {
  try {
    return { d: await readColumns(got.map((x) => x.body), HOUR_COLUMNS, options), unreadable: [] as { key: string; reason: string }[] }
  } catch (e) {
    const unreadable: { key: string; reason: string }[] = []
    for (const x of got) await readColumns([x.body], HOUR_COLUMNS, { ...options, threads: 1 }).catch((err: Error) => unreadable.push({ key: x.key, reason: `unreadable: ${err.message}` }))
    if (!unreadable.length) throw e
    const bad = new Set(unreadable.map((u) => u.key))
    return { d: await readColumns(got.filter((x) => !bad.has(x.key)).map((x) => x.body), HOUR_COLUMNS, options), unreadable }
  }
}

/** Non-finite numbers as strings in the DLQ's JSON (JSON itself has none). */
const finiteOrString = (_: string, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)

/**
 * Writes the rows of each bronze object the kernel cannot take (and each object it cannot read)
 * to that object's DLQ key (`bronzeDlqKey`), one JSON line a row with its reason; returns the rows
 * written. Each object is decoded alone here: this runs only when a bad row or object was met.
 */
async function sendInvalidToDlq(store: ObjectStore, got: { key: string; body: Uint8Array }[], unreadable: { key: string; reason: string }[], options: ReadColumnsOptions) {
  let rows = 0
  for (const { key, body } of got) {
    const lines: string[] = []
    const gone = unreadable.find((u) => u.key === key)
    if (gone) lines.push(JSON.stringify({ bronze: key, reason: gone.reason }))
    else {
      const d = await readColumns([body], HOUR_COLUMNS, { ...options, threads: 1 })
      const v = d.values as Record<string, Float64Array>
      for (let i = 0; i < d.length; i++) {
        const reason = rowProblem(v.price[i], v.qty[i], v.first_trade_id[i], v.last_trade_id[i])
        if (!reason) continue
        const trade = { ts: v.ts[i], price: v.price[i], qty: v.qty[i], side: d.values.side[i] ? 'buy' : 'sell', first_trade_id: v.first_trade_id[i], last_trade_id: v.last_trade_id[i] }
        lines.push(JSON.stringify({ bronze: key, row: i, reason, trade }, finiteOrString))
        rows++
      }
    }
    if (lines.length) await store.put(bronzeDlqKey('candles', key), lines.join('\n') + '\n', { contentType: 'application/x-ndjson' })
  }
  return rows
}

// a worker (one that decoded the hour's columns) sums the second half of an hour's rows (see `hourMinutes`)
defineTask('candles.minutes', (x: { cols: TradeColumns; from: number; until: number; dp: number; dq: number }) => aggregateMinutesAt(x.cols, x.from, x.until, x.dp, x.dq), import.meta.url)

/** Rows `[lo, hi)` of `c`, as views (no copy: views of shared memory stay shared). */
const rowsOf = (c: TradeColumns, lo: number, hi: number): TradeColumns => ({
  length: hi - lo, ts: c.ts.subarray(lo, hi), price: c.price.subarray(lo, hi), qty: c.qty.subarray(lo, hi), buy: c.buy.subarray(lo, hi), trades: c.trades.subarray(lo, hi),
  first_trade_id: c.first_trade_id.subarray(lo, hi), last_trade_id: c.last_trade_id.subarray(lo, hi), trade_id: c.trade_id.subarray(lo, hi),
})

/**
 * `aggregateMinutes` of deduplicated columns in trade-id order (as `readHourTrades` gives them):
 * where they lie in shared memory, a decode worker sums the second half of the rows while this
 * thread sums the first, both at the decimals `aggregateMinutes` would try first, and the halves
 * are merged exactly. Anything else (one thread, rows copied, a value of more decimals than the
 * first trades have) takes `aggregateMinutes` itself: the result is the same.
 */
export async function hourMinutes(c: TradeColumns, from: number, until: number, threads = defaults.decodeThreads): Promise<Aggregates> {
  const n = c.length
  const shared = [c.ts, c.price, c.qty, c.buy, c.trades, c.first_trade_id, c.last_trade_id].every((x) => x.buffer instanceof SharedArrayBuffer)
  if (threads < 2 || n < defaults.parallelRows || !shared || !sortedById(c)) return aggregateMinutes(c, from, until)
  let dp: number, dq: number
  try { [dp, dq] = guessDecimals(c) } catch { return aggregateMinutes(c, from, until) }
  const mid = n >> 1
  const far = onWorker<Aggregates | undefined>('candles.minutes', { cols: rowsOf(c, mid, n), from, until, dp, dq }) // posted now: it runs while this thread sums the first half
  const near = aggregateMinutesAt(rowsOf(c, 0, mid), from, until, dp, dq)
  const done = await far
  const second = done.ran ? done.result : aggregateMinutesAt(rowsOf(c, mid, n), from, until, dp, dq)
  return near && second ? mergeAggregates(near, second) : aggregateMinutes(c, from, until)
}


/**
 * The rows of `t` whose time falls in `[from, until)` (ms), `t` itself when all do (as they
 * should), with the latest of their times (µs; -Infinity for none): one pass in the usual case.
 */
function withinHour(t: TradeColumns, from: number, until: number): { columns: TradeColumns; lastUs: number } {
  const lo = from * 1000, hi = until * 1000, ts = t.ts
  let outside = 0, lastUs = -Infinity
  for (let i = 0; i < t.length; i++) {
    const x = ts[i]
    if (x >= lo && x < hi) { if (x > lastUs) lastUs = x } else outside++
  }
  if (outside === 0) return { columns: t, lastUs }
  const rows = new Uint32Array(t.length - outside)
  for (let i = 0, k = 0; i < t.length; i++) if (ts[i] >= lo && ts[i] < hi) rows[k++] = i
  return { columns: pickRows(t, rows), lastUs }
}

export interface HourJob { store: ObjectStore; exchange: string; symbol: string; dt: string; hour: string; now: number; options?: Partial<typeof defaults> }
export interface HourResult {
  trades: number; duplicates: number; files: number
  /** Bronze rows left out for a null field. */
  nulls: number
  /** Bronze rows (of the objects read in this run) the kernel cannot take: left out, written to `dlq/candles/` with their reasons. */
  invalid: number
  /** Bronze objects that could not be read at all: left out, named in `dlq/candles/`. */
  unreadable: number
  /** The hour's 1m candles. */
  candles: Candle[]
  /** Candles of every timeframe that were (re)written, from the job's hour on. */
  byTf: Record<Timeframe, Candle[]>
  /** Where the hour's 1m candles are. */
  key: string
  /** False when a newer view of the hour was already stored (this run's view was older). */
  stateWritten: boolean
  /**
   * The completeness horizon (ms) of the hour's view before this run (-Infinity for the first):
   * candles closing at or after it became final in this run, the ones to announce.
   */
  previousComplete: number
}

/** An hour's view: its exact minute sums, the last individual trade id covered and the latest trade time (ms). */
interface HourView { minutes: Aggregates; lastId: number; lastTs: number; records: number; duplicates: number; nulls: number; invalid: number; unreadable: number }

/**
 * The view of the bronze objects at `keys` alone; undefined when a trade in them is not after
 * `after` (the last trade id a view to be merged with has counted). Without objects: no minutes.
 */
async function viewOf(store: ObjectStore, keys: string[], hourStart: number, threads: number, after = -Infinity): Promise<HourView | undefined> {
  const bronze = await readTrades(store, keys, threads)
  const all = bronze.columns
  if (all.length && !(all.first_trade_id[0] > after)) return undefined
  const { columns, lastUs } = withinHour(all, hourStart, hourStart + HOUR)
  return {
    minutes: await hourMinutes(columns, hourStart, hourStart + HOUR, threads), lastTs: lastUs / 1000, records: columns.length, duplicates: bronze.duplicates, nulls: bronze.nulls, invalid: bronze.invalid, unreadable: bronze.unreadable,
    lastId: all.length ? all.last_trade_id[all.length - 1] : after,
  }
}

/**
 * The hour from the stored view and only the bronze objects added since, when every trade in
 * them comes after the view's last trade id (the usual case: Firehose delivers in order), so
 * an hour of many small objects is not decoded again on each one. Undefined otherwise: a view
 * without this bookkeeping, an object gone, or trades that belong among those counted.
 */
async function addedView(job: HourJob, objects: ObjectInfo[], hourStart: number, threads: number): Promise<HourView | undefined> {
  const key = candleStateKey(job.exchange, job.symbol, job.dt, job.hour)
  const head = await job.store.head(key)
  const base = head && (await stateAt(job.store, key, head.etag))
  if (!base?.files || base.lastId == null || base.lastTs == null) return undefined
  const folder = bronzeTradesPrefix(job.exchange, job.symbol, job.dt, job.hour)
  // every object counted is still there, unchanged (an object written again is read again, with all the others)
  const versions = new Set(objects.map((x) => versionOf(x, folder)))
  if (!base.files.every((f) => versions.has(f))) return undefined
  const counted = new Set(base.files)
  const added = objects.filter((x) => !counted.has(versionOf(x, folder))).map((x) => x.key)
  const old = statesAggregates([base], hourStart, HOUR / MINUTE)
  const records = old.records.reduce((a, b) => a + b, 0)
  if (added.length === 0) return { minutes: old, lastId: base.lastId, lastTs: base.lastTs, records, duplicates: 0, nulls: 0, invalid: 0, unreadable: 0 }
  const fresh = await viewOf(job.store, added, hourStart, threads, base.lastId)
  if (!fresh) return undefined
  const dp = Math.max(old.dp, fresh.minutes.dp), dq = Math.max(old.dq, fresh.minutes.dq)
  return {
    ...fresh, minutes: mergeAggregates(rescale(old, dp, dq), rescale(fresh.minutes, dp, dq)), records: records + fresh.records, lastTs: Math.max(base.lastTs, fresh.lastTs),
  }
}


/**
 * Recomputes one hour from bronze: the hour's exact minute sums, then the day's gold files
 * (all timeframes) and serving windows.
 * @example await recomputeHour({ store, exchange: 'binance', symbol: 'BTC-USDT', dt: '2026-11-24', hour: '15', now: Date.now() })
 */
export async function recomputeHour(job: HourJob): Promise<HourResult> {
  const o = { ...defaults, ...job.options }
  const hourStart = Date.parse(`${job.dt}T${job.hour}:00:00Z`)
  const hourEnd = hourStart + HOUR
  const objects = await bronzeObjects(job.store, job.exchange, job.symbol, job.dt, job.hour)
  const keys = objects.map((x) => x.key)
  // the checkpoint and the day's completeness record are read while the hour decodes (two round trips on S3, not on its path)
  const reads = Promise.all([readCheckpoint(job.store, job.exchange, job.symbol), readCompleteSpan(job.store, job.exchange, job.symbol, job.dt)])
  reads.catch(() => {}) // awaited below; a failure then is the run's
  const view = (await addedView(job, objects, hourStart, o.decodeThreads)) ?? (await viewOf(job.store, keys, hourStart, o.decodeThreads))!
  const { minutes, lastTs } = view
  // Ingest has accepted every trade up to its checkpoint; allowing the delivery stream's buffer,
  // the lake holds them all up to `complete`. Minutes before it are final, and flat if empty.
  const [cp, record] = await reads
  const complete = Math.max(lastTs, Math.min(cp ? cp.checkpoint.ts / 1000 : -Infinity, job.now - o.finalAfterMs))
  // a completeness record of the day (an imported archive day) that holds this hour vouches for it, up to the hour's end
  const covered: [number, number] | undefined = record && record.from < hourEnd && record.until > hourStart ? [record.from, Math.min(record.until, hourEnd)] : undefined
  const folder = bronzeTradesPrefix(job.exchange, job.symbol, job.dt, job.hour)
  const state = stateOf(minutes, {
    exchange: job.exchange, symbol: job.symbol, dt: job.dt, hour: job.hour, complete: Number.isFinite(complete) ? complete : hourStart - 1, ...(covered ? { covered } : {}),
    // (an hour without trades keeps no last id or time: its next run reads it whole, which costs nothing)
    files: objects.map((x) => versionOf(x, folder)), lastId: Number.isFinite(view.lastId) ? view.lastId : undefined, lastTs: Number.isFinite(lastTs) ? lastTs : undefined,
  })
  const { state: stored, written, previous } = await writeHourState(job.store, state, o.writeRetries)
  const derived = await deriveDay(job.store, job.exchange, job.symbol, job.dt, Number(job.hour), job.now, o, stored)
  // the next day's first minutes may be flat at this day's last close: rewrite them if that day has begun
  const next = partitionOf(Date.parse(`${job.dt}T00:00:00Z`) + DAY).dt
  if (derived.until >= Date.parse(`${next}T00:00:00Z`) && (await job.store.list(candleStatePrefix(job.exchange, job.symbol, next))).length) {
    await deriveDay(job.store, job.exchange, job.symbol, next, 0, job.now, o)
  }
  const byTf = {} as Record<Timeframe, Candle[]>
  for (const tf of ALL_TIMEFRAMES) byTf[tf] = derived.candles[tf].filter((c) => c.open_time + TIMEFRAMES[tf] > hourStart)
  const candles = derived.candles['1m'].filter((c) => c.open_time >= hourStart && c.open_time < hourEnd)
  return { trades: view.records, duplicates: view.duplicates, nulls: view.nulls, invalid: view.invalid, unreadable: view.unreadable, files: keys.length, candles, byTf, key: goldCandleFileKey(job.exchange, job.symbol, '1m', hourStart), stateWritten: written, previousComplete: previous?.complete ?? -Infinity }
}
