/**
 * The local query engine: DuckDB (`@duckdb/node-api`) over the lake's Parquet files on disk, with
 * the tables Athena has in AWS defined as views over Hive-partitioned globs, so core's SQL runs
 * unchanged, plus the analyst views `fact_trades` and `fact_candles` (facts joined to `dim_symbols`).
 * `candles` and `trades` read their Hive partitions from the path, as Athena does: files at exactly
 * their tables' partition depth, the partitions as strings (so `dt` compares with core's bounds and
 * DuckDB skips the files of other days). Times come back as ISO-8601 strings, 64-bit integers as numbers.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import type { QueryEngine, Statement } from '@ticklake/core/query'
import { CANDLE_COLUMNS, TRADE_COLUMNS, type Column, type ColumnType } from '@ticklake/core/market'
import { FIREHOSE_PARTITIONS, FIREHOSE_TABLES, type GlueColumn } from '@ticklake/core/aws/glue'
import { DIM_SYMBOL_COLUMNS, analystViewStatements } from '@ticklake/core/symbols'
import { CANDLE_FEATURE_COLUMNS, FEATURE_COLUMNS } from '@ticklake/core/features'

/**
 * Views over the lake under `dataDir`: name -> the folder of its files and its columns, and for
 * tables queried by partition, the Hive partitions of their path (the Glue table's, stacks/lake.ts).
 * Tables Firehose writes take their Glue columns (Hive types: times are `bigint` µs), as Athena reads them.
 */
export const TABLES: Record<string, { folder: string; partitions?: string[] } & ({ columns: Column<any>[] } | { glue: readonly GlueColumn[] })> = {
  /** Gold candles: every timeframe at `tf=T/dt=D/<file>.parquet`. */
  candles: { folder: 'gold/candles', columns: CANDLE_COLUMNS, partitions: ['exchange', 'symbol', 'tf', 'dt'] },
  /** Silver: every trade once, `dt=D/hour=HH.parquet`. */
  trades: { folder: 'silver/trades', columns: TRADE_COLUMNS, partitions: ['exchange', 'symbol', 'dt'] },
  /** Bronze: as ingested, duplicates included. */
  bronze_trades: { folder: FIREHOSE_TABLES.trades.folder, glue: FIREHOSE_TABLES.trades.columns, partitions: FIREHOSE_PARTITIONS },
  /** Best bid and ask, as ingested. */
  quotes: { folder: FIREHOSE_TABLES.quotes.folder, glue: FIREHOSE_TABLES.quotes.columns, partitions: FIREHOSE_PARTITIONS },
  /** The symbol dimension (`ticklake symbols` writes it). */
  dim_symbols: { folder: 'gold/dim_symbols', columns: DIM_SYMBOL_COLUMNS },
  /** Gold features: per trade, and per 1m candle (the HTTP API's /api/features). */
  features_trades: { folder: 'gold/features/trades', columns: FEATURE_COLUMNS as Column<any>[], partitions: ['exchange', 'symbol', 'dt'] },
  features_candles: { folder: 'gold/features/candles', columns: CANDLE_FEATURE_COLUMNS as Column<any>[], partitions: ['exchange', 'symbol', 'tf', 'dt'] },
}

const DUCK_TYPES: Record<ColumnType, string> = {
  STRING: 'VARCHAR', INT32: 'INTEGER', INT64: 'BIGINT', DOUBLE: 'DOUBLE', BOOLEAN: 'BOOLEAN',
  TIMESTAMP_MICROS: 'TIMESTAMPTZ', TIMESTAMP_MILLIS: 'TIMESTAMPTZ',
}

/** DuckDB types of Hive's, as Athena types Glue columns. */
const HIVE_TYPES: Record<string, string> = { string: 'VARCHAR', int: 'INTEGER', bigint: 'BIGINT', double: 'DOUBLE', boolean: 'BOOLEAN', timestamp: 'TIMESTAMP' }

const quote = (s: string) => `'${s.replace(/'/g, "''")}'`

/** ISO-8601 with milliseconds, or microseconds where the value has them. */
export function isoMicros(micros: bigint): string {
  const iso = new Date(Number(micros / 1000n)).toISOString()
  const extra = Number(((micros % 1000n) + 1000n) % 1000n)
  return extra ? `${iso.slice(0, -1)}${String(extra).padStart(3, '0')}Z` : iso
}

function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v)
  if (v && typeof v === 'object' && 'micros' in v) return isoMicros((v as any).micros)
  return v
}

export interface DuckEngine extends QueryEngine { connection: DuckDBConnection; close(): void }

/** A DuckDB engine with the lake's views; a table with no file yet is an empty view. */
export async function duckdbEngine(dataDir: string): Promise<DuckEngine> {
  const instance = await DuckDBInstance.create(':memory:')
  const connection = await instance.connect()
  await connection.run(`SET TimeZone = 'UTC'`)
  // Tables whose folder holds no file yet are empty views, made real once files appear (checked before each query)
  const waiting = new Set<string>()
  async function define(name: string) {
    const t = TABLES[name]
    const { folder, partitions } = t
    // the columns with their DuckDB types: Firehose's tables by their Glue (Hive) types, the rest by core's schema
    const cols = 'glue' in t ? t.glue.map((c) => [c.name, HIVE_TYPES[c.type]]) : t.columns.map((c) => [c.name, DUCK_TYPES[c.type]])
    const names = new Set(cols.map(([n]) => n))
    const all = [...cols, ...(partitions ?? []).filter((p) => !names.has(p)).map((p) => [p, 'VARCHAR'])]
    const empty = `SELECT ${all.map(([n, ty]) => `CAST(NULL AS ${ty}) AS ${n}`).join(', ')} WHERE false`
    // a partitioned table's files lie at exactly its depth (anything else, such as a file of an older layout, is not its)
    const glob = partitions ? join(dataDir, folder, ...partitions.map(() => '*'), '*.parquet') : join(dataDir, folder, '**', '*.parquet')
    const hive = partitions ? 'hive_partitioning = true, hive_types_autocast = false' : 'hive_partitioning = false'
    const select = 'glue' in t ? all.map(([n, ty]) => `CAST(${n} AS ${ty}) AS ${n}`).join(', ') : '*'
    const files = `SELECT ${select} FROM read_parquet(${quote(glob)}, ${hive}, union_by_name = true)`
    waiting.delete(name)
    await connection.run(`CREATE OR REPLACE VIEW ${name} AS ${existsSync(join(dataDir, folder)) ? files : empty}`).catch(async (e) => {
      if (!/No files found/i.test(e.message)) throw e
      await connection.run(`CREATE OR REPLACE VIEW ${name} AS ${empty}`)
      waiting.add(name)
    })
    if (!existsSync(join(dataDir, folder))) waiting.add(name)
  }
  for (const name of Object.keys(TABLES)) await define(name)
  // The analyst views (fact_trades, fact_candles): core's SQL, the same text Athena runs
  for (const sql of analystViewStatements()) await connection.run(sql)
  let queue: Promise<unknown> = Promise.resolve()
  return {
    connection,
    /** Runs one statement at a time on the connection (concurrent callers queue). */
    query(st: Statement) {
      const run = queue.then(async () => {
        for (const name of [...waiting]) if (existsSync(join(dataDir, TABLES[name].folder))) await define(name)
        const reader = await connection.runAndReadAll(st.sql, st.params as any)
        return reader.getRowObjects().map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, plain(v)])))
      })
      queue = run.catch(() => {})
      return run
    },
    close() { connection.closeSync(); instance.closeSync?.() },
  }
}
