/**
 * The candle kernel: exact OHLCV aggregates of trades held as columns (typed arrays), in one tight
 * loop with no per-trade objects, then rolled up from 1m to every coarser timeframe. Volumes are
 * summed as integers, never as floats: prices and quantities are decimal strings of at most 8
 * decimals at the exchange, so each parses back to an integer at the smallest power of ten the
 * data needs (derived from the data), and every sum (quantities, and the exact products
 * price x quantity) is kept in two limbs, `hi * 2^52 + lo`, each an exact double. Finished (`./finish`)
 * candles carry the double nearest to the exact decimal (volumes) or to the exact decimal rounded
 * half up to 8 places (quote volumes), which is what Binance prints in its klines. Where two limbs
 * do not suffice (a scaled price or quantity above 2^51, or sums above 2^104: prices near 1e9 with
 * 8 decimals, quantities of 1e12 and more), the same sums are made with BigInts instead (`wide`),
 * exact for every value `TRADE_LIMITS` (core/market) admits and beyond; the usual case never
 * touches a BigInt. A value's decimal is the shortest one that reads back as the double, rounded
 * half up to 8 places (`scaledDecimal`): for a value of fewer than 16 significant digits, the
 * exchange's own string. Input rows must have finite, positive prices and quantities (the hour job
 * sends others to the DLQ first); a non-finite one makes the kernel throw a RangeError.
 */
import type { Candle, Timeframe, Trade, TradeColumns } from '../../market/index'
import { TIMEFRAMES, scaledDecimal } from '../../market/index'
import { pickRows, recordOrder } from '../dedupe/index'

export const defaults = {
  /** Most decimals a price or quantity may have (Binance and Coinbase: 8). */
  maxDecimals: 8,
  /** Trades the decimals are first guessed from (all are checked). */
  decimalsSample: 4096,
  /** Decimals of the quote volumes in finished candles (Binance prints 8). */
  quoteDecimals: 8,
}

/** Trades as columns, sorted by first trade id (the decoder and silver give them so): one definition, in `market`. */
export type { TradeColumns }

/**
 * Exact aggregates of consecutive periods of one timeframe, columnar: period `i` opens at
 * `start + i * TIMEFRAMES[tf]`. A period without records has `records[i] === 0`. Volume sums are
 * integers at 10^-dq, quote sums at 10^-(dp+dq), each as `hi * 2^52 + lo`.
 */
export interface Aggregates {
  tf: Timeframe
  start: number
  length: number
  /** Decimals of prices and of quantities. */
  dp: number
  dq: number
  open: Float64Array; high: Float64Array; low: Float64Array; close: Float64Array
  trades: Float64Array; records: Float64Array
  first: Float64Array; last: Float64Array
  vHi: Float64Array; vLo: Float64Array; qHi: Float64Array; qLo: Float64Array
  bvHi: Float64Array; bvLo: Float64Array; bqHi: Float64Array; bqLo: Float64Array
  /** The four sums as BigInts, set where two limbs do not hold them (the limb arrays are then unused). */
  wide?: WideSums
}

/** Volume, quote, taker-buy volume and taker-buy quote sums of each period, as BigInts. */
export interface WideSums { v: bigint[]; q: bigint[]; bv: bigint[]; bq: bigint[] }

const LIMB = 2 ** 52
const HALF = 2 ** 26
/** Largest scaled price or quantity: sums of them stay exact in one limb's headroom. */
const MAX_SCALED = 2 ** 51
/** A high limb below this leaves room to add another such sum exactly (below 2^53); at or above it, sums go wide. */
const FITS = 2 ** 52
/** The same bound on a BigInt sum: from here on a sum is kept wide. */
export const WIDE_FROM = 2n ** 104n
const MINUTE = TIMEFRAMES['1m']

