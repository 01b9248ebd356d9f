import { describe, expect, it } from 'vitest'
import { FEATURE_COLUMNS, LOOKBACK, WINDOWS } from './schema'
import { rollingRange, rollingStd, rollingSum, tradeFeatures, type QuoteSeries, type TradeSeries } from './trades'
import { quotesFor, rng, trades } from '../../../test/synthetic'
import type { Quote, Trade } from '../../market/index'

function series(tape: Trade[]): TradeSeries {
  return {
    length: tape.length, tradeId: Float64Array.from(tape, (t) => t.trade_id), ts: Float64Array.from(tape, (t) => t.ts),
    price: Float64Array.from(tape, (t) => t.price), qty: Float64Array.from(tape, (t) => t.qty), buy: Uint8Array.from(tape, (t) => (t.side === 'buy' ? 1 : 0)),
  }
}
function quoteSeries(q: Quote[]): QuoteSeries {
  return { length: q.length, ts: Float64Array.from(q, (x) => x.ts), bid: Float64Array.from(q, (x) => x.bid), ask: Float64Array.from(q, (x) => x.ask), bidQty: Float64Array.from(q, (x) => x.bid_qty), askQty: Float64Array.from(q, (x) => x.ask_qty) }
}
/** Within 1e-9 relative, or 1e-12 absolute for values near zero (price / mean - 1 loses digits to cancellation). */
const close = (a: number, b: number, rel = 1e-9) => Math.abs(a - b) <= Math.max(rel * Math.max(Math.abs(a), Math.abs(b)), 1e-12)

/** The features of trade i, the slow and obvious way (whole windows, Date for the calendar). */
function naive(tape: Trade[], quotes: Quote[], i: number): Record<string, number> {
  const p = (j: number) => tape[j].price
  const row: Record<string, number> = { trade_id: tape[i].trade_id, ts: tape[i].ts, price: p(i), qty: tape[i].qty, quote_qty: p(i) * tape[i].qty, side_sign: tape[i].side === 'buy' ? 1 : -1, gap_ms: (tape[i].ts - tape[i - 1].ts) / 1000 }
  for (const m of [1, 10, 50, 100, 500]) row[`return_${m}`] = Math.log(p(i) / p(i - m))
  for (const w of WINDOWS) {
    const win = tape.slice(i - w + 1, i + 1)
    const mean = win.reduce((s, t) => s + t.price, 0) / w
    const vol = win.reduce((s, t) => s + t.qty, 0), qv = win.reduce((s, t) => s + t.price * t.qty, 0)
    const buy = win.filter((t) => t.side === 'buy'), sell = win.filter((t) => t.side === 'sell')
    const bv = buy.reduce((s, t) => s + t.qty, 0), sv = sell.reduce((s, t) => s + t.qty, 0), bqv = buy.reduce((s, t) => s + t.price * t.qty, 0)
    const rets = win.map((t, k) => Math.log(t.price / p(i - w + k)))
    const rm = rets.reduce((s, x) => s + x, 0) / w
    const prices = win.map((t) => t.price)
    Object.assign(row, {
      [`mean_price_${w}`]: mean, [`price_vs_mean_${w}`]: p(i) / mean - 1, [`vwap_${w}`]: qv / vol, [`range_${w}`]: (Math.max(...prices) - Math.min(...prices)) / mean,
      [`volatility_${w}`]: Math.sqrt(rets.reduce((s, x) => s + (x - rm) ** 2, 0) / (w - 1)),
      [`volume_${w}`]: vol, [`quote_volume_${w}`]: qv, [`buy_volume_${w}`]: bv, [`sell_volume_${w}`]: sv,
      [`buy_share_${w}`]: bv / vol, [`imbalance_${w}`]: (bv - sv) / vol, [`pressure_${w}`]: (bqv - (qv - bqv)) / qv,
      [`buy_count_share_${w}`]: buy.length / w, [`duration_s_${w}`]: (tape[i].ts - tape[i - w + 1].ts) / 1e6,
    })
  }
  const q = quotes.filter((x) => x.ts <= tape[i].ts).at(-1)
  if (q) {
    const mid = (q.bid + q.ask) / 2, micro = (q.bid * q.ask_qty + q.ask * q.bid_qty) / (q.bid_qty + q.ask_qty)
    Object.assign(row, { bid: q.bid, ask: q.ask, bid_qty: q.bid_qty, ask_qty: q.ask_qty, mid, spread: q.ask - q.bid, spread_bps: ((q.ask - q.bid) / mid) * 1e4, microprice: micro, microprice_vs_mid_bps: ((micro - mid) / mid) * 1e4, price_vs_mid_bps: ((p(i) - mid) / mid) * 1e4, book_imbalance: (q.bid_qty - q.ask_qty) / (q.bid_qty + q.ask_qty), quote_age_ms: (tape[i].ts - q.ts) / 1000 })
  }
  const d = new Date(tape[i].ts / 1000)
  const secs = d.getUTCHours() * 3600 + d.getUTCMinutes() * 60 + d.getUTCSeconds() + d.getUTCMilliseconds() / 1000 + (tape[i].ts % 1000) / 1e6
  Object.assign(row, { hour_of_day: d.getUTCHours(), minute_of_hour: d.getUTCMinutes(), day_of_week: d.getUTCDay() || 7, weekend: [0, 6].includes(d.getUTCDay()) ? 1 : 0, hour_sin: Math.sin((2 * Math.PI * secs) / 86400), hour_cos: Math.cos((2 * Math.PI * secs) / 86400) })
  for (const h of [10, 50]) row[`target_return_${h}`] = i + h < tape.length ? Math.log(p(i + h) / p(i)) : NaN
  return row
}

