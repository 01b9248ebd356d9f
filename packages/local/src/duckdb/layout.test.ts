import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { DuckDBInstance } from '@duckdb/node-api'
import { TIMEFRAMES, TRADE_COLUMNS, type Timeframe, type Trade } from '@ticklake/core/market'
import { bronzeTradesPrefix, goldCandleFileKey, partitionOf } from '@ticklake/core/lake/layout'
import { writeParquet } from '@ticklake/core/lake/parquet'
import { writeCheckpoint } from '@ticklake/core/sources/checkpoint'
import { candlesOfColumns, columnsOf } from '@ticklake/core/lake/candles'
import { candlesQuery } from '@ticklake/core/serve/query'
import { createCandlesHandler } from '@ticklake/functions/candles'
import { fileStore, s3Event } from '../store/index'
import { main } from '../cli'
import { duckdbEngine } from './index'

// trades over a year's end, so that the 1d candles lie in two year files (dt=2026-01-01 and dt=2027-01-01)
const START = Date.parse('2026-12-31T21:10:00Z')
const NEW_YEAR = Date.parse('2027-01-01T00:00:00Z')
const NOW = Date.parse('2027-01-01T06:00:00Z')
const X = 'binance', S = 'BTC-USDT'
const TFS = Object.keys(TIMEFRAMES) as Timeframe[]
let dir: string
let trades: Trade[]

/** 400 trades, one every 40 s or so but for a quiet quarter of an hour (flat candles), each hour's in two bronze files as Firehose would deliver them. */
function makeTrades(): Trade[] {
  const out: Trade[] = []
  for (let i = 0; i < 400; i++) {
    const id = 5000 + i
    out.push({ exchange: X, symbol: S, native_symbol: 'BTCUSDT', trade_id: id, first_trade_id: id, last_trade_id: id, ts: (START + i * 40_321 + (i >= 200 ? 900_000 : 0)) * 1000, price: 100 + ((i * 17) % 31) / 10, qty: 0.01 * (1 + (i % 5)), side: i % 2 ? 'buy' : 'sell', trades: 1, ingest_ts: 0, source: 'ws' })
  }
  return out
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ticklake-layout-'))
  const store = fileStore(dir)
  trades = makeTrades()
  await writeCheckpoint(store, { exchange: X, symbol: S, last_trade_id: trades.at(-1)!.trade_id, ts: trades.at(-1)!.ts, updated_at: 0 })
  const handler = createCandlesHandler({ store, now: () => NOW })
  const hours = new Map<string, Trade[]>()
  for (const t of trades) { const p = partitionOf(t.ts / 1000); const k = bronzeTradesPrefix(X, S, p.dt, p.hour); hours.set(k, [...(hours.get(k) ?? []), t]) }
  for (const [prefix, rows] of hours) {
    for (const [i, part] of [rows.slice(0, rows.length >> 1), rows.slice(rows.length >> 1)].entries()) {
      const key = `${prefix}f-${i}.parquet`
      const body = writeParquet(TRADE_COLUMNS, part)
      const { etag } = await store.put(key, body)
      await handler(s3Event('ticklake-local', key, body.length, etag))
    }
  }
})

afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }) })

/** Rows of one SQL statement on a fresh DuckDB, 64-bit integers as numbers. */
async function duck(sql: string) {
  const db = await DuckDBInstance.create(':memory:')
  const c = await db.connect()
  try {
    await c.run(`SET TimeZone = 'UTC'`)
    return (await c.runAndReadAll(sql)).getRowObjects().map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])))
  } finally { c.closeSync(); db.closeSync() }
}