/** Empty aggregates of `length` periods. */
export function emptyAggregates(tf: Timeframe, start: number, length: number, dp: number, dq: number): Aggregates {
  const f = () => new Float64Array(length)
  return { tf, start, length, dp, dq, open: f(), high: f(), low: f(), close: f(), trades: f(), records: f(), first: f(), last: f(), vHi: f(), vLo: f(), qHi: f(), qLo: f(), bvHi: f(), bvLo: f(), bqHi: f(), bqLo: f() }
}

/**
 * The fewest decimals (0..8) at which every value of `x[0..n)` is a whole number, checked on the
 * doubles themselves: `Math.round(v * 10^d) / 10^d === v` holds exactly when `v` is the double of
 * a decimal with at most `d` places (trusted where the scaled value is at most 2^51; the kernel
 * takes larger ones on its wide path, which finds their decimals exactly).
 * @example decimalsOf(new Float64Array([1.5, 0.25]), 2) === 2
 */
export function decimalsOf(x: Float64Array, n = x.length, max = defaults.maxDecimals): number {
  let d = 0, s = 1, prev = NaN
  for (let i = 0; i < n; i++) {
    const v = x[i]
    if (v === prev) continue
    prev = v
    while (d < max && Math.round(v * s) / s !== v) { d++; s *= 10 }
  }
  return d
}

/** Decimals (0..8) of one value's decimal rounded half up to 8 places (`scaledDecimal`). */
function decimalsOfValue(v: number, max = defaults.maxDecimals): number {
  let x = scaledDecimal(v, max), d = max
  while (d > 0 && x % 10n === 0n) { x /= 10n; d-- }
  return d
}

/** The fewest decimals (0..8) every value of `x[0..n)` needs, exactly for any finite value (the wide path's `decimalsOf`). */
function decimalsWide(x: Float64Array, n: number, max = defaults.maxDecimals): number {
  let d = 0, s = 1, prev = NaN
  for (let i = 0; i < n && d < max; i++) {
    const v = x[i]
    if (v === prev) continue
    prev = v
    const r = Math.round(v * s)
    if (r <= MAX_SCALED && r / s === v) continue
    d = Math.max(d, decimalsOfValue(v, max)); s = 10 ** d
  }
  return d
}

/** `v`'s decimal at `d` decimals as an integer: by doubles where exact (see `decimalsOf`), else from its shortest decimal. */
function scaledOf(v: number, d: number, s: number): bigint {
  const r = Math.round(v * s)
  return r <= MAX_SCALED && r / s === v ? BigInt(r) : scaledDecimal(v, d)
}

/** True when `first_trade_id` never decreases (the kernel's duplicate check relies on it). */
export function sortedById(c: TradeColumns) {
  for (let i = 1; i < c.length; i++) if (c.first_trade_id[i] < c.first_trade_id[i - 1]) return false
  return true
}

/**
 * The rows of `c` in the order deduplication reads them (`recordOrder`: first trade id, widest
 * range first, then, of records of the same ids, the one `keptFirst` keeps first), as a copy.
 */
export function sortColumns(c: TradeColumns): TradeColumns {
  return pickRows(c, new Uint32Array(c.length).map((_, i) => i).sort((a, b) => recordOrder(c, a, b)))
}

// Slots of the scratch array one minute is summed in (see `scanMinute`).
const O = 0, H = 1, L = 2, C = 3, N = 4, R = 5, F = 6, LAST = 7, VH = 8, VL = 9, QH = 10, QL = 11, BVH = 12, BVL = 13, BQH = 14, BQL = 15, COVERED = 16, INEXACT = 17
const FIELDS = ['open', 'high', 'low', 'close', 'trades', 'records', 'first', 'last', 'vHi', 'vLo', 'qHi', 'qLo', 'bvHi', 'bvLo', 'bqHi', 'bqLo'] as const

/**
 * Adds trades from index `i` on to the minute `[lo, hi)` (µs) summed in `acc`, until one falls
 * outside it; returns that index. Kept small so the JIT optimizes it at once: the whole kernel's
 * time is spent here.
 */
