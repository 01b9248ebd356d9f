/**
 * The Athena adapter with the real `@aws-sdk/client-athena` against a small loopback stand-in of
 * Athena's JSON protocol (`x-amz-target: AmazonAthena.<Operation>`), which records every request,
 * answers QUEUED/RUNNING before SUCCEEDED, and pages its results two rows at a time. Its "engine"
 * filters a small candle table by the execution parameters it was sent, so rows come back only
 * when the values travelled as parameters.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { athenaEngine, convertValue, executionParameter, isoOfAthenaTime, AthenaQueryError } from './athena'
import { candlesQuery, statisticsQuery } from '../serve/query/index'

interface Call { target: string; body: any }

const TABLE = Array.from({ length: 5 }, (_, i) => ({ symbol: 'BTC-USDT', open_time: `2026-11-24 15:0${i}:00.000`, close: String(100 + i), trades: String(10 * i), final: i < 4 ? 'true' : 'false' }))

function standIn() {
  const calls: Call[] = []
  const polls = new Map<string, number>()
  const queries = new Map<string, any>()
  let seq = 0
  const server = createServer((req, res) => {
    let raw = ''
    req.on('data', (c) => (raw += c))
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '')
      const body = JSON.parse(raw || '{}')
      calls.push({ target, body })
      const send = (status: number, o: object) => { res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }); res.end(JSON.stringify(o)) }
      const op = target.replace('AmazonAthena.', '')
      if (op === 'StartQueryExecution') {
        const id = `q-${++seq}`
        queries.set(id, body)
        return send(200, { QueryExecutionId: id })
      }
      const q = queries.get(body.QueryExecutionId)
      if (!q) return send(400, { __type: 'InvalidRequestException', Message: 'no such query' })
      if (op === 'GetQueryExecution') {
        const n = (polls.get(body.QueryExecutionId) ?? 0) + 1
        polls.set(body.QueryExecutionId, n)
        const failing = String(q.QueryString).includes('no_such_table')
        const state = n === 1 ? 'QUEUED' : n === 2 ? 'RUNNING' : failing ? 'FAILED' : 'SUCCEEDED'
        return send(200, { QueryExecution: { QueryExecutionId: body.QueryExecutionId, Status: { State: state, StateChangeReason: failing ? "TABLE_NOT_FOUND: Table 'ticklake.no_such_table' does not exist" : undefined } } })
      }
      if (op === 'GetQueryResults') {
        // The stand-in's engine: symbol is the second parameter, as a quoted SQL literal
        const symbolLiteral = q.ExecutionParameters?.[1] ?? ''
        const rows = TABLE.filter((r) => `'${r.symbol}'` === symbolLiteral)
        const start = body.NextToken ? Number(body.NextToken) : 0
        const pageRows = rows.slice(start, start + 2)
        const header = { Data: ['open_time', 'close', 'trades', 'final', 'note'].map((VarCharValue) => ({ VarCharValue })) }
        const data = pageRows.map((r) => ({ Data: [{ VarCharValue: r.open_time }, { VarCharValue: r.close }, { VarCharValue: r.trades }, { VarCharValue: r.final }, {}] }))
        return send(200, {
          ResultSet: {
            ResultSetMetadata: { ColumnInfo: [{ Name: 'open_time', Type: 'timestamp' }, { Name: 'close', Type: 'double' }, { Name: 'trades', Type: 'bigint' }, { Name: 'final', Type: 'boolean' }, { Name: 'note', Type: 'varchar' }] },
            Rows: start === 0 ? [header, ...data] : data,
          },
          NextToken: start + 2 < rows.length ? String(start + 2) : undefined,
        })
      }
      if (op === 'StopQueryExecution') return send(200, {})
      send(400, { __type: 'UnknownOperationException' })
    })
  })
  return { server, calls }
}

describe('athenaEngine', () => {
  let stand: ReturnType<typeof standIn>
  let endpoint: string
  const delays: number[] = []
  const engine = () => athenaEngine({ endpoint, workGroup: 'ticklake-wg', database: 'lake_db', outputLocation: 's3://lake/athena/', sleep: async (ms) => { delays.push(ms) } })

  beforeAll(async () => {
    stand = standIn()
    await new Promise<void>((r) => stand.server.listen(0, '127.0.0.1', () => r()))
    endpoint = `http://127.0.0.1:${(stand.server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((r) => (stand.server as Server).close(() => r())))

  it('starts the statement with its values as ExecutionParameters in the workgroup, polls with backoff, and reads every page as typed rows', async () => {
    stand.calls.length = 0
    delays.length = 0
    const st = candlesQuery({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', from: Date.parse('2026-11-24T15:00:00Z'), limit: 10 })
    const rows = await engine().query(st)
    const start = stand.calls.find((c) => c.target === 'AmazonAthena.StartQueryExecution')!.body
    expect(start.QueryString).toBe(st.sql)
    // the range's values twice (the limit's boundary time is found first), then the limit for each
    const range = ["'binance'", "'BTC-USDT'", "'1m'", "'2026-11-24'", "'2026-11-24 15:00:00.000'"]
    expect(start.ExecutionParameters).toEqual([...range, ...range, '10', '10'])
    expect(start.WorkGroup).toBe('ticklake-wg')
    expect(start.QueryExecutionContext).toEqual({ Database: 'lake_db' })
    expect(start.ResultConfiguration).toEqual({ OutputLocation: 's3://lake/athena/' })
    expect(stand.calls.filter((c) => c.target === 'AmazonAthena.GetQueryExecution')).toHaveLength(3)
    expect(delays).toEqual([100, 200])
    expect(stand.calls.filter((c) => c.target === 'AmazonAthena.GetQueryResults').map((c) => c.body.NextToken)).toEqual([undefined, '2', '4'])
    expect(rows).toHaveLength(5)
    expect(rows[0]).toEqual({ open_time: '2026-11-24T15:00:00.000Z', close: 100, trades: 0, final: true, note: null })
    expect(rows[4]).toEqual({ open_time: '2026-11-24T15:04:00.000Z', close: 104, trades: 40, final: false, note: null })
  })

  it('passes a hostile value as one quoted literal parameter and never into the query text', async () => {
    stand.calls.length = 0
    const evil = "x' OR '1'='1"
    const st = { sql: 'SELECT open_time FROM candles WHERE exchange = ? AND symbol = ?', params: ['binance', evil] }
    const rows = await engine().query(st)
    const start = stand.calls.find((c) => c.target === 'AmazonAthena.StartQueryExecution')!.body
    expect(start.QueryString).toBe(st.sql)
    expect(start.QueryString).not.toContain('OR')
    expect(start.ExecutionParameters[1]).toBe("'x'' OR ''1''=''1'")
    expect(rows).toEqual([])
  })

  it("throws Athena's reason when the query fails", async () => {
    await expect(engine().query({ sql: 'SELECT * FROM no_such_table WHERE symbol = ?', params: ['BTC-USDT'] })).rejects.toThrow(AthenaQueryError)
    await expect(engine().query({ sql: 'SELECT * FROM no_such_table WHERE symbol = ?', params: ['BTC-USDT'] })).rejects.toThrow(/TABLE_NOT_FOUND/)
  })

  it('refuses a statement whose parameters do not match its placeholders, before calling Athena', async () => {
    stand.calls.length = 0
    await expect(engine().query({ sql: 'SELECT 1 FROM candles WHERE symbol = ? AND tf = ?', params: ['BTC-USDT'] })).rejects.toThrow(/2 placeholders but 1 parameters/)
    expect(stand.calls).toHaveLength(0)
  })

  it('sends the statistics SQL unchanged, its time bound as a literal for CAST and its first day as the dt bound', async () => {
    stand.calls.length = 0
    const st = statisticsQuery({ exchange: 'binance', symbol: 'ETH-USDT', from: Date.parse('2026-11-24T00:00:00Z') })
    await engine().query(st)
    const start = stand.calls.find((c) => c.target === 'AmazonAthena.StartQueryExecution')!.body
    expect(start.ExecutionParameters).toEqual(["'binance'", "'ETH-USDT'", "'1m'", "'2026-11-24'", "'2026-11-24 00:00:00.000'"])
    expect(start.QueryString).toContain('dt >= ? AND open_time >= CAST(? AS TIMESTAMP)')
  })
})

describe('Athena values', () => {
  it('quotes strings with doubled quotes and writes numbers plainly', () => {
    expect(executionParameter("O'Brien")).toBe("'O''Brien'")
    expect(executionParameter(42)).toBe('42')
    expect(() => executionParameter(Number.NaN)).toThrow(/finite/)
  })
  it('converts text by column type', () => {
    expect(convertValue('12', 'bigint')).toBe(12)
    expect(convertValue('1.5', 'double')).toBe(1.5)
    expect(convertValue('false', 'boolean')).toBe(false)
    expect(convertValue(undefined, 'double')).toBe(null)
    expect(isoOfAthenaTime('2026-11-24 15:00:00.123456')).toBe('2026-11-24T15:00:00.123456Z')
    expect(isoOfAthenaTime('2026-11-24 15:00:00.123000')).toBe('2026-11-24T15:00:00.123Z')
    expect(convertValue('2026-11-24 15:00:00', 'timestamp')).toBe('2026-11-24T15:00:00.000Z')
  })
})
