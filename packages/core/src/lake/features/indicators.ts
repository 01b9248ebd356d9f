/**
 * Technical indicators over 1m candles, as typed arrays with NaN where an indicator is still warming
 * up. Each follows the conventions of the `technicalindicators` package (and its order of
 * floating-point operations, so results agree to the last bits): EMA seeded with the SMA of its
 * first `period` values, RSI with Wilder's smoothing seeded with plain means, MACD from two EMAs
 * with an EMA signal, Bollinger bands with the population standard deviation, ATR as a Wilder
 * average of true ranges seeded with their SMA. Differences, tested: RSI is not rounded to 2
 * decimals, and the session VWAPs restart at 00:00 UTC.
 */
import { CANDLE_FEATURE_COLUMNS, INDICATORS } from './schema'
import type { Table } from './table'

const nan = (n: number) => new Float64Array(n).fill(NaN)
const firstValid = (x: Float64Array) => { let i = 0; while (i < x.length && Number.isNaN(x[i])) i++; return i }

/** Simple moving average of `period` values (NaN before the first full window). */
export function sma(x: Float64Array, period: number): Float64Array {
  const out = nan(x.length)
  const f = firstValid(x)
  let sum = 0
  for (let i = f; i < x.length; i++) {
    if (i - f < period - 1) { sum += x[i]; continue }
    sum = sum - (i - f >= period ? x[i - period] : 0) + x[i]
    out[i] = sum / period
  }
  return out
}

/** Exponential moving average, alpha = `alpha` (default 2/(period+1)), seeded with the SMA of the first `period` values. */
export function ema(x: Float64Array, period: number, alpha = 2 / (period + 1)): Float64Array {
  const out = nan(x.length)
  const seed = sma(x, period)
  const f = firstValid(x) + period - 1
  if (f >= x.length) return out
  let prev = (out[f] = seed[f])
  for (let i = f + 1; i < x.length; i++) out[i] = prev = (x[i] - prev) * alpha + prev
  return out
}

/** Wilder averages of gains and losses over `period` changes (first: their plain means). */
export function wilderGainLoss(x: Float64Array, period: number) {
  const gain = nan(x.length), loss = nan(x.length)
  let gSum = 0, lSum = 0, g = NaN, l = NaN
  for (let i = 1; i < x.length; i++) {
    const d = x[i] - x[i - 1]
    const up = d > 0 ? d : 0, down = -d > 0 ? -d : 0
    gSum += up; lSum += down
    if (i < period) continue
    if (i === period) { g = gSum / period; l = lSum / period }
    else { g = (g * (period - 1) + up) / period; l = (l * (period - 1) + down) / period }
    gain[i] = g; loss[i] = l
  }
  return { gain, loss }
}

/** RSI with Wilder's smoothing: 100 when the average loss is 0, 0 when the average gain is 0. */
export function rsi(x: Float64Array, period: number): Float64Array {
  const { gain, loss } = wilderGainLoss(x, period)
  const out = nan(x.length)
  for (let i = period; i < x.length; i++) out[i] = loss[i] === 0 ? 100 : gain[i] === 0 ? 0 : 100 - 100 / (1 + gain[i] / loss[i])
  return out
}

/** MACD line (fast EMA - slow EMA, from the slow EMA's first value), its EMA signal and histogram. */
export function macd(x: Float64Array, fast: number, slow: number, signal: number) {
  const f = ema(x, fast), s = ema(x, slow)
  const line = nan(x.length)
  for (let i = 0; i < x.length; i++) if (!Number.isNaN(s[i])) line[i] = f[i] - s[i]
  const sig = ema(line, signal)
  const hist = nan(x.length)
  for (let i = 0; i < x.length; i++) if (!Number.isNaN(sig[i])) hist[i] = line[i] - sig[i]
  return { line, signal: sig, hist }
}