function scanMinute(c: TradeColumns, i: number, lo: number, hi: number, acc: Float64Array, sp: number, sq: number): number {
  const { ts, price, qty, buy, trades, first_trade_id, last_trade_id } = c
  const n = c.length
  let o = acc[O], h = acc[H], l = acc[L], cl = acc[C], nt = acc[N], nr = acc[R], first = acc[F], last = acc[LAST]
  let vHi = acc[VH], vLo = acc[VL], qHi = acc[QH], qLo = acc[QL], bvHi = acc[BVH], bvLo = acc[BVL], bqHi = acc[BQH], bqLo = acc[BQL], covered = acc[COVERED]
  for (; i < n; i++) {
    const t = ts[i]
    if (t < lo || t >= hi) break
    const lastId = last_trade_id[i]
    if (lastId <= covered) continue // its trade ids were counted already
    covered = lastId
    const p = price[i]
    const q = qty[i]
    const P = Math.round(p * sp), Q = Math.round(q * sq)
    if (P / sp !== p || Q / sq !== q || P > MAX_SCALED || Q > MAX_SCALED) { acc[INEXACT] = 1; return i } // more decimals than guessed, or too large (or not finite)
    if (nr === 0) { o = h = l = p; first = first_trade_id[i] } else { if (p > h) h = p; if (p < l) l = p }
    cl = p; last = lastId; nt += trades[i]; nr++
    vLo += Q; if (vLo >= LIMB) { vLo -= LIMB; vHi++ }
    // exact P * Q as pHi * 2^52 + pLo: directly when below 2^52, else from 26-bit halves
    let pHi = 0, pLo = P * Q
    if (pLo >= LIMB) {
      const a1 = Math.floor(P / HALF), a0 = P - a1 * HALF, b1 = Math.floor(Q / HALF), b0 = Q - b1 * HALF
      const mid = a1 * b0 + a0 * b1, mh = Math.floor(mid / HALF)
      pHi = a1 * b1 + mh; pLo = (mid - mh * HALF) * HALF + a0 * b0
      if (pLo >= LIMB) { pLo -= LIMB; pHi++ }
    }
    qHi += pHi; qLo += pLo; if (qLo >= LIMB) { qLo -= LIMB; qHi++ }
    if (buy[i] === 1) {
      bvLo += Q; if (bvLo >= LIMB) { bvLo -= LIMB; bvHi++ }
      bqHi += pHi; bqLo += pLo; if (bqLo >= LIMB) { bqLo -= LIMB; bqHi++ }
    }
  }
  acc[O] = o; acc[H] = h; acc[L] = l; acc[C] = cl; acc[N] = nt; acc[R] = nr; acc[F] = first; acc[LAST] = last
  acc[VH] = vHi; acc[VL] = vLo; acc[QH] = qHi; acc[QL] = qLo; acc[BVH] = bvHi; acc[BVL] = bvLo; acc[BQH] = bqHi; acc[BQL] = bqLo; acc[COVERED] = covered
  return i
}

/**
 * Exact 1m aggregates of the trades in `[from, until)` (ms; minutes aligned to UTC). Records whose
 * individual trade ids are already covered by an earlier record are duplicates and skipped; input
 * not sorted by first trade id is sorted first (a slower path).
 * @example aggregateMinutes(cols, dayStart, dayStart + 86_400_000).length === 1440
 */
export function aggregateMinutes(cols: TradeColumns, from: number, until: number): Aggregates {
  const c = sortedById(cols) ? cols : sortColumns(cols)
  const n = c.length
  // decimals guessed from the first trades and checked on every one; a miss starts over with all
  const [dp, dq] = guessDecimals(c)
  let a = scanAll(c, from, until, dp, dq)
  if (!a) {
    const dp2 = decimalsOf(c.price, n), dq2 = decimalsOf(c.qty, n)
    if (dp2 !== dp || dq2 !== dq) a = scanAll(c, from, until, dp2, dq2)
  }
  // values beyond two limbs, or no decimals of at most 8 places (rounded half up to 8): BigInt sums
  return a ?? scanWide(c, from, until)
}