describe('per-trade features', () => {
  // Saturday 2026-11-28 23:50 UTC to Sunday 00:10: the calendar columns cross a day.
  const tape = trades({ n: 3000, start: Date.UTC(2026, 10, 28, 23, 50), spanMs: 20 * 60_000, seed: 7 })
  const quotes = quotesFor(tape.slice(40), 3)

  it('equals a naive recomputation of every column, row by row, within 1e-9 relative (1e-12 absolute near zero)', () => {
    const { rows, table } = tradeFeatures(series(tape), 0, tape.length, { exchange: 'binance', symbol: 'BTC-USDT', quotes: quoteSeries(quotes) })
    expect(rows).toBe(tape.length - LOOKBACK)
    expect(Object.keys(table).sort()).toEqual(FEATURE_COLUMNS.map((c) => c.name).sort())
    for (let k = 0; k < rows; k += 7) {
      const want = naive(tape, quotes, k + LOOKBACK)
      for (const c of FEATURE_COLUMNS) {
        if (c.type === 'STRING') { expect(table[c.name][k]).toBe(c.name === 'exchange' ? 'binance' : 'BTC-USDT'); continue }
        const got = table[c.name][k] as number, exp = want[c.name] ?? NaN
        if (Number.isNaN(exp)) expect(got, `${c.name} at ${k}`).toBeNaN()
        else expect(close(got, exp), `${c.name} at ${k}: ${got} vs ${exp}`).toBe(true)
      }
    }
  })

  it('leaves out rows without 500 trades of lookback and gives null targets where the tape ends', () => {
    const s = series(tape.slice(0, 800))
    const { rows, table } = tradeFeatures(s, 0, 800, { exchange: 'binance', symbol: 'BTC-USDT' })
    expect(rows).toBe(300)
    expect((table.trade_id as Float64Array)[0]).toBe(tape[500].trade_id)
    const t10 = table.target_return_10 as Float64Array, t50 = table.target_return_50 as Float64Array
    expect([...t10.slice(-10)].every(Number.isNaN)).toBe(true)
    expect(Number.isNaN(t10[rows - 11])).toBe(false)
    expect([...t50.slice(-50)].every(Number.isNaN)).toBe(true)
    expect((table.bid as Float64Array).every(Number.isNaN)).toBe(true)
  })

  it('computes the rows of a range from the history before it, as one pass over the whole tape does', () => {
    const s = series(tape)
    const whole = tradeFeatures(s, 0, tape.length, { exchange: 'binance', symbol: 'BTC-USDT' })
    const part = tradeFeatures(s, 1700, 2400, { exchange: 'binance', symbol: 'BTC-USDT' })
    expect(part.rows).toBe(700)
    for (const c of FEATURE_COLUMNS) if (c.type !== 'STRING') {
      const a = (whole.table[c.name] as Float64Array).slice(1200, 1900), b = part.table[c.name] as Float64Array
      for (let k = 0; k < 700; k += 13) expect(close(a[k], b[k]) || (Number.isNaN(a[k]) && Number.isNaN(b[k])), `${c.name} ${k}`).toBe(true)
    }
  })
})

describe('rolling windows', () => {
  const r = rng(3)
  const n = 300_000
  const x = new Float64Array(n)
  let p = 95_000
  for (let i = 0; i < n; i++) x[i] = p = p * (1 + (r() - 0.5) * 1e-3)

  it('keep running sums and the sliding variance within 1e-9 relative of exact ones over 300k rows', () => {
    const w = 500, from = w, out = new Float64Array(n - from), sd = new Float64Array(n - from)
    const ret = new Float64Array(n)
    for (let i = 1; i < n; i++) ret[i] = Math.log(x[i] / x[i - 1])
    rollingSum(x, w, from, n, out, 1_000_000) // no recompute at all: the drift bound still holds here
    rollingStd(ret, w, from, n, sd)
    for (const i of [from, from + 4095, from + 4096, n - 1, n - 777]) {
      let s = 0, m = 0, m2 = 0
      for (let j = i - w + 1; j <= i; j++) { s += x[j]; m += ret[j] }
      m /= w
      for (let j = i - w + 1; j <= i; j++) m2 += (ret[j] - m) ** 2
      expect(close(out[i - from], s), `sum at ${i}`).toBe(true)
      expect(close(sd[i - from], Math.sqrt(m2 / (w - 1))), `std at ${i}`).toBe(true)
    }
  })

  it('find the range of every window with deques', () => {
    const w = 50, out = new Float64Array(1000)
    rollingRange(x, w, 100, 1100, out)
    for (let i = 100; i < 1100; i += 37) {
      const win = [...x.subarray(i - w + 1, i + 1)]
      expect(out[i - 100]).toBe(Math.max(...win) - Math.min(...win))
    }
  })
})
