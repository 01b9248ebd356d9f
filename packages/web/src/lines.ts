/**
 * Indicator lines for the chart, from core's indicator math (`@ticklake/core/lake/features/indicators`)
 * over the page's candle series: SMA, EMA, Bollinger bands and the session VWAP on the price,
 * RSI and MACD for the lower pane. A live update recomputes only the newest candles' values, from
 * the candles they depend on (`warmup`), so its cost does not grow with the series.
 */
import { bollinger, ema, macd, rsi, sessionVwap, sma } from '@ticklake/core/lake/features/indicators'
import type { Series } from './series'
import type { Indicator } from './prefs'

/** One drawn indicator line: its values per candle (null while warming up). */
export interface Line { ind: Indicator; label: string; values: (number | null)[]; pane: boolean; dash?: number[] }

/** The lines an indicator adds, over the candles of `s` from `from` on (NaN while warming up). */
export function indicatorLines(ind: Indicator, s: Series, from = 0): { label: string; values: Float64Array; pane: boolean; dash?: number[] }[] {
  const close = Float64Array.from(s.cols.c.slice(from))
  switch (ind.kind) {
    case 'sma': return [{ label: `SMA ${ind.period}`, values: sma(close, ind.period), pane: false }]
    case 'ema': return [{ label: `EMA ${ind.period}`, values: ema(close, ind.period), pane: false }]
    case 'bb': {
      const b = bollinger(close, ind.period, 2)
      return [{ label: `BB ${ind.period} upper`, values: b.upper, pane: false, dash: [4, 3] }, { label: `BB ${ind.period}`, values: b.middle, pane: false }, { label: `BB ${ind.period} lower`, values: b.lower, pane: false, dash: [4, 3] }]
    }
    case 'vwap': return [{ label: 'VWAP', values: sessionVwap(Float64Array.from(s.cols.t.slice(from), (t) => t * 1000), Float64Array.from(s.cols.qv.slice(from)), Float64Array.from(s.cols.v.slice(from))), pane: false }]
    case 'rsi': return [{ label: `RSI ${ind.period}`, values: rsi(close, ind.period), pane: true }]
    case 'macd': {
      const m = macd(close, 12, 26, 9)
      return [{ label: 'MACD', values: m.line, pane: true }, { label: 'signal', values: m.signal, pane: true, dash: [4, 3] }]
    }
  }
}

/**
 * Candles before index `i` that an indicator's value at `i` depends on: its period, for the
 * exponential ones 30 periods (a seed that far back weighs under 1e-12 of the value), for the
 * session VWAP the day so far.
 */
function warmup(ind: Indicator, s: Series, i: number) {
  switch (ind.kind) {
    case 'sma': case 'bb': return ind.period
    case 'ema': case 'rsi': return 30 * ind.period + 1
    case 'macd': return 30 * (26 + 9)
    case 'vwap': return i - s.indexOf(Math.floor(s.cols.t[i] / 86_400) * 86_400_000)
  }
}

/** NaN as null, which uPlot takes as a gap. */
const gap = (v: number) => (Number.isNaN(v) ? null : v)

/** Every indicator line over the whole series. */
export const allLines = (inds: Indicator[], s: Series): Line[] => inds.flatMap((ind) => indicatorLines(ind, s).map((l) => ({ ...l, ind, values: Array.from(l.values, gap) })))

/** Recomputes the lines from candle `d` on only, from the candles they depend on: O(warm-up), not O(series). */
export function refreshLines(lines: Line[], inds: Indicator[], s: Series, d: number) {
  const n = s.length
  for (const ind of inds) {
    const from = Math.max(0, d - warmup(ind, s, d))
    const mine = lines.filter((l) => l.ind === ind)
    indicatorLines(ind, s, from).forEach((part, k) => { for (let j = d; j < n; j++) mine[k].values[j] = gap(part.values[j - from]) })
  }
}
