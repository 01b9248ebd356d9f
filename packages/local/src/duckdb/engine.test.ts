/**
 * The DuckDB engine as a server's query engine: a pool of connections (a heavy query does not hold
 * a light one up), a time limit, caps on the answer, a bounded queue, and lake files that change
 * or break under a reader (rerun once; a corrupt file recorded and left out until written again).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { QueryLimitError, candlesQuery } from '@ticklake/core/serve/query'
import { goldCandlesKey } from '@ticklake/core/lake/layout'
import { writeParquet } from '@ticklake/core/lake/parquet'
import { CANDLE_COLUMNS } from '@ticklake/core/market'
import { fileStore } from '../store/index'
import { writeDayOfCandles } from '../../test/fixture'
import { collector, duckdbEngine, type DuckEngine } from './index'

const DAY = '2026-11-24'
const dirs: string[] = []
const engines: DuckEngine[] = []
afterEach(() => {
  for (const e of engines.splice(0)) e.close()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

async function lake() {
  const dir = mkdtempSync(join(tmpdir(), 'ticklake-engine-'))
  dirs.push(dir)
  const candles = await writeDayOfCandles(fileStore(dir), { exchange: 'binance', symbol: 'BTC-USDT', day: DAY })
  return { dir, candles }
}
const open = async (...a: Parameters<typeof duckdbEngine>) => { const e = await duckdbEngine(...a); engines.push(e); return e }
const dayQuery = candlesQuery({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', from: Date.parse(`${DAY}T00:00:00Z`), to: Date.parse(`${DAY}T00:00:00Z`) + 86_400_000 })
/** A query that runs until it is stopped. */
const endless = { sql: 'SELECT count(*) AS n FROM range(1000000000000) AS a(x) WHERE x % 7 = 3', params: [] }
const limitOf = (p: Promise<unknown>) => p.then(() => undefined, (e) => (e instanceof QueryLimitError ? e.status : `not a limit: ${e?.message}`))

