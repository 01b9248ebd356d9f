import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Trade } from '@ticklake/core/market'
import { bronzeTradesPrefix, candleStateKey, silverManifestKey } from '@ticklake/core/lake/layout'
import { readSilverHour, rowsOf } from '@ticklake/core/lake/silver'
import { readParquet } from '@ticklake/core/lake/parquet'
import { writeCheckpoint } from '@ticklake/core/sources/checkpoint'
import type { ObjectStore } from '@ticklake/core/ports'
import { createCandlesHandler } from '@ticklake/functions/candles'
import { createSilverHandler } from '@ticklake/functions/silver'
import { bronzeTradesFile } from '../firehose/convert'
import { fileStore, s3Event } from '../store/index'
import { COMPACTED_PREFIX, compactBronze, compactEvery, type CompactStep } from './index'

const dirs: string[] = []
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'ticklake-compact-')); dirs.push(d); return d }
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

const DT = '2026-01-05'
const H0 = Date.parse(`${DT}T10:00:00Z`)
const HOUR = 3_600_000
const NOW = H0 + 5 * HOUR

/** Trades of one hour, some seconds apart, with prices and quantities of a few decimals. */
function hourTrades(start: number, firstId: number, n: number): Trade[] {
  return Array.from({ length: n }, (_, i) => {
    const id = firstId + i
    return { exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: id, first_trade_id: id, last_trade_id: id, ts: (start + Math.floor((i * HOUR) / n) + 7) * 1000, price: 96000 + ((i * 37) % 101) / 100, qty: 0.001 * (1 + (i % 9)), side: i % 3 ? 'buy' : 'sell', trades: 1, ingest_ts: (start + i) * 1000, source: i % 5 ? 'ws' : 'rest' } satisfies Trade
  })
}

const folder = (hourStart: number) => { const d = new Date(hourStart).toISOString(); return bronzeTradesPrefix('binance', 'BTC-USDT', d.slice(0, 10), d.slice(11, 13)) }
const hourOf = (hourStart: number) => new Date(hourStart).toISOString().slice(11, 13)

/**
 * A lake fed as Firehose feeds it: the hour's trades in `objects` small bronze objects (each
 * object but the first repeats the last trade of the one before, as at-least-once delivery does),
 * each followed by the candle handler on its S3 event and the silver handler on the state's.
 */
async function lake(store: ObjectStore, hours: number[], objects = 20) {
  const candles = createCandlesHandler({ store, now: () => NOW })
  const silver = createSilverHandler({ store })
  let id = 1000
  let last: Trade | undefined
  for (const h of hours) {
    const trades = hourTrades(h, id, objects * 20)
    id += trades.length
    for (let i = 0; i < objects; i++) {
      const rows = trades.slice(i * 20, i * 20 + 20)
      if (i > 0) rows.unshift(trades[i * 20 - 1])
      const key = `${folder(h)}ticklake-trades-1-${String(i).padStart(3, '0')}.parquet`
      await store.put(key, bronzeTradesFile(rows))
      await candles(s3Event('ticklake-local', key, 0, ''))
      await silver(s3Event('ticklake-local', candleStateKey('binance', 'BTC-USDT', DT, hourOf(h)), 0, ''))
    }
    last = trades.at(-1)
  }
  await writeCheckpoint(store, { exchange: 'binance', symbol: 'BTC-USDT', last_trade_id: last!.trade_id, ts: last!.ts, updated_at: 0 })
  // the candle job again, now that ingest's checkpoint vouches for the hours: what a later event does
  for (const h of hours) await candles(s3Event('ticklake-local', (await store.list(folder(h)))[0].key, 0, ''))
}

/** Reruns the candle and silver handlers of each hour, as a new bronze object's events would. */
async function rerun(store: ObjectStore, hours: number[]) {
  const candles = createCandlesHandler({ store, now: () => NOW })
  const silver = createSilverHandler({ store })
  for (const h of hours) {
    await candles(s3Event('ticklake-local', (await store.list(folder(h)))[0].key, 0, ''))
    await silver(s3Event('ticklake-local', candleStateKey('binance', 'BTC-USDT', DT, hourOf(h)), 0, ''))
  }
}

/** Every gold, serving and silver object, by key, as bytes in base64. */
async function outputs(store: ObjectStore) {
  const out: Record<string, string> = {}
  for (const prefix of ['gold/', 'serving/', 'silver/']) for (const o of await store.list(prefix)) out[o.key] = Buffer.from((await store.get(o.key))!).toString('base64')
  return out
}

/** Silver's trades of one hour, as rows. */
const silverRows = async (store: ObjectStore, h: number) => rowsOf((await readSilverHour(store, 'binance', 'BTC-USDT', DT, hourOf(h)))!.table)

const bronzeKeys = async (store: ObjectStore, h: number) => (await store.list(folder(h))).map((o) => o.key)

