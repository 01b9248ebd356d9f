/**
 * The local query engine: DuckDB (`@duckdb/node-api`) over the lake's Parquet files on disk, with
 * the tables Athena has in AWS defined as views over Hive-partitioned globs, so core's SQL runs
 * unchanged, plus the analyst views `fact_trades` and `fact_candles` (facts joined to `dim_symbols`).
 * `candles` and `trades` read their Hive partitions from the path, as Athena does: files at exactly
 * their tables' partition depth, the partitions as strings (so `dt` compares with core's bounds and
 * DuckDB skips the files of other days). Times come back as ISO-8601 strings, 64-bit integers as numbers.
 *
 * Queries run on a small pool of connections to one instance (each a query in parallel), so a
 * heavy query does not hold the others up; each has a time limit (then it is interrupted) and caps
 * on the rows and the estimated JSON bytes of its answer, checked before a row becomes an object; a full queue, the
 * time limit and the caps are `QueryLimitError`s (503, 413). A query that meets a lake file being
 * replaced runs once more; a file still unreadable then is corrupt: recorded through `onCorrupt`
 * and left out of its table's view (until it changes) and the query runs without it.
 */
import { existsSync, statSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import type { DuckDBConnection, DuckDBDataChunk } from '@duckdb/node-api'
import { QueryLimitError, type QueryEngine, type Row, type Statement } from '@ticklake/core/serve/query'
import { CANDLE_COLUMNS, TRADE_COLUMNS, type Column, type ColumnType } from '@ticklake/core/market'
import { v8Collect } from '../memory/index'
import { FIREHOSE_PARTITIONS, FIREHOSE_TABLES, type GlueColumn } from '@ticklake/core/aws/glue'
import { DIM_SYMBOL_COLUMNS, analystViewStatements } from '@ticklake/core/sources/symbols'
import { CANDLE_FEATURE_COLUMNS, FEATURE_COLUMNS } from '@ticklake/core/lake/features'

export const defaults = {
  /** Connections (queries in parallel); more wait in the queue. */
  connections: 2,
  /** Queries waiting for a connection before more are refused (503). */
  maxQueued: 24,
  /** Time limit of one query, waiting included (then it is interrupted: 503); 0 for none. */
  timeoutMs: 10_000,
  /** Rows an answer may hold (more: 413). */
  maxRows: 100_000,
  /** Estimated JSON bytes an answer may hold (more: 413); read chunk by chunk, so it bounds memory as well (rows take about 4x their JSON in JavaScript). */
  maxBytes: 8 * 1024 * 1024,
  /** DuckDB's own memory limit (it spills or fails past it) and threads per query, for a local server beside the pipeline. */
  memoryLimit: '128MB',
  threads: 2,
  /** Pause before the one rerun of a query that met a file being replaced. */
  retryDelayMs: 50,
  /** Estimated bytes of DuckDB results handed out after which V8 collects at once (see `collector`); 0: never. */
  collectAfterBytes: 64 * 1024 * 1024,
  /** Bytes of results handed out that are collected once queries pause for `collectIdleMs` (less waits for more). */
  collectIdleBytes: 8 * 1024 * 1024,
  collectIdleMs: 1_000,
}

/** For a command run by its user (`ticklake candles`, `verify`): no time limit, no caps. */
export const UNBOUNDED = { timeoutMs: 0, maxRows: Infinity, maxBytes: Infinity }

export type DuckOptions = Partial<typeof defaults> & {
  /** Called once per corrupt file found (its lake key and DuckDB's reason); the local cloud records it under quality/corrupt/. */
  onCorrupt?: (file: { key: string; reason: string }) => void | Promise<void>
}

/** DuckDB errors of a file that changed or broke under a reader (truncated, replaced, unreadable Parquet). */
const FILE_ERROR = /No magic bytes|too small to be a Parquet|Could not read enough bytes|TProtocolException|Invalid data|don't know what type|Invalid string|Corrupt|Cannot open file|No such file|No files found|Failed to read|IO Error|metadata/i
/** The Parquet file an error names, if any. */
const fileOf = (message: string) => /["']([^"']+\.parquet)["']/.exec(message)?.[1]

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

export interface DuckEngine extends QueryEngine {
  /** The connection the views are defined on, for statements of an analyst's own (`ticklake sql`): no caps, no pool. */
  connection: DuckDBConnection
  /** Files left out of the views as corrupt, by path. */
  skipped(): string[]
  close(): void
}

/**
 * A DuckDB engine with the lake's views; a table with no file yet is an empty view.
 * @example const db = await duckdbEngine('.ticklake', { timeoutMs: 5_000 }); const rows = await db.query(candlesQuery({ ... }))
 */
export async function duckdbEngine(dataDir: string, options: DuckOptions = {}): Promise<DuckEngine> {
  // Long by design: the engine's connection, views and queue live in this closure; its parts are the small named functions inside.
  const o = { ...defaults, ...options }
  // loaded here, not on import: DuckDB's library takes about 40 MB of a process that never queries
  const { DuckDBInstance } = await import('@duckdb/node-api')
  // jemalloc's background threads give freed pages back to the system while queries pause (without
  // them DuckDB kept ~70 MB of a burst's freed memory until its next allocations; bench/queries.ts)
  const instance = await DuckDBInstance.create(':memory:', { memory_limit: o.memoryLimit, threads: String(o.threads), allocator_background_threads: 'true' })
  const ddl = await instance.connect()
  await ddl.run(`SET TimeZone = 'UTC'`)
  // Tables whose folder holds no file yet are empty views, made real once files appear (checked before each query)
  const waiting = new Set<string>()
  /** Corrupt files left out, by path, with the size and time they had: a file written again is read again. */
  const skip = new Map<string, { table: string; size: number; mtimeMs: number }>()
  const globOf = (name: string) => {
    const { folder, partitions } = TABLES[name]
    // a partitioned table's files lie at exactly its depth (anything else, such as a file of an older layout, is not its)
    return partitions ? join(dataDir, folder, ...partitions.map(() => '*'), '*.parquet') : join(dataDir, folder, '**', '*.parquet')
  }
  function columnsOf(name: string) {
    const t = TABLES[name]
    // the columns with their DuckDB types: Firehose's tables by their Glue (Hive) types, the rest by core's schema
    const cols = 'glue' in t ? t.glue.map((c) => [c.name, HIVE_TYPES[c.type]]) : t.columns.map((c) => [c.name, DUCK_TYPES[c.type]])
    const names = new Set(cols.map(([n]) => n))
    return [...cols, ...(t.partitions ?? []).filter((p) => !names.has(p)).map((p) => [p, 'VARCHAR'])]
  }
  const emptyOf = (name: string) => `SELECT ${columnsOf(name).map(([n, ty]) => `CAST(NULL AS ${ty}) AS ${n}`).join(', ')} WHERE false`
  async function define(name: string) {
    const t = TABLES[name]
    const { folder, partitions } = t
    const all = columnsOf(name)
    const empty = emptyOf(name)
    const glob = globOf(name)
    const hive = partitions ? 'hive_partitioning = true, hive_types_autocast = false' : 'hive_partitioning = false'
    const select = 'glue' in t ? all.map(([n, ty]) => `CAST(${n} AS ${ty}) AS ${n}`).join(', ') : '*'
    // with corrupt files to leave out, the view names the table's other files (listed now, and again before each query)
    let source = quote(glob)
    if ([...skip.values()].some((f) => f.table === name)) {
      const files = (await (await ddl.runAndReadAll(`SELECT file FROM glob(${quote(glob)})`)).getRows()).map((r) => String(r[0])).filter((f) => !skip.has(f))
      source = files.length ? `[${files.map(quote).join(', ')}]` : ''
    }
    const files = `SELECT ${select} FROM read_parquet(${source}, ${hive}, union_by_name = true)`
    waiting.delete(name)
    await ddl.run(`CREATE OR REPLACE VIEW ${name} AS ${existsSync(join(dataDir, folder)) && source ? files : empty}`).catch(async (e) => {
      if (!/No files found/i.test(e.message)) throw e
      await ddl.run(`CREATE OR REPLACE VIEW ${name} AS ${empty}`)
      waiting.add(name)
    })
    if (!existsSync(join(dataDir, folder))) waiting.add(name)
  }
  const reads = (st: Statement, name: string) => new RegExp(`\\b${name}\\b`).test(st.sql)
  /** Defines a view; a broken file stops only the queries that read it: the view waits (empty) and each such query tries again. */
  async function defineOrWait(name: string, st?: Statement) {
    try { await define(name) } catch (e: any) {
      if (!FILE_ERROR.test(String(e?.message))) throw e
      if (!(await ddl.runAndReadAll(`SELECT 1 FROM duckdb_views() WHERE view_name = ${quote(name)}`)).getRows().length) {
        await ddl.run(`CREATE OR REPLACE VIEW ${name} AS ${emptyOf(name)}`)
      }
      waiting.add(name)
      if (st && reads(st, name)) throw e
    }
  }
  for (const name of Object.keys(TABLES)) await defineOrWait(name)
  // The analyst views (fact_trades, fact_candles): core's SQL, the same text Athena runs
  for (const sql of analystViewStatements()) await ddl.run(sql)

  // view definitions are serialized (one DDL at a time) and happen between queries' reads of the catalog
  let ddlQueue: Promise<unknown> = Promise.resolve()
  const serialDdl = <T>(fn: () => Promise<T>) => { const run = ddlQueue.then(fn); ddlQueue = run.catch(() => {}); return run }
  async function refreshViews(st: Statement) {
    for (const name of [...waiting]) if (existsSync(join(dataDir, TABLES[name].folder))) await defineOrWait(name, st)
    const tables = new Set<string>()
    for (const [path, f] of skip) {
      const st = (() => { try { return statSync(path) } catch { return undefined } })()
      if (!st || st.size !== f.size || st.mtimeMs !== f.mtimeMs) skip.delete(path) // written again or gone: read it again
      tables.add(f.table)
    }
    for (const name of tables) await defineOrWait(name, st) // the file list of a view with a file left out is made before each query
  }

  const collect = collector(o)
  const pool: DuckDBConnection[] = []
  for (let i = 0; i < o.connections; i++) { const c = await instance.connect(); await c.run(`SET TimeZone = 'UTC'`); pool.push(c) }
  const free = [...pool]
  const queue: { resolve: (c: DuckDBConnection) => void; reject: (e: Error) => void }[] = []
  let closed = false

  function acquire(deadline: number): Promise<DuckDBConnection> {
    const c = free.pop()
    if (c) return Promise.resolve(c)
    if (queue.length >= o.maxQueued) return Promise.reject(new QueryLimitError(`the query engine is busy (${o.connections} queries running, ${queue.length} waiting): try again shortly`, 503))
    return new Promise((resolve, reject) => {
      const waiter = { resolve: (conn: DuckDBConnection) => { clearTimeout(timer); resolve(conn) }, reject }
      const timer = o.timeoutMs > 0 ? setTimeout(() => {
        const i = queue.indexOf(waiter)
        if (i >= 0) queue.splice(i, 1)
        reject(new QueryLimitError(`the query waited over ${o.timeoutMs} ms for the busy engine: try again shortly`, 503))
      }, Math.max(0, deadline - Date.now())) : undefined
      queue.push(waiter)
    })
  }
  function release(c: DuckDBConnection) {
    const next = queue.shift()
    if (next) next.resolve(c); else free.push(c)
  }

  /**
   * One run of a statement on a connection, within the caps and the deadline. The result is held
   * by DuckDB in its columns (a row of 90 doubles takes 720 bytes there, about 4x its JSON as a
   * JavaScript object), and the caps are checked on its row count and first row before any row
   * becomes an object: an answer over them costs no JavaScript memory at all.
   */
  async function runOn(c: DuckDBConnection, st: Statement, deadline: number): Promise<Row[]> {
    let timedOut = false
    const timer = o.timeoutMs > 0 ? setTimeout(() => { timedOut = true; c.interrupt() }, Math.max(0, deadline - Date.now())) : undefined
    try {
      const result = await c.run(st.sql, st.params as any)
      collect.held(result.rowCount * result.columnCount * 8)
      const names = result.columnNames()
      if (result.rowCount > o.maxRows) throw new QueryLimitError(`the answer is over ${o.maxRows} rows: narrow from/to or lower limit`, 413)
      if (result.rowCount && firstRowBytes(result.getChunk(0), names) * result.rowCount > o.maxBytes) {
        throw new QueryLimitError(`the answer is over ${Math.round(o.maxBytes / 1048576)} MB: narrow from/to or lower limit`, 413)
      }
      const rows: Row[] = []
      for (let i = 0; i < result.chunkCount; i++) for (const r of result.getChunk(i).getRowObjects(names)) rows.push(plainRow(r))
      return rows
    } catch (e: any) {
      if (e instanceof QueryLimitError) { if (!timedOut) c.interrupt(); throw e }
      if (timedOut || /INTERRUPT/i.test(String(e?.message))) throw new QueryLimitError(`the query ran over its time limit of ${o.timeoutMs} ms and was stopped: narrow from/to or lower limit`, 503)
      if (/Out of Memory/i.test(String(e?.message))) throw new QueryLimitError(`the query needs more memory than the engine's ${o.memoryLimit} while others run: try again shortly, or narrow from/to or lower limit`, 503)
      throw e
    } finally { clearTimeout(timer) }
  }

  /**
   * The first unreadable file among those `st` may read: its tables' files (not left out yet) under
   * the `exchange=`/`symbol=` partitions its parameters name, each read whole, within the deadline.
   */
  async function brokenFile(c: DuckDBConnection, st: Statement, deadline: number): Promise<string | undefined> {
    const values = new Set(st.params.map(String))
    for (const name of Object.keys(TABLES).filter((n) => new RegExp(`\\b${n}\\b`).test(st.sql))) {
      const files = (await (await c.runAndReadAll(`SELECT file FROM glob(${quote(globOf(name))})`)).getRows()).map((r) => String(r[0]))
      for (const file of files) {
        if (skip.has(file)) continue
        const parts = relative(join(dataDir, TABLES[name].folder), file).split(sep).map((p) => p.split('='))
        if (parts.some(([k, v]) => (k === 'exchange' || k === 'symbol') && v !== undefined && !values.has(v))) continue
        try { await runOn(c, { sql: `SELECT max(hash(t)) AS h FROM read_parquet(${quote(file)}) AS t`, params: [] }, deadline) } catch (e: any) {
          if (e instanceof QueryLimitError) throw e
          return file
        }
      }
    }
    return undefined
  }

  return {
    /** Runs a statement on a free connection (or after the queue), within the time limit and caps. */
    async query(st: Statement) {
      if (closed) throw new Error('the query engine is closed')
      const deadline = o.timeoutMs > 0 ? Date.now() + o.timeoutMs : Infinity
      const c = await acquire(deadline)
      try {
        let changed = false
        for (let skips = 0; ; ) {
          try {
            // (a view reads its files' schemas when it is defined: a broken file can fail here too)
            await serialDdl(() => refreshViews(st))
            return await runOn(c, st, deadline)
          } catch (e: any) {
            const message = String(e?.message ?? e)
            if (e instanceof QueryLimitError || !FILE_ERROR.test(message)) throw e
            // a file being replaced under the reader: once more, as it is now
            if (!changed) { changed = true; await new Promise((r) => setTimeout(r, o.retryDelayMs)); continue }
            // DuckDB names the file for a bad footer, not always for bad pages ("don't know what type"): then the files are probed
            const path = fileOf(message) ?? await brokenFile(c, st, deadline)
            const table = path && Object.keys(TABLES).find((n) => path.startsWith(join(dataDir, TABLES[n].folder) + sep))
            const st2 = path && (() => { try { return statSync(path) } catch { return undefined } })()
            if (!path || !table || !st2 || skip.has(path) || ++skips > 5) throw new QueryLimitError(`the lake changed while it was read: try again (${message.split('\n')[0].slice(0, 200)})`, 503)
            // still unreadable: corrupt. Recorded, left out of the view (redefined before the next run) until it is written again
            skip.set(path, { table, size: st2.size, mtimeMs: st2.mtimeMs })
            await Promise.resolve(o.onCorrupt?.({ key: relative(dataDir, path).split(sep).join('/'), reason: message.split('\n')[0] })).catch(() => {})
          }
        }
      } finally { release(c); collect.after() }
    },
    connection: ddl,
    skipped: () => [...skip.keys()],
    close() {
      closed = true
      for (const w of queue.splice(0)) w.reject(new Error('the query engine is closed'))
      for (const c of pool) c.closeSync()
      ddl.closeSync(); instance.closeSync?.()
    },
  }
}

/**
 * DuckDB's results live in native memory V8 does not count: a result is freed only when its
 * JavaScript wrapper is collected, and V8 times its collections by its own heap alone. Under a mix
 * of heavy queries dead results piled up to 100 MB and more. `held` counts the bytes results hand
 * out; `after` (at each query's end) has V8 collect at once past `collectAfterBytes`, and once
 * queries pause for `collectIdleMs` past `collectIdleBytes`. Measured by `npm run bench -- --only
 * queries`: RSS peak 302-313 MB against 333-436 MB without it.
 * @example const c = collector(defaults); c.held(result.rowCount * result.columnCount * 8); c.after()
 */
export function collector(o: Pick<typeof defaults, 'collectAfterBytes' | 'collectIdleBytes' | 'collectIdleMs'>, gc = v8Collect()) {
  let held = 0
  let idle: ReturnType<typeof setTimeout> | undefined
  const run = () => { held = 0; clearTimeout(idle); idle = undefined; gc?.() }
  return {
    held(bytes: number) { held += bytes },
    after() {
      if (!gc || !o.collectAfterBytes) return
      if (held > o.collectAfterBytes) return run()
      if (held >= o.collectIdleBytes && !idle) { idle = setTimeout(run, o.collectIdleMs); idle.unref?.() }
    },
  }
}

/** JSON bytes of a chunk's first row in an answer (with its comma), read from the column vectors alone. */
function firstRowBytes(chunk: DuckDBDataChunk, names: string[]) {
  if (!chunk.rowCount) return 0
  const row: Row = {}
  names.forEach((n, i) => { row[n] = plain(chunk.getColumnVector(i).getItem(0)) })
  return JSON.stringify(row).length + 1
}

const plainRow = (r: Record<string, unknown>) => { const out: Row = {}; for (const k in r) out[k] = plain(r[k]); return out }
