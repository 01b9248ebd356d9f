import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { DuckDBInstance } from '@duckdb/node-api'
import type { Trade } from '../../market/index'
import { TRADE_COLUMNS } from '../../market/index'
import { writeParquet } from '../parquet/index'
import { countingStore } from '../../../test/counting-store'
import { listDuplicates } from '../quality/index'
import { readHourTrades } from '../candles/index'
import { dedupe, dedupeOrder, mergeSilver, pickRows, rowsOf, tableOf, updateSilver, updateSilverTable } from './index'

const T0 = Date.parse('2026-11-24T15:00:00Z') * 1000
const t = (id: number, first = id * 10, last = first, over: Partial<Trade> = {}): Trade => ({ exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: id, first_trade_id: first, last_trade_id: last, ts: T0 + first * 1000, price: 1, qty: 1, side: 'buy', trades: last - first + 1, ingest_ts: 0, source: 'ws', ...over })

const bronze = (name: string) => `bronze/trades/exchange=binance/symbol=BTC-USDT/dt=2026-11-24/hour=15/${name}.parquet`

describe('silver trades', () => {
  it('records conflicting duplicates under quality/duplicates/ and keeps the same one of them whatever order their files come in', async () => {
    const x = t(2, 20, 20, { price: 100, source: 'api' }), y = t(2, 20, 20, { price: 99.5, qty: 3, source: 'api' })
    const files = { a: [t(1), x, t(3)], b: [y, t(4)], c: [{ ...x }] } // c: an exact duplicate, no conflict
    const kept: unknown[] = []
    for (const order of [['a', 'b', 'c'], ['b', 'c', 'a'], ['c', 'a', 'b']] as const) {
      const store = countingStore()
      // merged one file at a time, in this arrival order (keys sort as the order, as Firehose's names do)
      for (const [i, name] of order.entries()) {
        await store.put(bronze(`${i}-${name}`), writeParquet(TRADE_COLUMNS, files[name]))
        await mergeSilver(store, 'binance', 'BTC-USDT', '2026-11-24', '15')
      }
      const { trades } = await updateSilver(store, 'binance', 'BTC-USDT', '2026-11-24', '15')
      kept.push(trades.find((r) => r.trade_id === 2))
      expect(trades.map((r) => r.trade_id)).toEqual([1, 2, 3, 4])
      // the candle job, reading every file at once, keeps the same record
      const { columns } = await readHourTrades(store, 'binance', 'BTC-USDT', '2026-11-24', '15', 1)
      expect([columns.price[1], columns.qty[1]]).toEqual([99.5, 3])
      const [record, ...more] = await listDuplicates(store, { exchange: 'binance', symbol: 'BTC-USDT' })
      expect(more).toEqual([])
      expect(record).toMatchObject({ exchange: 'binance', symbol: 'BTC-USDT', dt: '2026-11-24', hour: '15', count: 1, kept_by: expect.stringMatching(/^earliest ts, then lowest price/) })
      expect(record.conflicts).toEqual([{ first_trade_id: 20, last_trade_id: 20, kept: expect.objectContaining({ price: 99.5, qty: 3 }), dropped: expect.objectContaining({ price: 100, qty: 1 }) }])
    }
    expect(kept[1]).toEqual(kept[0])
    expect(kept[2]).toEqual(kept[0])
    expect(kept[0]).toMatchObject({ price: 99.5 })
  })

  it('keeps every individual trade id once, whether it came as an aggTrade, a plain trade or a duplicate', () => {
    const agg = t(1, 100, 102)
    const out = dedupe([t(9, 101, 101, { source: 'archive' }), agg, { ...agg, source: 'rest' }, t(2, 103, 103), t(10, 102, 102), t(3, 104, 105)])
    expect(out.map((x) => [x.first_trade_id, x.last_trade_id, x.source])).toEqual([[100, 102, 'ws'], [103, 103, 'ws'], [104, 105, 'ws']])
  })

  it('merges only the bronze files it has not merged before, and ends at the same silver however often it runs', async () => {
    const store = countingStore(), reads = store.reads
    await store.put(bronze('a'), writeParquet(TRADE_COLUMNS, [t(1), t(2)]))
    await store.put(bronze('b'), writeParquet(TRADE_COLUMNS, [t(2), t(3)]))
    const first = await updateSilver(store, 'binance', 'BTC-USDT', '2026-11-24', '15')
    expect(first.trades.map((x) => x.trade_id)).toEqual([1, 2, 3])
    expect(first).toMatchObject({ bronzeFiles: 2, newFiles: 2, duplicates: 1 })
    await store.put(bronze('c'), writeParquet(TRADE_COLUMNS, [t(3), t(4)]))
    const second = await updateSilver(store, 'binance', 'BTC-USDT', '2026-11-24', '15')
    expect(second.trades.map((x) => x.trade_id)).toEqual([1, 2, 3, 4])
    expect(second.newFiles).toBe(1)
    expect(reads.get(bronze('a'))).toBe(1) // not read again
    const again = await updateSilver(store, 'binance', 'BTC-USDT', '2026-11-24', '15')
    expect(again.trades).toEqual(second.trades)
    expect(again.newFiles).toBe(0)
  })

  it('rereads all bronze when the manifest does not describe the silver file it finds', async () => {
    const store = countingStore()
    await store.put(bronze('a'), writeParquet(TRADE_COLUMNS, [t(1)]))
    await updateSilver(store, 'binance', 'BTC-USDT', '2026-11-24', '15')
    await store.put('silver/trades/exchange=binance/symbol=BTC-USDT/dt=2026-11-24/hour=15.parquet', writeParquet(TRADE_COLUMNS, [])) // another writer's file
    const r = await updateSilver(store, 'binance', 'BTC-USDT', '2026-11-24', '15')
    expect(r.trades.map((x) => x.trade_id)).toEqual([1])
  })
})

