import { describe, expect, it } from 'vitest'
import type { Trade } from '../../market/index'
import { addTrade, candleCache, candles1m, emptyCandle, servingJson } from './index'
import { dedupe } from '../dedupe/index'

const T0 = Date.parse('2026-11-24T15:00:00Z')
let id = 100
const trade = (sec: number, price: number, qty = 1, side: Trade['side'] = 'buy', n = 1): Trade => {
  const a = id++
  return { exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: a, first_trade_id: a * 10, last_trade_id: a * 10 + n - 1, ts: (T0 + sec * 1000) * 1000, price, qty, side, trades: n, ingest_ts: 0, source: 'ws' }
}

describe('1m candles', () => {
  it('computes open, high, low, close, volumes, individual trade count and vwap per minute', () => {
    const ts = [trade(1, 10, 1, 'buy', 3), trade(20, 12, 2, 'sell'), trade(59.999, 9, 1, 'buy', 2), trade(60, 11, 4, 'sell')]
    const [a, b] = candles1m(ts, { exchange: 'binance', symbol: 'BTC-USDT', from: T0, until: T0 + 120_000 })
    expect(a).toMatchObject({ open_time: T0, close_time: T0 + 59_999, open: 10, high: 12, low: 9, close: 9, volume: 4, quote_volume: 43, trades: 6, taker_buy_volume: 2, taker_buy_quote_volume: 19 })
    expect(a.vwap).toBeCloseTo(43 / 4)
    expect([a.first_trade_id, a.last_trade_id]).toEqual([ts[0].first_trade_id, ts[2].last_trade_id])
    expect(b).toMatchObject({ open_time: T0 + 60_000, open: 11, close: 11, volume: 4, trades: 1, taker_buy_volume: 0 })
  })

  it('fills minutes without trades with flat zero-volume candles at the previous close', () => {
    const cs = candles1m([trade(5, 10), trade(200, 13)], { exchange: 'binance', symbol: 'BTC-USDT', from: T0 - 120_000, until: T0 + 300_000, prevClose: 7 })
    expect(cs.map((c) => [c.open_time - T0, c.open, c.close, c.volume])).toEqual([
      [-120_000, 7, 7, 0], [-60_000, 7, 7, 0], [0, 10, 10, 1], [60_000, 10, 10, 0], [120_000, 10, 10, 0], [180_000, 13, 13, 1], [240_000, 13, 13, 0],
    ])
  })

  it('emits no candle before the first trade when no previous close is known', () => {
    const cs = candles1m([trade(130, 10)], { exchange: 'binance', symbol: 'BTC-USDT', from: T0, until: T0 + 180_000 })
    expect(cs.map((c) => c.open_time - T0)).toEqual([120_000])
  })

  it('counts a trade delivered twice once', () => {
    const t = trade(1, 10)
    const cs = candles1m(dedupe([t, { ...t, source: 'rest' }, trade(2, 11)]), { exchange: 'binance', symbol: 'BTC-USDT', from: T0, until: T0 + 60_000 })
    expect(cs[0]).toMatchObject({ volume: 2, trades: 2, close: 11 })
  })

  it('keeps a live candle\'s volumes exact decimals as trades are added one by one', () => {
    const c = emptyCandle('binance', 'BTC-USDT', T0)
    for (const q of [0.1, 0.2, 0.00000001]) addTrade(c, trade(1, 10, q, 'buy'))
    expect(c).toMatchObject({ volume: 0.30000001, taker_buy_volume: 0.30000001, trades: 3, open_time: T0 })
  })
})

describe('serving windows', () => {
  it('are written as exactly JSON.stringify writes them, also from candles whose JSON was made for an earlier window', () => {
    const candles = candles1m([], { exchange: 'binance', symbol: 'BTC-USDT', from: Date.UTC(2026, 10, 24), until: Date.UTC(2026, 10, 24, 0, 5), prevClose: 101.5 })
    const first = { exchange: 'binance', symbol: 'BTC-USDT', tf: '1m' as const, updated_at: 1, candles: candles.slice(0, 3) }
    const text = (w: object) => new TextDecoder().decode(servingJson(w as any))
    expect(text(first)).toBe(JSON.stringify(first))
    expect(text({ ...first, candles: [] })).toBe(JSON.stringify({ ...first, candles: [] }))
    const next = { ...first, symbol: 'ETH-"USDT"', updated_at: 2.5, candles: [...candles.slice(1, 3), { ...candles[4], close: 1e-9, volume: -0 }] }
    expect(text(next)).toBe(JSON.stringify(next))
    // made from the window before it: runs of its candles copied whole, in any order and with gaps
    const more = candles1m([], { exchange: 'binance', symbol: 'BTC-USDT', from: Date.UTC(2026, 10, 24), until: Date.UTC(2026, 10, 24, 0, 30), prevClose: 7 })
    const a = { ...first, candles: more.slice(0, 20) }
    const cache = candleCache()
    servingJson(a, undefined, cache)
    for (const c of [[...a.candles.slice(3, 12), more[25], ...a.candles.slice(14, 20), ...more.slice(20, 24)], a.candles.slice(0, 1), [], [a.candles[19], a.candles[0], a.candles[1]]]) {
      const b = { ...a, updated_at: 9, candles: c }
      expect(new TextDecoder().decode(servingJson(b, a, cache))).toBe(JSON.stringify(b))
      const d = { ...b, candles: [...c].reverse() }
      expect(new TextDecoder().decode(servingJson(d, b, cache))).toBe(JSON.stringify(d))
    }
  })
})
