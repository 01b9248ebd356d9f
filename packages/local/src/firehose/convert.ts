/**
 * Firehose's record format conversion, as the local emulator performs it: JSON records read as
 * the Hive JSON SerDe reads them against a Glue table's columns, written as Firehose's Parquet
 * SerDe writes them (Amazon Data Firehose Developer Guide, "Convert input data format"; API
 * Reference, `HiveJsonSerDe`, `ParquetSerDe`). The file holds the table's non-partition columns
 * only, in Hive's Parquet types (`bigint` plain INT64, `int` INT32, `double` DOUBLE, `string`
 * UTF8 byte arrays, `boolean` BOOLEAN, `timestamp` INT96), every column OPTIONAL (a field missing
 * from the record is null), dictionary encoding for every column while the dictionary stays
 * within a page (then PLAIN, as parquet-mr falls back), data page v1, snappy, row groups of the
 * SerDe's block size, statistics, `hive_schema` as the root and parquet-mr's `created_by`.
 * A record whose value does not fit its column (a number in a string, a fraction in a `bigint`)
 * is refused with the reason, as Firehose sends it to the error output.
 */
import type { GlueColumn } from '@ticklake/core/aws/glue'
import { FIREHOSE_TABLES, PARQUET_SERDE } from '@ticklake/core/aws/glue'
import { writeColumns, type ColumnSpec } from '@ticklake/core/lake/parquet'

/** What Firehose's Parquet SerDe (parquet-mr under Hive) writes as `created_by`. */
export const FIREHOSE_CREATED_BY = 'parquet-mr version 1.10.1 (build a89df8f9932b6ef6633d06069e50c9b7970bebd1)'

export interface Converted {
  /** The Parquet file of the records that converted; undefined when none did. */
  bytes?: Uint8Array
  rows: number
  /** Records refused, with the reason (their index in the input). */
  errors: { index: number; message: string }[]
}

const INT_RANGE = { bigint: 2 ** 63, int: 2 ** 31 } as const

/** Why `v` cannot be read as Hive type `type`, or undefined when it can (null and absent always can). */
function problem(name: string, type: string, v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined
  switch (type) {
    case 'string': return typeof v === 'string' ? undefined : `column ${name} (string) got ${typeof v}`
    case 'boolean': return typeof v === 'boolean' ? undefined : `column ${name} (boolean) got ${typeof v}`
    case 'double': return typeof v === 'number' && Number.isFinite(v) ? undefined : `column ${name} (double) got ${JSON.stringify(v)}`
    case 'bigint': case 'int': {
      if (typeof v !== 'number' || !Number.isInteger(v)) return `column ${name} (${type}) got ${JSON.stringify(v)}`
      const r = INT_RANGE[type]
      if (v < -r || v >= r) return `column ${name} (${type}) out of range: ${v}`
      if (!Number.isSafeInteger(v)) return `column ${name} (${type}) is not exact in JSON: ${v}`
      return undefined
    }
    case 'timestamp':
      // Hive's default parses java.sql.Timestamp text; epoch milliseconds where the stream names `millis`
      if (typeof v === 'number' && Number.isFinite(v)) return undefined
      return typeof v === 'string' && Number.isFinite(parseTimestamp(v)) ? undefined : `column ${name} (timestamp) got ${JSON.stringify(v)}`
    default: return `column ${name}: Hive type ${type} is not converted here`
  }
}

/** `yyyy-MM-dd HH:mm:ss[.f…]` (Timestamp.valueOf, read as UTC) or ISO-8601, in epoch microseconds. */
function parseTimestamp(s: string): number {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z?$/.exec(s)
  if (!m) return NaN
  const ms = Date.parse(`${m[1]}T${m[2]}Z`)
  return ms * 1000 + Math.floor(Number((m[3] ?? '').padEnd(6, '0').slice(0, 6)))
}

