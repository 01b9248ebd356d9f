import { describe, expect, it } from 'vitest'
import { ATR, AverageGain, AverageLoss, BollingerBands, EMA, MACD, RSI, SMA, VWAP } from 'technicalindicators'
import { atr, bollinger, candleIndicators, ema, macd, rsi, sessionVwap, sma, wilderGainLoss, type CandleSeries } from './indicators'
import { candlesOf, trades } from '../../../test/synthetic'
import { CANDLE_FEATURE_COLUMNS } from './schema'

// 600 one-minute candles of a seeded tape, from 00:00 UTC so a session VWAP and
// technicalindicators' (which accumulates from its first input) start together.
const day = Date.UTC(2026, 10, 24)
const candles = candlesOf(trades({ n: 30_000, start: day, spanMs: 600 * 60_000, seed: 11 }), day, day + 600 * 60_000)
const close = Float64Array.from(candles, (c) => c.close), high = Float64Array.from(candles, (c) => c.high), low = Float64Array.from(candles, (c) => c.low), volume = Float64Array.from(candles, (c) => c.volume)
const values = [...close]

/** Ours (NaN during warm-up) against theirs (which omits warm-up values): same count, each within 1e-9 relative. */
function same(ours: Float64Array, theirs: (number | undefined)[], name: string) {
  const valid = [...ours].filter((v) => !Number.isNaN(v))
  expect(valid.length, `${name}: values`).toBe(theirs.length)
  expect(Number.isNaN(ours[ours.length - theirs.length - 1]) || ours.length === theirs.length, `${name}: warm-up`).toBe(true)
  theirs.forEach((t, k) => {
    const o = valid[k]
    expect(Math.abs(o - t!) <= 1e-9 * Math.max(Math.abs(o), Math.abs(t!), 1e-300), `${name}[${k}]: ${o} vs ${t}`).toBe(true)
  })
}

describe('indicators against technicalindicators', () => {
  it('holds 600 candles with some volume', () => {
    expect(candles.length).toBe(600)
    expect(volume.every((v) => v > 0)).toBe(true)
  })

  it('gives the same SMA 20 and 50', () => {
    for (const p of [20, 50]) same(sma(close, p), SMA.calculate({ period: p, values }), `sma ${p}`)
  })

  it('gives the same EMA 12, 26 and 50, seeded with the SMA of the first values', () => {
    for (const p of [12, 26, 50]) same(ema(close, p), EMA.calculate({ period: p, values }), `ema ${p}`)
  })

  it('gives the same RSI 14 after their rounding to 2 decimals, and the unrounded value from the same Wilder averages', () => {
    const ours = rsi(close, 14)
    const theirs = RSI.calculate({ period: 14, values })
    const valid = [...ours].filter((v) => !Number.isNaN(v))
    expect(valid.length).toBe(theirs.length)
    valid.forEach((v, k) => expect(Number(v.toFixed(2)), `rsi[${k}]`).toBe(theirs[k]))
    // Unrounded: equal to 100 - 100 / (1 + gain / loss) from their AverageGain / AverageLoss.
    const { gain, loss } = wilderGainLoss(close, 14)
    same(gain, AverageGain.calculate({ period: 14, values }), 'average gain')
    same(loss, AverageLoss.calculate({ period: 14, values }), 'average loss')
    expect(valid.some((v) => v !== Number(v.toFixed(2)))).toBe(true) // the difference is real
  })

  it('gives the same MACD 12/26/9 with EMAs for the oscillator and the signal', () => {
    const m = macd(close, 12, 26, 9)
    const theirs = MACD.calculate({ values, fastPeriod: 12, slowPeriod: 26, signalPeriod: 9, SimpleMAOscillator: false, SimpleMASignal: false })
    same(m.line, theirs.map((x) => x.MACD), 'macd')
    same(m.signal, theirs.filter((x) => x.signal !== undefined).map((x) => x.signal), 'signal')
    same(m.hist, theirs.filter((x) => x.histogram !== undefined).map((x) => x.histogram), 'histogram')
  })

  it('gives the same Bollinger bands 20 / 2 and %b', () => {
    const b = bollinger(close, 20, 2)
    const theirs = BollingerBands.calculate({ period: 20, stdDev: 2, values })
    same(b.middle, theirs.map((x) => x.middle), 'middle')
    same(b.upper, theirs.map((x) => x.upper), 'upper')
    same(b.lower, theirs.map((x) => x.lower), 'lower')
    same(b.pb, theirs.map((x) => x.pb), 'pb')
  })

  it('gives the same ATR 14', () => {
    same(atr(high, low, close, 14), ATR.calculate({ period: 14, high: [...high], low: [...low], close: values }), 'atr')
  })

  it('gives the same VWAP within a UTC day, and restarts it at 00:00 where technicalindicators goes on', () => {
    const t = Float64Array.from(candles, (c) => c.open_time)
    const typical = Float64Array.from(candles, (c) => c.volume * ((c.high + c.low + c.close) / 3))
    const theirs = VWAP.calculate({ high: [...high], low: [...low], close: values, volume: [...volume] })
    same(sessionVwap(t, typical, volume), theirs, 'vwap')
    const shifted = t.map((x) => x + 23 * 3_600_000) // the 60th candle now opens at 00:00 of the next day
    const ours = sessionVwap(shifted, typical, volume)
    expect(ours[59]).toBeCloseTo(theirs[59], 9)
    expect(ours[60]).toBe(typical[60] / volume[60])
    expect(Math.abs(ours[60] - theirs[60])).toBeGreaterThan(0)
  })

  it('null %b on flat bands, where technicalindicators gives NaN', () => {
    const flat = new Float64Array(30).fill(100)
    expect(bollinger(flat, 20, 2).pb[25]).toBeNaN()
    expect(BollingerBands.calculate({ period: 20, stdDev: 2, values: [...flat] })[5].pb).toBeNaN()
  })
})

describe('candle indicator rows', () => {
  const series: CandleSeries = {
    length: candles.length, openTime: Float64Array.from(candles, (c) => c.open_time), high, low, close, volume,
    quoteVolume: Float64Array.from(candles, (c) => c.quote_volume), final: new Float64Array(candles.length).fill(1),
  }

  it('fill every column for the candles after the warm-up, and equal the whole-series indicators there', () => {
    const { rows, table } = candleIndicators(series, 540, { exchange: 'binance', symbol: 'BTC-USDT' })
    expect(rows).toBe(60)
    expect(Object.keys(table).sort()).toEqual(CANDLE_FEATURE_COLUMNS.map((c) => c.name).sort())
    for (const c of CANDLE_FEATURE_COLUMNS) if (c.type === 'DOUBLE') expect((table[c.name] as Float64Array).some(Number.isNaN), c.name).toBe(false)
    expect([...(table.ema_26 as Float64Array)]).toEqual([...ema(close, 26).slice(540)])
    expect((table.open_time as Float64Array)[0]).toBe(candles[540].open_time)
    expect([...(table.final as Uint8Array)].every((v) => v === 1)).toBe(true)
  })
})
