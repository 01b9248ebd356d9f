import { describe, expect, it } from 'vitest'
import { TRADE_COLUMNS, type Trade } from '@ticklake/core/market'
import { bronzeTradesPrefix, candleStateKey } from '@ticklake/core/lake/layout'
import { writeParquet } from '@ticklake/core/lake/parquet'
import { readSilverHour, rowsOf } from '@ticklake/core/lake/silver'
import { memoryStore, s3Event } from '@ticklake/local/store/index'
import { createCandlesHandler } from './candles'
import { createSilverHandler, silverHoursOf } from './silver'

const T0 = Date.parse('2026-11-24T15:00:00Z')
const trade = (id: number): Trade => ({
  exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: id, first_trade_id: id, last_trade_id: id,
  ts: (T0 + id * 1000) * 1000, price: 100 + id / 100, qty: 0.5, side: id % 2 ? 'buy' : 'sell', trades: 1, ingest_ts: 0, source: 'ws',
})
const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => trade(from + i))

describe('silver function', () => {
  it('reads the hours of candle state keys only, each once, URL-encoded as S3 sends them', () => {
    const key = candleStateKey('binance', 'BTC-USDT', '2026-11-24', '15')
    const event = { Records: [...s3Event('b', key, 1, '"x"').Records, ...s3Event('b', encodeURIComponent(key), 1, '"x"').Records, ...s3Event('b', 'state/silver/binance/BTC-USDT/2026-11-24/15.json', 1, '"x"').Records] }
    expect(silverHoursOf(event)).toEqual([{ exchange: 'binance', symbol: 'BTC-USDT', dt: '2026-11-24', hour: '15' }])
  })

  it('merges the bronze files behind the candle state the candle job wrote, each trade once, and does nothing when rerun', async () => {
    const store = memoryStore()
    const prefix = bronzeTradesPrefix('binance', 'BTC-USDT', '2026-11-24', '15')
    const candles = createCandlesHandler({ store, now: () => T0 + 7_200_000 })
    const silver = createSilverHandler({ store })
    for (const [name, rows] of [['a', ids(1, 60)], ['b', ids(50, 120)]] as const) {
      const { etag } = await store.put(`${prefix}${name}.parquet`, writeParquet(TRADE_COLUMNS, [...rows]))
      await candles(s3Event('b', `${prefix}${name}.parquet`, 1, etag))
    }
    const state = candleStateKey('binance', 'BTC-USDT', '2026-11-24', '15')
    const event = s3Event('b', state, 1, (await store.head(state))!.etag)
    const [first] = await silver(event)
    expect(first).toMatchObject({ newFiles: 2, duplicates: 11, trades: 120 })
    const rows = rowsOf((await readSilverHour(store, 'binance', 'BTC-USDT', '2026-11-24', '15'))!.table)
    expect(rows.map((r) => r.trade_id)).toEqual(ids(1, 120).map((t) => t.trade_id))
    const [again] = await silver(event)
    expect(again).toMatchObject({ newFiles: 0, bronzeFiles: 2 })
    expect(again.trades).toBeUndefined()
  })
})

describe('candles and silver', () => {
  it('leave out the same rows when bronze holds nulls in columns the candles do not read (Firehose writes OPTIONAL columns)', async () => {
    const store = memoryStore()
    const prefix = bronzeTradesPrefix('binance', 'BTC-USDT', '2026-11-24', '15')
    const rows = ids(1, 10).map((t, i) => (i === 2 ? { ...t, symbol: null } : i === 5 ? { ...t, ingest_ts: null } : i === 7 ? { ...t, trade_id: null } : t)) as unknown as Trade[]
    const { etag } = await store.put(`${prefix}a.parquet`, writeParquet(TRADE_COLUMNS, rows, { nullable: true }))
    const [candles] = await createCandlesHandler({ store, now: () => T0 + 7_200_000 })(s3Event('b', `${prefix}a.parquet`, 1, etag))
    const state = candleStateKey('binance', 'BTC-USDT', '2026-11-24', '15')
    const [silver] = await createSilverHandler({ store })(s3Event('b', state, 1, (await store.head(state))!.etag))
    expect(candles).toMatchObject({ trades: 7, nulls: 3 })
    expect(silver).toMatchObject({ trades: 7, nulls: 3 })
  })
})
