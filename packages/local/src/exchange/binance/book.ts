/**
 * The fake Binance's book of trades: per symbol, the aggTrades generated (history at start, then up
 * to each tick) or played from a capture, minus the `idGap` share that never existed, capped at
 * `maxTrades` and at `retainMs` behind the newest; and the queries REST answers from it (`klinesOf`,
 * `lowerBound`). Trades are held as columns (`columns.ts`: about 50 bytes a trade, prices and
 * quantities as exact units that print back to the generator's or the capture's strings) and made
 * into `AggTrade` objects only for the few a REST page or a stream frame carries.
 */
import { nativeSymbol } from '@ticklake/core/market'
import { dec8, generator, resumeStart, units8, type AggTrade, type ResumeAt } from '../generator'
import type { Faults } from '../faults'
import { Columns, liveView } from '../columns'

/** Replay mode: the exchange plays these trades (per native symbol) instead of generating. */
export interface Replay {
  trades: Map<string, AggTrade[]>
  /** Normalized symbols, one per native symbol of `trades`. */
  symbols: string[]
  /** Capture time per wall time (2 = twice as fast); `max` sends everything at once. The clock starts with the first stream connection. */
  speed: number | 'max'
}

/** A book's aggTrades as columns: ids, times, first and last trade ids, price and quantity, and the `m`/`M` flags (bits 1 and 2). */
export type AggColumns = Columns<'a' | 'T' | 'f' | 'l', 'flags', 'p' | 'q'>

/** Columns for aggTrades, their capacity growing up to `limit` rows. */
export const aggColumns = (limit = Infinity): AggColumns => new Columns(['a', 'T', 'f', 'l'], ['flags'], ['p', 'q'], limit)

/** Appends an aggTrade to the columns. */
export function pushAgg(c: AggColumns, t: AggTrade) {
  const i = c.add()
  c.num.a[i] = t.a; c.num.T[i] = t.T; c.num.f[i] = t.f; c.num.l[i] = t.l
  c.byte.flags[i] = (t.m ? 1 : 0) | (t.M ? 2 : 0)
  c.setDec('p', i, t.p)
  c.setDec('q', i, t.q)
}

/** Row `i` as the aggTrade it was pushed from (keys in Binance's order). */
export function aggAt(c: AggColumns, i: number): AggTrade {
  const flags = c.byte.flags[i]
  return { a: c.num.a[i], p: c.dec('p', i), q: c.dec('q', i), f: c.num.f[i], l: c.num.l[i], T: c.num.T[i], m: (flags & 1) > 0, M: (flags & 2) > 0 }
}

/**
 * One symbol's book: its stream name, its generator (or player), its aggTrades as columns (`tape`)
 * and `trades`, a live array view of them, oldest first (each element read makes an object).
 */
export interface Book { symbol: string; stream: string; gen: (until: number, out: AggTrade[]) => void; tape: AggColumns; trades: ReadonlyArray<AggTrade> }

export interface BooksOptions {
  symbols: string[]; seed: number; historyMs: number; ratePerSec: number; bursts: boolean; maxTrades: number
  /** Trades older than this behind a book's newest are dropped (in steps of a sixteenth of the book). */
  retainMs: number
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
  /** Generates a book's trades up to `until`, trims the oldest beyond the cap and the retention, returns the new ones. */
  function advance(b: Pick<Book, 'gen' | 'tape'>, until: number) {
    const generated: AggTrade[] = []
    b.gen(until, generated)
    const fresh = faults.idGap > 0 ? generated.filter(() => chance() >= faults.idGap) : generated
    for (const t of fresh) pushAgg(b.tape, t)
    b.tape.trim('T', o)
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
    const tape = aggColumns(o.maxTrades)
    const held = { symbol: s, stream: `${nativeSymbol(s).toLowerCase()}@aggTrade`, tape, trades: liveView((): number => tape.length, (i) => aggAt(tape, i)) }
    if (replay) return [nativeSymbol(s), { ...held, gen: player(nativeSymbol(s)) }]
    const from = resumeStart(o.resume?.[s], o.start, o.historyMs)
    const book = { ...held, gen: generator(s, o.seed, from, o.rates?.[s] ?? o.ratePerSec, o.bursts, o.resume?.[s]) }
    for (let t = from; t < o.start; t += 3_600_000) advance(book, Math.min(t + 3_600_000, o.start))
    return [nativeSymbol(s), book]
  }))
  return {
    books, advance,
    /** Starts the replay clock (at the first stream connection); later calls change nothing. */
    startReplay(at: number) { replayStart ||= at },
    /** In replay mode: true once every captured trade has been published. */
    replayDone: () => !!replay && [...books.entries()].every(([n, b]) => b.tape.length === (replay.trades.get(n)?.length ?? 0)),
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
 * exactly (decimal) from a book's columns. Intervals without trades repeat the previous close with
 * zero volume; none are returned before the first trade.
 */
export function klinesOf(c: AggColumns, interval: number, startTime: number, endTime: number, limit: number) {
  const rows: (number | string)[][] = []
  if (!c.length) return rows
  const { T, f, l } = c.num
  const p8 = (i: number) => c.dec8('p', i, units8)
  let i = 0
  let prev: bigint | undefined
  for (let open = Math.max(Math.ceil(startTime / interval), Math.floor(T[0] / interval)) * interval; open <= endTime && rows.length < limit; open += interval) {
    if (i === 0 || T[i - 1] >= open) { i = c.lowerBound('T', open); prev = i > 0 ? p8(i - 1) : undefined }
    let o = prev, h = prev, lo = prev, v = 0n, qv = 0n, n = 0, tb = 0n, tq = 0n
    for (; i < c.length && T[i] < open + interval; i++) {
      const p = p8(i), q = c.dec8('q', i, units8), pq = (p * q) / 100_000_000n
      if (!n) { o = h = lo = p }
      if (p > h!) h = p
      if (p < lo!) lo = p
      v += q; qv += pq; n += l[i] - f[i] + 1
      if (!(c.byte.flags[i] & 1)) { tb += q; tq += pq }
      prev = p
    }
    if (o === undefined) continue
    rows.push([open, dec8(o), dec8(h!), dec8(lo!), dec8(prev!), dec8(v), open + interval - 1, dec8(qv), n, dec8(tb), dec8(tq), '0'])
  }
  return rows
}
