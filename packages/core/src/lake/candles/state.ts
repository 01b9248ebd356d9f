/**
 * The hour's state: the exact minute sums of one hour of a symbol's trades
 * (`state/candles/<exchange>/<symbol>/<dt>/<hour>.json`), written only over an older view, and the
 * day's 1m aggregates read back from its hours' states (what gold and serving are derived from).
 */
import { TIMEFRAMES, byText } from '../../market/index'
import { candleStateKey, candleStatePrefix, partitionOf } from '../layout/index'
import { readJson, updateObject, type ObjectStore } from '../../ports/index'
import { candleCache, knownStates, type CandleCache } from './cache'
import { defaults } from './defaults'
import { WIDE_FROM, emptyAggregates, fits, limbsOf, sumsAt, widen, type Aggregates } from './kernel'

const MINUTE = TIMEFRAMES['1m']
const DAY = TIMEFRAMES['1d']

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

export function stateOf(a: Aggregates, base: Omit<HourState, 'individual' | 'dp' | 'dq' | 'minutes'>): HourState {
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
export async function writeHourState(store: ObjectStore, next: HourState, retries = defaults.writeRetries, cache = candleCache()): Promise<{ state: HourState; written: boolean; previous?: HourState }> {
  const key = candleStateKey(next.exchange, next.symbol, next.dt, next.hour)
  const { result, etag } = await updateObject(store, key, async (head) => {
    const current = head ? await stateAt(store, key, head.etag, cache) : undefined
    if (current && !newer(next, current)) return { result: { state: current, written: false, previous: current } }
    const state = current ? { ...next, complete: Math.max(next.complete, current.complete) } : next
    return { body: JSON.stringify(state), result: { state, written: true, previous: current } }
  }, { retries, contentType: 'application/json' })
  if (etag) knownStates(cache).set(key, { etag, state: result.state })
  return result
}

/**
 * The state at `key` as of `etag` (from a listing or a head), read only when this process has
 * not read or written that version; read after the listing, what is read is that version or a
 * newer one, never an older. Without an ETag (a store that lists none) it is read every time.
 */
export async function stateAt(store: ObjectStore, key: string, etag: string, cache: CandleCache): Promise<HourState | undefined> {
  const known = knownStates(cache)
  const hit = etag ? known.get(key) : undefined
  if (hit && hit.etag === etag) return hit.state
  const state = await readJson<HourState>(store, key)
  if (state && etag) known.set(key, { etag, state })
  return state
}

/** The day's states, in hour order. */
export async function dayStates(store: ObjectStore, exchange: string, symbol: string, dt: string, cache: CandleCache): Promise<HourState[]> {
  const listed = (await store.list(candleStatePrefix(exchange, symbol, dt))).filter((o) => o.key.endsWith('.json'))
  const states = await Promise.all(listed.map(({ key, etag }) => stateAt(store, key, etag, cache)))
  return states.filter((s): s is HourState => !!s).sort((a, b) => byText(a.hour, b.hour))
}

/** Close of the last traded minute of the day before `dt` (undefined when that day has no state). */
export async function closeBefore(store: ObjectStore, exchange: string, symbol: string, dt: string) {
  const prev = partitionOf(Date.parse(`${dt}T00:00:00Z`) - 1).dt
  const keys = (await store.list(candleStatePrefix(exchange, symbol, prev))).map((o) => o.key).filter((k) => k.endsWith('.json')).sort()
  for (let i = keys.length - 1; i >= 0; i--) {
    const m = (await readJson<HourState>(store, keys[i]))?.minutes.at(-1)
    if (m) return m[4]
  }
  return undefined
}

/** One day of exact 1m aggregates from its hour states, at the finest scale any of them uses. */
export function dayAggregates(states: HourState[], dayStart: number, cache?: CandleCache): Aggregates {
  return statesAggregates(states, dayStart, DAY / MINUTE, cache)
}

/** Exact 1m aggregates of `length` minutes from `start`, from hour states, at the finest scale any of them uses (or finer). */
export function statesAggregates(states: HourState[], start: number, length: number, cache?: CandleCache, minDp = 0, minDq = 0): Aggregates {
  const dp = Math.max(minDp, ...states.map((s) => s.dp)), dq = Math.max(minDq, ...states.map((s) => s.dq))
  const a = emptyAggregates('1m', start, length, dp, dq)
  // sums too large for limbs (a state of the kernel's wide path): every sum as a BigInt
  const w = states.some((s) => limbsOfState(s, cache) === undefined) ? (widen(a).wide!) : undefined
  for (const s of states) {
    const kv = 10n ** BigInt(dq - s.dq), kq = 10n ** BigInt(dp + dq - s.dp - s.dq)
    // the sums as limbs, parsed once per state where its scale is the day's (the usual case)
    const limbs = !w && kv === 1n && kq === 1n ? limbsOfState(s, cache) : undefined
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
 * state object (with a cache); undefined for a state with a sum of 2^104 or more (kept wide).
 */
function limbsOfState(s: HourState, cache?: CandleCache): Float64Array | undefined {
  let x = cache?.limbs.get(s)
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
  cache?.limbs.set(s, x)
  return x ?? undefined
}
