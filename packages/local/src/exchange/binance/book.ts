/**
 * The fake Binance's book of trades: per symbol, the aggTrades generated (history at start, then up
 * to each tick) or played from a capture, minus the `idGap` share that never existed, capped at
 * `maxTrades`; and the queries REST answers from it (`klinesOf`, `lowerBound`).
 */
import { nativeSymbol } from '@ticklake/core/market'
import { dec8, generator, resumeStart, units8, type AggTrade, type ResumeAt } from '../generator'
import type { Faults } from '../faults'

/** Replay mode: the exchange plays these trades (per native symbol) instead of generating. */
export interface Replay {
  trades: Map<string, AggTrade[]>
  /** Normalized symbols, one per native symbol of `trades`. */
  symbols: string[]
  /** Capture time per wall time (2 = twice as fast); `max` sends everything at once. The clock starts with the first stream connection. */
  speed: number | 'max'
}

/** One symbol's book: its stream name, its generator (or player) and every aggTrade it has, oldest first. */
export interface Book { symbol: string; stream: string; gen: (until: number, out: AggTrade[]) => void; trades: AggTrade[] }

export interface BooksOptions {
  symbols: string[]; seed: number; historyMs: number; ratePerSec: number; bursts: boolean; maxTrades: number
  /** A symbol's own mean rate, in place of `ratePerSec`. */
  rates?: Record<string, number>
  /** When the exchange started (ms): history is generated up to it. */
  start: number
  resume?: Record<string, ResumeAt | undefined>
  replay?: Replay
  /** The faults in force (`idGap` applies here) and the fake's seeded draw. */
  faults: Faults
  chance: () => number
}

/**
 * The books of every symbol, their history generated. `advance` generates a book's trades up to a
 * time and returns the new ones; a replay's clock starts with `startReplay`.
 */
export function binanceBooks(o: BooksOptions) {
  const { faults, chance, replay } = o
  /** Generates a book's trades up to `until`, trims the oldest beyond the cap (to 15/16 of it), returns the new ones. */
  function advance(b: Pick<Book, 'gen' | 'trades'>, until: number) {
    const before = b.trades.length
    b.gen(until, b.trades)
    if (faults.idGap > 0) {
      const kept = b.trades.slice(before).filter(() => chance() >= faults.idGap)
      b.trades.length = before
      for (const t of kept) b.trades.push(t)
    }
    const fresh = b.trades.slice(before)
    if (b.trades.length > o.maxTrades) b.trades.splice(0, b.trades.length - o.maxTrades + Math.floor(o.maxTrades / 16))
    return fresh
  }
  let replayStart = 0
  /** A generator that plays captured trades on the replay clock. */
  function player(native: string) {
    const list = replay!.trades.get(native) ?? []
    const t0 = list[0]?.T ?? 0
    let i = 0
    return (until: number, out: AggTrade[]) => {
      if (!replayStart) return
      const capTime = replay!.speed === 'max' ? Infinity : t0 + (until - replayStart) * replay!.speed
      while (i < list.length && list[i].T <= capTime) out.push(list[i++])
    }
  }
  const books = new Map<string, Book>(o.symbols.map((s) => {
    if (replay) return [nativeSymbol(s), { symbol: s, stream: `${nativeSymbol(s).toLowerCase()}@aggTrade`, gen: player(nativeSymbol(s)), trades: [] as AggTrade[] }]
    const from = resumeStart(o.resume?.[s], o.start, o.historyMs)
    const gen = generator(s, o.seed, from, o.rates?.[s] ?? o.ratePerSec, o.bursts, o.resume?.[s])
    const book = { symbol: s, stream: `${nativeSymbol(s).toLowerCase()}@aggTrade`, gen, trades: [] as AggTrade[] }
    for (let t = from; t < o.start; t += 3_600_000) advance(book, Math.min(t + 3_600_000, o.start))
    return [nativeSymbol(s), book]
  }))
  return {
    books, advance,
    /** Starts the replay clock (at the first stream connection); later calls change nothing. */
    startReplay(at: number) { replayStart ||= at },
    /** In replay mode: true once every captured trade has been published. */
    replayDone: () => !!replay && [...books.entries()].every(([n, b]) => b.trades.length === (replay.trades.get(n)?.length ?? 0)),
  }
}

/** First index in `trades` (sorted by `key`) whose key is >= v. */
export function lowerBound(trades: readonly AggTrade[], v: number, key: (t: AggTrade) => number) {
  let lo = 0
  let hi = trades.length
  while (lo < hi) { const mid = (lo + hi) >> 1; if (key(trades[mid]) < v) lo = mid + 1; else hi = mid }
  return lo
}

/**
 * Kline rows as Binance returns them for open times in [startTime, endTime], at most `limit`, computed
 * exactly (decimal) from the trades. Intervals without trades repeat the previous close with zero
 * volume; none are returned before the first trade.
 */
export function klinesOf(trades: readonly AggTrade[], interval: number, startTime: number, endTime: number, limit: number) {
  const rows: (number | string)[][] = []
  if (!trades.length) return rows
  let i = 0
  let prev: bigint | undefined
  for (let open = Math.max(Math.ceil(startTime / interval), Math.floor(trades[0].T / interval)) * interval; open <= endTime && rows.length < limit; open += interval) {
    if (i === 0 || trades[i - 1].T >= open) { i = lowerBound(trades, open, (t) => t.T); prev = i > 0 ? units8(trades[i - 1].p) : undefined }
    let o = prev, h = prev, l = prev, v = 0n, qv = 0n, n = 0, tb = 0n, tq = 0n
    for (; i < trades.length && trades[i].T < open + interval; i++) {
      const t = trades[i], p = units8(t.p), q = units8(t.q), pq = (p * q) / 100_000_000n
      if (!n) { o = h = l = p }
      if (p > h!) h = p
      if (p < l!) l = p
      v += q; qv += pq; n += t.l - t.f + 1
      if (!t.m) { tb += q; tq += pq }
      prev = p
    }
    if (o === undefined) continue
    rows.push([open, dec8(o), dec8(h!), dec8(l!), dec8(prev!), dec8(v), open + interval - 1, dec8(qv), n, dec8(tb), dec8(tq), '0'])
  }
  return rows
}