describe('DuckDB engine limits', () => {
  it('answers a light query while a heavy one runs, and stops the heavy one at its time limit with a 503', async () => {
    const { dir } = await lake()
    const db = await open(dir, { connections: 2, timeoutMs: 1_500 })
    const order: string[] = []
    const heavy = limitOf(db.query(endless)).then((s) => { order.push('heavy'); return s })
    const light = db.query(dayQuery).then((rows) => { order.push('light'); return rows.length })
    expect(await light).toBe(1440)
    expect(await heavy).toBe(503)
    expect(order).toEqual(['light', 'heavy'])
    // the connection the heavy query held answers again
    expect(await Promise.all([db.query(dayQuery), db.query(dayQuery)]).then((r) => r.map((x) => x.length))).toEqual([1440, 1440])
  })

  it('refuses a query with 503 when every connection is busy and the queue is full', async () => {
    const { dir } = await lake()
    const db = await open(dir, { connections: 1, maxQueued: 1, timeoutMs: 1_000 })
    const running = limitOf(db.query(endless))
    const queued = limitOf(db.query(endless))
    await expect(db.query(dayQuery)).rejects.toMatchObject({ status: 503, message: expect.stringMatching(/busy/) })
    expect(await running).toBe(503)
    expect(await queued).toBe(503)
  })

  it('refuses an answer over its row or byte cap with a 413, and the connection answers the next query', async () => {
    const { dir } = await lake()
    const rows = await open(dir, { connections: 1, maxRows: 1000 })
    await expect(rows.query(dayQuery)).rejects.toMatchObject({ status: 413, message: expect.stringMatching(/1000 rows/) })
    const bytes = await open(dir, { connections: 1, maxBytes: 100_000 })
    await expect(bytes.query(dayQuery)).rejects.toMatchObject({ status: 413, message: expect.stringMatching(/MB/) })
    const hour = candlesQuery({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', from: Date.parse(`${DAY}T00:00:00Z`), to: Date.parse(`${DAY}T01:00:00Z`) })
    expect((await rows.query(hour)).length).toBe(60)
    expect((await bytes.query(hour)).length).toBe(60)
  })

  it('sets a memory limit and threads for a server beside the pipeline', async () => {
    const { dir } = await lake()
    const db = await open(dir, { memoryLimit: '123MB', threads: 1 })
    const [row] = await db.query({ sql: "SELECT current_setting('memory_limit') AS m, current_setting('threads') AS t, current_setting('allocator_background_threads') AS bg", params: [] })
    expect(row).toEqual({ m: expect.stringMatching(/^11\d\.\d MiB$/), t: 1, bg: true })
  })

  it('has V8 collect dead results at once past a burst of result bytes, and once queries pause past a smaller amount', async () => {
    vi.useFakeTimers()
    try {
      let runs = 0
      const c = collector({ collectAfterBytes: 100, collectIdleBytes: 10, collectIdleMs: 1_000 }, () => { runs++ })
      c.held(5); c.after()
      await vi.advanceTimersByTimeAsync(5_000)
      expect(runs).toBe(0) // under the idle amount: waits for more
      c.held(10); c.after()
      expect(runs).toBe(0)
      await vi.advanceTimersByTimeAsync(1_000)
      expect(runs).toBe(1) // queries paused
      c.held(60); c.after(); c.held(60); c.after()
      expect(runs).toBe(2) // past the burst amount: at once, and the idle timer is not left behind
      await vi.advanceTimersByTimeAsync(5_000)
      expect(runs).toBe(2)
    } finally { vi.useRealTimers() }
  })

  it('collects through V8 itself when no collection function is given', async () => {
    let freed = false
    const registry = new FinalizationRegistry(() => { freed = true })
    ;(() => { registry.register({ result: new Array(1000).fill(1) }, 'result') })() // a dead wrapper, as a DuckDB result's
    const c = collector({ collectAfterBytes: 1, collectIdleBytes: 1, collectIdleMs: 1 })
    c.held(2)
    c.after()
    for (let i = 0; i < 20 && !freed; i++) await new Promise((r) => setTimeout(r, 10))
    expect(freed).toBe(true)
  })
})

describe('DuckDB engine and changing or corrupt lake files', () => {
  it('never fails while the file store replaces the files its queries read', async () => {
    const { dir, candles } = await lake()
    const store = fileStore(dir)
    const db = await open(dir, { connections: 2 })
    let writing = true
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const h = i % 24
        // the same hour, with a different (longer or shorter) encoding each time
        const rows = candles.slice(h * 60, h * 60 + 60).map((c) => ({ ...c, volume: c.volume + (i % 3) * 1e-9, final: i % 2 === 0 }))
        await store.put(goldCandlesKey('binance', 'BTC-USDT', '1m', DAY, String(h).padStart(2, '0')), writeParquet(CANDLE_COLUMNS, rows))
      }
    })()
    try {
      for (let i = 0; i < 40; i++) expect((await Promise.all([db.query(dayQuery), db.query(dayQuery)])).map((r) => r.length)).toEqual([1440, 1440])
    } finally { writing = false; await writer }
    expect(db.skipped()).toEqual([])
  })

  it('leaves a corrupt file out of its table, reports it once, and reads it again once it is written again', async () => {
    const { dir, candles } = await lake()
    const found: { key: string; reason: string }[] = []
    const db = await open(dir, { onCorrupt: (f) => { found.push(f) } })
    const key = goldCandlesKey('binance', 'BTC-USDT', '1m', DAY, '05')
    const good = writeParquet(CANDLE_COLUMNS, candles.slice(300, 360))
    writeFileSync(join(dir, key), good.subarray(0, good.length - 20)) // truncated: no footer
    expect((await db.query(dayQuery)).length).toBe(1380)
    expect((await db.query(dayQuery)).length).toBe(1380)
    expect(found).toEqual([{ key, reason: expect.stringMatching(/magic bytes|Parquet/i) }])
    expect(db.skipped()).toEqual([join(dir, key)])
    await fileStore(dir).put(key, good)
    expect((await db.query(dayQuery)).length).toBe(1440)
    expect(db.skipped()).toEqual([])
  })

  it('skips a file whose pages are garbage behind a valid footer', async () => {
    const { dir, candles } = await lake()
    const found: string[] = []
    const db = await open(dir, { onCorrupt: (f) => { found.push(f.key) } })
    const key = goldCandlesKey('binance', 'BTC-USDT', '1m', DAY, '07')
    const good = writeParquet(CANDLE_COLUMNS, candles.slice(420, 480))
    const bad = Uint8Array.from(good)
    bad.fill(0xff, 4, Math.floor(good.length / 2))
    writeFileSync(join(dir, key), bad)
    const rows = await db.query(dayQuery)
    expect(rows.length).toBe(1380)
    expect(found).toEqual([key])
  })
})