describe('bronze compaction', () => {
  it('turns a closed hour of many bronze objects into one, every trade once, and the candles and silver stay the same byte for byte when their handlers run again', async () => {
    const store = fileStore(tmp())
    await lake(store, [H0])
    const before = await outputs(store)
    const trades = await silverRows(store, H0)
    expect(await bronzeKeys(store, H0)).toHaveLength(20)

    const r = await compactBronze(store, { now: NOW })
    expect(r).toMatchObject({ hours: 1, compacted: 1, removed: 20, written: 1, skipped: [], failed: [] })
    const [only] = await bronzeKeys(store, H0)
    expect(only.slice(folder(H0).length)).toMatch(new RegExp(`^${COMPACTED_PREFIX}.*\\.parquet$`))
    // the compacted object is the Firehose shape (no exchange, symbol columns) and holds silver's trades
    const rows = await readParquet<Record<string, unknown>>((await store.get(only))!)
    expect(Object.keys(rows[0])).not.toContain('exchange')
    expect(rows.map((t) => ({ ...t, exchange: 'binance', symbol: 'BTC-USDT' }))).toEqual(trades)
    // silver's manifest and the candle state name the new object instead of the originals
    expect(JSON.parse(new TextDecoder().decode((await store.get(silverManifestKey('binance', 'BTC-USDT', DT, '10')))!)).bronze).toEqual([only])
    expect(JSON.parse(new TextDecoder().decode((await store.get(candleStateKey('binance', 'BTC-USDT', DT, '10')))!)).files).toHaveLength(1)

    await rerun(store, [H0])
    expect(await outputs(store)).toEqual(before)
    // and the same when the candle job recomputes the hour from the compacted object alone
    await store.delete(candleStateKey('binance', 'BTC-USDT', DT, '10'))
    await rerun({ ...store }, [H0])
    expect(await outputs(store)).toEqual(before)
    // and silver, rebuilt from it alone, holds the same trades
    await store.delete(silverManifestKey('binance', 'BTC-USDT', DT, '10'))
    await rerun({ ...store }, [H0])
    expect(await silverRows(store, H0)).toEqual(trades)
    // a second compaction finds nothing to do
    expect(await compactBronze(store, { now: NOW })).toMatchObject({ compacted: 0, failed: [] })
  })

  it('writes an hour of more trades than an object may hold as a few objects', async () => {
    const store = fileStore(tmp())
    await lake(store, [H0], 5)
    const trades = await silverRows(store, H0)
    expect(await compactBronze(store, { now: NOW, settings: { maxRows: 40 } })).toMatchObject({ compacted: 1, removed: 5, written: 3 })
    const keys = await bronzeKeys(store, H0)
    expect(keys).toHaveLength(3)
    const rows: Record<string, unknown>[] = []
    for (const k of keys) rows.push(...await readParquet<Record<string, unknown>>((await store.get(k))!))
    expect(rows.map((t) => ({ ...t, exchange: 'binance', symbol: 'BTC-USDT' }))).toEqual(trades)
  })

  it('leaves an hour that is not closed yet, and one the candle job has not counted, as they are', async () => {
    const store = fileStore(tmp())
    await lake(store, [H0], 3)
    expect(await compactBronze(store, { now: H0 + HOUR + 60_000 })).toMatchObject({ hours: 0, compacted: 0 })
    await store.delete(candleStateKey('binance', 'BTC-USDT', DT, '10'))
    const r = await compactBronze(store, { now: NOW })
    expect(r).toMatchObject({ compacted: 0, skipped: [{ hour: folder(H0), reason: expect.stringMatching(/candle job has not counted/) }] })
    expect(await bronzeKeys(store, H0)).toHaveLength(3)
  })

  for (const step of ['written', 'silver', 'candles'] as CompactStep[]) {
    it(`leaves the lake readable and complete when it stops after the step "${step}", and the next run finishes the job`, async () => {
      const store = fileStore(tmp())
      await lake(store, [H0], 12)
      const before = await outputs(store)
      const trades = await silverRows(store, H0)
      const r = await compactBronze(store, { now: NOW, onStep: (s) => { if (s === step) throw new Error(`crash after ${s}`) } })
      expect(r.failed).toEqual([{ hour: folder(H0), error: `crash after ${step}` }])
      // nothing is lost: the originals are all there beside the compacted object
      expect(await bronzeKeys(store, H0)).toHaveLength(13)
      await rerun(store, [H0])
      expect(await silverRows(store, H0)).toEqual(trades)
      const gold = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).filter(([k]) => k.startsWith('gold/')))
      expect(gold(await outputs(store))).toEqual(gold(before))

      expect(await compactBronze(store, { now: NOW })).toMatchObject({ compacted: 1, removed: 13, written: 1, failed: [] })
      expect(await bronzeKeys(store, H0)).toHaveLength(1)
      await rerun(store, [H0])
      expect(await silverRows(store, H0)).toEqual(trades)
      expect(gold(await outputs(store))).toEqual(gold(before))
    })
  }

  it('with a retention, deletes the compacted bronze of hours older than it, and keeps silver and gold', async () => {
    const store = fileStore(tmp())
    const old = H0, recent = H0 + 2 * HOUR
    await lake(store, [old, recent], 4)
    const before = await outputs(store)
    const r = await compactBronze(store, { now: NOW, keepBronzeMs: 3 * HOUR })
    expect(r).toMatchObject({ compacted: 2, expired: 1, failed: [] })
    expect(await bronzeKeys(store, old)).toEqual([])
    expect(await bronzeKeys(store, recent)).toHaveLength(1)
    expect(await outputs(store)).toEqual(before)
  })

  it('runs on a timer until stopped', async () => {
    const store = fileStore(tmp())
    await lake(store, [H0], 3)
    const lines: string[] = []
    const timer = compactEvery(store, { now: () => NOW, settings: { firstAfterMs: 0, everyMs: 60_000 }, log: (l) => lines.push(l) })
    while (timer.runs() === 0) await new Promise((r) => setTimeout(r, 20))
    await timer.stop()
    expect(lines).toEqual(['compacted 1 bronze hour(s): 3 object(s) into 1'])
    expect(await bronzeKeys(store, H0)).toHaveLength(1)
  })
})
