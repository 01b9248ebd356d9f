import { describe, expect, it } from 'vitest'
import { TRADE_COLUMNS, type Candle, type Timeframe, type Trade } from '../../market/index'
import { bronzeTradesPrefix, goldCandleFileKey, partitionOf } from '../layout/index'
import { readParquet, writeParquet } from '../parquet/index'
import { writeCheckpoint } from '../../sources/checkpoint/index'
import type { ObjectStore } from '../../ports/index'
import { countingStore } from '../../../test/counting-store'
import { ALL_TIMEFRAMES, mergeSpans, recomputeHour, writeCompleteSpan } from './index'

const DAY = 86_400_000
const D1 = Date.parse('2026-11-23T00:00:00Z')
const D2 = D1 + DAY

let id = 1
/** One trade at `ms`. */
const trade = (ms: number, price = 100): Trade => {
  const a = id++
  return { exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: a, first_trade_id: a, last_trade_id: a, ts: ms * 1000, price, qty: 0.5, side: a % 2 ? 'buy' : 'sell', trades: 1, ingest_ts: 0, source: 'ws' }
}

/** Writes the trades as bronze, one object per hour, and runs the candle job on each hour in order. */
async function load(store: ObjectStore, trades: Trade[], now: number) {
  const hours = new Map<string, Trade[]>()
  for (const t of trades) { const { dt, hour } = partitionOf(t.ts / 1000); const k = `${dt}/${hour}`; hours.set(k, [...(hours.get(k) ?? []), t]) }
  for (const [k, rows] of [...hours].sort()) {
    const [dt, hour] = k.split('/')
    await store.put(`${bronzeTradesPrefix('binance', 'BTC-USDT', dt, hour)}part-${rows[0].trade_id}.parquet`, writeParquet(TRADE_COLUMNS, rows))
  }
  for (const k of [...hours.keys()].sort()) { const [dt, hour] = k.split('/'); await recomputeHour({ store, exchange: 'binance', symbol: 'BTC-USDT', dt, hour, now }) }
}

/** The gold candles of `tf` opening in `[from, until)`. */
async function gold(store: ObjectStore, tf: Timeframe, from: number, until: number): Promise<Candle[]> {
  const keys = new Set<string>()
  for (let t = from; t < until; t += 60_000) keys.add(goldCandleFileKey('binance', 'BTC-USDT', tf, t))
  const out: Candle[] = []
  for (const k of keys) { const b = await store.get(k); if (b) out.push(...await readParquet<Candle>(b)) }
  return out.filter((c) => c.open_time >= from && c.open_time < until).sort((a, b) => a.open_time - b.open_time)
}

describe('final candles', () => {
  it('leaves the first traded minute of a symbol in the lake not final, and the minutes after it final up to the horizon', async () => {
    const store = countingStore()
    const trades = [trade(D2 + 10 * 60_000 + 30_000), trade(D2 + 11 * 60_000 + 5_000), trade(D2 + 14 * 60_000 + 1_000)]
    // ingest's checkpoint vouches for everything up to its last trade
    await writeCheckpoint(store, { exchange: 'binance', symbol: 'BTC-USDT', last_trade_id: trades.at(-1)!.trade_id, ts: trades.at(-1)!.ts, updated_at: 0 })
    await load(store, trades, D2 + DAY)
    const m = await gold(store, '1m', D2, D2 + DAY)
    expect(m.map((c) => [(c.open_time - D2) / 60_000, c.final])).toEqual([[10, false], [11, true], [12, true], [13, true], [14, false]])
    expect((await gold(store, '1d', D2, D2 + DAY)).map((c) => c.final)).toEqual([false])
  })

  it('makes a day final once the horizon passes its end when the day before holds trades, its first minute too', async () => {
    const store = countingStore()
    const trades = [trade(D1 + 23 * 3_600_000 + 59 * 60_000), trade(D2 + 30_000), trade(D2 + 5 * 3_600_000), trade(D2 + DAY + 60_000)]
    await writeCheckpoint(store, { exchange: 'binance', symbol: 'BTC-USDT', last_trade_id: trades.at(-1)!.trade_id, ts: trades.at(-1)!.ts, updated_at: 0 })
    await load(store, trades, D2 + 2 * DAY)
    const m = await gold(store, '1m', D2, D2 + DAY)
    expect(m).toHaveLength(1440)
    expect(m.every((c) => c.final)).toBe(true)
    expect((await gold(store, '1d', D1, D2 + 2 * DAY)).map((c) => [c.open_time, c.final])).toEqual([[D1, false], [D2, true], [D2 + DAY, false]])
  })

  it('makes every candle of a day a completeness record holds final, in every timeframe, without a checkpoint', async () => {
    const store = countingStore()
    const trades = [trade(D2 + 12_345), trade(D2 + 7 * 3_600_000 + 1), trade(D2 + 23 * 3_600_000 + 59 * 60_000 + 59_000)]
    await writeCompleteSpan(store, { exchange: 'binance', symbol: 'BTC-USDT', from: D2, until: D2 + DAY, source: 'archive', written_at: 0 })
    await load(store, trades, D2 + 400 * DAY)
    const counts: Record<Timeframe, number> = { '1m': 1440, '5m': 288, '15m': 96, '1h': 24, '4h': 6, '1d': 1 }
    for (const tf of ALL_TIMEFRAMES) {
      const cs = await gold(store, tf, D2, D2 + DAY)
      expect(cs.length, tf).toBe(counts[tf])
      expect(cs.filter((c) => !c.final).map((c) => c.open_time), tf).toEqual([])
    }
  })

  it('does not let a completeness record make final the hours of its day whose candles are not computed yet', async () => {
    const store = countingStore()
    await writeCompleteSpan(store, { exchange: 'binance', symbol: 'BTC-USDT', from: D2, until: D2 + DAY, source: 'archive', written_at: 0 })
    const early = trade(D2 + 60_000), late = trade(D2 + 20 * 3_600_000)
    await store.put(`${bronzeTradesPrefix('binance', 'BTC-USDT', partitionOf(D2).dt, '00')}a.parquet`, writeParquet(TRADE_COLUMNS, [early]))
    await store.put(`${bronzeTradesPrefix('binance', 'BTC-USDT', partitionOf(D2).dt, '20')}a.parquet`, writeParquet(TRADE_COLUMNS, [late]))
    await recomputeHour({ store, exchange: 'binance', symbol: 'BTC-USDT', dt: partitionOf(D2).dt, hour: '00', now: D2 + 400 * DAY })
    const m = await gold(store, '1m', D2, D2 + DAY)
    expect(m.at(-1)!.open_time).toBe(D2 + 3_600_000 - 60_000) // the candles end with the hour the record was applied to
    expect(m.every((c) => c.final)).toBe(true)
    expect((await gold(store, '1d', D2, D2 + DAY))[0].final).toBe(false)
  })

  it('joins overlapping and touching spans', () => {
    expect(mergeSpans([[5, 9], [0, 5], [20, 20], [8, 12], [30, 40]])).toEqual([[0, 12], [30, 40]])
  })
})