describe('the gold candle tree as one Hive-partitioned table', () => {
  it('reads in DuckDB with hive_partitioning over the whole tree: every timeframe, each candle once, every trade once per timeframe', async () => {
    const glob = join(dir, 'gold/candles/**/*.parquet')
    const rows = await duck(`SELECT tf, count(*) AS n, count(DISTINCT open_time) AS distinct_times, sum(trades) AS trades, count(*) FILTER (WHERE trades > 0) AS traded,
      epoch_ms(min(open_time)) AS first, epoch_ms(max(open_time)) AS last, min(dt) AS min_dt, max(dt) AS max_dt
      FROM read_parquet('${glob}', hive_partitioning = true) GROUP BY tf`)
    expect(rows.map((r) => r.tf).sort()).toEqual([...TFS].sort())
    const want = candlesOfColumns(columnsOf(trades), { exchange: X, symbol: S, from: START, until: NOW, timeframes: TFS })
    for (const r of rows) {
      const tf = r.tf as Timeframe
      // contiguous, no duplicate, and every individual trade counted once in each timeframe
      expect(r.n, tf).toBe(r.distinct_times)
      expect(r.n, tf).toBe(((r.last as number) - (r.first as number)) / TIMEFRAMES[tf] + 1)
      expect(r.trades, tf).toBe(trades.length)
      expect(r.traded, tf).toBe(want[tf].filter((c) => c.trades > 0).length)
    }
    const daily = rows.find((r) => r.tf === '1d')!
    expect([daily.n, String(daily.min_dt), String(daily.max_dt)]).toEqual([2, '2026-01-01', '2027-01-01'])
    // the partitions are the path's folders: a file name is not one
    const cols = (await duck(`DESCRIBE SELECT * FROM read_parquet('${glob}', hive_partitioning = true)`)).map((r) => r.column_name)
    expect(cols).toContain('dt')
    expect(cols).not.toContain('hour')
    expect(cols).not.toContain('year')
  })

  it("answers core's dt-bounded candle queries through the engine's views, the 1d candle of a day from its year's file", async () => {
    const db = await duckdbEngine(dir)
    try {
      const one = await db.query(candlesQuery({ exchange: X, symbol: S, tf: '1d', from: NEW_YEAR, to: NEW_YEAR + 86_400_000 }))
      expect(one.map((r) => r.open_time)).toEqual(['2027-01-01T00:00:00.000Z'])
      const both = await db.query(candlesQuery({ exchange: X, symbol: S, tf: '1d', from: NEW_YEAR - 86_400_000, to: NEW_YEAR + 86_400_000 }))
      expect(both.map((r) => r.open_time)).toEqual(['2026-12-31T00:00:00.000Z', '2027-01-01T00:00:00.000Z'])
      const hour = await db.query(candlesQuery({ exchange: X, symbol: S, tf: '1m', from: NEW_YEAR, to: NEW_YEAR + 3_600_000 }))
      expect(hour).toHaveLength(60)
      const [{ n }] = await db.query({ sql: 'SELECT count(*) AS n FROM trades WHERE dt = ?', params: ['2027-01-01'] })
      expect(n).toBe(0) // silver is its own job, not run here: the view is defined, and empty
    } finally { db.close() }
  })

  it('moves a lake of the old layout (4h and 1d files beside the dt folders) when the CLI opens it, so that its 1d candles answer again', async () => {
    const store = fileStore(dir)
    // the old layout: the 4h day file and the 1d year file named by their partition
    const moves: [string, string][] = [
      [goldCandleFileKey(X, S, '1d', START), `gold/candles/exchange=${X}/symbol=${S}/tf=1d/year=2026.parquet`],
      [goldCandleFileKey(X, S, '4h', START), `gold/candles/exchange=${X}/symbol=${S}/tf=4h/dt=2026-12-31.parquet`],
    ]
    for (const [now, old] of moves) { await store.put(old, (await store.get(now))!); await store.delete(now) }
    const glob = join(dir, 'gold/candles/**/*.parquet')
    await expect(duck(`SELECT count(*) FROM read_parquet('${glob}', hive_partitioning = true)`)).rejects.toThrow(/Hive partition mismatch/)

    const out: string[] = [], err: string[] = []
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((s) => { out.push(String(s)); return true })
    const ewrite = vi.spyOn(process.stderr, 'write').mockImplementation((s) => { err.push(String(s)); return true })
    try {
      expect(await main(['candles', '--symbol', S, '--tf', '1d', '--from', '2026-12-31T00:00:00Z', '--to', '2027-01-02T00:00:00Z', '--format', 'json', '--data', dir])).toBe(0)
    } finally { write.mockRestore(); ewrite.mockRestore() }
    expect(err.join('')).toMatch(/moved 2 gold candle file\(s\) of the old layout/)
    expect(JSON.parse(out.join('')).map((c: any) => c.open_time)).toEqual(['2026-12-31T00:00:00.000Z', '2027-01-01T00:00:00.000Z'])
    for (const [now, old] of moves) { expect(await store.head(now)).toBeDefined(); expect(await store.head(old)).toBeUndefined() }
    expect(await duck(`SELECT count(DISTINCT tf) AS tfs FROM read_parquet('${glob}', hive_partitioning = true)`)).toEqual([{ tfs: 6 }])
  })
})
