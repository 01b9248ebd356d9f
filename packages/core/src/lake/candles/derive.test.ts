import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import { describe, expect, it } from 'vitest'
import { TRADE_COLUMNS, type Trade } from '../../market/index'
import { bronzeTradesPrefix, goldCandleFileKey } from '../layout/index'
import { writeParquet } from '../parquet/index'
import { writeCheckpoint } from '../../sources/checkpoint/index'
import type { ObjectStore } from '../../ports/index'
import { countingStore } from '../../../test/counting-store'
import { candleCache, readHourTrades, recomputeHour, type CandleCache } from './index'
import { aggregateMinutes, aggregateMinutesAt } from './kernel'
import { columnsOf } from './finish'

const DT = '2026-11-24'
const T0 = Date.parse(`${DT}T15:00:00Z`)
const NOW = T0 + 3 * 3_600_000

/** Trades over hours 15 and 16, a few seconds apart. */
function trades(): Trade[] {
  const out: Trade[] = []
  for (let i = 0; i < 900; i++) {
    const id = 1000 + i
    out.push({ exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: id, first_trade_id: id, last_trade_id: id, ts: (T0 + i * 7_919) * 1000, price: 100 + ((i * 37) % 23) / 10, qty: 0.001 * (1 + (i % 7)), side: i % 3 ? 'buy' : 'sell', trades: 1, ingest_ts: 0, source: 'ws' })
  }
  return out
}


async function lake() {
  const store = countingStore()
  const all = trades()
  for (const hour of ['15', '16']) {
    const rows = all.filter((t) => new Date(t.ts / 1000).getUTCHours() === Number(hour))
    await store.put(`${bronzeTradesPrefix('binance', 'BTC-USDT', DT, hour)}a.parquet`, writeParquet(TRADE_COLUMNS, rows))
  }
  await writeCheckpoint(store, { exchange: 'binance', symbol: 'BTC-USDT', last_trade_id: all.at(-1)!.trade_id, ts: all.at(-1)!.ts, updated_at: 0 })
  return store
}

const run = (store: ObjectStore, hour: string, cache?: CandleCache) => recomputeHour({ store, exchange: 'binance', symbol: 'BTC-USDT', dt: DT, hour, now: NOW, cache })

/** Every gold file and serving window, by key. */
async function outputs(store: ObjectStore) {
  const out: Record<string, string> = {}
  for (const prefix of ['gold/', 'serving/']) for (const o of await store.list(prefix)) out[o.key] = Buffer.from((await store.get(o.key))!).toString('base64')
  return out
}

describe('the hour job over files it wrote itself', () => {
  it('writes the same gold files and serving windows as runs that remember nothing, without reading back its own windows, and rewrites a file another writer changed', async () => {
    const warm = await lake()
    const cache = candleCache() // one for every run on `warm`, as a handler keeps it
    await run(warm, '15', cache)
    await run(warm, '16', cache)
    // a fresh (empty) cache on each run: nothing this process wrote is recognised, everything is read and encoded
    const cold = await lake()
    await run(cold, '15')
    await run(cold, '16')
    const window = 'serving/binance/BTC-USDT/1m.json'
    expect(cold.reads.get(window)).toBeGreaterThan(0)
    expect(warm.reads.get(window)).toBeUndefined()
    const want = await outputs(cold)
    expect(Object.keys(want).length).toBeGreaterThan(8)
    expect(await outputs(warm)).toEqual(want)

    // another writer changes a file whose candles this run would not change: it is written again
    const key = goldCandleFileKey('binance', 'BTC-USDT', '1m', T0)
    await warm.put(key, new Uint8Array([1, 2, 3]))
    await warm.put('serving/binance/BTC-USDT/5m.json', '{"candles":[]}')
    await run(warm, '16', cache)
    await run(cold, '16')
    expect(await outputs(warm)).toEqual(await outputs(cold))
  })
})

describe('the hour job reading bronze', () => {
  it("counts a record's individual trades from its id range, as DESIGN.md defines them, and each covered id once", async () => {
    const store = countingStore()
    const rec = (id: number, first: number, last: number, trades: number, sec: number): Trade => ({ exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: id, first_trade_id: first, last_trade_id: last, ts: (T0 + sec * 1000) * 1000, price: 100, qty: 1, side: 'buy', trades, ingest_ts: 0, source: 'ws' })
    // an aggTrade of 5 ids whose `trades` column disagrees, a plain trade, and the plain trade again in a second file
    await store.put(`${bronzeTradesPrefix('binance', 'BTC-USDT', DT, '15')}a.parquet`, writeParquet(TRADE_COLUMNS, [rec(1, 10, 14, 1, 1), rec(2, 15, 15, 1, 2)]))
    await store.put(`${bronzeTradesPrefix('binance', 'BTC-USDT', DT, '15')}b.parquet`, writeParquet(TRADE_COLUMNS, [rec(2, 15, 15, 1, 2)]))
    const { columns, duplicates } = await readHourTrades(store, 'binance', 'BTC-USDT', DT, '15')
    expect([...columns.trades]).toEqual([5, 1])
    expect(duplicates).toBe(1)
    const r = await run(store, '15')
    expect(r.candles[0]).toMatchObject({ trades: 6, first_trade_id: 10, last_trade_id: 15, volume: 2 })
  })
})