/** Bollinger bands: SMA ± k population standard deviations, and %b. */
export function bollinger(x: Float64Array, period: number, k: number) {
  const middle = sma(x, period), upper = nan(x.length), lower = nan(x.length), pb = nan(x.length)
  for (let i = period - 1; i < x.length; i++) {
    const m = middle[i]
    if (Number.isNaN(m)) continue
    let ss = 0
    for (let j = i - period + 1; j <= i; j++) ss += Math.pow(x[j] - m, 2)
    const sd = Math.sqrt(ss / period)
    upper[i] = m + sd * k
    lower[i] = m - sd * k
    if (upper[i] !== lower[i]) pb[i] = (x[i] - lower[i]) / (upper[i] - lower[i])
  }
  return { middle, upper, lower, pb }
}

/** Average true range: Wilder average (alpha 1/period) of true ranges, seeded with their SMA. */
export function atr(high: Float64Array, low: Float64Array, close: Float64Array, period: number): Float64Array {
  const tr = nan(close.length)
  for (let i = 1; i < close.length; i++) tr[i] = Math.max(high[i] - low[i], Math.abs(high[i] - close[i - 1]), Math.abs(low[i] - close[i - 1]))
  return ema(tr, period, 1 / period)
}

/**
 * Session VWAP restarting at each UTC day: sum(price * volume) / sum(volume), NaN until the day
 * has volume. `numerator[i]` is the candle's price * volume (its quote volume, or typical price * volume).
 */
export function sessionVwap(openTime: Float64Array, numerator: Float64Array, volume: Float64Array): Float64Array {
  const out = nan(openTime.length)
  let day = NaN, pv = 0, v = 0
  for (let i = 0; i < openTime.length; i++) {
    const d = Math.floor(openTime[i] / 86_400_000)
    if (d !== day) { day = d; pv = 0; v = 0 }
    pv += numerator[i]; v += volume[i]
    if (v > 0) out[i] = pv / v
  }
  return out
}

/** 1m candles as columns, in open-time order. Times in epoch milliseconds. */
export interface CandleSeries { length: number; openTime: Float64Array; high: Float64Array; low: Float64Array; close: Float64Array; volume: Float64Array; quoteVolume: Float64Array; final: Float64Array }

/**
 * Indicator rows (CANDLE_FEATURE_COLUMNS) for the candles at [from, length) of `c`; the candles
 * before `from` are the warm-up.
 */
export function candleIndicators(c: CandleSeries, from: number, o: { exchange: string; symbol: string }): { rows: number; table: Table } {
  const rows = Math.max(0, c.length - from)
  const I = INDICATORS
  const typical = new Float64Array(c.length)
  for (let i = 0; i < c.length; i++) typical[i] = c.volume[i] * ((c.high[i] + c.low[i] + c.close[i]) / 3)
  const m = macd(c.close, I.macd.fast, I.macd.slow, I.macd.signal)
  const bb = bollinger(c.close, I.bollinger.period, I.bollinger.stdDev)
  const full: Record<string, Float64Array> = {
    open_time: c.openTime, close: c.close, volume: c.volume,
    ...Object.fromEntries(I.sma.map((p) => [`sma_${p}`, sma(c.close, p)])),
    ...Object.fromEntries(I.ema.map((p) => [`ema_${p}`, ema(c.close, p)])),
    rsi_14: rsi(c.close, I.rsi), macd: m.line, macd_signal: m.signal, macd_hist: m.hist,
    bb_middle: bb.middle, bb_upper: bb.upper, bb_lower: bb.lower, bb_pb: bb.pb,
    atr_14: atr(c.high, c.low, c.close, I.atr),
    vwap_day: sessionVwap(c.openTime, c.quoteVolume, c.volume),
    vwap_day_typical: sessionVwap(c.openTime, typical, c.volume),
  }
  const table: Table = { exchange: new Array(rows).fill(o.exchange), symbol: new Array(rows).fill(o.symbol), final: Uint8Array.from(c.final.subarray(from), (v) => (v ? 1 : 0)) }
  for (const col of CANDLE_FEATURE_COLUMNS) if (!table[col.name]) table[col.name] = full[col.name].slice(from)
  return { rows, table }
}
