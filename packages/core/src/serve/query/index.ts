/**
 * Query SQL shared by the query engines (Athena in AWS, DuckDB locally): the same statements run
 * on both, over tables named as the Glue catalog names them (`candles`, `trades`, `bronze_trades`,
 * `quotes`, `features_trades`, `features_candles`); values are always bound as `?` parameters,
 * never spliced into the text. Also the validation of query input and the `QueryEngine` port.
 *
 * The SQL keeps to what both engines accept: Athena takes `?` only in WHERE clauses (not in
 * SELECT or LIMIT), so a caller's limit is bound through `row_number() ... WHERE rn <= ?`; times
 * are bound as `'YYYY-MM-DD HH:MM:SS.mmm'` strings under `CAST(? AS TIMESTAMP)`; `min_by`/`max_by`
 * exist in both (DuckDB aliases of arg_min/arg_max). Column aliases avoid words either engine
 * reserves (`first`, `last`, `min`, `max`, `count`).
 *
 * `candles` and `trades` are partitioned by date (`dt`, 'YYYY-MM-DD', the first day of a file's
 * span: see `candleFileDt`), and Athena reads only the partitions a query's `dt` bounds name: every
 * statement with a time range bounds `dt` as well (`dtBounds`), so a one-day query reads one day's files.
 * The per-exchange answers of `/api/symbols` and `/api/status` are folded in `./exchanges.ts`.
 */
import { CANDLE_COLUMNS, TIMEFRAMES, isSymbol, type Timeframe } from '../../market/index'
import { candleFileDt, partitionOf } from '../../lake/layout/index'
import { CANDLE_FEATURE_COLUMNS, FEATURE_COLUMNS } from '../../lake/features/schema'

export { exchangesOf, exchangeStatusOf, type ExchangeStatus, type ExchangeSymbols } from './exchanges'

/** A statement with positional parameters (`?`), as both engines take them. */
export interface Statement { sql: string; params: (string | number)[] }

/** One result row, column names as keys: times as ISO-8601 strings, integers and doubles as numbers. */
export type Row = Record<string, unknown>

/**
 * The query port: Athena (`core/aws/athena.ts`) in AWS, DuckDB (`@ticklake/local`) locally.
 * @example const rows = await engine.query(candlesQuery({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m' }))
 */
export interface QueryEngine { query(st: Statement): Promise<Row[]> }

/** Bad query input: the message says what was wrong (the HTTP API answers it with 400). */
export class QueryInputError extends Error {}

/**
 * A query an engine refused or stopped, with the HTTP status the API answers it with: 503 when the
 * engine is busy (its queue is full), the query ran over its time limit or the lake changed under
 * it twice; 413 when the answer is over the row or byte cap. The message says which and what to do.
 */
export class QueryLimitError extends Error {
  constructor(message: string, readonly status: 413 | 503) { super(message) }
}

export const defaults = {
  maxLimit: 100_000,
  /** How far back `latest` looks for a trade. */
  latestLookbackMs: 86_400_000,
  maxHours: 24 * 366,
  /** The widest `[from, to)` of per-trade features (`kind=trades`): about 2M rows a day at 25 trades/s. */
  maxTradeFeatureSpanMs: 86_400_000,
}

/**
 * The widest `[from, to)` a query takes: `maxLimit` candles of its timeframe (1m: 69 days, 1d: 273
 * years), `maxLimit` minutes of candle features, a day of trade features. Wider is refused (400):
 * such a range is read whole before `limit` applies, and page by page answers it as well.
 */
export function maxSpanMs(q: { tf?: Timeframe; kind?: FeatureKind }): number {
  if (q.kind === 'trades') return defaults.maxTradeFeatureSpanMs
  return defaults.maxLimit * TIMEFRAMES[q.tf ?? '1m']
}

function checkSpan(q: { from?: number; to?: number; tf?: Timeframe; kind?: FeatureKind }) {
  const max = maxSpanMs(q)
  if (q.from !== undefined && q.to !== undefined && q.to - q.from > max) {
    const what = q.kind ? `kind=${q.kind}` : `tf=${q.tf}`
    throw new QueryInputError(`from..to spans ${fmtSpan(q.to - q.from)}; ${what} takes at most ${fmtSpan(max)}: ask page by page (from, limit)`)
  }
}
const fmtSpan = (ms: number) => (ms >= 86_400_000 ? `${Number((ms / 86_400_000).toFixed(1))} days` : `${Number((ms / 3_600_000).toFixed(1))} hours`)

/** Placeholders in a statement (`?` outside string literals), for adapters to check `params` against. */
export function placeholders(sql: string): number {
  let n = 0
  let quoted = false
  for (const ch of sql) { if (ch === "'") quoted = !quoted; else if (ch === '?' && !quoted) n++ }
  return n
}

