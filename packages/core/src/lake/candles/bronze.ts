/**
 * The hour job's read of bronze: an hour's bronze files decoded straight into the columns candles
 * need, every individual trade once in trade-id order, rows and objects the kernel cannot take sent
 * to `dlq/candles/`, and the hour's exact minute sums (on two threads where the rows are many).
 */
import { TRADE_COLUMNS, rowProblem, takeable } from '../../market/index'
import { bronzeDlqKey, bronzeTradesPrefix } from '../layout/index'
import { readColumns, type ColumnRequest } from '../parquet/index'
import { TRADE_COLUMN_REQUESTS } from '../trades/index'
import { defineTask, onWorker } from '../workers/index'
import type { ObjectInfo, ObjectStore } from '../../ports/index'
import { dedupeOrder, pickRows } from '../dedupe/index'
import { defaults } from './defaults'
import { aggregateMinutes, aggregateMinutesAt, guessDecimals, mergeAggregates, sortedById, type Aggregates, type TradeColumns } from './kernel'

/**
 * The bronze columns candles need: not `trades`, which DESIGN.md defines as `last_trade_id -
 * first_trade_id + 1` (an aggTrade's l - f + 1, 1 for a plain trade; also how Binance counts a
 * kline's trades), nor `trade_id`, which only breaks ties between records of the same ids.
 */
const TRADE_NAMES = TRADE_COLUMNS.map((c) => c.name)
export const HOUR_COLUMNS: ColumnRequest[] = TRADE_COLUMN_REQUESTS.filter((r) => r.name !== 'trades' && r.name !== 'trade_id')

/**
 * The hour's bronze trades, every individual trade once and in trade-id order (as silver orders
 * them), decoded straight from the bronze files: only `HOUR_COLUMNS`, so the candle job never
 * waits for silver (the silver job merges the same files after it, see `../silver`).
 * `duplicates`: records dropped as already covered; `nulls`: rows left out for a null field.
 */
export async function readHourTrades(store: ObjectStore, exchange: string, symbol: string, dt: string, hour: string, threads = defaults.decodeThreads) {
  return readTrades(store, (await bronzeObjects(store, exchange, symbol, dt, hour)).map((x) => x.key), threads)
}

/** The hour's bronze objects, in key order. */
export const bronzeObjects = async (store: ObjectStore, exchange: string, symbol: string, dt: string, hour: string) =>
  (await store.list(bronzeTradesPrefix(exchange, symbol, dt, hour))).filter((x) => x.key.endsWith('.parquet'))

/** An object as a state remembers it: its name in the hour's folder and its version (ETag, or size and time where a store lists no ETag). */
export const versionOf = (o: ObjectInfo, folder: string) => `${o.key.slice(folder.length)} ${o.etag || `${o.size}@${o.lastModified}`}`

/** `readHourTrades` of the bronze objects at `keys`. */
export async function readTrades(store: ObjectStore, keys: string[], threads: number) {
  const got = (await Promise.all(keys.map(async (key) => ({ key, body: await store.get(key) })))).filter((x): x is { key: string; body: Uint8Array } => !!x.body)
  // a row with a null in any trade column is left out, as silver leaves it out
  const options = { threads, nullsOf: TRADE_NAMES, extra: ['trades'] }
  const { d, unreadable } = await decodeReadable(got, options)
  const v = d.values as Record<string, Float64Array>
  // laid out with the decoded columns (in shared memory where they are, for `hourMinutes`' worker), filled here
  const trades = v.trades
  const { price, qty, first_trade_id: first, last_trade_id: last } = v
  let bad = 0
  for (let i = 0; i < d.length; i++) {
    trades[i] = last[i] - first[i] + 1
    if (!(takeable(price[i], qty[i]) && first[i] >= 0 && trades[i] >= 1)) bad++
  }
  let read: TradeColumns = { length: d.length, ts: v.ts, price, qty, buy: d.values.side as Uint8Array, trades, first_trade_id: first, last_trade_id: last, trade_id: first }
  if (bad) {
    // rows the kernel cannot take (a bronze file of an older version, or made by hand): left out, to the DLQ with their reasons
    const keep = new Uint32Array(d.length - bad)
    for (let i = 0, k = 0; i < d.length; i++) if (!rowProblem(price[i], qty[i], first[i], last[i])) keep[k++] = i
    read = pickRows(read, keep)
  }
  const invalid = bad || unreadable.length ? await sendInvalidToDlq(store, got, unreadable, options) : 0
  // ties between records of the same ids are broken by their values, then by file order (the listing's key order)
  const columns = pickRows(read, dedupeOrder(read))
  return { columns, files: got.length, duplicates: read.length - columns.length, nulls: d.nulls, invalid, unreadable: unreadable.length }
}

type ReadColumnsOptions = NonNullable<Parameters<typeof readColumns>[2]>

/**
 * The bronze objects decoded as one set of columns; where that fails (an object that is no
 * Parquet, or lacks a column), each is tried alone and the ones that fail are left out (`unreadable`,
 * with the reason), so one bad object never blocks its hour. Rethrows when every object reads alone.
 */
