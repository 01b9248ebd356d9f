import { describe, expect, it } from 'vitest'
import { TRADE_COLUMNS, type Trade } from '../market/index'
import { bronzeTradesPrefix, goldCandleFileKey } from '../lake/index'
import { writeParquet } from '../parquet/index'
import { writeCheckpoint } from '../checkpoint/index'
import { PreconditionFailed, type ObjectStore } from '../ports/index'
import { readHourTrades, recomputeHour } from './index'

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

/** An object store in memory whose ETags are a counter (not the MD5 of the bytes, as S3's may not be); counts reads. */
function memoryStore() {
  const m = new Map<string, { body: Uint8Array; etag: string }>()
  let n = 0
  const store = {
    reads: new Map<string, number>(),
    async get(k: string) { store.reads.set(k, (store.reads.get(k) ?? 0) + 1); return m.get(k)?.body },
    async head(k: string) { const o = m.get(k); return o && { key: k, size: o.body.length, etag: o.etag, lastModified: 0 } },
    async put(k: string, b: Uint8Array | string, o: { ifMatch?: string; ifNoneMatch?: '*' } = {}) {
      const cur = m.get(k)
      if ((o.ifNoneMatch && cur) || (o.ifMatch && cur?.etag !== o.ifMatch)) throw new PreconditionFailed(k)
      const etag = `"${++n}"`
      m.set(k, { body: typeof b === 'string' ? new TextEncoder().encode(b) : b, etag })
      return { etag }
    },
    async list(prefix: string) { return [...m.keys()].filter((k) => k.startsWith(prefix)).sort().map((key) => ({ key, size: m.get(key)!.body.length, etag: m.get(key)!.etag, lastModified: 0 })) },
    async delete(k: string) { m.delete(k) },
  }
  return store
}

async function lake() {
  const store = memoryStore()
  const all = trades()
  for (const hour of ['15', '16']) {
    const rows = all.filter((t) => new Date(t.ts / 1000).getUTCHours() === Number(hour))
    await store.put(`${bronzeTradesPrefix('binance', 'BTC-USDT', DT, hour)}a.parquet`, writeParquet(TRADE_COLUMNS, rows))
  }
  await writeCheckpoint(store, { exchange: 'binance', symbol: 'BTC-USDT', last_trade_id: all.at(-1)!.trade_id, ts: all.at(-1)!.ts, updated_at: 0 })
  return store
}

const run = (store: ObjectStore, hour: string) => recomputeHour({ store, exchange: 'binance', symbol: 'BTC-USDT', dt: DT, hour, now: NOW })

/** Every gold file and serving window, by key. */
async function outputs(store: ObjectStore) {
  const out: Record<string, string> = {}
  for (const prefix of ['gold/', 'serving/']) for (const o of await store.list(prefix)) out[o.key] = Buffer.from((await store.get(o.key))!).toString('base64')
  return out
}

describe('the hour job over files it wrote itself', () => {
  it('writes the same gold files and serving windows as runs that remember nothing, without reading back its own windows, and rewrites a file another writer changed', async () => {
    const warm = await lake()
    await run(warm, '15')
    await run(warm, '16')
    // a fresh handle on each run: nothing this process wrote is recognised, everything is read and encoded
    const cold = await lake()
    await run({ ...cold }, '15')
    await run({ ...cold }, '16')
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
    await run(warm, '16')
    await run({ ...cold }, '16')
    expect(await outputs(warm)).toEqual(await outputs(cold))
  })
})

describe('the hour job reading bronze', () => {
  it("counts a record's individual trades from its id range, as DESIGN.md defines them, and each covered id once", async () => {
    const store = memoryStore()
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