/**
 * Two aggregates of the same periods and scale as one, every record of `b` after every record of
 * `a` in trade-id order (an hour's earlier trades and the ones that came after them): open and
 * first id from `a`, close and last id from `b`, extremes and exact sums of both. Writes into `a`.
 */
export function mergeAggregates(a: Aggregates, b: Aggregates): Aggregates {
  if (a.tf !== b.tf || a.start !== b.start || a.length !== b.length || a.dp !== b.dp || a.dq !== b.dq) throw new RangeError('aggregates of different periods or scales')
  const wide = a.wide || b.wide ? widen(a).wide! : undefined
  // limbs below 2^52 add exactly (below 2^53); sums that reach 2^52 are made wide after
  const add = (hi: Float64Array, lo: Float64Array, bh: Float64Array, bl: Float64Array, k: number) => {
    hi[k] += bh[k]; lo[k] += bl[k]
    if (lo[k] >= LIMB) { lo[k] -= LIMB; hi[k]++ }
  }
  for (let k = 0; k < a.length; k++) {
    if (b.records[k] === 0) continue
    if (a.records[k] === 0) {
      a.open[k] = b.open[k]; a.high[k] = b.high[k]; a.low[k] = b.low[k]; a.first[k] = b.first[k]
    } else {
      if (b.high[k] > a.high[k]) a.high[k] = b.high[k]
      if (b.low[k] < a.low[k]) a.low[k] = b.low[k]
    }
    a.close[k] = b.close[k]; a.last[k] = b.last[k]; a.trades[k] += b.trades[k]; a.records[k] += b.records[k]
    if (wide) {
      const [v, q, bv, bq] = sumsAt(b, k)
      wide.v[k] += v; wide.q[k] += q; wide.bv[k] += bv; wide.bq[k] += bq
      continue
    }
    add(a.vHi, a.vLo, b.vHi, b.vLo, k); add(a.qHi, a.qLo, b.qHi, b.qLo, k); add(a.bvHi, a.bvLo, b.bvHi, b.bvLo, k); add(a.bqHi, a.bqLo, b.bqHi, b.bqLo, k)
  }
  return wide || fits(a) ? a : widen(a)
}

/** The four sums of period `i` (volume, quote, taker-buy volume, taker-buy quote) as BigInts. */
export function sumsAt(a: Aggregates, i: number): [v: bigint, q: bigint, bv: bigint, bq: bigint] {
  const w = a.wide
  if (w) return [w.v[i], w.q[i], w.bv[i], w.bq[i]]
  return [bigOf(a.vHi[i], a.vLo[i]), bigOf(a.qHi[i], a.qLo[i]), bigOf(a.bvHi[i], a.bvLo[i]), bigOf(a.bqHi[i], a.bqLo[i])]
}

/** `a` with its sums as BigInts (`a.wide`), converted from its limbs when it has none yet; in place. */
export function widen(a: Aggregates): Aggregates {
  if (a.wide) return a
  const w: WideSums = { v: [], q: [], bv: [], bq: [] }
  for (let i = 0; i < a.length; i++) [w.v[i], w.q[i], w.bv[i], w.bq[i]] = sumsAt(a, i)
  a.wide = w
  return a
}

/** Empty wide sums of `length` periods. */
const wideSums = (length: number): WideSums => ({ v: new Array(length).fill(0n), q: new Array(length).fill(0n), bv: new Array(length).fill(0n), bq: new Array(length).fill(0n) })

/** True when every high limb of `a` is below 2^52 (so sums of it stay exact in limbs). */
export function fits(a: Aggregates): boolean {
  const { vHi, qHi, bvHi, bqHi } = a
  for (let i = 0; i < a.length; i++) if (vHi[i] >= FITS || qHi[i] >= FITS || bvHi[i] >= FITS || bqHi[i] >= FITS) return false
  return true
}