describe('the hour job on an hour of many bronze objects', () => {
  const tape = (n: number, firstId: number, decimals = 3): Trade[] => Array.from({ length: n }, (_, i) => {
    const id = firstId + i * 2
    return { exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: id, first_trade_id: id, last_trade_id: id + (i % 2), ts: (T0 + 1000 + (id - 1000) * 700) * 1000, price: 100 + ((i * 37) % 23) / 10, qty: Math.round(((i * 7919) % 1000) + 1) / 10 ** decimals, side: i % 3 ? 'buy' : 'sell', trades: 1 + (i % 2), ingest_ts: 0, source: 'ws' }
  })
  const key = (name: string) => `${bronzeTradesPrefix('binance', 'BTC-USDT', DT, '15')}${name}.parquet`
  const state = async (store: ReturnType<typeof countingStore>) => JSON.parse(new TextDecoder().decode((await store.get('state/candles/binance/BTC-USDT/2026-11-24/15.json'))!))
  const bronzeReads = (store: ReturnType<typeof countingStore>) => [...store.reads].filter(([k]) => k.startsWith('bronze/')).reduce((s, [, n]) => s + n, 0)

  /** The state and gold of the same objects put all at once and computed in one run. */
  async function whole(files: Trade[][]) {
    const store = countingStore()
    for (const [i, rows] of files.entries()) await store.put(key(`f${String(i).padStart(2, '0')}`), writeParquet(TRADE_COLUMNS, rows))
    await run(store, '15')
    return { state: await state(store), gold: (await store.get(goldCandleFileKey('binance', 'BTC-USDT', '1m', T0)))! }
  }

  it('merges only the objects added since its last run into the stored sums, to what one run over all of them gives', async () => {
    const all = tape(2000, 1000)
    const files = Array.from({ length: 8 }, (_, i) => all.slice(i * 250, (i + 1) * 250))
    files[5] = files[5].map((t) => ({ ...t, qty: (Math.round(t.qty * 1e3) * 1e4 + 1) / 1e7 })) // finer quantities from the sixth object on: the sums are rescaled
    const store = countingStore()
    for (const [i, rows] of files.entries()) {
      await store.put(key(`f${String(i).padStart(2, '0')}`), writeParquet(TRADE_COLUMNS, rows))
      const before = bronzeReads(store)
      await run(store, '15')
      expect(bronzeReads(store) - before).toBe(1) // only the new object is read
    }
    const expected = await whole(files)
    const mine = await state(store)
    expect({ ...mine, files: mine.files.length }).toEqual({ ...expected.state, files: expected.state.files.length, complete: mine.complete })
    expect((await state(store)).dq).toBe(7)
    expect(await store.get(goldCandleFileKey('binance', 'BTC-USDT', '1m', T0))).toEqual(expected.gold)
  })

  it('reads the whole hour again when an added object holds trades among those already counted', async () => {
    const all = tape(600, 1000)
    const store = countingStore()
    await store.put(key('a'), writeParquet(TRADE_COLUMNS, all.slice(0, 300)))
    await run(store, '15')
    // a late object: trades from before the last counted one (and one repeated), filed after it
    await store.put(key('b'), writeParquet(TRADE_COLUMNS, all.slice(299, 600)))
    await store.put(key('c'), writeParquet(TRADE_COLUMNS, all.slice(100, 120)))
    const before = bronzeReads(store)
    const r = await run(store, '15')
    expect(bronzeReads(store) - before).toBe(5) // b and c, then a, b and c
    expect(r.duplicates).toBe(21)
    const expected = await whole([all.slice(0, 300), all.slice(299, 600), all.slice(100, 120)])
    expect((await state(store)).minutes).toEqual(expected.state.minutes)
    expect((await state(store)).individual).toBe(all.reduce((s, t) => s + t.trades, 0))
  })

  it('reads the whole hour again when an object it counted is written again, with other trades', async () => {
    const store = countingStore()
    await store.put(key('a'), writeParquet(TRADE_COLUMNS, tape(100, 1000)))
    await store.put(key('b'), writeParquet(TRADE_COLUMNS, tape(100, 1200)))
    await run(store, '15')
    // written again with trades that belong among a's (a fuller import of the same file, say)
    const b = [...tape(100, 1000).map((t) => ({ ...t, first_trade_id: t.first_trade_id + 1, last_trade_id: t.first_trade_id + 1, trade_id: t.trade_id + 1, trades: 1 })), ...tape(100, 1200)]
    await store.put(key('b'), writeParquet(TRADE_COLUMNS, b))
    const r = await run(store, '15')
    expect(r.trades).toBe(300 - 50) // a's odd-numbered records cover the ids of b's first half already
    expect((await state(store)).minutes).toEqual((await whole([tape(100, 1000), b])).state.minutes)
  })

  it('reads no bronze for an event of an object it has counted already', async () => {
    const store = countingStore()
    await store.put(key('a'), writeParquet(TRADE_COLUMNS, tape(100, 1000)))
    await run(store, '15')
    const before = bronzeReads(store)
    const r = await run(store, '15')
    expect(bronzeReads(store)).toBe(before)
    expect(r.trades).toBe(100)
  })
})

