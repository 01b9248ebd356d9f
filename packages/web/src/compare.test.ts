import { describe, expect, it } from 'vitest'
import type { Candle } from '@ticklake/core/market'
import { candleChannel } from '@ticklake/core/serve/realtime'
import { Series } from './series'
import { alignCloses, createOverlay, spreadOf } from './compare'

const M = 60_000
const c = (symbol: string, minute: number, close: number, final = true): Candle => ({
  exchange: 'x', symbol, tf: '1m', open_time: minute * M, close_time: minute * M + M - 1, open: close, high: close, low: close, close, volume: 1,
  quote_volume: close, trades: 1, taker_buy_volume: 0, taker_buy_quote_volume: 0, vwap: close, first_trade_id: 1, last_trade_id: 1, final,
})
const series = (symbol: string, closes: Record<number, number>) => { const s = new Series(symbol, '1m'); s.merge(Object.entries(closes).map(([m, v]) => c(symbol, Number(m), v))); return s }

describe('the compare overlay', () => {
  it('aligns the other series on open time, null where either side has no candle, never a carried-over close', () => {
    const main = series('BTC-USDT', { 1: 100, 2: 101, 3: 102, 5: 104, 6: 105 })
    const other = series('BTC-USD', { 0: 90, 2: 91, 4: 93, 5: 94, 7: 96 })
    const out: (number | null)[] = []
    alignCloses(main.cols.t, other, out)
    expect(out).toEqual([null, 91, null, 94, null])
  })

  it('realigns from a given candle only, and follows a grown main series', () => {
    const main = series('BTC-USDT', { 1: 100, 2: 101 })
    const other = series('BTC-USD', { 1: 90, 2: 91, 3: 92 })
    const out: (number | null)[] = []
    alignCloses(main.cols.t, other, out)
    main.upsert(c('BTC-USDT', 3, 102, false))
    out[0] = -1 // left alone: before `from`
    alignCloses(main.cols.t, other, out, 2)
    expect(out).toEqual([-1, 91, 92])
  })

  it('gives the spread in price and in basis points of the other close', () => {
    expect(spreadOf(64_010, 64_000)).toEqual({ abs: 10, bps: 10 / 64_000 * 10_000 })
    expect(spreadOf(99, 100).bps).toBeCloseTo(-100, 10)
  })

  it('keeps its series from the serving window and live candles of its own channel, and drops answers to an older choice', async () => {
    const answers: Record<string, Candle[]> = { '/serving/coinbase/BTC-USD/1m.json': [c('BTC-USD', 1, 90), c('BTC-USD', 2, 91)], '/serving/coinbase/BTC-USD/5m.json': [] }
    let release!: () => void
    const slow = new Promise<void>((r) => { release = r })
    const asked: string[] = []
    const overlay = createOverlay({
      getJson: async <T>(path: string) => { asked.push(path); if (path.includes('/1m.json')) await slow; return { candles: answers[path.split('?')[0]] ?? [] } as T },
      onChange: () => {}, onError: (e) => { throw new Error(e) },
    })
    const first = overlay.set({ exchange: 'coinbase', symbol: 'BTC-USD' }, '1m')
    expect(overlay.channel()).toBe(candleChannel('coinbase', 'BTC-USD', '1m'))
    const second = overlay.set({ exchange: 'coinbase', symbol: 'BTC-USD' }, '5m')
    release()
    await Promise.all([first, second])
    // the 1m window answered after the choice moved on to 5m: not mixed in
    expect(overlay.series()!.length).toBe(0)
    expect(overlay.onMessage({ type: 'candle', channel: candleChannel('coinbase', 'BTC-USD', '1m'), candle: c('BTC-USD', 3, 92), final: false })).toBe(false)
    const five = { ...c('BTC-USD', 5, 95), tf: '5m' as const }
    expect(overlay.onMessage({ type: 'candle', channel: candleChannel('coinbase', 'BTC-USD', '5m'), candle: five, final: false })).toBe(true)
    expect(overlay.series()!.cols.c).toEqual([95])
    await overlay.set(undefined, '5m')
    expect([overlay.channel(), overlay.series()]).toEqual([undefined, undefined])
    expect(asked).toEqual(['/serving/coinbase/BTC-USD/1m.json', '/serving/coinbase/BTC-USD/5m.json'])
  })

  it('reads back as far as the main series from the lake when its serving window is shorter', async () => {
    const asked: string[] = []
    const overlay = createOverlay({
      getJson: async <T>(path: string) => { asked.push(path); return { candles: path.startsWith('/serving/') ? [c('BTC-USD', 100, 90)] : [c('BTC-USD', 40, 80)] } as T },
      onChange: () => {}, onError: () => {},
    })
    await overlay.set({ exchange: 'coinbase', symbol: 'BTC-USD' }, '1m', 10 * M)
    expect(asked[1]).toBe(`/api/candles?exchange=coinbase&symbol=BTC-USD&tf=1m&from=${10 * M}&to=${100 * M}&limit=90`)
    expect(overlay.series()!.cols.c).toEqual([80, 90])
  })
})
