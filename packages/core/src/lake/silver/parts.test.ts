import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { Trade } from '../../market/index'
import { TRADE_COLUMNS } from '../../market/index'
import { writeParquet } from '../parquet/index'
import { readTradeTable } from '../trades/index'
import type { ObjectStore } from '../../ports/index'
import { countingStore } from '../../../test/counting-store'
import { silverHourPrefix, silverManifestKey, silverTradesKey } from '../layout/index'
import { compactSilver, dedupe, mergeSilver, partsToMerge, readManifest, readSilverHour, rowsOf, type SilverPart } from './index'
import { idRanges, overlaps } from './parts'

const H = { exchange: 'binance', symbol: 'BTC-USDT', dt: '2026-11-24', hour: '15' }
const T0 = Date.parse('2026-11-24T15:00:00Z')
/** A clock inside the hour: the hour is open (not compacted whole). */
const open = { now: () => T0 + 30 * 60_000 }
const t = (id: number, first = id, last = first, over: Partial<Trade> = {}): Trade => ({ exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: id, first_trade_id: first, last_trade_id: last, ts: (T0 + first) * 1000, price: 1, qty: 1, side: 'buy', trades: last - first + 1, ingest_ts: 0, source: 'ws', ...over })
const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => t(from + i))
const bronze = (name: string) => `bronze/trades/exchange=binance/symbol=BTC-USDT/dt=2026-11-24/hour=15/${name}.parquet`
const put = (store: ObjectStore, name: string, rows: Trade[]) => store.put(bronze(name), writeParquet(TRADE_COLUMNS, rows))
const merge = (store: ObjectStore, o: Parameters<typeof mergeSilver>[5] = open) => mergeSilver(store, H.exchange, H.symbol, H.dt, H.hour, o)
const silver = async (store: ObjectStore) => rowsOf((await readSilverHour(store, H.exchange, H.symbol, H.dt, H.hour))?.table ?? { length: 0 } as never)
/** Every silver file of the hour read as it lies (as Athena and DuckDB read the `dt` folder), in id order. */
async function files(store: ObjectStore) {
  const keys = (await store.list(silverHourPrefix(H.exchange, H.symbol, H.dt, H.hour))).map((o) => o.key)
  if (!keys.length) return []
  const rows = rowsOf((await readTradeTable(await Promise.all(keys.map(async (k) => (await store.get(k))!)))).table)
  return rows.sort((a, b) => a.first_trade_id - b.first_trade_id || a.last_trade_id - b.last_trade_id)
}