/** `a` at finer decimals `dp`, `dq` (at least its own): the same exact sums, scaled (a copy; `a` itself when the scale is its own). */
export function rescale(a: Aggregates, dp: number, dq: number): Aggregates {
  if (a.dp === dp && a.dq === dq) return a
  if (dp < a.dp || dq < a.dq) throw new RangeError(`cannot rescale decimals ${a.dp}/${a.dq} down to ${dp}/${dq}`)
  const kv = 10n ** BigInt(dq - a.dq), kq = 10n ** BigInt(dp + dq - a.dp - a.dq)
  const w = wideSums(a.length)
  let big = false
  for (let k = 0; k < a.length; k++) {
    if (a.records[k] === 0) continue
    const [v, q, bv, bq] = sumsAt(a, k)
    w.v[k] = v * kv; w.q[k] = q * kq; w.bv[k] = bv * kv; w.bq[k] = bq * kq
    if (w.q[k] >= WIDE_FROM || w.v[k] >= WIDE_FROM) big = true
  }
  const out: Aggregates = { ...a, dp, dq, vHi: a.vHi.slice(), vLo: a.vLo.slice(), qHi: a.qHi.slice(), qLo: a.qLo.slice(), bvHi: a.bvHi.slice(), bvLo: a.bvLo.slice(), bqHi: a.bqHi.slice(), bqLo: a.bqLo.slice(), wide: undefined }
  if (big) { out.wide = w; return out }
  for (let k = 0; k < a.length; k++) {
    if (a.records[k] === 0) continue;
    [out.vHi[k], out.vLo[k]] = limbsOf(w.v[k]);
    [out.qHi[k], out.qLo[k]] = limbsOf(w.q[k]);
    [out.bvHi[k], out.bvLo[k]] = limbsOf(w.bv[k]);
    [out.bqHi[k], out.bqLo[k]] = limbsOf(w.bq[k])
  }
  return out
}

/** The decimals of prices and quantities `aggregateMinutes` tries first: those of the first trades. */
export function guessDecimals(c: TradeColumns): [dp: number, dq: number] {
  const guess = Math.min(c.length, defaults.decimalsSample)
  return [decimalsOf(c.price, guess), decimalsOf(c.qty, guess)]
}

/**
 * Exact 1m aggregates of deduplicated trades in id order at given decimals, or undefined when a
 * value has more decimals than that: a part of `aggregateMinutes`, for callers that split the rows
 * between threads (every part at the decimals `guessDecimals` gives for the whole).
 */
export function aggregateMinutesAt(cols: TradeColumns, from: number, until: number, dp: number, dq: number): Aggregates | undefined {
  return scanAll(cols, from, until, dp, dq)
}

function scanAll(c: TradeColumns, from: number, until: number, dp: number, dq: number): Aggregates | undefined {
  const n = c.length
  const sp = 10 ** dp, sq = 10 ** dq
  const start = Math.floor(from / MINUTE) * MINUTE
  const len = Math.max(0, Math.ceil((until - start) / MINUTE))
  const a = emptyAggregates('1m', start, len, dp, dq)
  const startUs = start * 1000, endUs = startUs + len * MINUTE * 1000, minUs = MINUTE * 1000
  const acc = new Float64Array(18)
  let covered = -Infinity
  for (let i = 0; i < n;) {
    const t = c.ts[i]
    if (!(t >= startUs && t < endUs)) { i++; continue }
    const m = Math.floor((t - startUs) / minUs)
    for (let f = 0; f < FIELDS.length; f++) acc[f] = a[FIELDS[f]][m]
    acc[COVERED] = covered
    i = scanMinute(c, i, startUs + m * minUs, startUs + (m + 1) * minUs, acc, sp, sq)
    // (a high limb only grows: one that passed 2^53 inexactly is at or above 2^52 all the same)
    if (acc[INEXACT] || acc[QH] >= FITS || acc[BQH] >= FITS || acc[VH] >= FITS) return undefined
    covered = acc[COVERED]
    for (let f = 0; f < FIELDS.length; f++) a[FIELDS[f]][m] = acc[f]
  }
  return a
}

