/**
 * The Parquet codec of the lake: writes rows described by a column list of `market` (the one
 * schema) into Parquet bytes every mainstream engine reads (DuckDB, Athena, Spark, arrow-rs:
 * `write.ts`), and reads such files back into plain rows (hyparquet). Pure JavaScript, so a Lambda
 * bundle stays small and starts fast. Jobs that read many trades read and write them as columns
 * instead (`readTradeColumns`, `readTradeTable`, `writeTradeTable`; see `columns.ts` and `write.ts`).
 */
import { parquetReadObjects, parquetMetadata } from 'hyparquet'
import type { Column } from '../../market/index'
import { writeTable } from './write'

export { onWorker, readColumns, readTradeColumns, workerTask, readTradeTable, tradeStrings, TRADE_COLUMN_REQUESTS, Unsupported, type ColumnRequest, type DecodedColumns, type TradeColumns, type TradeString, type TradeTable } from './columns'
export { CREATED_BY, writeColumns, writeTable, writeTradeTable, type ColumnSpec } from './write'

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
export function writeParquet<T>(columns: Column<T>[], rows: readonly T[], options: Partial<typeof defaults> = {}): Uint8Array {
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
