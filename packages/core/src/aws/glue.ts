/**
 * Glue catalog columns from core's schemas: `stacks/` builds the Glue tables that Firehose's
 * Parquet conversion and Athena use from these, so the lake's one schema (core/market) is the
 * only place a column is declared. Firehose's JSON deserializer reads epoch numbers as timestamps
 * only in milliseconds, so microsecond times (`ts`, `ingest_ts`) are `bigint` in AWS, holding the
 * same INT64 values the local lake stores with a TIMESTAMP_MICROS annotation.
 */
import { QUOTE_COLUMNS, TRADE_COLUMNS, type Column, type ColumnType } from '../market/index'

/** Hive/Glue type of each schema type, as Firehose and Athena take them. */
export const GLUE_TYPES: Record<ColumnType, string> = {
  STRING: 'string', INT32: 'int', INT64: 'bigint', DOUBLE: 'double', BOOLEAN: 'boolean',
  TIMESTAMP_MICROS: 'timestamp', TIMESTAMP_MILLIS: 'timestamp',
}

export interface GlueColumn { name: string; type: string; comment?: string }

/**
 * Glue columns of a schema, leaving out the ones that are partitions of the table's path.
 * `firehose`: the table is written by Firehose's conversion, so microsecond times are `bigint`;
 * tables ticklake writes itself (silver, gold) keep them as `timestamp`.
 * @example glueColumns(TRADE_COLUMNS, ['exchange', 'symbol'], { firehose: true }) // [{ name: 'native_symbol', type: 'string', ... }, ...]
 */
export function glueColumns(columns: Column<any>[], partitions: string[] = [], o: { firehose?: boolean } = {}): GlueColumn[] {
  return columns.filter((c) => !partitions.includes(c.name)).map((c) => {
    const micros = c.type === 'TIMESTAMP_MICROS' && o.firehose
    const comment = [micros ? 'epoch microseconds' : '', c.note ?? ''].filter(Boolean).join('; ').slice(0, 255)
    return { name: c.name, type: micros ? 'bigint' : GLUE_TYPES[c.type], ...(comment ? { comment } : {}) }
  })
}

/**
 * Firehose's JQ query for dynamic partitioning: the Hive partitions of a trade or quote record, the
 * date and hour from the record's own time (µs), so a record lands in the hour it belongs to, not
 * the hour it arrived in.
 */
export const PARTITION_QUERY = '{exchange: .exchange, symbol: .symbol, dt: (.ts / 1000000 | floor | strftime("%Y-%m-%d")), hour: (.ts / 1000000 | floor | strftime("%H"))}'

/** The S3 prefix Firehose writes under, with the partitions `PARTITION_QUERY` extracts. */
export const firehosePrefix = (folder: string) =>
  `${folder}/exchange=!{partitionKeyFromQuery:exchange}/symbol=!{partitionKeyFromQuery:symbol}/dt=!{partitionKeyFromQuery:dt}/hour=!{partitionKeyFromQuery:hour}/`

/** Where Firehose puts records it could not partition or convert: `!{firehose:error-output-type}` is e.g. `format-conversion-failed`. */
export const ERROR_OUTPUT_PREFIX = 'errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/'

/** The Hive partitions of the tables Firehose writes, as `PARTITION_QUERY` extracts them. */
export const FIREHOSE_PARTITIONS = ['exchange', 'symbol', 'dt', 'hour']

/**
 * The Glue tables Firehose converts records for, by stream: the table's non-partition columns in
 * Hive types. The stacks declare the tables from these, and the local Firehose emulator writes
 * exactly these columns, so the two cannot drift.
 */
export const FIREHOSE_TABLES = {
  trades: { table: 'bronze_trades', folder: 'bronze/trades', columns: glueColumns(TRADE_COLUMNS, FIREHOSE_PARTITIONS, { firehose: true }) },
  quotes: { table: 'quotes', folder: 'bronze/quotes', columns: glueColumns(QUOTE_COLUMNS, FIREHOSE_PARTITIONS, { firehose: true }) },
} as const

/**
 * The delivery streams' buffering hints, set by the stacks and used by the local Firehose emulator
 * as its default, so that the lake fills locally at the pace it does in AWS. With dynamic
 * partitioning and format conversion, Firehose wants at least 64 MiB and has no zero buffering; it
 * delivers a partition once its buffer reaches the size or the interval, and may take up to 1.5x
 * the interval end to end ("Buffer data for dynamic partitioning", Amazon Data Firehose
 * Developer Guide; "BufferingHints", API Reference: interval 0-900 s).
 */
export const FIREHOSE_BUFFERING = { sizeMiB: 64, intervalSeconds: 60 }

/**
 * The ParquetSerDe of the stacks' delivery streams (Firehose API Reference, `ParquetSerDe`:
 * block 256 MiB, page 1 MiB, writer V1 are its defaults), which the local emulator writes with.
 */
export const PARQUET_SERDE = {
  compression: 'SNAPPY' as const,
  enableDictionaryCompression: true,
  writerVersion: 'V1' as const,
  blockSizeBytes: 256 * 1024 * 1024,
  pageSizeBytes: 1024 * 1024,
  maxPaddingBytes: 0,
}