/**
 * `aggregateMinutes` with BigInt sums (`wide`), for values two limbs cannot keep exact: the
 * decimals of every value found exactly, each value's decimal integer from `scaledOf`. Several
 * times slower than the limbs; taken only when they do not suffice.
 */
function scanWide(c: TradeColumns, from: number, until: number): Aggregates {
  const n = c.length
  const dp = decimalsWide(c.price, n), dq = decimalsWide(c.qty, n)
  const sp = 10 ** dp, sq = 10 ** dq
  const start = Math.floor(from / MINUTE) * MINUTE
  const len = Math.max(0, Math.ceil((until - start) / MINUTE))
  const a = emptyAggregates('1m', start, len, dp, dq)
  const w = (a.wide = wideSums(len))
  const startUs = start * 1000, endUs = startUs + len * MINUTE * 1000, minUs = MINUTE * 1000
  const { ts, price, qty, buy, trades, first_trade_id, last_trade_id } = c
  let covered = -Infinity, lastP = NaN, lastQ = NaN, P = 0n, Q = 0n
  for (let i = 0; i < n; i++) {
    const t = ts[i]
    if (!(t >= startUs && t < endUs)) continue
    const lastId = last_trade_id[i]
    if (lastId <= covered) continue // its trade ids were counted already
    covered = lastId
    const m = Math.floor((t - startUs) / minUs), p = price[i], q = qty[i]
    if (p !== lastP) { P = scaledOf(p, dp, sp); lastP = p }
    if (q !== lastQ) { Q = scaledOf(q, dq, sq); lastQ = q }
    if (a.records[m] === 0) { a.open[m] = a.high[m] = a.low[m] = p; a.first[m] = first_trade_id[i] } else { if (p > a.high[m]) a.high[m] = p; if (p < a.low[m]) a.low[m] = p }
    a.close[m] = p; a.last[m] = lastId; a.trades[m] += trades[i]; a.records[m]++
    const PQ = P * Q
    w.v[m] += Q; w.q[m] += PQ
    if (buy[i] === 1) { w.bv[m] += Q; w.bq[m] += PQ }
  }
  return a
}

/**
 * Aggregates of a coarser timeframe from finer ones (sums stay exact): open of the first period
 * with records, close of the last, extremes over periods with records.
 * @example rollup(aggregateMinutes(cols, dayStart, dayEnd), '1h') // 24 hourly aggregates
 */
export function rollup(src: Aggregates, tf: Timeframe): Aggregates {
  const size = TIMEFRAMES[tf], step = TIMEFRAMES[src.tf]
  if (size % step !== 0) throw new RangeError(`cannot roll ${src.tf} up to ${tf}`)
  const start = Math.floor(src.start / size) * size
  const len = src.length ? Math.floor((src.start + (src.length - 1) * step - start) / size) + 1 : 0
  const a = emptyAggregates(tf, start, len, src.dp, src.dq)
  const w = src.wide ? (a.wide = wideSums(len)) : undefined
  const { vHi, vLo, qHi, qLo, bvHi, bvLo, bqHi, bqLo } = a
  for (let i = 0; i < src.length; i++) {
    if (src.records[i] === 0) continue
    const k = Math.floor((src.start + i * step - start) / size)
    if (a.records[k] === 0) { a.open[k] = src.open[i]; a.high[k] = src.high[i]; a.low[k] = src.low[i]; a.first[k] = src.first[i] } else {
      if (src.high[i] > a.high[k]) a.high[k] = src.high[i]
      if (src.low[i] < a.low[k]) a.low[k] = src.low[i]
    }
    a.close[k] = src.close[i]; a.last[k] = src.last[i]; a.trades[k] += src.trades[i]; a.records[k] += src.records[i]
    if (w) {
      const sw = src.wide!
      w.v[k] += sw.v[i]; w.q[k] += sw.q[i]; w.bv[k] += sw.bv[i]; w.bq[k] += sw.bq[i]
      continue
    }
    vHi[k] += src.vHi[i]; vLo[k] += src.vLo[i]; if (vLo[k] >= LIMB) { vLo[k] -= LIMB; vHi[k]++ }
    qHi[k] += src.qHi[i]; qLo[k] += src.qLo[i]; if (qLo[k] >= LIMB) { qLo[k] -= LIMB; qHi[k]++ }
    bvHi[k] += src.bvHi[i]; bvLo[k] += src.bvLo[i]; if (bvLo[k] >= LIMB) { bvLo[k] -= LIMB; bvHi[k]++ }
    bqHi[k] += src.bqHi[i]; bqLo[k] += src.bqLo[i]; if (bqLo[k] >= LIMB) { bqLo[k] -= LIMB; bqHi[k]++ }
  }
  // sums of limbs below 2^52 that reach it may have passed 2^53 inexactly: made again from `src`, wide
  return w || fits(a) ? a : rollup(widen({ ...src }), tf)
}