async function decodeReadable(got: { key: string; body: Uint8Array }[], options: ReadColumnsOptions) {
  try {
    return { d: await readColumns(got.map((x) => x.body), HOUR_COLUMNS, options), unreadable: [] as { key: string; reason: string }[] }
  } catch (e) {
    const unreadable: { key: string; reason: string }[] = []
    for (const x of got) await readColumns([x.body], HOUR_COLUMNS, { ...options, threads: 1 }).catch((err: Error) => unreadable.push({ key: x.key, reason: `unreadable: ${err.message}` }))
    if (!unreadable.length) throw e
    const bad = new Set(unreadable.map((u) => u.key))
    return { d: await readColumns(got.filter((x) => !bad.has(x.key)).map((x) => x.body), HOUR_COLUMNS, options), unreadable }
  }
}

/** Non-finite numbers as strings in the DLQ's JSON (JSON itself has none). */
const finiteOrString = (_: string, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)

/**
 * Writes the rows of each bronze object the kernel cannot take (and each object it cannot read)
 * to that object's DLQ key (`bronzeDlqKey`), one JSON line a row with its reason; returns the rows
 * written. Each object is decoded alone here: this runs only when a bad row or object was met.
 */
async function sendInvalidToDlq(store: ObjectStore, got: { key: string; body: Uint8Array }[], unreadable: { key: string; reason: string }[], options: ReadColumnsOptions) {
  let rows = 0
  for (const { key, body } of got) {
    const lines: string[] = []
    const gone = unreadable.find((u) => u.key === key)
    if (gone) lines.push(JSON.stringify({ bronze: key, reason: gone.reason }))
    else {
      const d = await readColumns([body], HOUR_COLUMNS, { ...options, threads: 1 })
      const v = d.values as Record<string, Float64Array>
      for (let i = 0; i < d.length; i++) {
        const reason = rowProblem(v.price[i], v.qty[i], v.first_trade_id[i], v.last_trade_id[i])
        if (!reason) continue
        const trade = { ts: v.ts[i], price: v.price[i], qty: v.qty[i], side: d.values.side[i] ? 'buy' : 'sell', first_trade_id: v.first_trade_id[i], last_trade_id: v.last_trade_id[i] }
        lines.push(JSON.stringify({ bronze: key, row: i, reason, trade }, finiteOrString))
        rows++
      }
    }
    if (lines.length) await store.put(bronzeDlqKey('candles', key), lines.join('\n') + '\n', { contentType: 'application/x-ndjson' })
  }
  return rows
}

// a decode worker sums the second half of an hour's rows (see `hourMinutes`)
defineTask('candles.minutes', (x: { cols: TradeColumns; from: number; until: number; dp: number; dq: number }) => aggregateMinutesAt(x.cols, x.from, x.until, x.dp, x.dq), import.meta.url)

/** Rows `[lo, hi)` of `c`, as views (no copy: views of shared memory stay shared). */
const rowsOf = (c: TradeColumns, lo: number, hi: number): TradeColumns => ({
  length: hi - lo, ts: c.ts.subarray(lo, hi), price: c.price.subarray(lo, hi), qty: c.qty.subarray(lo, hi), buy: c.buy.subarray(lo, hi), trades: c.trades.subarray(lo, hi),
  first_trade_id: c.first_trade_id.subarray(lo, hi), last_trade_id: c.last_trade_id.subarray(lo, hi), trade_id: c.trade_id.subarray(lo, hi),
})

/**
 * `aggregateMinutes` of deduplicated columns in trade-id order (as `readHourTrades` gives them):
 * where they lie in shared memory, a decode worker sums the second half of the rows while this
 * thread sums the first, both at the decimals `aggregateMinutes` would try first, and the halves
 * are merged exactly. Anything else (one thread, rows copied, a value of more decimals than the
 * first trades have) takes `aggregateMinutes` itself: the result is the same.
 */
export async function hourMinutes(c: TradeColumns, from: number, until: number, threads = defaults.decodeThreads): Promise<Aggregates> {
  const n = c.length
  const shared = [c.ts, c.price, c.qty, c.buy, c.trades, c.first_trade_id, c.last_trade_id].every((x) => x.buffer instanceof SharedArrayBuffer)
  if (threads < 2 || n < defaults.parallelRows || !shared || !sortedById(c)) return aggregateMinutes(c, from, until)
  let dp: number, dq: number
  try { [dp, dq] = guessDecimals(c) } catch { return aggregateMinutes(c, from, until) }
  const mid = n >> 1
  const far = onWorker<Aggregates | undefined>('candles.minutes', { cols: rowsOf(c, mid, n), from, until, dp, dq }) // posted now: it runs while this thread sums the first half
  const near = aggregateMinutesAt(rowsOf(c, 0, mid), from, until, dp, dq)
  const done = await far
  const second = done.ran ? done.result : aggregateMinutesAt(rowsOf(c, mid, n), from, until, dp, dq)
  return near && second ? mergeAggregates(near, second) : aggregateMinutes(c, from, until)
}
