import { describe, expect, it } from 'vitest'
import { CANDLE_COLUMNS, TRADE_COLUMNS, type Candle, type Trade } from '../../market/index'
import { bronzeTradesPrefix, goldCandleFileKey, relocatedCandleKey } from '../layout/index'
import { readParquet, writeParquet } from '../parquet/index'
import { countingStore } from '../../../test/counting-store'
import { moveOldCandleFiles, recomputeHour } from './index'
import { flatCandle } from './finish'

const DT = '2026-11-24'
const T0 = Date.parse(`${DT}T15:00:00Z`)
const DAY = 86_400_000
const X = 'binance', S = 'BTC-USDT'
const base = `gold/candles/exchange=${X}/symbol=${S}`

/** A few trades in hour 15 of DT, through the real hour job: gold in every timeframe at today's keys. */
async function lakeOfToday() {
  const store = countingStore()
  const trades: Trade[] = [0, 1, 2].map((i) => ({ exchange: X, symbol: S, native_symbol: 'BTCUSDT', trade_id: 10 + i, first_trade_id: 10 + i, last_trade_id: 10 + i, ts: (T0 + i * 61_000) * 1000, price: 100 + i, qty: 1, side: 'buy', trades: 1, ingest_ts: 0, source: 'ws' }))
  await store.put(`${bronzeTradesPrefix(X, S, DT, '15')}a.parquet`, writeParquet(TRADE_COLUMNS, trades))
  await recomputeHour({ store, exchange: X, symbol: S, dt: DT, hour: '15', now: T0 + 3_600_000 })
  return store
}

/** Candles of a gold file, by open time. */
const rowsOf = async (store: ReturnType<typeof countingStore>, key: string) => (await readParquet<Candle>((await store.get(key))!)).map((c) => [new Date(c.open_time).toISOString(), c.close])

describe('moving gold candle files of the layout before issue 10', () => {
  it('names the new key of an old 4h day file and 1d year file, and of nothing else', () => {
    expect(relocatedCandleKey(`${base}/tf=4h/dt=2026-11-24.parquet`)).toBe(`${base}/tf=4h/dt=2026-11-24/day.parquet`)
    expect(relocatedCandleKey(`${base}/tf=1d/year=2026.parquet`)).toBe(`${base}/tf=1d/dt=2026-01-01/year.parquet`)
    for (const k of [`${base}/tf=1m/dt=2026-11-24/hour=15.parquet`, `${base}/tf=4h/dt=2026-11-24/day.parquet`, `${base}/tf=1d/dt=2026-01-01/year.parquet`, `${base}/tf=1d/dt=2026-11-24.parquet`, `${base}/tf=4h/year=2026.parquet`]) expect(relocatedCandleKey(k), k).toBeUndefined()
    // today's keys are what the old ones move to
    expect(relocatedCandleKey(`${base}/tf=1d/year=2026.parquet`)).toBe(goldCandleFileKey(X, S, '1d', T0))
    expect(relocatedCandleKey(`${base}/tf=4h/dt=2026-11-24.parquet`)).toBe(goldCandleFileKey(X, S, '4h', T0))
  })

  it('moves an old file whose new key is free as it is, merges one into the file the job wrote since (keeping the newer candles), and deletes the old', async () => {
    const store = await lakeOfToday()
    const newYear = goldCandleFileKey(X, S, '1d', T0)
    const written = await rowsOf(store, newYear)
    expect(written).toEqual([[`${DT}T00:00:00.000Z`, 102]])
    // the old year file: two earlier days, and the job's day with an older close
    const D = Date.parse(`${DT}T00:00:00Z`)
    await store.put(`${base}/tf=1d/year=2026.parquet`, writeParquet(CANDLE_COLUMNS, [flatCandle(X, S, '1d', D - 2 * DAY, 90, true), flatCandle(X, S, '1d', D - DAY, 95, true), flatCandle(X, S, '1d', D, 1)]))
    // an old 4h file of the day before, whose new key is free
    const oldDay = writeParquet(CANDLE_COLUMNS, [flatCandle(X, S, '4h', D - DAY, 95, true)])
    await store.put(`${base}/tf=4h/dt=2026-11-23.parquet`, oldDay)

    const r = await moveOldCandleFiles(store)
    expect(r).toEqual({ moved: [`${base}/tf=4h/dt=2026-11-23.parquet`], merged: [`${base}/tf=1d/year=2026.parquet`], failed: [] })
    expect(await rowsOf(store, newYear)).toEqual([['2026-11-22T00:00:00.000Z', 90], ['2026-11-23T00:00:00.000Z', 95], [`${DT}T00:00:00.000Z`, 102]])
    expect(await store.get(goldCandleFileKey(X, S, '4h', D - DAY))).toEqual(oldDay)
    expect((await store.list('gold/candles/')).map((o) => o.key).filter((k) => relocatedCandleKey(k))).toEqual([])
    // a second run finds nothing to do
    expect(await moveOldCandleFiles(store)).toEqual({ moved: [], merged: [], failed: [] })
  })

  it('leaves a file it cannot read as candles where it is, says why, and still moves the others', async () => {
    const store = countingStore()
    const junk = `${base}/tf=1d/year=2025.parquet`
    await store.put(junk, 'not parquet')
    const good = writeParquet(CANDLE_COLUMNS, [flatCandle(X, S, '1d', Date.parse('2026-03-01T00:00:00Z'), 80, true)])
    await store.put(`${base}/tf=1d/year=2026.parquet`, good)
    const r = await moveOldCandleFiles(store)
    expect(r.moved).toEqual([`${base}/tf=1d/year=2026.parquet`])
    expect(r.failed).toEqual([{ key: junk, error: expect.any(String) }])
    expect(r.failed[0].error.length).toBeGreaterThan(0)
    expect(new TextDecoder().decode(await store.get(junk))).toBe('not parquet')
    expect(await store.get(`${base}/tf=1d/dt=2025-01-01/year.parquet`)).toBeUndefined()
    expect(await store.get(`${base}/tf=1d/dt=2026-01-01/year.parquet`)).toEqual(good)
  })
})
