/**
 * Query SQL shared by the query engines (Athena in AWS, DuckDB locally): the same statements run
 * on both, over tables named as the Glue catalog names them; values are always bound as
 * parameters, never spliced into the text. Also the validation of query input.
 */
import { CANDLE_COLUMNS, TIMEFRAMES, isSymbol, type Timeframe } from '../market/index'

/** A statement with positional parameters (`?`), as both engines take them. */
export interface Statement { sql: string; params: (string | number)[] }

/** One of the engines. Rows come back with column names as keys. */
export interface QueryEngine { query(st: Statement): Promise<Record<string, unknown>[]> }

export class QueryInputError extends Error {}

export interface CandleQuery { exchange: string; symbol: string; tf: Timeframe; from?: number; to?: number; limit?: number }

const EXCHANGE = /^[a-z][a-z0-9-]{0,30}$/

/** Checks candle query input; throws a QueryInputError that says what is wrong. */
export function validateCandleQuery(q: CandleQuery): CandleQuery {
  if (!EXCHANGE.test(q.exchange)) throw new QueryInputError(`exchange must be lowercase letters, digits or '-' (got ${JSON.stringify(q.exchange)})`)
  if (!isSymbol(q.symbol)) throw new QueryInputError(`symbol must look like BTC-USDT (got ${JSON.stringify(q.symbol)})`)
  if (!(q.tf in TIMEFRAMES)) throw new QueryInputError(`tf must be one of ${Object.keys(TIMEFRAMES).join(', ')} (got ${JSON.stringify(q.tf)})`)
  for (const k of ['from', 'to'] as const) if (q[k] !== undefined && !Number.isFinite(q[k])) throw new QueryInputError(`${k} must be an ISO-8601 time`)
  if (q.from !== undefined && q.to !== undefined && q.to < q.from) throw new QueryInputError('to must not be before from')
  if (q.limit !== undefined && (!Number.isSafeInteger(q.limit) || q.limit < 1 || q.limit > 100_000)) throw new QueryInputError('limit must be a whole number from 1 to 100000')
  return q
}

/** A UTC time as both engines cast it to TIMESTAMP: `2026-11-24 15:00:00.000`. */
export const sqlTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '')

/**
 * Candles of one symbol and timeframe, open time in `[from, to)`, oldest first.
 * @example candlesQuery({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', from: Date.parse('2026-11-24T00:00Z') })
 */
export function candlesQuery(q: CandleQuery): Statement {
  validateCandleQuery(q)
  const where = ['exchange = ?', 'symbol = ?', 'tf = ?']
  const params: (string | number)[] = [q.exchange, q.symbol, q.tf]
  if (q.from !== undefined) { where.push('open_time >= CAST(? AS TIMESTAMP)'); params.push(sqlTime(q.from)) }
  if (q.to !== undefined) { where.push('open_time < CAST(? AS TIMESTAMP)'); params.push(sqlTime(q.to)) }
  const cols = CANDLE_COLUMNS.map((c) => c.name).join(', ')
  params.push(q.limit ?? 100_000)
  return { sql: `SELECT ${cols} FROM candles WHERE ${where.join(' AND ')} ORDER BY open_time LIMIT ?`, params }
}
