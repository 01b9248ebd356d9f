import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DuckDBInstance } from '@duckdb/node-api'
import { readParquet } from '../parquet/index'
import { readFeatureTable, writeFeatureTable, type Table } from './table'
import type { FeatureColumn } from './schema'

const COLUMNS: FeatureColumn[] = [
  { name: 's', type: 'STRING', family: 't', note: '' },
  { name: 'id', type: 'INT64', family: 't', note: '' },
  { name: 'ts', type: 'TIMESTAMP_MICROS', family: 't', note: '' },
  { name: 'ms', type: 'TIMESTAMP_MILLIS', family: 't', note: '' },
  { name: 'x', type: 'DOUBLE', family: 't', note: '' },
  { name: 'maybe', type: 'DOUBLE', nullable: true, family: 't', note: '' },
  { name: 'n', type: 'INT32', family: 't', note: '' },
  { name: 'flag', type: 'BOOLEAN', family: 't', note: '' },
]

function table(rows: number): Table {
  return {
    s: Array.from({ length: rows }, (_, i) => (i % 3 ? 'binance' : 'BTC-USDT é')),
    id: Float64Array.from({ length: rows }, (_, i) => 3_000_000_000 + i),
    ts: Float64Array.from({ length: rows }, (_, i) => 1_795_000_000_000_000 + i * 1234),
    ms: Float64Array.from({ length: rows }, (_, i) => 1_795_000_000_000 + i * 60_000),
    x: Float64Array.from({ length: rows }, (_, i) => Math.sin(i) * 1e5),
    maybe: Float64Array.from({ length: rows }, (_, i) => (i % 7 === 3 || i > rows - 5 ? NaN : i / 3)),
    n: Int32Array.from({ length: rows }, (_, i) => (i % 24) - 5),
    flag: Uint8Array.from({ length: rows }, (_, i) => +(i % 5 === 0)),
  }
}

describe('feature tables in Parquet', () => {
  it('round-trips every column type, nulls included, across row groups, through hyparquet', async () => {
    const t = table(2503)
    const bytes = writeFeatureTable(COLUMNS, t, 2503, { rowGroupSize: 1000 })
    const c = await readFeatureTable(bytes, { s: 'string', id: 'number', ts: 'number', ms: 'number', x: 'number', maybe: 'number', n: 'number', flag: 'number' })
    expect(c.rows).toBe(2503)
    for (const k of ['id', 'ts', 'ms', 'x', 'n', 'flag'] as const) expect([...c[k]], k).toEqual(Array.from(t[k] as ArrayLike<number>))
    expect(c.s).toEqual(t.s)
    expect([...c.maybe].map((v) => (Number.isNaN(v) ? null : v))).toEqual([...(t.maybe as Float64Array)].map((v) => (Number.isNaN(v) ? null : v)))
    const rows = await readParquet<Record<string, unknown>>(bytes)
    expect(rows[3]).toMatchObject({ s: 'BTC-USDT é', maybe: null, flag: false })
  })

  it('writes files DuckDB reads with the logical types and nulls', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ticklake-columnar-'))
    try {
      const file = join(dir, 'f.parquet')
      writeFileSync(file, writeFeatureTable(COLUMNS, table(1500), 1500, { rowGroupSize: 700 }))
      const duck = await (await DuckDBInstance.create(':memory:')).connect()
      const types = (await (await duck.run(`describe select * from '${file}'`)).getRowObjects()).map((r) => `${r.column_name} ${r.column_type}`)
      expect(types).toEqual(['s VARCHAR', 'id BIGINT', 'ts TIMESTAMP WITH TIME ZONE', 'ms TIMESTAMP WITH TIME ZONE', 'x DOUBLE', 'maybe DOUBLE', 'n INTEGER', 'flag BOOLEAN'])
      const [r] = await (await duck.run(`select count(*)::int n, count(maybe)::int m, sum(flag::int)::int f, max(id)::bigint id, min(n)::int lo, count(distinct s)::int s, epoch_us(max(ts))::bigint ts from '${file}'`)).getRowObjects()
      expect(r).toEqual({ n: 1500, m: 1500 - 214 - 4, f: 300, id: 3_000_001_499n, lo: -5, s: 2, ts: BigInt(1_795_000_000_000_000 + 1499 * 1234) })
      duck.closeSync()
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })

  it('refuses NaN in a column that is not nullable, and a column of the wrong length', () => {
    const t = table(10)
    expect(() => writeFeatureTable(COLUMNS, { ...t, x: new Float64Array(10).fill(NaN) }, 10)).toThrow(/x is not nullable/)
    expect(() => writeFeatureTable(COLUMNS, { ...t, n: new Int32Array(9) }, 10)).toThrow(/n has 9 values/)
  })
})

describe('feature tables in Parquet: int64', () => {
  it('writes negative and large INT64 values exactly (two 32-bit halves, no BigInt)', async () => {
    const cols: FeatureColumn[] = [{ name: 'v', type: 'INT64', family: 't', note: '' }, { name: 'w', type: 'INT64', nullable: true, family: 't', note: '' }]
    const v = Float64Array.from([0, -1, 1, -4294967296, 4294967295, 2 ** 53 - 1, -(2 ** 53) + 1, 1_795_000_000_123_456])
    const w = Float64Array.from([NaN, -7, NaN, 2 ** 40 + 3, NaN, 5, 6, -(2 ** 33)])
    const c = await readFeatureTable(writeFeatureTable(cols, { v, w }, 8), { v: 'number', w: 'number' })
    expect([...c.v]).toEqual([...v])
    expect([...c.w]).toEqual([...w])
  })
})