describe('the hour job on a state written before it kept its objects', () => {
  it('reads the whole hour once, and keeps the objects from then on', async () => {
    const store = countingStore()
    const rows = trades().filter((t) => new Date(t.ts / 1000).getUTCHours() === 15)
    await store.put(`${bronzeTradesPrefix('binance', 'BTC-USDT', DT, '15')}a.parquet`, writeParquet(TRADE_COLUMNS, rows.slice(0, 200)))
    await run(store, '15')
    const key = 'state/candles/binance/BTC-USDT/2026-11-24/15.json'
    const { files: _f, lastId: _i, lastTs: _t, ...old } = JSON.parse(new TextDecoder().decode((await store.get(key))!))
    await store.put(key, JSON.stringify(old))
    await store.put(`${bronzeTradesPrefix('binance', 'BTC-USDT', DT, '15')}b.parquet`, writeParquet(TRADE_COLUMNS, rows.slice(200)))
    const reads = () => [...store.reads].filter(([k]) => k.startsWith('bronze/')).reduce((s, [, n]) => s + n, 0)
    let before = reads()
    const r = await run(store, '15')
    expect(reads() - before).toBe(2)
    expect(r.trades).toBe(rows.length)
    expect(JSON.parse(new TextDecoder().decode((await store.get(key))!)).files).toHaveLength(2)
    await store.put(`${bronzeTradesPrefix('binance', 'BTC-USDT', DT, '15')}c.parquet`, writeParquet(TRADE_COLUMNS, []))
    before = reads()
    await run(store, '15')
    expect(reads() - before).toBe(1)
  })
})

describe('the hour job on two threads (as bundled, where workers can load it)', () => {
  it('sums the second half of the rows on a decode worker and merges the halves to what one thread gives', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ticklake-hour-'))
    try {
      const bundled = join(dir, 'candles.mjs'), entry = join(dir, 'entry.ts')
      writeFileSync(entry, `export * from ${JSON.stringify(join(import.meta.dirname, 'index.ts'))}\nexport { onWorker } from ${JSON.stringify(join(import.meta.dirname, '../workers/index.ts'))}\n`)
      await build({ entryPoints: [entry], outfile: bundled, bundle: true, platform: 'node', format: 'esm', logLevel: 'silent' })
      const m = await import(/* @vite-ignore */ pathToFileURL(bundled).href)
      const store = countingStore()
      const rows: Trade[] = []
      for (let i = 0; i < 30_000; i++) {
        const id = 5000 + i * 3
        // aggTrades of up to 3 ids, prices of 2 and quantities of up to 8 decimals, several a second
        rows.push({ exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: i, first_trade_id: id, last_trade_id: id + (i % 3), ts: (T0 + Math.floor(i * 119.7)) * 1000, price: 80_000 + ((i * 7919) % 5000) / 100, qty: (((i * 104729) % 1e7) + 1) / 1e8, side: i % 4 ? 'buy' : 'sell', trades: 1 + (i % 3), ingest_ts: 0, source: 'ws' })
      }
      await store.put(`${bronzeTradesPrefix('binance', 'BTC-USDT', DT, '15')}a.parquet`, writeParquet(TRADE_COLUMNS, rows))
      const { columns } = await m.readHourTrades(store, 'binance', 'BTC-USDT', DT, '15', 2)
      expect(columns.ts.buffer).toBeInstanceOf(SharedArrayBuffer)
      const half = { length: 15_000, ts: columns.ts.subarray(15_000), price: columns.price.subarray(15_000), qty: columns.qty.subarray(15_000), buy: columns.buy.subarray(15_000), trades: columns.trades.subarray(15_000), first_trade_id: columns.first_trade_id.subarray(15_000), last_trade_id: columns.last_trade_id.subarray(15_000), trade_id: columns.trade_id.subarray(15_000) }
      const onWorker = await m.onWorker('candles.minutes', { cols: half, from: T0, until: T0 + 3_600_000, dp: 2, dq: 8 })
      expect(onWorker.ran).toBe(true)
      expect(onWorker.result?.records.reduce((a: number, b: number) => a + b, 0)).toBe(15_000)
      expect(onWorker.result).toEqual(aggregateMinutesAt(half, T0, T0 + 3_600_000, 2, 8))
      const two = await m.hourMinutes(columns, T0, T0 + 3_600_000, 2)
      const one = aggregateMinutes(columnsOf(rows.map((r) => ({ ...r, trades: r.last_trade_id - r.first_trade_id + 1 }))), T0, T0 + 3_600_000)
      expect({ ...two }).toEqual({ ...one })
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })
})
