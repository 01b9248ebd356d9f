/**
 * Which record of a trade the lake keeps: the one rule the candle job, the silver job and bronze
 * compaction deduplicate by, on tables of trade columns. Deduplication works on individual trade
 * ids (`first_trade_id..last_trade_id`): a record whose range is already covered is a duplicate,
 * the wider record wins where ranges overlap, and of records covering the same ids the one
 * `keptFirst` orders first is kept, by value, so every job keeps the same one whatever order the
 * files came in. Imported by `lake/candles` and `lake/silver`, importing nothing of either.
 */
import type { Trade } from '../../market/index'

/** The columns of a trade table the rule reads (`TradeColumns`, `TradeTable` and silver's tables have them). */
export interface RecordValues {
  length: number
  first_trade_id: Float64Array; last_trade_id: Float64Array; trade_id: Float64Array
  ts: Float64Array; price: Float64Array; qty: Float64Array
  /** 1 where the taker bought. */
  buy: Uint8Array
}

/**
 * Which of two records covering the same trade ids is kept (negative: `i`): the earliest trade
 * time, then the lowest price, the lowest quantity, a taker sell before a buy. It depends on the
 * values alone, so the candle job, a silver run that merges files one by one and one that reads
 * them all keep the same record, whatever order the files came in.
 */
export const keptFirst = (t: Pick<RecordValues, 'ts' | 'price' | 'qty' | 'buy'>, i: number, j: number) =>
  t.ts[i] - t.ts[j] || t.price[i] - t.price[j] || t.qty[i] - t.qty[j] || t.buy[i] - t.buy[j]

/**
 * Row `i` of `t` comes before row `j` (negative) in the order deduplication reads records: first
 * trade id, widest range first, then, of records covering the same ids, `keptFirst`'s order of
 * their values, record id, row order.
 */
export const recordOrder = (t: RecordValues, i: number, j: number) =>
  t.first_trade_id[i] - t.first_trade_id[j] || t.last_trade_id[j] - t.last_trade_id[i] || keptFirst(t, i, j) || t.trade_id[i] - t.trade_id[j] || i - j

/**
 * The rows of `t` deduplication keeps, in `recordOrder`, as indexes; undefined when that is every
 * row as it stands (silver and Firehose's files are mostly in order already, so this is one pass).
 * `conflicts`, when given, receives `[kept, dropped]` rows of records that cover the same trade
 * ids with other values (time, price, quantity or side).
 */
export function dedupeOrder(t: RecordValues, conflicts?: [kept: number, dropped: number][]): Uint32Array | undefined {
  const n = t.length
  // the usual case in one comparison a row: each record starts after the one before it ends
  const { first_trade_id: first, last_trade_id: last } = t
  let disjoint = true
  for (let i = 1; i < n && disjoint; i++) disjoint = first[i] > last[i - 1] && last[i] >= first[i]
  if (disjoint && (n === 0 || last[0] >= first[0])) return undefined
  let sorted = true
  for (let i = 1; i < n && sorted; i++) sorted = recordOrder(t, i - 1, i) < 0
  let order: Uint32Array | undefined
  if (!sorted) order = new Uint32Array(n).map((_, i) => i).sort((i, j) => recordOrder(t, i, j))
  const kept = new Uint32Array(n)
  let k = 0, covered = -Infinity
  for (let i = 0; i < n; i++) {
    const r = order ? order[i] : i
    if (t.last_trade_id[r] <= covered) {
      const p = kept[k - 1]
      if (conflicts && k > 0 && t.first_trade_id[r] === t.first_trade_id[p] && t.last_trade_id[r] === t.last_trade_id[p] && keptFirst(t, p, r) !== 0) conflicts.push([p, r])
      continue
    }
    kept[k++] = r
    covered = t.last_trade_id[r]
  }
  return !order && k === n ? undefined : kept.subarray(0, k)
}

/**
 * The rows `rows` of a table of columns, in that order, as a new table: every typed-array field
 * picked, other fields (string lists) kept; `t` itself without `rows`.
 * @example pickRows(columns, Uint32Array.of(2, 0)) // rows 2 and 0
 */
export function pickRows<T extends { length: number }>(t: T, rows?: Uint32Array): T {
  if (!rows) return t
  const n = rows.length
  const out: Record<string, unknown> = { ...t, length: n }
  for (const [k, x] of Object.entries(t) as [string, unknown][]) {
    if (!(x instanceof Float64Array || x instanceof Uint8Array)) continue
    const y = x instanceof Float64Array ? new Float64Array(n) : new Uint8Array(n)
    for (let i = 0; i < n; i++) y[i] = x[rows[i]]
    out[k] = y
  }
  return out as T
}

/**
 * Trade rows with every individual trade id once, ordered by first trade id, by the same rule
 * (`recordOrder`, then each record whose ids are covered dropped): the plain version tests hold
 * `dedupeOrder`'s one-pass shortcuts to.
 * @example dedupe([a, a, b]) // [a, b]
 */
export function dedupe(trades: Trade[]): Trade[] {
  const n = trades.length, col = (f: (t: Trade) => number) => Float64Array.from(trades, f)
  const t: RecordValues = {
    length: n, first_trade_id: col((r) => r.first_trade_id), last_trade_id: col((r) => r.last_trade_id), trade_id: col((r) => r.trade_id),
    ts: col((r) => r.ts), price: col((r) => r.price), qty: col((r) => r.qty), buy: Uint8Array.from(trades, (r) => (r.side === 'buy' ? 1 : 0)),
  }
  const out: Trade[] = []
  let covered = -Infinity
  for (const i of Array.from(trades.keys()).sort((i, j) => recordOrder(t, i, j))) {
    if (trades[i].last_trade_id <= covered) continue
    out.push(trades[i])
    covered = trades[i].last_trade_id
  }
  return out
}
