/**
 * The Parquet codec of the lake, one module for every job: columns straight into and out of typed
 * arrays (`readColumns`, `writeColumns`: bronze, silver, features), and tables of row objects
 * described by a column list (`readParquet`, `writeParquet`: gold candles, prices, dim_symbols,
 * tests). It writes what every mainstream engine reads (DuckDB, Athena, Spark, arrow-rs:
 * `write.ts`) and reads what writes the lake, Firehose included (`read.ts`, `decode.ts`). Pure
 * JavaScript, so a Lambda bundle stays small and starts fast. It knows no schema of the lake: the
 * jobs pass their columns (trade files: `../trades`).
 */
import { parquetReadObjects, parquetMetadata } from 'hyparquet'
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

const parsers = {
  timestampFromMicroseconds: (v: bigint) => Number(v),
  timestampFromMilliseconds: (v: bigint) => Number(v),
  timestampFromNanoseconds: (v: bigint) => Number(v / 1000n),
}

/**
 * Reads a Parquet file into plain row objects: INT64 and timestamps become numbers (in the file's
 * unit), so rows look like the ones given to `writeParquet`. Throws on a corrupt file.
 */
export async function readParquet<T = Record<string, unknown>>(bytes: Uint8Array, columns?: string[]): Promise<T[]> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
  const metadata = parquetMetadata(file, { parsers })
  const rows = await parquetReadObjects({ file, metadata, columns, parsers } as any)
  for (const row of rows) for (const k in row) if (typeof row[k] === 'bigint') row[k] = Number(row[k])
  return rows as T[]
}
