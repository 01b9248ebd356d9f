import { describe, expect, it } from 'vitest'
import { TRADE_COLUMNS, type Trade } from '../../market/index'
import { bronzeTradesPrefix, candleStateKey } from '../layout/index'
import { writeParquet } from '../parquet/index'
import { readJson } from '../../ports/index'
import { countingStore } from '../../../test/counting-store'
import { mergeSilver } from '../silver/index'
import { candles1m, recomputeHour, type HourState } from './index'

const DT = '2026-11-24'
const T0 = Date.parse(`${DT}T15:00:00Z`)
const NOW = T0 + 3 * 3_600_000
const prefix = bronzeTradesPrefix('binance', 'BTC-USDT', DT, '15')
const trade = (id: number, sec: number, price = 100 + (id % 7) / 4, qty = 0.5 + (id % 3)): Trade => ({ exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: id, first_trade_id: id, last_trade_id: id, ts: (T0 + sec * 1000) * 1000, price, qty, side: id % 2 ? 'buy' : 'sell', trades: 1, ingest_ts: 0, source: 'api' })
const run = (store: ReturnType<typeof countingStore>) => recomputeHour({ store, exchange: 'binance', symbol: 'BTC-USDT', dt: DT, hour: '15', now: NOW })
const text = async (store: ReturnType<typeof countingStore>, key: string) => new TextDecoder().decode((await store.get(key))!)

describe('the hour job meeting rows it cannot take', () => {
  it('sends each bad row and unreadable object to dlq/candles/ with its reason and computes the rest of the hour', async () => {
    const good = Array.from({ length: 120 }, (_, i) => trade(1000 + i, i * 29))
    const bad = [
      { ...trade(2000, 3000), price: NaN }, { ...trade(2001, 3001), price: 1e308 }, { ...trade(2002, 3002), qty: 0 },
      { ...trade(2003, 3003), first_trade_id: 2005, last_trade_id: 2003 }, { ...trade(2004, 3004), price: 1e10, qty: 1e9 },
    ]
    const store = countingStore()
    await store.put(`${prefix}a.parquet`, writeParquet(TRADE_COLUMNS, good.slice(0, 60)))
    const b = [...good.slice(60, 100), ...bad, ...good.slice(100)].sort((x, y) => x.ts - y.ts)
    await store.put(`${prefix}b.parquet`, writeParquet(TRADE_COLUMNS, b))
    await store.put(`${prefix}c.parquet`, new TextEncoder().encode('not parquet at all'))
    const r = await run(store)
    expect(r).toMatchObject({ trades: 120, invalid: 5, unreadable: 1, files: 3 })
    // the candles are those of the good trades alone
    const want = candles1m(good, { exchange: 'binance', symbol: 'BTC-USDT', from: T0, until: T0 + 3_600_000 })
    const traded = (cs: typeof want) => cs.filter((c) => c.trades > 0).map(({ final: _, ...c }) => c)
    expect(traded(r.candles)).toEqual(traded(want))
    const dlq = (await store.list('dlq/candles/')).map((o) => o.key).sort()
    expect(dlq).toEqual([`dlq/candles/dt=${DT}/binance.BTC-USDT.15.b.jsonl`, `dlq/candles/dt=${DT}/binance.BTC-USDT.15.c.jsonl`])
    const lines = (await text(store, dlq[0])).trim().split('\n').map((l) => JSON.parse(l))
    expect(lines.map((l) => [l.trade.first_trade_id, l.trade.price, l.reason.split(' ').slice(0, 3).join(' ')])).toEqual([
      [2000, 'NaN', 'price NaN is'], [2001, 1e308, 'price 1e+308 is'], [2002, bad[2].price, 'qty 0 is'], [2005, bad[3].price, 'first_trade_id 2005 ..'], [2004, 1e10, 'price x qty'],
    ])
    expect(lines[0]).toMatchObject({ bronze: `${prefix}b.parquet`, row: b.indexOf(bad[0]) })
    expect(JSON.parse(await text(store, dlq[1]))).toMatchObject({ bronze: `${prefix}c.parquet`, reason: expect.stringMatching(/^unreadable: /) })
    // silver, which follows, holds the good trades and leaves the bad rows out too
    const silver = await mergeSilver(store, 'binance', 'BTC-USDT', DT, '15')
    expect(silver).toMatchObject({ trades: 120, invalid: 5 })
    // a rerun rewrites the same DLQ objects, no more
    await store.put(`${prefix}d.parquet`, writeParquet(TRADE_COLUMNS, [trade(3000, 3500)]))
    expect(await run(store)).toMatchObject({ trades: 121 })
    expect((await store.list('dlq/')).length).toBe(2)
  })

  it('keeps an hour with a price of 99999999.12345678 exact and moving, also when it comes in a later object', async () => {
    const store = countingStore()
    const first = Array.from({ length: 50 }, (_, i) => trade(1000 + i, i * 30))
    await store.put(`${prefix}a.parquet`, writeParquet(TRADE_COLUMNS, first))
    await run(store)
    const later = [trade(1050, 1600, 99999999.12345678, 0.00000001), trade(1051, 1700, 101.25, 3)]
    await store.put(`${prefix}b.parquet`, writeParquet(TRADE_COLUMNS, later))
    const r = await run(store)
    expect(r).toMatchObject({ trades: 52, invalid: 0 })
    const minute = r.candles.find((c) => c.open_time === T0 + 26 * 60_000)!
    expect(minute).toMatchObject({ high: 99999999.12345678, volume: 0.00000001, quote_volume: 0.99999999, trades: 1 })
    expect(r.byTf['1h'][0]).toMatchObject({ trades: 52, high: 99999999.12345678 })
    const state = (await readJson<HourState>(store, candleStateKey('binance', 'BTC-USDT', DT, '15')))!
    expect(state.minutes.find((m) => m[0] === T0 + 26 * 60_000)?.[10]).toBe('9999999912345678') // price x qty at 10^-16, exactly
  })
})