const EXCHANGE = /^[a-z][a-z0-9-]{0,30}$/
const show = (v: unknown) => JSON.stringify(v)?.slice(0, 80)

/** Throws unless `exchange` is lowercase letters, digits or '-'. */
export function checkExchange(exchange: unknown): string {
  if (typeof exchange !== 'string' || !EXCHANGE.test(exchange)) throw new QueryInputError(`exchange must be lowercase letters, digits or '-', starting with a letter (got ${show(exchange)})`)
  return exchange
}

/** Throws unless `symbol` is a normalized BASE-QUOTE symbol. */
export function checkSymbol(symbol: unknown): string {
  if (!isSymbol(symbol)) throw new QueryInputError(`symbol must look like BTC-USDT (got ${show(symbol)})`)
  return symbol
}

export interface CandleQuery {
  exchange: string; symbol: string; tf: Timeframe; from?: number; to?: number; limit?: number
  /** The answer's byte cap: rows beyond those that must already pass it are not read (see `rowsToProve`). */
  maxBytes?: number
}

/**
 * The fewest JSON bytes a row of `cols` takes in an answer: braces, each `"name":` with a value of
 * one character at least, commas. An answer of more than `maxBytes / rowJsonBytes(cols)` rows is over
 * `maxBytes` whatever its values.
 */
export const rowJsonBytes = (cols: string[]) => 2 + cols.reduce((n, c) => n + c.length + 5, 0)

/**
 * The rows a query needs to read at most: its `limit`, or just enough rows to prove the answer over
 * `maxBytes` when fewer do. A day of 90-column trade features at limit 100,000 then reads 5,665
 * rows, not 100,000, to answer the same 413 (8 MB cap), and the engine holds a seventeenth of the memory.
 * @example rowsToProve(["a", "b"], 100_000, 1_000) // 72: 71 rows of `{"a":1,"b":2},` fit 1,000 bytes
 */
export function rowsToProve(cols: string[], limit: number, maxBytes?: number) {
  if (maxBytes === undefined || !(maxBytes > 0)) return limit
  return Math.min(limit, Math.floor(maxBytes / rowJsonBytes(cols)) + 1)
}

function checkRange(q: { from?: number; to?: number; limit?: number }) {
  for (const k of ['from', 'to'] as const) if (q[k] !== undefined && !Number.isFinite(q[k])) throw new QueryInputError(`${k} must be an ISO-8601 time`)
  if (q.from !== undefined && q.to !== undefined && q.to < q.from) throw new QueryInputError('to must not be before from')
  if (q.limit !== undefined && (!Number.isSafeInteger(q.limit) || q.limit < 1 || q.limit > defaults.maxLimit)) throw new QueryInputError(`limit must be a whole number from 1 to ${defaults.maxLimit}`)
}

/** Checks candle query input; throws a QueryInputError that says what is wrong. */
export function validateCandleQuery(q: CandleQuery): CandleQuery {
  checkExchange(q.exchange)
  checkSymbol(q.symbol)
  if (typeof q.tf !== 'string' || !Object.hasOwn(TIMEFRAMES, q.tf)) throw new QueryInputError(`tf must be one of ${Object.keys(TIMEFRAMES).join(', ')} (got ${show(q.tf)})`)
  checkRange(q)
  checkSpan(q)
  return q
}

/** A UTC time as both engines cast it to TIMESTAMP: `2026-11-24 15:00:00.000`. */
export const sqlTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '')

/**
 * The `dt` partitions that can hold rows stamped in `[from, to)`, as WHERE terms and their
 * parameters; `dtOf` is the `dt` of the file a row stamped at that time lies in (its span's first
 * day: for candles `candleFileDt`, for trades the day itself).
 * @example dtBounds(partitionDt, Date.parse('2026-11-24T00:00Z'), Date.parse('2026-11-25T00:00Z')) // { where: ['dt >= ?', 'dt <= ?'], params: ['2026-11-24', '2026-11-24'] }
 */
export function dtBounds(dtOf: (ms: number) => string, from?: number, to?: number): { where: string[]; params: string[] } {
  const where: string[] = [], params: string[] = []
  if (from !== undefined) { where.push('dt >= ?'); params.push(dtOf(from)) }
  // times are at most microsecond-fine: a row before `to` is stamped at or before the last millisecond before it
  if (to !== undefined) { where.push('dt <= ?'); params.push(dtOf(Math.ceil(to) - 1)) }
  return { where, params }
}

/** The `dt` of the hour file (silver trades, 1m candles) holding a row stamped at `ms`. */
const partitionDt = (ms: number) => partitionOf(ms).dt

