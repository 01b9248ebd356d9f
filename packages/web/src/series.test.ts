import { describe, expect, it } from 'vitest'
import type { Candle } from '@ticklake/core/market'
import { Series } from './series'

const c = (open_time: number, close: number, final = true, o: Partial<Candle> = {}): Candle => ({
  exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', open_time, close_time: open_time + 59_999, open: close, high: close, low: close, close, volume: 1,
  quote_volume: close, trades: 1, taker_buy_volume: 0, taker_buy_quote_volume: 0, vwap: close, first_trade_id: 1, last_trade_id: 1, final, ...o,
})

describe('Series', () => {
  it('appends a newer candle and replaces the newest one in place, keeping the columns in step', () => {
    const s = new Series('BTC-USDT', '1m')
    expect(s.upsert(c(60_000, 10, false))).toBe('append')
    expect(s.upsert(c(120_000, 11, false))).toBe('append')
    expect(s.upsert(c(120_000, 12, false))).toBe('last')
    expect(s.cols.t).toEqual([60, 120])
    expect(s.cols.c).toEqual([10, 12])
  })

  it('never lets a partial candle overwrite a final one of the same open time', () => {
    const s = new Series('BTC-USDT', '1m')
    s.upsert(c(60_000, 10, true))
    expect(s.upsert(c(60_000, 99, false))).toBe('kept')
    s.merge([c(60_000, 98, false)])
    expect(s.cols.c).toEqual([10])
  })

  it('merges older history before what it holds, in open-time order, counting only what changed', () => {
    const s = new Series('BTC-USDT', '1m')
    s.upsert(c(300_000, 5, false))
    expect(s.merge([c(180_000, 3), c(60_000, 1), c(120_000, 2), c(300_000, 5, false)])).toBe(3)
    expect(s.cols.t).toEqual([60, 120, 180, 300])
    expect(s.upsert(c(240_000, 4))).toBe('insert')
    expect(s.cols.c).toEqual([1, 2, 3, 4, 5])
  })

  it('refuses candles of another symbol or timeframe and malformed ones, and counts them', () => {
    const s = new Series('BTC-USDT', '1m')
    expect(s.upsert(c(60_000, 1, true, { symbol: 'ETH-USDT' }))).toBe('refused')
    expect(s.merge([c(60_000, 1, true, { tf: '5m' }), c(120_000, NaN)])).toBe(0)
    expect(s.length).toBe(0)
    expect(s.refused).toBe(3)
  })

  it('keeps at most `max` candles, dropping the oldest', () => {
    const s = new Series('BTC-USDT', '1m', 3)
    for (let i = 1; i <= 5; i++) s.upsert(c(i * 60_000, i))
    expect(s.cols.c).toEqual([3, 4, 5])
    s.merge([c(60_000, 1)])
    expect(s.cols.c).toEqual([3, 4, 5])
  })
})
