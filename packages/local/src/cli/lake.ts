/**
 * The reading commands over the lake: `candles` (a query's candles as CSV or JSON), `gaps` (the
 * quality records), `verify` (the lake's candles against the exchange's klines) and `sql` (DuckDB
 * with the analyst views). Each refuses a --data folder that does not exist and upgrades an older
 * lake's layout first (`upgradeLake`).
 */
import { parseArgs } from 'node:util'
import { EXCHANGES } from '@ticklake/core/sources/venues'
import { CANDLE_COLUMNS, TIMEFRAMES, type Timeframe } from '@ticklake/core/market'
import { candlesQuery } from '@ticklake/core/serve/query'
import { defaults as cloudDefaults } from '../cloud/index'
import { EXIT, UsageError } from './errors'
import { existingDataDir, lakeExchangeArg, oneOf, symbolArg, timeArg } from './args'

/** `upgradeLake` on the lake in `dataDir`, its lines on stderr (stdout may be data). */
export async function upgradeLake(dataDir: string) {
  const [{ fileStore }, { upgradeLake: upgrade }] = await Promise.all([import('../store/index'), import('../cloud/index')])
  await upgrade(fileStore(dataDir), (line) => process.stderr.write(line + '\n'))
}

export async function candles(argv: string[]) {
  const { values } = parseArgs({ args: argv, options: { exchange: { type: 'string', default: 'binance' }, symbol: { type: 'string' }, tf: { type: 'string', default: '1m' }, from: { type: 'string' }, to: { type: 'string' }, limit: { type: 'string' }, format: { type: 'string', default: 'csv' }, data: { type: 'string', default: cloudDefaults.dataDir } } })
  if (!values.symbol) throw new UsageError('--symbol is required, e.g. --symbol BTC-USDT')
  const data = existingDataDir(values.data!)
  const exchange = lakeExchangeArg(values.exchange!, EXCHANGES, data)
  const tf = oneOf('tf', values.tf!, Object.keys(TIMEFRAMES) as Timeframe[])
  const format = oneOf('format', values.format!, ['csv', 'json'])
  const limit = values.limit !== undefined ? Number(values.limit) : undefined
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new UsageError(`--limit is a positive whole number (got ${JSON.stringify(values.limit)})`)
  const st = candlesQuery({ exchange, symbol: symbolArg('symbol', values.symbol), tf, from: values.from === undefined ? undefined : timeArg('from', values.from), to: values.to === undefined ? undefined : timeArg('to', values.to), limit })
  const { duckdbEngine, UNBOUNDED } = await import('../duckdb/index')
  await upgradeLake(data)
  const engine = await duckdbEngine(data, UNBOUNDED)
  try {
    const rows = await engine.query(st)
    const cols = CANDLE_COLUMNS.map((c) => c.name)
    if (format === 'json') process.stdout.write(JSON.stringify(rows.map((r) => Object.fromEntries(cols.map((c) => [c, r[c]]))), null, 1) + '\n')
    else process.stdout.write([cols.join(','), ...rows.map((r) => cols.map((c) => String(r[c])).join(','))].join('\n') + '\n')
  } finally { engine.close() }
  return EXIT.ok
}