/**
 * Converts parsed JSON records to one Parquet file of `columns`, as Firehose does for a buffer of
 * one partition. Field names are matched case-insensitively (Hive lower-cases them).
 * @example convertRecords(records, FIREHOSE_TABLES.trades.columns).bytes // Uint8Array
 */
export function convertRecords(records: readonly unknown[], columns: readonly GlueColumn[], serde: Partial<typeof PARQUET_SERDE> = {}): Converted {
  const o = { ...PARQUET_SERDE, ...serde }
  const errors: Converted['errors'] = []
  const rows: Record<string, unknown>[] = []
  records.forEach((r, index) => {
    if (!r || typeof r !== 'object' || Array.isArray(r)) { errors.push({ index, message: 'record is not a JSON object' }); return }
    const lower: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(r)) lower[k.toLowerCase()] = v
    for (const c of columns) {
      const p = problem(c.name, c.type, lower[c.name])
      if (p) { errors.push({ index, message: p }); return }
    }
    rows.push(lower)
  })
  if (!rows.length) return { rows: 0, errors }
  const n = rows.length
  const specs = columns.map((c): ColumnSpec => {
    const nulls = new Uint8Array(n)
    if (c.type === 'string') {
      const dict: string[] = [], index = new Map<string, number>(), codes = new Uint32Array(n)
      for (let i = 0; i < n; i++) {
        const v = rows[i][c.name]
        if (v === null || v === undefined) { nulls[i] = 1; continue }
        let k = index.get(v as string)
        if (k === undefined) index.set(v as string, (k = dict.push(v as string) - 1))
        codes[i] = k
      }
      return { name: c.name, type: 'STRING', codes, dict, nulls, optional: true }
    }
    if (c.type === 'boolean') {
      const flags = new Uint8Array(n)
      for (let i = 0; i < n; i++) { const v = rows[i][c.name]; if (v === null || v === undefined) nulls[i] = 1; else flags[i] = v ? 1 : 0 }
      return { name: c.name, type: 'BOOLEAN', flags, nulls, optional: true }
    }
    const values = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      const v = rows[i][c.name]
      if (v === null || v === undefined) { nulls[i] = 1; continue }
      values[i] = c.type === 'timestamp' ? (typeof v === 'number' ? v * 1000 : parseTimestamp(v as string)) : (v as number)
    }
    const type = c.type === 'bigint' ? 'INT64' : c.type === 'int' ? 'INT32' : c.type === 'double' ? 'DOUBLE' : 'INT96'
    return { name: c.name, type, values, nulls, optional: true }
  })
  const bytes = writeColumns(specs, n, {
    codec: o.compression === 'SNAPPY' ? 'SNAPPY' : 'UNCOMPRESSED',
    rowGroupSize: Number.MAX_SAFE_INTEGER,
    rowGroupBytes: o.blockSizeBytes,
    pageSize: o.pageSizeBytes,
    // without dictionary compression every column is PLAIN, strings too
    dictionaryPageSize: o.enableDictionaryCompression ? o.pageSizeBytes : 0,
    dictionary: o.enableDictionaryCompression,
    dictionaryEncoding: 'PLAIN_DICTIONARY',
    statistics: true,
    createdBy: FIREHOSE_CREATED_BY,
    rootName: 'hive_schema',
  })
  return { bytes, rows: n, errors }
}

/**
 * Trades as the bronze object Firehose would write for them (one partition's buffer): what every
 * local writer of bronze uses (archive import, fixtures, benches), so bronze has one shape.
 * Throws the first reason when a trade does not convert.
 * @example store.put(`${bronzeTradesPrefix(...)}import-1.parquet`, bronzeTradesFile(trades))
 */
export function bronzeTradesFile(trades: readonly object[], serde: Partial<typeof PARQUET_SERDE> = {}): Uint8Array {
  const out = convertRecords(trades, FIREHOSE_TABLES.trades.columns, serde)
  if (out.errors.length) throw new Error(`trade ${out.errors[0].index} does not convert: ${out.errors[0].message}`)
  if (!out.bytes) throw new Error('no trades to write')
  return out.bytes
}
