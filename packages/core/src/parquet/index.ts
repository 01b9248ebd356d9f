/**
 * The Parquet codec of the lake: writes rows described by a column list of `market` (the one
 * schema) into Parquet bytes that DuckDB, Athena and Spark read, and reads such files back into
 * plain rows. Pure JavaScript (hyparquet), so a Lambda bundle stays small and starts fast. Jobs
 * that read many trades read and write them as columns instead (`readTradeColumns`, `readTradeTable`,
 * `writeTradeTable`; see `columns.ts` and `write.ts`).
 */
import { ByteWriter, parquetWrite } from 'hyparquet-writer'
import { parquetReadObjects, parquetMetadata } from 'hyparquet'
import type { Column, ColumnType } from '../market/index'

export { onWorker, readColumns, readTradeColumns, workerTask, readTradeTable, tradeStrings, TRADE_COLUMN_REQUESTS, Unsupported, type ColumnRequest, type DecodedColumns, type TradeColumns, type TradeString, type TradeTable } from './columns'
export { writeColumns, writeTable, writeTradeTable, type ColumnSpec } from './write'

export const defaults = {
  codec: 'SNAPPY' as 'SNAPPY' | 'UNCOMPRESSED',
  rowGroupSize: 100_000,
  /** REQUIRED for files ticklake writes; Firehose's Parquet conversion writes OPTIONAL columns. */
  nullable: false,
  /** Bytes per data page before compression (hyparquet-writer's default). */
  pageSize: 1_048_576,
}

function schemaElement(name: string, type: ColumnType, nullable: boolean) {
  const repetition_type = nullable ? 'OPTIONAL' : 'REQUIRED'
  switch (type) {
    case 'STRING': return { name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type }
    case 'INT32': return { name, type: 'INT32', repetition_type }
    case 'INT64': return { name, type: 'INT64', repetition_type }
    case 'DOUBLE': return { name, type: 'DOUBLE', repetition_type }
    case 'BOOLEAN': return { name, type: 'BOOLEAN', repetition_type }
    case 'TIMESTAMP_MICROS': return { name, type: 'INT64', converted_type: 'TIMESTAMP_MICROS', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' }, repetition_type }
    case 'TIMESTAMP_MILLIS': return { name, type: 'INT64', converted_type: 'TIMESTAMP_MILLIS', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' }, repetition_type }
  }
}

/**
 * Writes rows as one Parquet file. Timestamps are numbers in the column's unit (µs or ms).
 * @example writeParquet(TRADE_COLUMNS, trades) // Uint8Array, ready for ObjectStore.put
 */
export function writeParquet<T>(columns: Column<T>[], rows: readonly T[], options: Partial<typeof defaults> = {}): Uint8Array {
  const { codec, rowGroupSize, nullable, pageSize } = { ...defaults, ...options }
  const columnData = columns.map((c) => {
    const wide = c.type === 'INT64' || c.type.startsWith('TIMESTAMP')
    return { name: c.name, data: rows.map((r) => { const v = r[c.name] as any; return wide && v != null ? BigInt(v) : v }) }
  })
  const schema = [{ name: 'root', num_children: columns.length }, ...columns.map((c) => schemaElement(c.name, c.type, nullable))]
  const writer = new ByteWriter()
  parquetWrite({ writer, columnData, schema: schema as any, codec, rowGroupSize, pageSize, createdBy: 'ticklake' } as any)
  return new Uint8Array(writer.getBuffer())
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