describe('silver as columns', () => {
  const arb = fc.array(fc.record({ first: fc.integer({ min: 0, max: 40 }), span: fc.integer({ min: 0, max: 3 }), id: fc.integer({ min: 0, max: 5 }), src: fc.constantFrom('ws', 'rest', 'archive') }), { maxLength: 60 })

  it('keeps, through an index, exactly the trades dedupe keeps, in its order, whatever order bronze came in', () => {
    fc.assert(fc.property(arb, (xs) => {
      const rows = xs.map((x) => t(x.id, x.first, x.first + x.span, { source: x.src as Trade['source'], side: x.id % 2 ? 'buy' : 'sell' }))
      const table = tableOf(rows)
      expect(rowsOf(pickRows(table, dedupeOrder(table)))).toEqual(dedupe(rows))
    }))
  })

  it('needs no index when the trades are in order and hold no duplicate', () => {
    expect(dedupeOrder(tableOf([t(1), t(2), t(3, 30, 32), t(4, 33)]))).toBeUndefined()
    expect(Array.from(dedupeOrder(tableOf([t(1), t(2), t(2)]))!)).toEqual([0, 1])
  })

  it('writes silver that DuckDB reads back to the same trades, every column', async () => {
    const store = countingStore()
    const rows = [t(1, 10, 12), t(2, 13), t(3, 14, 14, { side: 'sell', source: 'rest', ingest_ts: 1_764_000_000_123_456 })]
    await store.put(bronze('a'), writeParquet(TRADE_COLUMNS, [rows[2], rows[0]]))
    await store.put(bronze('b'), writeParquet(TRADE_COLUMNS, [rows[1], rows[0]]))
    const r = await updateSilverTable(store, 'binance', 'BTC-USDT', '2026-11-24', '15')
    expect(rowsOf(r.table)).toEqual(rows)
    const dir = mkdtempSync(join(tmpdir(), 'ticklake-silver-'))
    try {
      const file = join(dir, 'hour.parquet')
      writeFileSync(file, (await store.get(r.key))!)
      const duck = await (await DuckDBInstance.create(':memory:')).connect()
      const got = (await duck.runAndReadAll(`SELECT exchange, symbol, native_symbol, trade_id::DOUBLE, first_trade_id::DOUBLE, last_trade_id::DOUBLE, epoch_us(ts)::DOUBLE, price, qty, side, trades, epoch_us(ingest_ts)::DOUBLE, source FROM read_parquet('${file}')`)).getRows()
      duck.closeSync()
      expect(got).toEqual(rows.map((x) => [x.exchange, x.symbol, x.native_symbol, x.trade_id, x.first_trade_id, x.last_trade_id, x.ts, x.price, x.qty, x.side, x.trades, x.ingest_ts, x.source]))
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })
})
