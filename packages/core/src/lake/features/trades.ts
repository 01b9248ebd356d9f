/**
 * Per-trade features, columnar: one pass per rolling quantity over typed arrays, O(n) in the
 * trades whatever the window (running sums, a sliding Welford variance, monotonic deques for
 * min/max). Running sums drift in floating point, so every `recomputeEvery` rows each running
 * quantity is recomputed exactly from its window; between recomputes the drift stays below 1e-12
 * relative. The series given holds the history before the rows to compute (their lookback) and
 * the trades after them (their targets).
 */
import { FEATURE_COLUMNS, HORIZONS, LOOKBACK, MOMENTUM, WINDOWS } from './schema'
import type { Table } from './table'

export const defaults = { recomputeEvery: 4096 }

/** Trades in trade-id order as columns. `ts` in epoch microseconds; `buy` is 1 for a taker buy. */
export interface TradeSeries { length: number; tradeId: Float64Array; ts: Float64Array; price: Float64Array; qty: Float64Array; buy: Uint8Array }
/** Best bid/ask quotes sorted by `ts` (epoch microseconds). */
export interface QuoteSeries { length: number; ts: Float64Array; bid: Float64Array; ask: Float64Array; bidQty: Float64Array; askQty: Float64Array }

/** Running sum of `x` over the `w` values ending at each i in [from, to), into out[i - from]. */
export function rollingSum(x: Float64Array, w: number, from: number, to: number, out: Float64Array, every = defaults.recomputeEvery) {
  let s = 0
  for (let i = from; i < to; i++) {
    if ((i - from) % every === 0) { s = 0; for (let j = i - w + 1; j <= i; j++) s += x[j] }
    else s += x[i] - x[i - w]
    out[i - from] = s
  }
}

/** Sample standard deviation (n - 1) of the `w` values of `x` ending at each i: sliding Welford. */
export function rollingStd(x: Float64Array, w: number, from: number, to: number, out: Float64Array, every = defaults.recomputeEvery) {
  let mean = 0
  let m2 = 0
  for (let i = from; i < to; i++) {
    if ((i - from) % every === 0) {
      mean = 0
      for (let j = i - w + 1; j <= i; j++) mean += x[j]
      mean /= w
      m2 = 0
      for (let j = i - w + 1; j <= i; j++) m2 += (x[j] - mean) * (x[j] - mean)
    } else {
      const xn = x[i], xo = x[i - w], old = mean
      mean += (xn - xo) / w
      m2 += (xn - xo) * (xn - mean + xo - old)
      if (m2 < 0) m2 = 0
    }
    out[i - from] = Math.sqrt(m2 / (w - 1))
  }
}

/** max - min of the `w` values of `x` ending at each i, with two monotonic deques. */
export function rollingRange(x: Float64Array, w: number, from: number, to: number, out: Float64Array) {
  const hi = new Int32Array(to - from + w), lo = new Int32Array(to - from + w)
  let hh = 0, ht = 0, lh = 0, lt = 0
  for (let i = from - w + 1; i < to; i++) {
    while (ht > hh && x[hi[ht - 1]] <= x[i]) ht--
    hi[ht++] = i
    while (lt > lh && x[lo[lt - 1]] >= x[i]) lt--
    lo[lt++] = i
    if (hi[hh] <= i - w) hh++
    if (lo[lh] <= i - w) lh++
    if (i >= from) out[i - from] = x[hi[hh]] - x[lo[lh]]
  }
}

/** Index of the latest quote with ts <= t, or -1 (quotes sorted by ts). */
function asOf(q: QuoteSeries, t: number, hint: number) {
  let k = hint
  if (k >= 0 && q.ts[k] > t) k = -1
  if (k < 0) { // binary search from scratch
    let a = 0, b = q.length - 1
    while (a <= b) { const m = (a + b) >> 1; if (q.ts[m] <= t) { k = m; a = m + 1 } else b = m - 1 }
    return k
  }
  while (k + 1 < q.length && q.ts[k + 1] <= t) k++
  return k
}

export interface FeatureOptions { exchange: string; symbol: string; quotes?: QuoteSeries }

