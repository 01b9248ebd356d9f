/**
 * Silver trades: one Parquet file per (exchange, symbol, hour) holding every trade once, sorted by
 * trade id, so readers never see Firehose's many small files or its duplicates. Built
 * incrementally by its own job (`mergeSilver`, the silver function, run after the candle job has
 * taken the same bronze object: candles never wait for it): a manifest names the bronze files
 * already merged, and each run reads only the new ones. Deduplication works on individual trade ids (`first_trade_id..last_trade_id`): a
 * record whose range is already covered is a duplicate, so aggTrades and individual trades of one
 * symbol can meet without counting twice. The work is columnar: files are decoded straight into
 * typed arrays (`readTradeTable`), deduplicated and ordered through an index, and written from the
 * arrays (`writeTradeTable`); `updateSilver` gives the same trades as row objects for callers that
 * want them. Of records covering the same trade ids with other values, the one `keptFirst` orders
 * first is kept (by value, so the candle job keeps the same one) and the others are recorded under
 * `quality/duplicates/`; rows the lake jobs cannot take (`rowProblem`) are left out.
 */
import { rowProblem, takeable, type Trade } from '../../market/index'
import { bronzeTradesPrefix, silverManifestKey, silverTradesKey } from '../layout/index'
import { readTradeTable, tradeStrings, writeTradeTable, type TradeString, type TradeTable } from '../trades/index'
import { PreconditionFailed, readJson, type ObjectStore } from '../../ports/index'
import { defaults as qualityDefaults, recordDuplicates, type DuplicateSide, type Duplicates } from '../quality/index'
import { pickRows } from '../candles/kernel'

export const defaults = {
  writeRetries: 5,
  /**
   * Codec of silver files. UNCOMPRESSED: the JavaScript snappy compressor costs about 8x the rest
   * of the write (measured on 200k trades: 34 ms plain, 256 ms with snappy; 12.0 MB against 5.6 MB).
   */
  codec: 'UNCOMPRESSED' as 'SNAPPY' | 'UNCOMPRESSED',
  /**
   * Integers PLAIN, not DELTA_BINARY_PACKED (3.5 MB for the same 200k trades, as fast): Spark's
   * vectorized reader lacks that encoding before 3.3 and fastparquet misread it in v2 pages, so the
   * lake writes only what every mainstream reader takes.
   */
  delta: false,
}

interface Manifest { silver_etag: string; bronze: string[] }

/**
 * Trades with every individual trade id once, ordered by first trade id (for one exchange, the
 * order of the trades). Where ranges overlap the wider record wins; of records covering the same
 * ids, the one with the earliest trade time, then the lowest price, the lowest quantity, a taker
 * sell before a buy, the lowest record id (`keptFirst`): whatever order they arrived in.
 * @example dedupe([a, a, b]) // [a, b]
 */
export function dedupe(trades: Trade[]): Trade[] {
  const sorted = [...trades].sort((x, y) => x.first_trade_id - y.first_trade_id || y.last_trade_id - x.last_trade_id || x.ts - y.ts || x.price - y.price || x.qty - y.qty || (x.side === 'buy' ? 1 : 0) - (y.side === 'buy' ? 1 : 0) || x.trade_id - y.trade_id)
  const out: Trade[] = []
  let covered = -Infinity
  for (const t of sorted) {
    if (t.last_trade_id <= covered) continue
    out.push(t)
    covered = t.last_trade_id
  }
  return out
}

export interface SilverResult { trades: Trade[]; bronzeFiles: number; newFiles: number; duplicates: number; key: string }

/** The hour's trades as a table, deduplicated and in trade-id order; `nulls`: rows left out for a null field. */
export interface SilverTable {
  table: TradeTable; bronzeFiles: number; newFiles: number; duplicates: number; nulls: number; key: string
  /** Rows left out because the lake jobs cannot take them (`rowProblem`: see `dlq/candles/`). */
  invalid: number
  /** Records dropped for another of the same trade ids with other values (recorded under `quality/duplicates/`). */
  conflicts?: number
}

