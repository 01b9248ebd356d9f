import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { duckdbEngine } from '../duckdb/index'
import { main } from '../cli'
import { formatResult, sqlRepl } from './sql'

async function cli(...args: string[]) {
  const out: string[] = []
  const err: string[] = []
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => { out.push(String(s)); return true })
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => { err.push(String(s)); return true })
  const l = vi.spyOn(console, 'log').mockImplementation(() => {})
  try { return { code: await main(args), out: out.join(''), err: err.join('') } } finally { o.mockRestore(); e.mockRestore(); l.mockRestore() }
}

const T0 = Date.UTC(2025, 0, 1) * 1000
const MIN = 60_000_000
/** Trades (Binance `trades` archive rows, µs times) in minutes 0, 0, 1 and 4 of 2025-01-01. */
const at = [1, 30_000_000, MIN + 5, 4 * MIN + 7]
const TRADES = at.map((t, i) => `${1000 + i},${96000 + i}.00000000,0.50000000,${(96000 + i) / 2}.00000000,${T0 + t},${i % 2 ? 'True' : 'False'},True`)
/** The minutes of the imported hour: each gets a 1m candle (flat where no trade), as an archive day read whole is complete. */
const MINUTES = 60
let dir: string
let lake: string

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ticklake-sql-'))
  lake = join(dir, 'lake')
  const csv = join(dir, 'BTCUSDT-trades-2025-01-01.csv')
  writeFileSync(csv, TRADES.join('\n') + '\n')
  expect((await cli('import', csv, '--data', lake)).code).toBe(0)
})
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

describe('ticklake sql', () => {
  it('runs a statement over the lake with the candles view defined, as an aligned table', async () => {
    const r = await cli('sql', "select tf, count(*) as n, sum(trades) as trades from candles where tf = '1m' group by tf", '--data', lake)
    expect(r.code).toBe(0)
    expect(r.err).toBe('')
    const lines = r.out.trimEnd().split('\n')
    expect(lines[0].split(/\s+/)).toEqual(['tf', 'n', 'trades'])
    expect(lines[1]).toMatch(/^-+( +-+){2}$/)
    expect(lines[2].split(/\s+/)).toEqual(['1m', String(MINUTES), String(TRADES.length)])
    expect(lines[3]).toBe('(1 row)')
  })

  it('has the analyst views, facts joined to dim_symbols, and silver trades', async () => {
    const r = await cli('sql', "select (select count(*) from fact_candles where tf = '1m') as candles, (select count(*) from fact_trades) as trades", '--format', 'json', '--data', lake)
    expect(r.code).toBe(0)
    expect(JSON.parse(r.out)).toEqual([{ candles: MINUTES, trades: TRADES.length }])
  })

  it('prints CSV with a header', async () => {
    const r = await cli('sql', 'select trade_id, side from trades order by trade_id', '--format', 'csv', '--data', lake)
    expect(r.out).toBe(['trade_id,side', ...TRADES.map((row, i) => `${1000 + i},${row.includes(',True,True') ? 'sell' : 'buy'}`)].join('\n') + '\n')
  })

  it('refuses a statement DuckDB cannot bind with exit 2, the error once on stderr', async () => {
    const r = await cli('sql', 'select * from no_such_table', '--data', lake)
    expect(r.code).toBe(2)
    expect(r.out).toBe('')
    expect(r.err.match(/no_such_table/g)!.length).toBeGreaterThan(0)
    expect(r.err.match(/^ticklake sql: /gm)).toHaveLength(1)
  })

  it('reads statements ending in ; from piped input, over several lines, with .tables', async () => {
    const engine = await duckdbEngine(lake)
    let out = ''
    let err = ''
    try {
      const input = Readable.from(['select 40 + 2 as answer;\n', '.tables\n', 'select count(*) as n\n', "from candles where tf = '1m';\n", 'select nonsense from;\n', 'select 1 as last;\n'])
      const code = await sqlRepl({ engine, input, format: 'csv', interactive: false, write: (s) => { out += s }, writeError: (s) => { err += s } })
      expect(code).toBe(2)
    } finally { engine.close() }
    expect(out).toBe(['answer', '42', ...['bronze_trades', 'candles', 'dim_symbols', 'fact_candles', 'fact_trades', 'features_candles', 'features_trades', 'quotes', 'trades'], 'n', String(MINUTES), 'last', '1'].join('\n') + '\n')
    expect(err).toMatch(/Parser Error/)
  })

  it('right-aligns numeric columns and cuts long cells in a table', () => {
    const t = formatResult({ columns: ['name', 'n'], rows: [['a', 5n], ['b'.repeat(10), 123]] }, 'table', 6)
    expect(t).toBe('name      n\n------  ---\na         5\nbbbbb…  123\n(2 rows)\n')
  })
})
