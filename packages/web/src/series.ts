/**
 * The page's candle series: candles of one symbol and timeframe in open-time order, kept both as
 * objects and as the columns uPlot draws (times in seconds), so a live update of the newest candle
 * costs O(1) and a merge of history (a snapshot, a serving window, older candles from
 * `/api/candles`) one pass. A final candle is never replaced by a partial one of the same open
 * time; candles of another symbol or timeframe are refused (counted in `refused`), never mixed in.
 */
import type { Candle, Timeframe } from '@ticklake/core/market'

export const defaults = {
  /** Candles kept at most; the oldest go first. */
  maxCandles: 200_000,
}

/** Seconds of one candle of each timeframe. */
export const TF_SECONDS: Record<Timeframe, number> = { '1m': 60, '5m': 300, '15m': 900, '1h': 3_600, '4h': 14_400, '1d': 86_400 }

export interface Columns { t: number[]; o: number[]; h: number[]; l: number[]; c: number[]; v: number[]; qv: number[] }

/** What `upsert` did: `append` and `last` are the cheap cases a live update takes. */
export type Upserted = 'append' | 'last' | 'insert' | 'replace' | 'kept' | 'refused'

export class Series {
  candles: Candle[] = []
  cols: Columns = { t: [], o: [], h: [], l: [], c: [], v: [], qv: [] }
  /** Candles refused for being of another symbol or timeframe, or malformed. */
  refused = 0
  /** The lowest index changed since `takeDirty` was last called (Infinity: none). */
  private dirty = 0
  constructor(readonly symbol: string, readonly tf: Timeframe, readonly max = defaults.maxCandles) {}

  get length() { return this.candles.length }
  /** The lowest index changed since the last call (Infinity when nothing changed): what derived values must recompute from. */
  takeDirty() { const d = this.dirty; this.dirty = Infinity; return d }
  get first() { return this.candles[0] as Candle | undefined }
  get last() { return this.candles[this.candles.length - 1] as Candle | undefined }

  private ok(c: Candle) {
    const good = c && c.symbol === this.symbol && c.tf === this.tf && Number.isFinite(c.open_time) && [c.open, c.high, c.low, c.close].every(Number.isFinite)
    if (!good) this.refused++
    return good
  }

  private set(i: number, c: Candle) {
    if (i < this.dirty) this.dirty = i
    const k = this.cols
    k.t[i] = c.open_time / 1000; k.o[i] = c.open; k.h[i] = c.high; k.l[i] = c.low; k.c[i] = c.close; k.v[i] = c.volume; k.qv[i] = c.quote_volume
  }

  /** Puts one candle in by open time. */
  upsert(c: Candle): Upserted {
    if (!this.ok(c)) return 'refused'
    const n = this.candles.length
    const last = this.candles[n - 1]
    if (!last || c.open_time > last.open_time) {
      this.candles.push(c); this.set(n, c)
      if (n + 1 > this.max) this.trim()
      return 'append'
    }
    if (c.open_time === last.open_time) {
      if (last.final && !c.final) return 'kept'
      this.candles[n - 1] = c; this.set(n - 1, c)
      return 'last'
    }
    const i = this.indexOf(c.open_time)
    if (i < n && this.candles[i].open_time === c.open_time) {
      if (this.candles[i].final && !c.final) return 'kept'
      this.candles[i] = c; this.set(i, c)
      return 'replace'
    }
    this.candles.splice(i, 0, c)
    this.rebuild()
    return 'insert'
  }

  /** Merges many candles (any order) in one pass; returns how many were new or changed. */
  merge(list: Candle[]): number {
    const good = list.filter((c) => this.ok(c))
    if (!good.length) return 0
    const byTime = new Map<number, Candle>()
    for (const c of this.candles) byTime.set(c.open_time, c)
    let changed = 0
    for (const c of good) {
      const old = byTime.get(c.open_time)
      if (old && old.final && !c.final) continue
      if (old && old.close === c.close && old.high === c.high && old.low === c.low && old.volume === c.volume && old.final === c.final) continue
      byTime.set(c.open_time, c)
      changed++
    }
    if (!changed) return 0
    this.candles = [...byTime.values()].sort((a, b) => a.open_time - b.open_time)
    if (this.candles.length > this.max) this.candles.splice(0, this.candles.length - this.max)
    this.rebuild()
    return changed
  }

  /** Index of the first candle opening at or after `openTime` (ms). */
  indexOf(openTime: number) {
    let lo = 0, hi = this.candles.length
    while (lo < hi) { const m = (lo + hi) >> 1; if (this.candles[m].open_time < openTime) lo = m + 1; else hi = m }
    return lo
  }

  private trim() { this.candles.splice(0, this.candles.length - this.max); this.rebuild() }

  private rebuild() {
    this.dirty = 0
    const n = this.candles.length
    this.cols = { t: new Array(n), o: new Array(n), h: new Array(n), l: new Array(n), c: new Array(n), v: new Array(n), qv: new Array(n) }
    for (let i = 0; i < n; i++) this.set(i, this.candles[i])
  }
}
