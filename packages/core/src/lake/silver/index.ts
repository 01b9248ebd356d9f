/**
 * Silver trades: every trade of an (exchange, symbol, hour) once, by trade id, so readers never see
 * Firehose's many small files or its duplicates. Built incrementally by its own job (`mergeSilver`,
 * the silver function, run after the candle job has taken the same bronze object: candles never
 * wait for it), as parts (`./parts.ts`): each run reads only the bronze objects the hour's manifest
 * does not name yet and writes their new trades as one more part, so a run costs the same at the
 * end of a busy hour as at its start; small parts are merged as they accumulate and the hour is
 * compacted into one part once closed. Readers take every part (`readSilverHour`; Athena and
 * DuckDB read every file of the `dt` folder). Deduplication works on individual trade ids (`first_trade_id..last_trade_id`): a
 * record whose range is already covered is a duplicate, so aggTrades and individual trades of one
 * symbol can meet without counting twice. The work is columnar: files are decoded straight into
 * typed arrays (`readTradeTable`), deduplicated and ordered through an index, and written from the
 * arrays (`writeTradeTable`); `updateSilver` gives the same trades as row objects for callers that
 * want them. Of records covering the same trade ids with other values, the one `keptFirst` orders
 * first is kept (by value, so the candle job keeps the same one) and the others are recorded under
 * `quality/duplicates/`; rows the lake jobs cannot take (`rowProblem`) are left out.
 */
import { rowProblem, takeable, type Trade } from '../../market/index'
import { bronzeTradesPrefix, partitionOf, silverHourPrefix, silverManifestKey, type LakeHour } from '../layout/index'
import { readTradeTable, tradeStrings, writeTradeTable, type TradeString, type TradeTable } from '../trades/index'
import { PreconditionFailed, type ObjectStore } from '../../ports/index'
import { defaults as qualityDefaults, recordDuplicates, type DuplicateSide, type Duplicates } from '../quality/index'
import { dedupeOrder, pickRows, recordOrder } from '../dedupe/index'
import { commitManifest, deadFiles, idRanges, nextPartKey, overlaps, partDefaults, readManifest, readParts, rowsMeeting, silverHourFiles, type SilverManifest, type SilverPart } from './parts'

export { idRanges, overlaps, readManifest, silverHourFiles, type IdRanges, type SilverManifest, type SilverPart } from './parts'

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
  ...partDefaults,
  /**
   * Parts an open hour may hold before runs merge some (`partsToMerge`): Firehose writes an object
   * per buffer interval (60 s or more: up to about 60 an hour), the local emulator one a second.
   * Over it, a run also merges the `mergeParts` smallest parts, when they hold at most `mergeRows`
   * trades together, so no run rewrites more than that however far the hour has gone.
   */
  maxParts: 100,
  mergeParts: 8,
  mergeRows: 40_000,
  /** An hour is compacted into one part this long after its end (Firehose holds records up to 15 minutes). */
  closedAfterMs: 20 * 60_000,
  /** The clock that tells whether an hour is closed. */
  now: (): number => Date.now(),
}

export interface SilverResult { trades: Trade[]; bronzeFiles: number; newFiles: number; duplicates: number; key: string }

/** The hour's trades as a table, deduplicated and in trade-id order; `nulls`: rows left out for a null field. */
export interface SilverTable {
  /** `key`: the part the run wrote (the hour's manifest when it wrote none). */
  table: TradeTable; bronzeFiles: number; newFiles: number; duplicates: number; nulls: number; key: string
  /** Rows left out because the lake jobs cannot take them (`rowProblem`: see `dlq/candles/`). */
  invalid: number
  /** Records dropped for another of the same trade ids with other values (recorded under `quality/duplicates/`). */
  conflicts?: number
}

export { dedupe, dedupeOrder, keptFirst, pickRows } from '../dedupe/index'


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

/** Two trade tables of the same code lists as one, `a`'s rows first. */
function concatTables(a: TradeTable, b: TradeTable): TradeTable {
  const out: Record<string, unknown> = { ...a, length: a.length + b.length }
  for (const [k, x] of Object.entries(a) as [keyof TradeTable, unknown][]) {
    if (!(x instanceof Float64Array || x instanceof Uint8Array)) continue
    const y = new (x.constructor as Float64ArrayConstructor)(a.length + b.length)
    y.set(x)
    y.set(b[k] as Float64Array, a.length)
    out[k] = y
  }
  return out as unknown as TradeTable
}