export async function gaps(argv: string[]) {
  const { values } = parseArgs({ args: argv, options: { exchange: { type: 'string' }, symbol: { type: 'string' }, format: { type: 'string', default: 'text' }, data: { type: 'string', default: cloudDefaults.dataDir } } })
  const data = existingDataDir(values.data!)
  const format = oneOf('format', values.format!, ['text', 'json'])
  const exchange = values.exchange === undefined ? undefined : lakeExchangeArg(values.exchange, EXCHANGES, data)
  const symbol = values.symbol === undefined ? undefined : symbolArg('symbol', values.symbol)
  const { fileStore } = await import('../store/index')
  const { listQuality } = await import('@ticklake/core/lake/quality')
  const q = await listQuality(fileStore(data), { exchange, symbol })
  if (format === 'json') { process.stdout.write(JSON.stringify(q, null, 1) + '\n'); return 0 }
  const iso = (ms?: number) => (ms === undefined ? '—' : new Date(ms).toISOString())
  const lines = [`${q.gaps.length} gap(s), ${q.disconnects.length} disconnect(s), ${q.stalls.length} stall(s)`]
  for (const g of q.gaps) lines.push(`gap         ${iso(g.detected_at)}  ${g.exchange} ${g.symbol}  ids ${g.from_id}..${g.to_id} (${g.to_id - g.from_id + 1})  ${g.kind}: ${g.reason}`)
  for (const d of q.disconnects) lines.push(`disconnect  ${iso(d.disconnected_at)} .. ${iso(d.reconnected_at)}  ${d.exchange} ${d.symbols.join(',')}  ${d.reason}`)
  for (const x of q.stalls) lines.push(`stall       ${iso(x.since)} .. ${iso(x.resumed_at ?? x.ended_at)}  ${x.exchange} ${x.symbol}  ${x.resumed_at ? 'resumed' : x.ended_at ? 'run ended stalled' : 'open'}, ${x.fetched} fetched over REST: ${x.reason}`)
  process.stdout.write(lines.join('\n') + '\n')
  return 0
}

export async function verify(argv: string[]) {
  const { values } = parseArgs({ args: argv, options: { exchange: { type: 'string', default: 'binance' }, symbol: { type: 'string' }, tf: { type: 'string', default: '1m' }, from: { type: 'string' }, to: { type: 'string' }, 'rest-url': { type: 'string' }, format: { type: 'string', default: 'text' }, data: { type: 'string', default: cloudDefaults.dataDir } } })
  for (const k of ['symbol', 'from', 'to'] as const) if (!values[k]) throw new UsageError(`--${k} is required, e.g. ticklake verify --symbol BTC-USDT --from 2026-11-24T15:00:00Z --to 2026-11-24T16:00:00Z`)
  const format = oneOf('format', values.format!, ['text', 'json'])
  const tf = oneOf('tf', values.tf!, Object.keys(TIMEFRAMES) as Timeframe[])
  const o = { exchange: values.exchange!, symbol: symbolArg('symbol', values.symbol!), tf, from: timeArg('from', values.from!), to: timeArg('to', values.to!), restUrl: values['rest-url'] }
  const data = existingDataDir(values.data!)
  const { verifyCandles, formatReport } = await import('@ticklake/core/serve/verify')
  const { duckdbEngine, UNBOUNDED } = await import('../duckdb/index')
  await upgradeLake(data)
  const engine = await duckdbEngine(data, UNBOUNDED)
  try {
    const report = await verifyCandles({ ...o, engine })
    process.stdout.write(format === 'json' ? JSON.stringify(report, null, 1) + '\n' : formatReport(report).join('\n') + '\n')
    return report.ok ? EXIT.ok : EXIT.problem
  } finally { engine.close() }
}

/** `sql [QUERY]`: DuckDB over the lake with the analyst views; a prompt (or piped statements) without QUERY. */
export async function sql(argv: string[]) {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { format: { type: 'string', default: 'table' }, data: { type: 'string', default: cloudDefaults.dataDir } } })
  const format = oneOf('format', values.format!, ['table', 'csv', 'json'])
  if (positionals.length > 1) throw new UsageError('put the statement in one argument, in quotes: ticklake sql "select tf, count(*) from candles group by tf"')
  const data = existingDataDir(values.data!)
  const [{ duckdbEngine, UNBOUNDED }, { runSql, formatResult, sqlRepl }] = await Promise.all([import('../duckdb/index'), import('./sql')])
  await upgradeLake(data)
  const engine = await duckdbEngine(data, UNBOUNDED)
  try {
    if (positionals.length) { process.stdout.write(formatResult(await runSql(engine, positionals[0]), format)); return EXIT.ok }
    return await sqlRepl({ engine, input: process.stdin, format, interactive: !!process.stdin.isTTY, write: (x) => process.stdout.write(x), writeError: (x) => process.stderr.write(x) })
  } finally { engine.close() }
}