/**
 * Row `i` of `t` comes before row `j` (the order of `dedupe`): first id, widest range, then, of
 * records covering the same ids, `keptFirst`'s order of their values, record id, file order.
 */
type Ids = Pick<TradeTable, 'length' | 'first_trade_id' | 'last_trade_id' | 'trade_id' | 'ts' | 'price' | 'qty' | 'buy'>
const before = (t: Ids, i: number, j: number) =>
  t.first_trade_id[i] - t.first_trade_id[j] || t.last_trade_id[j] - t.last_trade_id[i] || keptFirst(t, i, j) || t.trade_id[i] - t.trade_id[j] || i - j

/**
 * Which of two records covering the same trade ids is kept (negative: `i`): the earliest trade
 * time, then the lowest price, the lowest quantity, a taker sell before a buy. It depends on the
 * values alone, so the candle job, a silver run that merges files one by one and one that reads
 * them all keep the same record, whatever order the files came in.
 */
export const keptFirst = (t: Pick<Ids, 'ts' | 'price' | 'qty' | 'buy'>, i: number, j: number) =>
  t.ts[i] - t.ts[j] || t.price[i] - t.price[j] || t.qty[i] - t.qty[j] || t.buy[i] - t.buy[j]

/**
 * The rows of `t` that `dedupe` keeps, in its order, as indexes; undefined when that is every row
 * as it stands (silver and Firehose's files are mostly in order already, so this is one pass).
 * `conflicts`, when given, receives `[kept, dropped]` rows of records that cover the same trade
 * ids with other values (time, price, quantity or side).
 */