/**
 * Rows `[0, split)` and `[split, length)` of `t`, each in `dedupe`'s order (or nearly: a pair out
 * of order only costs `dedupeOrder` a sort), as one order: a merge, linear where a sort of the
 * two would not be.
 */
function mergedOrder(t: TradeTable, split: number): Uint32Array {
  const out = new Uint32Array(t.length)
  let i = 0, j = split, k = 0
  while (i < split && j < t.length) out[k++] = recordOrder(t, i, j) <= 0 ? i++ : j++
  while (i < split) out[k++] = i++
  while (j < t.length) out[k++] = j++
  return out
}

/**
 * The silver job: merges the hour's bronze files that silver does not hold yet, as one new part,
 * and does nothing more (no decoding) when it holds them all already; `trades`: silver's rows of
 * the hour after it. Then compacts the hour before, once closed (`compactSilver`).
 * @example await mergeSilver(store, 'binance', 'BTC-USDT', '2026-11-24', '15') // { newFiles: 1, ... }
 */
export async function mergeSilver(store: ObjectStore, exchange: string, symbol: string, dt: string, hour: string, options: Partial<typeof defaults> = {}): Promise<Omit<SilverTable, 'table'> & { trades?: number }> {
  const { table: _, ...r } = await merge(store, { exchange, symbol, dt, hour }, options, false)
  const start = Date.parse(`${dt}T${hour}:00:00Z`)
  if (Number.isFinite(start)) {
    const before = { exchange, symbol, ...partitionOf(start - 3_600_000) }
    if (closed(before, { ...defaults, ...options })) await compactSilver(store, before.exchange, before.symbol, before.dt, before.hour, options)
  }
  return r
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
 * hour's trades as a table (every part, in trade-id order). Safe under repeated, late and
 * concurrent runs: see `merge`. Rows with a null field are left out (and counted in `nulls`).
 * @example const { table } = await updateSilverTable(store, 'binance', 'BTC-USDT', '2026-11-24', '15')
 */
export async function updateSilverTable(store: ObjectStore, exchange: string, symbol: string, dt: string, hour: string, options: Partial<typeof defaults> = {}): Promise<SilverTable> {
  const r = await merge(store, { exchange, symbol, dt, hour }, options, true)
  return { ...r, table: r.table ?? tableOf([]) }
}

/**
 * One silver hour's trades as a table, every trade once in trade-id order, from every part its
 * manifest names (or the one file of an hour written before parts); undefined when silver has
 * nothing of the hour. `version` changes whenever the hour's trades do.
 * @example const hour = await readSilverHour(store, 'binance', 'BTC-USDT', '2026-11-24', '15')
 */
export async function readSilverHour(store: ObjectStore, exchange: string, symbol: string, dt: string, hour: string): Promise<{ table: TradeTable; version: string } | undefined> {
  const got = await silverHourFiles(store, { exchange, symbol, dt, hour })
  if (!got) return undefined
  const { table } = await readTradeTable(got.files)
  return { table: pickRows(table, dedupeOrder(table)), version: got.version }
}

/** Whether an hour is closed: `closedAfterMs` past its end (Firehose holds records up to 15 minutes). */
const closed = (h: LakeHour, o: typeof defaults) => Date.parse(`${h.dt}T${h.hour}:00:00Z`) + 3_600_000 + o.closedAfterMs <= o.now()

/** Deletes the hour's silver files no commit will ever name (`deadFiles`), given the committed manifest. */
async function dropDead(store: ObjectStore, h: LakeHour, m: SilverManifest, listed: { key: string }[]) {
  await Promise.all(deadFiles(h, m, listed.map((x) => x.key)).map((k) => store.delete(k)))
}

/**
 * The parts of an open hour to merge into one: none while it holds at most `maxParts` (a run then
 * writes only its own part, whatever the hour holds); over that, the `mergeParts` smallest, when
 * they hold at most `mergeRows` trades together (else none: a run never rewrites more than that).
 * Whole hours are compacted once closed (`compactSilver`).
 */
export function partsToMerge(parts: readonly SilverPart[], o: Pick<typeof defaults, 'maxParts' | 'mergeParts' | 'mergeRows'> = defaults): SilverPart[] {
  if (parts.length <= o.maxParts) return []
  const group = [...parts].sort((a, b) => a.rows - b.rows).slice(0, o.mergeParts)
  return group.reduce((n, p) => n + p.rows, 0) <= o.mergeRows ? group : []
}

/**
 * Replaces `group` (parts of `m`) by one part of their trades, committed over `etag`; returns the
 * manifest and ETag after, or undefined when another run committed first (nothing is lost: the
 * parts stay, and the next run tries again).
 */
async function mergeParts(store: ObjectStore, h: LakeHour, m: SilverManifest, etag: string, group: SilverPart[], o: typeof defaults) {
  const files = await readParts(store, group)
  if (!files) return undefined
  const { table } = await readTradeTable(files)
  const rows = pickRows(table, dedupeOrder(table))
  const key = nextPartKey(h, m)
  const gone = new Set(group.map((p) => p.key))
  const next: SilverManifest = { ...m, seq: m.seq + 1, parts: [...m.parts.filter((p) => !gone.has(p.key)), { key, rows: rows.length, ids: idRanges(rows, o.maxRanges) }] }
  await store.put(key, writeTradeTable(rows, undefined, { codec: o.codec, delta: o.delta }), { ifNoneMatch: '*' })
  try {
    const { etag: after } = await commitManifest(store, h, next, etag)
    await Promise.all([...gone].map((k) => store.delete(k)))
    return { manifest: next, etag: after }
  } catch (e) {
    await store.delete(key)
    if (e instanceof PreconditionFailed) return undefined
    throw e
  }
}

/** Merges parts while `choose` names some (at most a few rounds); returns the manifest after. */
async function tidy(store: ObjectStore, h: LakeHour, m: SilverManifest, etag: string, o: typeof defaults, choose: (parts: SilverPart[]) => SilverPart[]) {
  for (let round = 0; round < 4; round++) {
    const group = choose(m.parts)
    if (group.length < 2) break
    const r = await mergeParts(store, h, m, etag, group, o)
    if (!r) break
    ;({ manifest: m, etag } = r)
  }
  return m
}

/**
 * Compacts one silver hour into one part (at the hour's end: `mergeSilver` does it for the hour
 * before, the local cloud's compaction for closed hours), the set of trades unchanged; retries
 * when a silver run committed meanwhile. Returns how many parts it replaced (0: one or none).
 * @example await compactSilver(store, 'binance', 'BTC-USDT', '2026-11-24', '15') // 12
 */
export async function compactSilver(store: ObjectStore, exchange: string, symbol: string, dt: string, hour: string, options: Partial<typeof defaults> = {}): Promise<number> {
  const o = { ...defaults, ...options }
  const h = { exchange, symbol, dt, hour }
  for (let attempt = 0; attempt <= o.writeRetries; attempt++) {
    const { manifest, etag } = await readManifest(store, h, o)
    if (!etag || manifest.parts.length < 2) return 0
    if (await mergeParts(store, h, manifest, etag, manifest.parts, o)) return manifest.parts.length
  }
  return 0
}

/**
 * `updateSilverTable`; with `decodeHeld` false, the hour's trades are not decoded (no `table`).
 * One run: reads the manifest, lists bronze, decodes only the bronze objects the manifest lacks
 * and the parts whose id ranges their trades touch (usually none: new trades follow the held
 * ones), dedupes those together (by value, `dedupeOrder`: as one pass over the whole hour would),
 * writes the new trades as one new part (or, where a held record lost to a new one, those parts'
 * kept trades as one part replacing them), and commits the manifest naming it over the version
 * read. A run that loses the race deletes its part and starts again; a run that crashes leaves a
 * part no commit names, which the next run deletes (`deadFiles`). Then merges small parts
 * (`partsToMerge`), or the whole hour once closed.
 */
async function merge(store: ObjectStore, h: LakeHour, options: Partial<typeof defaults>, decodeHeld: boolean): Promise<Omit<SilverTable, 'table'> & { table?: TradeTable; trades?: number }> {
  const o = { ...defaults, ...options }
  const { exchange, symbol, dt, hour } = h
  const manifestKey = silverManifestKey(exchange, symbol, dt, hour)
  // `trades`: the hour's trades after a run that merged (from the manifest's counts, nothing decoded)
  const finish = async (m: SilverManifest | undefined, r: Omit<SilverTable, 'table'>) => ({
    ...r, ...(m ? { trades: m.parts.reduce((n, p) => n + p.rows, 0) } : {}),
    ...(decodeHeld ? { table: (await readSilverHour(store, exchange, symbol, dt, hour))?.table ?? tableOf([]) } : {}),
  })
  const choose = (parts: SilverPart[]) => closed(h, o) ? parts : partsToMerge(parts, o)
  for (let attempt = 0; ; attempt++) {
    const [{ manifest: m, etag }, listing, silverFiles] = await Promise.all([readManifest(store, h, o), store.list(bronzeTradesPrefix(exchange, symbol, dt, hour)), store.list(silverHourPrefix(exchange, symbol, dt, hour))])
    const bronze = listing.map((x) => x.key).filter((k) => k.endsWith('.parquet'))
    const known = new Set(m.bronze)
    const fresh = bronze.filter((k) => !known.has(k))
    const result = { bronzeFiles: bronze.length, newFiles: fresh.length, duplicates: 0, nulls: 0, invalid: 0, key: manifestKey }
    if (!fresh.length) {
      if (etag) {
        await dropDead(store, h, m, silverFiles)
        await tidy(store, h, m, etag, o, choose)
      }
      return finish(undefined, result)
    }
    // Firehose writes the Glue table's non-partition columns only: exchange and symbol come from the keys
    const read = await readReadable(await readAll(store, fresh), { exchange, symbol })
    // rows the lake jobs cannot take are left out (the candle job, which read them first, sent them to dlq/candles/)
    const { table: valid, invalid } = takeableRows(read.table)
    // the parts holding any id of the new trades: only with them can a held record be a duplicate, or lose to a new one
    const ids = idRanges(valid, Infinity)
    const touched = m.parts.filter((p) => overlaps(p.ids, ids))
    const files = touched.length ? await readParts(store, touched) : []
    if (!files) continue // a compaction committed and deleted a part meanwhile: read the manifest again
    const heldAll = files.length ? (await readTradeTable(files, { strings: valid.strings })).table : undefined
    // of the touched parts, the records that share an id with a new one: no other can be a duplicate of one, or win over one
    const meeting = heldAll && rowsMeeting(heldAll, ids)
    const held = heldAll && pickRows(heldAll, meeting)
    // the held records and the new ones, each in order, merged in one pass (`dedupeOrder` then needs no sort)
    const merged = held && mergedOrder(concatTables(held, valid), held.length)
    const all = merged ? pickRows(concatTables(held, valid), merged) : valid
    const conflicts: [number, number][] = []
    const order = dedupeOrder(all, conflicts) ?? Uint32Array.from({ length: all.length }, (_, i) => i)
    const old = held?.length ?? 0
    const isHeld = (i: number) => !!merged && merged[i] < old
    let keptOld = 0
    for (const i of order) if (isHeld(i)) keptOld++
    // every held record kept: the part holds the new ones; else its kept trades and the touched parts' others replace those parts
    const replaced = keptOld < old ? new Set(touched.map((p) => p.key)) : new Set<string>()
    let part = undefined as TradeTable | undefined
    if (replaced.size) {
      const met = new Uint8Array(heldAll!.length)
      for (const i of meeting!) met[i] = 1
      const others = Uint32Array.from({ length: heldAll!.length }, (_, i) => i).filter((i) => !met[i])
      const whole = concatTables(pickRows(heldAll!, others), pickRows(all, order))
      part = pickRows(whole, dedupeOrder(whole))
    } else if (order.length > old) part = pickRows(all, order.filter((i) => !isHeld(i)))
    const key = part && nextPartKey(h, m)
    const next: SilverManifest = { ...m, seq: m.seq + 1, bronze: [...m.bronze, ...fresh], parts: [...m.parts.filter((p) => !replaced.has(p.key)), ...(part ? [{ key: key!, rows: part.length, ids: idRanges(part, o.maxRanges) }] : [])] }
    if (part) await store.put(key!, writeTradeTable(part, undefined, { codec: o.codec, delta: o.delta }), { ifNoneMatch: '*' })
    let committed: string
    try {
      committed = (await commitManifest(store, h, next, etag)).etag
    } catch (e) {
      if (key) await store.delete(key)
      if (!(e instanceof PreconditionFailed) || attempt >= o.writeRetries) throw e
      continue
    }
    await Promise.all([...replaced].map((k) => store.delete(k)))
    await dropDead(store, h, next, silverFiles)
    if (conflicts.length) await recordDuplicates(store, duplicatesOf(all, conflicts, h))
    const after = await tidy(store, h, next, committed, o, choose)
    return finish(after, { ...result, duplicates: all.length - order.length, nulls: read.nulls, invalid, conflicts: conflicts.length, key: key ?? manifestKey })
  }
}