/**
 * Feature rows (FEATURE_COLUMNS) for the trades at [from, to) of `s` that have LOOKBACK trades
 * before them; trades after `to` give the targets (null where the series ends too soon).
 * @example const { rows, table } = tradeFeatures(series, 500, series.length, { exchange: 'binance', symbol: 'BTC-USDT' })
 */
export function tradeFeatures(s: TradeSeries, from: number, to: number, o: FeatureOptions): { rows: number; table: Table } {
  const start = Math.max(from, LOOKBACK)
  const rows = Math.max(0, to - start)
  const table: Table = {}
  const numeric = FEATURE_COLUMNS.filter((c) => c.type !== 'STRING' && c.type !== 'INT32')
  const block = new Float64Array(rows * numeric.length) // one allocation for the table, not ninety
  numeric.forEach((c, j) => { table[c.name] = block.subarray(j * rows, (j + 1) * rows) })
  for (const c of FEATURE_COLUMNS) if (c.type === 'INT32') table[c.name] = new Int32Array(rows)
  table.exchange = new Array(rows).fill(o.exchange)
  table.symbol = new Array(rows).fill(o.symbol)
  if (rows === 0) return { rows, table }
  const n = s.length, p = s.price, q = s.qty
  const col = (name: string) => table[name] as Float64Array
  const int = (name: string) => table[name] as Int32Array

  // Per-trade inputs of the rolling sums.
  // Log returns are differences of log prices: one log per trade, not one per return column.
  const pq = new Float64Array(n), bq = new Float64Array(n), sq = new Float64Array(n), bpq = new Float64Array(n), bc = new Float64Array(n), r = new Float64Array(n), lp = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    pq[i] = p[i] * q[i]
    if (s.buy[i]) { bq[i] = q[i]; bpq[i] = pq[i]; bc[i] = 1 } else sq[i] = q[i]
    lp[i] = Math.log(p[i])
    r[i] = i > 0 ? lp[i] - lp[i - 1] : 0
  }
  col('trade_id').set(s.tradeId.subarray(start, to)); col('ts').set(s.ts.subarray(start, to)); col('price').set(p.subarray(start, to)); col('qty').set(q.subarray(start, to)); col('quote_qty').set(pq.subarray(start, to))
  const side = int('side_sign'), gap = col('gap_ms')
  for (let i = start; i < to; i++) { side[i - start] = s.buy[i] ? 1 : -1; gap[i - start] = (s.ts[i] - s.ts[i - 1]) / 1000 }
  for (const m of MOMENTUM) { const out = col(`return_${m}`); for (let i = start; i < to; i++) out[i - start] = lp[i] - lp[i - m] }

  const sumP = new Float64Array(rows), sumPQ = new Float64Array(rows), sumQ = new Float64Array(rows), sumB = new Float64Array(rows), sumS = new Float64Array(rows), sumBPQ = new Float64Array(rows), sumBC = new Float64Array(rows)
  for (const w of WINDOWS) {
    rollingSum(p, w, start, to, sumP); rollingSum(pq, w, start, to, sumPQ); rollingSum(q, w, start, to, sumQ)
    rollingSum(bq, w, start, to, sumB); rollingSum(sq, w, start, to, sumS); rollingSum(bpq, w, start, to, sumBPQ); rollingSum(bc, w, start, to, sumBC)
    rollingStd(r, w, start, to, col(`volatility_${w}`))
    const range = col(`range_${w}`)
    rollingRange(p, w, start, to, range)
    const mean = col(`mean_price_${w}`), vsMean = col(`price_vs_mean_${w}`), vwap = col(`vwap_${w}`), vol = col(`volume_${w}`), qvol = col(`quote_volume_${w}`)
    const buyV = col(`buy_volume_${w}`), sellV = col(`sell_volume_${w}`), share = col(`buy_share_${w}`), imb = col(`imbalance_${w}`), press = col(`pressure_${w}`), cnt = col(`buy_count_share_${w}`), dur = col(`duration_s_${w}`)
    for (let k = 0; k < rows; k++) {
      const i = k + start
      const m = sumP[k] / w, v = sumQ[k]
      mean[k] = m
      vsMean[k] = p[i] / m - 1
      vwap[k] = v > 0 ? sumPQ[k] / v : m
      range[k] /= m
      vol[k] = v; qvol[k] = sumPQ[k]; buyV[k] = sumB[k]; sellV[k] = sumS[k]
      share[k] = v > 0 ? sumB[k] / v : 0.5
      imb[k] = v > 0 ? (sumB[k] - sumS[k]) / v : 0
      press[k] = sumPQ[k] > 0 ? (2 * sumBPQ[k] - sumPQ[k]) / sumPQ[k] : 0
      cnt[k] = sumBC[k] / w
      dur[k] = (s.ts[i] - s.ts[i - w + 1]) / 1e6
    }
  }

  quoteFeatures(s, start, to, table, o.quotes)
  timeFeatures(s.ts, start, to, table)
  for (const h of HORIZONS) { const out = col(`target_return_${h}`); for (let i = start; i < to; i++) out[i - start] = i + h < n ? lp[i + h] - lp[i] : NaN }
  return { rows, table }
}