/** `SELECT cols FROM (... row_number() ...) WHERE rn <= ?`: a bound limit that Athena accepts. */
function limited(cols: string, table: string, where: string[], order: string, desc: boolean, limit: number, params: (string | number)[]): Statement {
  const dir = desc ? ' DESC' : ''
  const by = order.split(', ').map((c) => c + dir).join(', ')
  if (order.includes(',')) {
    const inner = `SELECT ${cols}, row_number() OVER (ORDER BY ${by}) AS rn FROM ${table} WHERE ${where.join(' AND ')}`
    return { sql: `SELECT ${cols} FROM (${inner}) AS t WHERE rn <= ? ORDER BY ${order}`, params: [...params, limit] }
  }
  // the limit's boundary time first, from the time column alone, so that the engine numbers (and
  // holds in memory) only the rows within it, not every column of the whole range
  const edge = `(SELECT ${desc ? 'min' : 'max'}(${order}) FROM (SELECT ${order}, row_number() OVER (ORDER BY ${by}) AS rn FROM ${table} WHERE ${where.join(' AND ')}) AS b WHERE rn <= ?)`
  const inner = `SELECT ${cols}, row_number() OVER (ORDER BY ${by}) AS rn FROM ${table} WHERE ${where.join(' AND ')} AND ${order} ${desc ? '>=' : '<='} ${edge}`
  return { sql: `SELECT ${cols} FROM (${inner}) AS t WHERE rn <= ? ORDER BY ${order}`, params: [...params, ...params, limit, limit] }
}

/**
 * Candles of one symbol and timeframe, open time in `[from, to)`, oldest first: the first `limit`
 * from `from`, or without `from` the newest `limit` (as Binance's klines answer). Bounded by `dt`
 * as well where `from` or `to` is given.
 * @example candlesQuery({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', from: Date.parse('2026-11-24T00:00Z') })
 */
export function candlesQuery(q: CandleQuery): Statement {
  validateCandleQuery(q)
  const dt = dtBounds((ms) => candleFileDt(q.tf, ms), q.from, q.to)
  const where = ['exchange = ?', 'symbol = ?', 'tf = ?', ...dt.where]
  const params: (string | number)[] = [q.exchange, q.symbol, q.tf, ...dt.params]
  if (q.from !== undefined) { where.push('open_time >= CAST(? AS TIMESTAMP)'); params.push(sqlTime(q.from)) }
  if (q.to !== undefined) { where.push('open_time < CAST(? AS TIMESTAMP)'); params.push(sqlTime(q.to)) }
  const names = CANDLE_COLUMNS.map((c) => c.name)
  return limited(names.join(', '), 'candles', where, 'open_time', q.from === undefined && q.limit !== undefined, rowsToProve(names, q.limit ?? defaults.maxLimit, q.maxBytes), params)
}

/**
 * The span of one symbol's 1m candles. Per symbol, with equality on exchange and symbol, because
 * Athena's tables project `symbol` as an injected partition, which every query must pin.
 */
export function symbolSpanQuery(q: { exchange: string; symbol: string }): Statement {
  checkExchange(q.exchange); checkSymbol(q.symbol)
  return {
    sql: 'SELECT min(open_time) AS first_candle, max(open_time) AS last_candle, count(*) AS candles FROM candles WHERE exchange = ? AND symbol = ? AND tf = ?',
    params: [q.exchange, q.symbol, '1m'],
  }
}

/**
 * The newest trade of a symbol within `lookbackMs` of `now`, from silver: rewritten on every bronze
 * object, so as fresh as bronze, and (unlike Firehose's bronze in AWS) with real timestamp columns.
 */
export function latestQuery(q: { exchange: string; symbol: string; now: number; lookbackMs?: number }): Statement {
  checkExchange(q.exchange); checkSymbol(q.symbol)
  const since = q.now - (q.lookbackMs ?? defaults.latestLookbackMs)
  return {
    sql: 'SELECT exchange, symbol, trade_id, ts, price, qty, side, ingest_ts, source FROM trades WHERE exchange = ? AND symbol = ? AND dt >= ? AND ts >= CAST(? AS TIMESTAMP) ORDER BY ts DESC, trade_id DESC LIMIT 1',
    params: [q.exchange, q.symbol, ...dtBounds(partitionDt, since).params, sqlTime(since)],
  }
}

/** Aggregates of a symbol's 1m candles opened at or after `from`: see `statisticsOf`. */
export function statisticsQuery(q: { exchange: string; symbol: string; from: number }): Statement {
  checkExchange(q.exchange); checkSymbol(q.symbol); checkRange(q)
  return {
    sql: 'SELECT count(*) AS candles, sum(trades) AS trade_count, sum(volume) AS volume, sum(quote_volume) AS quote_volume, min(low) AS low_price, max(high) AS high_price, '
      + 'min_by(open, open_time) AS first_price, max_by(close, open_time) AS last_price, min(open_time) AS first_time, max(open_time) AS last_time '
      + 'FROM candles WHERE exchange = ? AND symbol = ? AND tf = ? AND dt >= ? AND open_time >= CAST(? AS TIMESTAMP)',
    params: [q.exchange, q.symbol, '1m', ...dtBounds(partitionDt, q.from).params, sqlTime(q.from)],
  }
}

