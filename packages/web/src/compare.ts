/**
 * The compare overlay: another exchange's (or symbol's) candles of the same timeframe, kept in a
 * series of their own, whose closes the chart draws as a line over the candles, aligned on candle
 * open time, with the spread in the legend. A candle missing on either side is a gap in the line
 * and no spread: a close is never carried over or interpolated into a period it was not traded
 * in. `createOverlay` keeps the series: the serving window on each choice, older candles with the
 * main series', live candles from its WebSocket channel, polled ones while the page polls.
 */
import type { Candle, Timeframe } from '@ticklake/core/market'
import { candleChannel, type ServerMessage } from '@ticklake/core/serve/realtime'
import { Series, TF_SECONDS } from './series'
import { formatCompare, type CompareSpec } from './prefs'

export const defaults = {
  /** Candles asked of `/api/candles` at once: without an end, and at most over a range. */
  pageCandles: 1_000,
  maxCandles: 5_000,
}

/**
 * Writes into `out[i]`, for every candle time `t[i]` (seconds) from `from` on, the close of the
 * `other` candle opened at that same time, or null when `other` has none: O(changed + their span).
 */
export function alignCloses(t: number[], other: Series, out: (number | null)[], from = 0) {
  out.length = t.length
  const ot = other.cols.t, oc = other.cols.c
  let j = from < t.length ? other.indexOf(t[from] * 1000) : 0
  for (let i = from; i < t.length; i++) {
    while (j < ot.length && ot[j] < t[i]) j++
    out[i] = j < ot.length && ot[j] === t[i] ? oc[j] : null
  }
}

/** The spread of `close` over the compared `other`: `close - other`, and that in basis points of `other`. */
export const spreadOf = (close: number, other: number) => ({ abs: close - other, bps: ((close - other) / other) * 10_000 })

type GetJson = <T>(path: string) => Promise<T | undefined>

/** The overlay's data: one compared series, moved along with the page's choices. */
export function createOverlay(deps: { getJson: GetJson; onChange: () => void; onError: (text: string) => void }) {
  let spec: CompareSpec | undefined
  let tf: Timeframe = '1m'
  let series: Series | undefined
  /** Bumped on each choice: answers to an older one are dropped. */
  let epoch = 0

  const merge = (candles: Candle[] | undefined, e: number) => {
    if (e !== epoch || !series || !candles?.length) return
    if (series.merge(candles.map((c) => ({ ...c, final: !!c.final })))) deps.onChange()
  }
  /** Candles with open time in `[from, to)` from the lake (the first `maxCandles` of a wider range). */
  async function range(from: number, to: number | undefined, e = epoch) {
    if (!spec || from >= (to ?? Infinity)) return
    const limit = to === undefined ? defaults.pageCandles : Math.min(defaults.maxCandles, Math.ceil((to - from) / (TF_SECONDS[tf] * 1000)))
    try {
      const r = await deps.getJson<{ candles: Candle[] }>(`/api/candles?exchange=${spec.exchange}&symbol=${spec.symbol}&tf=${tf}&from=${from}${to === undefined ? '' : `&to=${to}`}&limit=${limit}`)
      merge(r?.candles, e)
    } catch (err) { if (e === epoch) deps.onError(`compare: ${(err as Error).message}`) }
  }

  return {
    spec: () => spec,
    series: () => series,
    label: () => (spec ? formatCompare(spec) : ''),
    /** The WebSocket channel of its candles, or undefined without a comparison. */
    channel: () => (spec ? candleChannel(spec.exchange, spec.symbol, tf) : undefined),
    /** Starts over for `next` at `nextTf` (undefined: no comparison), reading its serving window and the lake back to `sinceMs`. */
    async set(next: CompareSpec | undefined, nextTf: Timeframe, sinceMs?: number) {
      const e = ++epoch
      spec = next
      tf = nextTf
      series = next ? new Series(next.symbol, nextTf) : undefined
      deps.onChange()
      if (!next) return
      try {
        const w = await deps.getJson<{ candles: Candle[] }>(`/serving/${next.exchange}/${next.symbol}/${nextTf}.json`)
        merge(w?.candles, e)
      } catch (err) { if (e === epoch) deps.onError(`compare: ${(err as Error).message}`) }
      // the main series may reach further back than the serving window: the lake has the rest
      const first = series?.first?.open_time
      if (e === epoch && sinceMs !== undefined && (first === undefined || sinceMs < first)) await range(sinceMs, first ?? Date.now(), e)
    },
    /** Takes a message of its channel (a snapshot or a live candle); false for any other. */
    onMessage(m: ServerMessage): boolean {
      if (!series || !spec || (m.type !== 'snapshot' && m.type !== 'candle') || m.channel !== candleChannel(spec.exchange, spec.symbol, tf)) return false
      if (m.type === 'snapshot') { if (Array.isArray(m.candles)) merge(m.candles, epoch) }
      else { const how = series.upsert({ ...m.candle, final: m.final }); if (how !== 'kept' && how !== 'refused') deps.onChange() }
      return true
    },
    /** Older candles, as the main series loads them: from `from` up to its own first. */
    older: (from: number) => range(from, series?.first?.open_time ?? Date.now()),
    /** While the page polls: candles from its newest on (or from `sinceMs` when it has none). */
    poll: (sinceMs: number) => range(series?.last?.open_time ?? sinceMs, undefined),
  }
}

export type Overlay = ReturnType<typeof createOverlay>