/** Spread metrics from the latest quote at or before each trade (as-of join on ts). */
function quoteFeatures(s: TradeSeries, start: number, to: number, table: Table, quotes?: QuoteSeries) {
  const names = ['bid', 'ask', 'bid_qty', 'ask_qty', 'mid', 'spread', 'spread_bps', 'microprice', 'microprice_vs_mid_bps', 'price_vs_mid_bps', 'book_imbalance', 'quote_age_ms']
  const all = names.map((n) => table[n] as Float64Array)
  const [bid, ask, bidQty, askQty, mid, spread, spreadBps, micro, microBps, pxBps, imb, age] = all
  if (!quotes?.length) { for (const a of all) a.fill(NaN); return }
  let k = -1
  for (let i = start; i < to; i++) {
    const j = i - start
    k = asOf(quotes, s.ts[i], k)
    if (k < 0) { for (const a of all) a[j] = NaN; continue }
    const b = quotes!.bid[k], a = quotes!.ask[k], bq = quotes!.bidQty[k], aq = quotes!.askQty[k]
    const m = (b + a) / 2, depth = bq + aq
    const mp = depth > 0 ? (b * aq + a * bq) / depth : m
    bid[j] = b; ask[j] = a; bidQty[j] = bq; askQty[j] = aq; mid[j] = m
    spread[j] = a - b; spreadBps[j] = ((a - b) / m) * 1e4
    micro[j] = mp; microBps[j] = ((mp - m) / m) * 1e4
    pxBps[j] = ((s.price[i] - m) / m) * 1e4
    imb[j] = depth > 0 ? (bq - aq) / depth : 0
    age[j] = (s.ts[i] - quotes!.ts[k]) / 1000
  }
}

const DAY = 86_400_000
const DAY_US = DAY * 1000

/** Calendar features in UTC, by arithmetic on epoch time (1970-01-01 was a Thursday). */
function timeFeatures(ts: Float64Array, start: number, to: number, table: Table) {
  const hour = table.hour_of_day as Int32Array, minute = table.minute_of_hour as Int32Array, weekday = table.day_of_week as Int32Array, weekend = table.weekend as Int32Array
  const sin = table.hour_sin as Float64Array, cos = table.hour_cos as Float64Array
  for (let i = start; i < to; i++) {
    const j = i - start
    const day = Math.floor(ts[i] / DAY_US), inDay = (ts[i] - day * DAY_US) / 1000 // exact in µs, then ms
    hour[j] = Math.floor(inDay / 3_600_000)
    minute[j] = Math.floor((inDay % 3_600_000) / 60_000)
    weekday[j] = ((((day + 3) % 7) + 7) % 7) + 1
    weekend[j] = weekday[j] >= 6 ? 1 : 0
    sin[j] = Math.sin((2 * Math.PI * inDay) / DAY)
    cos[j] = Math.cos((2 * Math.PI * inDay) / DAY)
  }
}
