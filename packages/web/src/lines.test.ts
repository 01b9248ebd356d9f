import { describe, expect, it } from 'vitest'
import type { Candle } from '@ticklake/core/market'
import { Series } from './series'
import { allLines, refreshLines } from './lines'
import { parseIndicators } from './prefs'

const IND = parseIndicators('sma20,ema50,bb20,vwap,rsi14,macd').ind

/** `n` 1m candles of a seeded walk, across a UTC midnight (the VWAP restarts there). */
function walk(n: number): Candle[] {
  let seed = 7, close = 100
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  const start = Date.UTC(2026, 10, 24, 22, 0)
  return Array.from({ length: n }, (_, i) => {
    const open = close
    close = +(open * (1 + (rnd() - 0.5) * 0.01)).toFixed(2)
    const volume = 1 + rnd() * 5
    return { exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', open_time: start + i * 60_000, close_time: start + i * 60_000 + 59_999, open, high: Math.max(open, close) + 0.1, low: Math.min(open, close) - 0.1, close, volume, quote_volume: volume * close, trades: 1, taker_buy_volume: 0, taker_buy_quote_volume: 0, vwap: close, first_trade_id: i, last_trade_id: i, final: true }
  })
}

describe('indicator lines', () => {
  it('recomputed from the newest candle on, equal those computed over the whole series, through live updates and new candles', () => {
    const candles = walk(3_000)
    const s = new Series('BTC-USDT', '1m')
    s.merge(candles.slice(0, 2_000))
    s.takeDirty()
    const lines = allLines(IND, s)
    for (let i = 2_000; i < 2_200; i++) {
      const c = candles[i]
      s.upsert({ ...c, close: c.open, final: false }) // the new minute opens
      refreshLines(lines, IND, s, s.takeDirty())
      s.upsert(c) // and moves
      refreshLines(lines, IND, s, s.takeDirty())
    }
    const whole = allLines(IND, s)
    expect(lines.map((l) => l.label)).toEqual(['SMA 20', 'EMA 50', 'BB 20 upper', 'BB 20', 'BB 20 lower', 'VWAP', 'RSI 14', 'MACD', 'signal'])
    for (const [k, l] of lines.entries()) {
      expect(l.values).toHaveLength(2_200)
      for (let i = 0; i < 2_200; i++) {
        const a = l.values[i], b = whole[k].values[i]
        if (b === null) expect(a, `${l.label} ${i}`).toBeNull()
        else expect(Math.abs(a! - b) / Math.max(1, Math.abs(b)), `${l.label} ${i}`).toBeLessThan(1e-9)
      }
    }
  })

  it('starts the session VWAP again at UTC midnight', () => {
    const s = new Series('BTC-USDT', '1m')
    s.merge(walk(300))
    const vwap = allLines(parseIndicators('vwap').ind, s)[0].values
    const midnight = s.indexOf(Date.UTC(2026, 10, 25))
    expect(vwap[midnight]).toBeCloseTo(s.candles[midnight].quote_volume / s.candles[midnight].volume, 9)
  })
})