export interface Statistics {
  exchange: string; symbol: string; hours: number; from: string; to: string
  /** Volume-weighted average price (quote volume / volume); null without volume. */
  avg: number | null
  min: number | null; max: number | null; first: number | null; last: number | null
  /** (last - first) / first * 100. */
  change_pct: number | null
  volume: number; quote_volume: number
  /** Individual trades. */
  count: number
  candles: number
}

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v))

/** Shapes the one row of `statisticsQuery` into the API's statistics. */
export function statisticsOf(row: Row | undefined, q: { exchange: string; symbol: string; hours: number; from: number; now: number }): Statistics {
  const r = row ?? {}
  const volume = num(r.volume) ?? 0
  const quote = num(r.quote_volume) ?? 0
  const first = num(r.first_price)
  const last = num(r.last_price)
  return {
    exchange: q.exchange, symbol: q.symbol, hours: q.hours, from: new Date(q.from).toISOString(), to: new Date(q.now).toISOString(),
    avg: volume > 0 ? quote / volume : null,
    min: num(r.low_price), max: num(r.high_price), first, last,
    change_pct: first && last !== null ? ((last - first) / first) * 100 : null,
    volume, quote_volume: quote, count: num(r.trade_count) ?? 0, candles: num(r.candles) ?? 0,
  }
}

/** Feature tables (`gold/features/trades`, `gold/features/candles`): per-trade rows stamped by `ts`, per-1m-candle rows by `open_time`. */
export const FEATURE_TABLES = {
  trades: { table: 'features_trades', time: 'ts', columns: FEATURE_COLUMNS },
  candles: { table: 'features_candles', time: 'open_time', columns: CANDLE_FEATURE_COLUMNS },
} as const
export type FeatureKind = keyof typeof FEATURE_TABLES

export interface FeatureQuery {
  kind: FeatureKind; exchange: string; symbol: string; from?: number; to?: number; limit?: number
  /** The answer's byte cap: rows beyond those that must already pass it are not read (see `rowsToProve`). */
  maxBytes?: number
  /** A lower bound of the time that keeps "the newest `limit`" (without `from`) the newest: trade features look back this far only. */
  since?: number
}

/** Gold feature rows of one symbol (candle features are of 1m candles), time in `[from, to)`, oldest first (newest `limit` without `from`). */
export function featuresQuery(q: FeatureQuery): Statement {
  const t = Object.hasOwn(FEATURE_TABLES, q.kind) ? FEATURE_TABLES[q.kind] : undefined
  if (!t) throw new QueryInputError(`kind must be one of ${Object.keys(FEATURE_TABLES).join(', ')} (got ${show(q.kind)})`)
  checkExchange(q.exchange); checkSymbol(q.symbol); checkRange(q); checkSpan(q)
  const where = ['exchange = ?', 'symbol = ?']
  const params: (string | number)[] = [q.exchange, q.symbol]
  // feature files are per UTC hour under dt= folders: the range bounds dt too, so a day reads a day's files
  const dt = dtBounds(partitionDt, q.from ?? q.since, q.to)
  where.push(...dt.where); params.push(...dt.params)
  if (q.since !== undefined && q.from === undefined) { where.push(`${t.time} >= CAST(? AS TIMESTAMP)`); params.push(sqlTime(q.since)) }
  if (q.from !== undefined) { where.push(`${t.time} >= CAST(? AS TIMESTAMP)`); params.push(sqlTime(q.from)) }
  if (q.to !== undefined) { where.push(`${t.time} < CAST(? AS TIMESTAMP)`); params.push(sqlTime(q.to)) }
  // the schema's columns, not `*`: the tables' partitions (dt, tf) are not part of a row
  const names = t.columns.map((c) => c.name)
  return limited(names.join(', '), t.table, where, t.time, q.from === undefined, rowsToProve(names, q.limit ?? 1000, q.maxBytes), params)
}

/**
 * Per source of one symbol: newest trade and ingest times and records (silver) ingested since
 * `since`. Not bounded by `dt`: a trade ingested since then may be older by any time (a backfill, an import).
 */
export function lastTradesQuery(q: { exchange: string; symbol: string; since: number }): Statement {
  checkExchange(q.exchange); checkSymbol(q.symbol)
  return {
    sql: 'SELECT source, max(ts) AS last_trade_time, max(ingest_ts) AS last_ingest_time, count(*) AS records FROM trades WHERE exchange = ? AND symbol = ? AND ingest_ts >= CAST(? AS TIMESTAMP) GROUP BY source ORDER BY source',
    params: [q.exchange, q.symbol, sqlTime(q.since)],
  }
}
