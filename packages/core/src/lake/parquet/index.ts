/**
 * The Parquet codec of the lake, one module for every job: one writer and one decoder, each with
 * two views. Columns straight into and out of typed arrays (`readColumns`, `writeColumns`: bronze,
 * silver, features) and tables of row objects described by a column list (`readParquet`,
 * `writeParquet`: gold candles, prices, dim_symbols, tests), the row views built on the column
 * ones. It writes what every mainstream engine reads (DuckDB, Athena, Spark, arrow-rs: `write.ts`)
 * and decodes what writes the lake, Firehose included (`read.ts`, `decode.ts`); hyparquet only
 * parses footers and page headers, and reads a file outside the decoder's coverage (a codec or
 * encoding it lacks; for rows, a column type they do not map). Pure
 * JavaScript, so a Lambda bundle stays small and starts fast. It knows no schema of the lake: the
 * jobs pass their columns (trade files: `../trades`).
 *
 * Module state: the row builders `readParquet` compiled, by their columns.
 */
import { parquetMetadata, parquetReadObjects, parquetSchema, type FileMetaData, type SchemaElement } from 'hyparquet'
import { readColumns, type ColumnRequest } from './read'
import { writeTable, type TableColumn } from './write'

export { readColumns, Unsupported, type ColumnRequest, type ColumnValues, type DecodedColumns, type ReadOptions } from './read'
export { CREATED_BY, writeColumns, writeTable, type ColumnSpec, type ColumnType, type TableColumn, type WriteColumnsOptions } from './write'

export const defaults = {
  codec: 'SNAPPY' as 'SNAPPY' | 'UNCOMPRESSED',
  rowGroupSize: 100_000,
  /** REQUIRED columns, else OPTIONAL ones where a missing value is a null. */
  nullable: false,
  /** Bytes of plain values a data page holds, about. */
  pageSize: 1_048_576,
}

/**
 * Writes rows as one Parquet file (`writeTable`). Timestamps are numbers in the column's unit (µs or ms).
 * @example writeParquet(TRADE_COLUMNS, trades) // Uint8Array, ready for ObjectStore.put
 */
export function writeParquet<T>(columns: TableColumn<T>[], rows: readonly T[], options: Partial<typeof defaults> = {}): Uint8Array {
  return writeTable(columns, rows, { ...defaults, ...options })
}

/** Timestamps of files outside the row view (hyparquet reads them) as numbers in their unit (nanoseconds as µs). */
const parsers = {
  timestampFromMicroseconds: (v: bigint) => Number(v),
  timestampFromMilliseconds: (v: bigint) => Number(v),
  timestampFromNanoseconds: (v: bigint) => Number(v / 1000n),
}

/** How a row holds a column: a number, a boolean or a string; undefined for types the row view leaves to hyparquet. */
function rowKind(el: SchemaElement, nested: boolean): 'number' | 'boolean' | 'text' | undefined {
  const ct = el.converted_type, lt = el.logical_type
  if (nested) return undefined
  if (el.type === 'BOOLEAN') return 'boolean'
  if (el.type === 'FLOAT' || el.type === 'DOUBLE') return 'number'
  if (el.type === 'INT96') return ct || lt ? undefined : 'number'
  if (el.type === 'INT32' || el.type === 'INT64') {
    // signed integers and millisecond/microsecond timestamps; unsigned, DATE, DECIMAL, TIME and nanoseconds are hyparquet's
    if (lt?.type === 'TIMESTAMP') return lt.unit === 'NANOS' ? undefined : 'number'
    if (lt?.type === 'INTEGER') return lt.isSigned ? 'number' : undefined
    return !lt && (!ct || ['INT_8', 'INT_16', 'INT_32', 'INT_64', 'TIMESTAMP_MILLIS', 'TIMESTAMP_MICROS'].includes(ct)) ? 'number' : undefined
  }
  if (el.type === 'BYTE_ARRAY') return (!ct || ct === 'UTF8' || ct === 'ENUM') && (!lt || lt.type === 'STRING' || lt.type === 'ENUM') ? 'text' : undefined
  return undefined
}

type RowKind = ReturnType<typeof rowKind>
type MakeRows = (n: number, ...columns: unknown[]) => Record<string, unknown>[]

/** Row builders by their columns (names and kinds): a job reads the same few tables over and over. */
const makers = new Map<string, MakeRows>() // module state: at most 256 small functions

/**
 * A function that builds `n` rows from the columns (per column: its strings, or its values and
 * null mask): one object literal of the file's keys, compiled once per list of columns, so every
 * row gets one shape straight from the arrays (a keyed store per field, or boxed values in
 * between, take twice as long). The keys are JSON strings and the parameters generated names.
 */
function rowMaker(kinds: { name: string; kind: RowKind }[]): MakeRows {
  const key = JSON.stringify(kinds)
  let make = makers.get(key)
  if (make) return make
  const params = kinds.flatMap(({ kind }, j) => (kind === 'text' ? [`t${j}`] : [`v${j}`, `m${j}`]))
  const fields = kinds.map(({ name, kind }, j) => `${JSON.stringify(name)}: ${kind === 'text' ? `t${j}[i]` : `m${j}[i] ? null : v${j}[i]${kind === 'boolean' ? ' === 1' : ''}`}`)
  make = new Function('n', ...params, `const rows = new Array(n); for (let i = 0; i < n; i++) rows[i] = { ${fields.join(', ')} }; return rows`) as MakeRows
  if (makers.size < 256) makers.set(key, make)
  return make
}

/**
 * Reads a Parquet file into plain row objects, the rows view of the column reader (`readColumns`):
 * every (or each named) top-level column, keys in the file's order; INT64 and timestamps are
 * numbers (in the file's unit), booleans `true`/`false`, strings strings and nulls `null`, so rows
 * look like the ones given to `writeParquet`. A file with a column of another type (nested, DATE,
 * DECIMAL, unsigned, nanosecond timestamps...) is read by hyparquet, as before. Throws on a corrupt
 * file or a named column it lacks.
 */
export async function readParquet<T = Record<string, unknown>>(bytes: Uint8Array, columns?: string[]): Promise<T[]> {
  const metadata = parquetMetadata(bytes)
  const top = parquetSchema(metadata).children
  for (const name of columns ?? []) if (!top.some((c) => c.element.name === name)) throw new Error(`parquet column not found: ${name}`)
  const wanted = top.filter((c) => !columns || columns.includes(c.element.name))
  const kinds = wanted.map((c) => ({ name: c.element.name, kind: rowKind(c.element, c.children.length > 0) }))
  if (kinds.some((k) => !k.kind)) return (await hyparquetRows(bytes, metadata, columns)) as T[]
  const requests = kinds.map(({ name, kind }): ColumnRequest => (kind === 'text' ? { name, as: 'text' } : { name, as: 'number' }))
  const d = await readColumns(bytes, requests, { keepNulls: true, masks: true })
  const args = kinds.flatMap(({ name, kind }): unknown[] => (kind === 'text' ? [d.texts[name]] : [d.values[name], d.masks![name]]))
  return rowMaker(kinds)(d.length, ...args) as T[]
}

/** hyparquet's row objects, for a file with a column the row view does not cover; INT64 as numbers. */
async function hyparquetRows(bytes: Uint8Array, metadata: FileMetaData, columns?: string[]) {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
  const rows = await parquetReadObjects({ file, metadata, columns, parsers } as any)
  for (const row of rows) for (const k in row) if (typeof row[k] === 'bigint') row[k] = Number(row[k])
  return rows
}