/**
 * Minute aggregates rolled up to every timeframe, each from the one before it (5m from 1m, 15m
 * from 5m, ... 1d from 4h: every size divides the next, and the sums are exact, so this equals
 * rolling each up from the minutes, at a quarter of the work).
 */
export function rollups(minutes: Aggregates): Record<Timeframe, Aggregates> {
  const out = { '1m': minutes } as Record<Timeframe, Aggregates>
  for (let i = 1; i < ALL_TIMEFRAMES.length; i++) out[ALL_TIMEFRAMES[i]] = rollup(out[ALL_TIMEFRAMES[i - 1]], ALL_TIMEFRAMES[i])
  return out
}

/** The exact integer `hi * 2^52 + lo` as a BigInt. */
export const bigOf = (hi: number, lo: number) => BigInt(hi) * 2n ** 52n + BigInt(lo)

/** `[hi, lo]` limbs of a non-negative BigInt. */
export const limbsOf = (v: bigint): [number, number] => [Number(v >> 52n), Number(v & (2n ** 52n - 1n))]

/** `v / 10^digits` written out as a decimal: `decimalString(12345n, 2) === '123.45'`. */
export function decimalString(v: bigint, digits: number): string {
  if (digits === 0) return v.toString()
  const s = v.toString().padStart(digits + 1, '0')
  return `${s.slice(0, -digits)}.${s.slice(-digits)}`
}

/** The double nearest to the exact decimal `(hi * 2^52 + lo) / 10^digits`. */
export function exactNumber(hi: number, lo: number, digits: number): number {
  if (hi === 0) return lo / 10 ** digits // both exact, and IEEE division rounds correctly
  return Number(decimalString(bigOf(hi, lo), digits))
}

/** The double nearest to the exact decimal `v / 10^digits`. */
export const bigNumber = (v: bigint, digits: number) => Number(decimalString(v, digits))

/** Like `bigNumber`, rounded half up to `keep` decimals first. */
export function bigRounded(v: bigint, digits: number, keep = defaults.quoteDecimals): number {
  if (digits <= keep) return bigNumber(v, digits)
  const D = 10n ** BigInt(digits - keep)
  return bigNumber((v + D / 2n) / D, keep)
}

/** Like `exactNumber`, rounded half up to `keep` decimals first. */
export function roundedNumber(hi: number, lo: number, digits: number, keep = defaults.quoteDecimals): number {
  if (digits <= keep) return exactNumber(hi, lo, digits)
  const d = 10 ** (digits - keep)
  if (hi === 0) {
    let q = Math.floor(lo / d), r = lo - q * d
    if (r < 0) { q--; r += d } else if (r >= d) { q++; r -= d }
    if (2 * r >= d) q++
    return q / 10 ** keep
  }
  const D = BigInt(d), v = bigOf(hi, lo)
  return Number(decimalString((v + D / 2n) / D, keep))
}

export const ALL_TIMEFRAMES = Object.keys(TIMEFRAMES) as Timeframe[]