export function dedupeOrder(t: Ids, conflicts?: [kept: number, dropped: number][]): Uint32Array | undefined {
  const n = t.length
  // the usual case in one comparison a row: each record starts after the one before it ends
  const { first_trade_id: first, last_trade_id: last } = t
  let disjoint = true
  for (let i = 1; i < n && disjoint; i++) disjoint = first[i] > last[i - 1] && last[i] >= first[i]
  if (disjoint && (n === 0 || last[0] >= first[0])) return undefined
  let sorted = true
  for (let i = 1; i < n && sorted; i++) sorted = before(t, i - 1, i) < 0
  let order: Uint32Array | undefined
  if (!sorted) order = new Uint32Array(n).map((_, i) => i).sort((i, j) => before(t, i, j))
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

/** The rows `rows` of a trade table, in that order (`t` itself without `rows`): the kernel's `pickRows`. */
export { pickRows }


/** Trade rows as a table (strings coded as `readTradeTable` codes them). */
export function tableOf(trades: readonly Trade[]): TradeTable {
  const n = trades.length, f = () => new Float64Array(n), b = () => new Uint8Array(n)
  const strings = tradeStrings()
  const code = (k: TradeString, v: string) => { const i = strings[k].indexOf(v); return i >= 0 ? i : strings[k].push(v) - 1 }
  const t: TradeTable = { length: n, ts: f(), price: f(), qty: f(), buy: b(), trades: f(), first_trade_id: f(), last_trade_id: f(), trade_id: f(), ingest_ts: f(), exchange: b(), symbol: b(), native_symbol: b(), source: b(), strings }
  trades.forEach((r, i) => {
    t.ts[i] = r.ts; t.price[i] = r.price; t.qty[i] = r.qty; t.buy[i] = code('side', r.side); t.trades[i] = r.trades; t.first_trade_id[i] = r.first_trade_id
    t.last_trade_id[i] = r.last_trade_id; t.trade_id[i] = r.trade_id; t.ingest_ts[i] = r.ingest_ts
    t.exchange[i] = code('exchange', r.exchange); t.symbol[i] = code('symbol', r.symbol); t.native_symbol[i] = code('native_symbol', r.native_symbol); t.source[i] = code('source', r.source)
  })
  return t
}

/** A table's rows as `Trade` objects (for callers that want rows; the jobs stay columnar). */
export function rowsOf(t: TradeTable): Trade[] {
  const s = t.strings, out: Trade[] = new Array(t.length)
  for (let i = 0; i < t.length; i++) {
    out[i] = {
      exchange: s.exchange[t.exchange[i]] as Trade['exchange'], symbol: s.symbol[t.symbol[i]], native_symbol: s.native_symbol[t.native_symbol[i]],
      trade_id: t.trade_id[i], first_trade_id: t.first_trade_id[i], last_trade_id: t.last_trade_id[i], ts: t.ts[i], price: t.price[i], qty: t.qty[i],
      side: s.side[t.buy[i]] as Trade['side'], trades: t.trades[i], ingest_ts: t.ingest_ts[i], source: s.source[t.source[i]] as Trade['source'],
    }
  }
  return out
}

/** The quality record of conflicting duplicates (`[kept, dropped]` rows of `t`). */
function duplicatesOf(t: TradeTable, conflicts: [number, number][], at: { exchange: string; symbol: string; dt: string; hour: string }): Duplicates {
  const side = (i: number): DuplicateSide => ({ trade_id: t.trade_id[i], ts: t.ts[i], price: t.price[i], qty: t.qty[i], side: t.strings.side[t.buy[i]], source: t.strings.source[t.source[i]] })
  return {
    ...at, detected_at: Date.now(), kept_by: 'earliest ts, then lowest price, lowest qty, a taker sell before a buy, lowest trade_id', count: conflicts.length,
    conflicts: conflicts.slice(0, qualityDefaults.maxConflictsListed).map(([k, d]) => ({ first_trade_id: t.first_trade_id[k], last_trade_id: t.last_trade_id[k], kept: side(k), dropped: side(d) })),
  }
}

/** The rows of `t` the lake jobs can take (`rowProblem`), and how many were left out: `t` itself in the usual case. */
function takeableRows(t: TradeTable): { table: TradeTable; invalid: number } {
  const { price, qty, first_trade_id: first, last_trade_id: last } = t
  let invalid = 0
  for (let i = 0; i < t.length; i++) if (!(takeable(price[i], qty[i]) && first[i] >= 0 && last[i] >= first[i])) invalid++
  if (!invalid) return { table: t, invalid }
  const keep = new Uint32Array(t.length - invalid)
  for (let i = 0, k = 0; i < t.length; i++) if (!rowProblem(price[i], qty[i], first[i], last[i])) keep[k++] = i
  return { table: pickRows(t, keep), invalid }
}

/**
 * `readTradeTable` of the files; where that fails, of the files that read alone (an object that
 * is no Parquet is left out, as the candle job leaves it out and names it in `dlq/candles/`).
 */
async function readReadable(files: Uint8Array[], fill: Record<string, string>) {
  try {
    return await readTradeTable(files, { fill })
  } catch (e) {
    const ok: Uint8Array[] = []
    for (const f of files) await readTradeTable([f], { fill }).then(() => ok.push(f), () => undefined)
    if (ok.length === files.length) throw e
    return await readTradeTable(ok, { fill })
  }
}

/** The objects at `keys` that exist, read in parallel, in key order. */
async function readAll(store: ObjectStore, keys: string[]) {
  return (await Promise.all(keys.map((k) => store.get(k)))).filter((b): b is Uint8Array => !!b)
}

/**
 * The silver job: merges the hour's bronze files that silver does not hold yet, and does nothing
 * more (no decoding) when it holds them all already; `trades`: silver's rows after a merge.
 * @example await mergeSilver(store, 'binance', 'BTC-USDT', '2026-11-24', '15') // { newFiles: 1, ... }
 */
export async function mergeSilver(store: ObjectStore, exchange: string, symbol: string, dt: string, hour: string, options: Partial<typeof defaults> = {}): Promise<Omit<SilverTable, 'table'> & { trades?: number }> {
  const { table, ...r } = await merge(store, exchange, symbol, dt, hour, options, false)
  return table ? { ...r, trades: table.length } : r
}

/**
 * Merges the bronze files of one hour that silver does not hold yet into silver, and returns the
 * hour's trades as rows (`updateSilverTable` gives them as columns).
 */
export async function updateSilver(store: ObjectStore, exchange: string, symbol: string, dt: string, hour: string): Promise<SilverResult> {
  const { table, nulls: _, invalid: __, ...r } = await updateSilverTable(store, exchange, symbol, dt, hour)
  return { ...r, trades: rowsOf(table) }
}

/**
 * Merges the bronze files of one hour that silver does not hold yet into silver, and returns the
 * hour's trades as a table. Safe under repeated and concurrent runs: the write is conditional on
 * the silver file read, and a manifest that does not match that file is ignored (all bronze is
 * reread). Rows with a null field are left out (and counted in `nulls`).
 * @example const { table } = await updateSilverTable(store, 'binance', 'BTC-USDT', '2026-11-24', '15')
 */
export async function updateSilverTable(store: ObjectStore, exchange: string, symbol: string, dt: string, hour: string, options: Partial<typeof defaults> = {}): Promise<SilverTable> {
  return (await merge(store, exchange, symbol, dt, hour, options, true)) as SilverTable
}

/** `updateSilverTable`; with `decodeHeld` false, an hour silver holds whole already is not decoded (no `table`). */
async function merge(store: ObjectStore, exchange: string, symbol: string, dt: string, hour: string, options: Partial<typeof defaults>, decodeHeld: boolean): Promise<Omit<SilverTable, 'table'> & { table?: TradeTable }> {
  const o = { ...defaults, ...options }
  const key = silverTradesKey(exchange, symbol, dt, hour)
  const manifestKey = silverManifestKey(exchange, symbol, dt, hour)
  for (let attempt = 0; ; attempt++) {
    const [head, manifest, listing] = await Promise.all([store.head(key), readJson<Manifest>(store, manifestKey), store.list(bronzeTradesPrefix(exchange, symbol, dt, hour))])
    const bronze = listing.map((x) => x.key).filter((k) => k.endsWith('.parquet'))
    const trusted = head && manifest?.silver_etag === head.etag
    const known = new Set(trusted ? manifest!.bronze : [])
    const fresh = bronze.filter((k) => !known.has(k))
    if (trusted && fresh.length === 0 && !decodeHeld) return { bronzeFiles: bronze.length, newFiles: 0, duplicates: 0, nulls: 0, invalid: 0, key }
    const [base, incoming] = await Promise.all([trusted ? readAll(store, [key]) : [], readAll(store, fresh)])
    // Firehose writes the Glue table's non-partition columns only: exchange and symbol come from the keys
    const read = await readReadable([...base, ...incoming], { exchange, symbol })
    if (trusted && fresh.length === 0) return { table: read.table, bronzeFiles: bronze.length, newFiles: 0, duplicates: 0, nulls: read.nulls, invalid: 0, key }
    // rows the lake jobs cannot take are left out (the candle job, which read them first, sent them to dlq/candles/)
    const { table: valid, invalid } = takeableRows(read.table)
    const conflicts: [number, number][] = []
    const table = pickRows(valid, dedupeOrder(valid, conflicts))
    try {
      const { etag } = await store.put(key, writeTradeTable(table, undefined, { codec: o.codec, delta: o.delta }), head ? { ifMatch: head.etag } : { ifNoneMatch: '*' })
      await store.put(manifestKey, JSON.stringify({ silver_etag: etag, bronze: [...known, ...fresh] } satisfies Manifest), { contentType: 'application/json' })
      if (conflicts.length) await recordDuplicates(store, duplicatesOf(valid, conflicts, { exchange, symbol, dt, hour }))
      return { table, bronzeFiles: bronze.length, newFiles: fresh.length, duplicates: valid.length - table.length, nulls: read.nulls, invalid, conflicts: conflicts.length, key }
    } catch (e) {
      if (!(e instanceof PreconditionFailed) || attempt >= o.writeRetries) throw e
    }
  }
}