describe('silver parts', () => {
  it('writes each bronze object\'s new trades as one part, reading neither earlier objects nor parts their ids do not touch', async () => {
    const store = countingStore()
    for (let i = 0; i < 5; i++) {
      await put(store, `o${i}`, ids(i * 100 + 1, i * 100 + 100))
      expect(await merge(store)).toMatchObject({ newFiles: 1, trades: (i + 1) * 100 })
    }
    const { manifest } = await readManifest(store, H)
    expect(manifest.parts.map((p) => p.rows)).toEqual([100, 100, 100, 100, 100])
    expect(manifest.parts.map((p) => p.ids)).toEqual([0, 1, 2, 3, 4].map((i) => [[i * 100 + 1, i * 100 + 100]]))
    for (const p of manifest.parts) expect(store.reads.get(p.key) ?? 0).toBe(0)
    expect(store.reads.get(bronze('o0'))).toBe(1)
    expect((await silver(store)).map((r) => r.trade_id)).toEqual(ids(1, 500).map((r) => r.trade_id))
  })

  it('reads only the part a redelivered trade falls in, and adds nothing for it', async () => {
    const store = countingStore()
    await put(store, 'a', ids(1, 100))
    await put(store, 'b', ids(101, 200))
    await merge(store)
    await put(store, 'c', ids(201, 300))
    await merge(store)
    const [first, second] = (await readManifest(store, H)).manifest.parts
    await put(store, 'd', [t(150), t(301)]) // one trade again (ingest sent its batch twice), one new
    expect(await merge(store)).toMatchObject({ newFiles: 1, duplicates: 1, trades: 301 })
    expect(store.reads.get(first.key)).toBe(1)
    expect(store.reads.get(second.key) ?? 0).toBe(0)
    expect((await merge(store))).toMatchObject({ newFiles: 0 }) // the same event again
    expect((await silver(store)).map((r) => r.trade_id)).toEqual(ids(1, 301).map((r) => r.trade_id))
    expect(await files(store)).toEqual(await silver(store))
  })

  it('replaces a held record by a wider one or one kept first by value, as one pass over every object would', async () => {
    const store = countingStore()
    await put(store, 'a', [t(1), t(2), t(3), t(4, 4, 4, { price: 2 })])
    await merge(store)
    await put(store, 'b', [t(9, 2, 3), t(4, 4, 4, { price: 1.5 })]) // an aggTrade over 2..3, and trade 4 at a lower price
    await merge(store)
    const want = dedupe([t(1), t(2), t(3), t(4, 4, 4, { price: 2 }), t(9, 2, 3), t(4, 4, 4, { price: 1.5 })])
    expect(await silver(store)).toEqual(want)
    expect(await files(store)).toEqual(want)
    expect((await readManifest(store, H)).manifest.parts).toHaveLength(1)
  })

  it('holds every trade once by id whatever the order, repetition and concurrency of runs, also when part files are read as they lie', async () => {
    const record = fc.record({ first: fc.integer({ min: 0, max: 200 }), span: fc.integer({ min: 0, max: 2 }), price: fc.constantFrom(1, 2) })
    const objects = fc.array(fc.array(record, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 10 })
    await fc.assert(fc.asyncProperty(objects, fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 10, maxLength: 10 }), async (objs, together) => {
      const store = countingStore()
      const rows = objs.map((o) => o.map((r) => t(r.first, r.first, r.first + r.span, { price: r.price })))
      // objects arrive in this (random) order; after each batch, 1-3 runs race (a redelivered or repeated event)
      for (const [i, o] of rows.entries()) {
        await put(store, `x${(i * 7919) % 101}`, o)
        await Promise.all(Array.from({ length: together[i] }, () => merge(store, { ...open, maxParts: 3, mergeParts: 2, mergeRows: 30 })))
      }
      await merge(store, { ...open, maxParts: 3, mergeParts: 2, mergeRows: 30 }) // a later event: any part a lost race left is gone
      const want = dedupe(rows.flat())
      expect(await silver(store)).toEqual(want)
      expect(await files(store)).toEqual(want)
    }), { numRuns: 60 })
  })

  it('loses nothing and counts nothing twice when a run dies between writing its part and committing the manifest', async () => {
    const store = countingStore()
    await put(store, 'a', ids(1, 50))
    await merge(store)
    await put(store, 'b', ids(40, 90))
    // the process is killed as it would write the manifest: that write and everything after it never happen
    let dead = false
    const killed = () => { dead = true; return Promise.reject(new Error('killed')) }
    const dying: ObjectStore = {
      ...store,
      put: (k, b, o) => dead || k === silverManifestKey(H.exchange, H.symbol, H.dt, H.hour) ? killed() : store.put(k, b, o),
      delete: (k) => dead ? killed() : store.delete(k),
    }
    await expect(merge(dying)).rejects.toThrow('killed')
    expect((await store.list(silverHourPrefix(H.exchange, H.symbol, H.dt, H.hour))).length).toBe(2) // the dead part is there
    expect((await silver(store)).map((r) => r.trade_id)).toEqual(ids(1, 50).map((r) => r.trade_id)) // readers go by the manifest
    expect(await merge(store)).toMatchObject({ newFiles: 1, trades: 90 })
    expect((await silver(store)).map((r) => r.trade_id)).toEqual(ids(1, 90).map((r) => r.trade_id))
    expect(await files(store)).toEqual(await silver(store)) // the dead part was deleted
  })

  it('starts again from the new manifest when another run committed first, and deletes its own part', async () => {
    const store = countingStore()
    await put(store, 'a', ids(1, 10))
    await merge(store)
    await put(store, 'b', ids(11, 20))
    let raced = false
    const racing: ObjectStore = {
      ...store,
      put: async (k, b, o) => {
        if (!raced && k === silverManifestKey(H.exchange, H.symbol, H.dt, H.hour)) { raced = true; await merge(store) } // another event's run commits first
        return store.put(k, b, o)
      },
    }
    expect(await merge(racing)).toMatchObject({ newFiles: 0 })
    expect(raced).toBe(true)
    expect((await readManifest(store, H)).manifest.parts).toHaveLength(2)
    expect(await files(store)).toEqual(ids(1, 20))
  })

  it('compacts an hour into one part with the same trades, at the end of the hour or when told', async () => {
    const store = countingStore()
    for (let i = 0; i < 6; i++) { await put(store, `o${i}`, ids(i * 10 + 1, i * 10 + 12)); await merge(store) }
    const before = await silver(store)
    expect((await readManifest(store, H)).manifest.parts.length).toBeGreaterThan(1)
    expect(await compactSilver(store, H.exchange, H.symbol, H.dt, H.hour)).toBe(6)
    const { manifest } = await readManifest(store, H)
    expect(manifest.parts).toHaveLength(1)
    expect(await silver(store)).toEqual(before)
    expect(await files(store)).toEqual(before)
    // a late object after it is one more part; the run of a closed hour compacts it again
    await put(store, 'late', ids(61, 70))
    await merge(store, { now: () => T0 + 2 * 3_600_000 })
    expect((await readManifest(store, H)).manifest.parts).toHaveLength(1)
    expect(await files(store)).toEqual(ids(1, 70))
    // the run of the next hour compacts this one once it is closed
    const next = countingStore()
    for (let i = 0; i < 3; i++) { await put(next, `o${i}`, ids(i * 10 + 1, i * 10 + 10)); await merge(next) }
    await mergeSilver(next, H.exchange, H.symbol, H.dt, '16', { now: () => T0 + 3_600_000 + 20 * 60_000 })
    expect((await readManifest(next, H)).manifest.parts).toHaveLength(1)
  })

  it('takes over the one silver file of a lake from before parts, keeping its trades, and leaves a file its manifest does not name out', async () => {
    const store = countingStore()
    await put(store, 'a', ids(1, 10))
    const { etag } = await store.put(silverTradesKey(H.exchange, H.symbol, H.dt, H.hour), writeParquet(TRADE_COLUMNS, ids(1, 10)))
    await store.put(silverManifestKey(H.exchange, H.symbol, H.dt, H.hour), JSON.stringify({ silver_etag: etag, bronze: [bronze('a')] }))
    await store.delete(bronze('a')) // the retention deleted it: silver's file is all there is
    await put(store, 'b', ids(11, 20))
    expect(await merge(store)).toMatchObject({ newFiles: 1, trades: 20 })
    expect(await files(store)).toEqual(ids(1, 20))
    const other = countingStore()
    await put(other, 'a', ids(1, 10))
    await other.put(silverTradesKey(H.exchange, H.symbol, H.dt, H.hour), writeParquet(TRADE_COLUMNS, ids(1, 3))) // no manifest names it
    await merge(other)
    expect(await files(other)).toEqual(ids(1, 10))
  })

  it('merges nothing of an open hour up to maxParts parts, then its smallest parts, never more than mergeRows trades in a run', () => {
    const part = (rows: number, i: number): SilverPart => ({ key: `p${i}`, rows, ids: [] })
    const o = { maxParts: 4, mergeParts: 3, mergeRows: 40_000 }
    expect(partsToMerge([2000, 2000, 2000, 2000].map(part), o)).toEqual([])
    expect(partsToMerge([16_000, 30, 2000, 10, 20].map(part), o).map((p) => p.key)).toEqual(['p3', 'p4', 'p1'])
    expect(partsToMerge([16_000, 16_000, 16_000, 16_000, 16_000].map(part), o)).toEqual([]) // 48,000 rows: left for the hour's compaction
  })

  it('indexes a part\'s ids as few ranges, never leaving an id out', () => {
    const cols = (pairs: [number, number][]) => ({ length: pairs.length, first_trade_id: pairs.map((p) => p[0]), last_trade_id: pairs.map((p) => p[1]) })
    expect(idRanges(cols([[5, 7], [1, 2], [3, 4], [10, 10]]))).toEqual([[1, 7], [10, 10]])
    expect(idRanges(cols([[1, 1], [3, 3], [10, 10], [12, 12]]), 2)).toEqual([[1, 3], [10, 12]])
    expect(overlaps([[1, 3], [10, 12]], [[4, 9]])).toBe(false)
    expect(overlaps([[1, 3], [10, 12]], [[4, 10]])).toBe(true)
  })
})
