/**
 * Seeded synthetic market data for the feature tests and the features benchmark: a random-walk
 * trade tape with taker sides and aggTrade ids, quotes around it, and the 1m candles of the tape.
 * Not used by the pipeline.
 */
import type { Candle, Quote, Trade } from '../src/market/index'

/** mulberry32: a small seeded PRNG in [0, 1). */
export function rng(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface TapeOptions { n: number; start: number; spanMs: number; seed?: number; price?: number; symbol?: string; firstId?: number }

/** `n` trades spread over `spanMs` from `start` (epoch ms), in trade-id order. */
export function trades(o: TapeOptions): Trade[] {
  const r = rng(o.seed ?? 1)
  const out: Trade[] = new Array(o.n)
  let price = o.price ?? 90_000
  const step = (o.spanMs * 1000) / o.n
  for (let i = 0; i < o.n; i++) {
    price = Math.max(1, Math.round(price * (1 + (r() - 0.5) * 4e-4) * 100) / 100)
    const id = (o.firstId ?? 1_000_000) + i
    const ts = Math.floor(o.start * 1000 + i * step + r() * step * 0.5)
    out[i] = {
      exchange: 'binance', symbol: o.symbol ?? 'BTC-USDT', native_symbol: (o.symbol ?? 'BTC-USDT').replace('-', ''),
      trade_id: id, first_trade_id: id, last_trade_id: id, ts, price, qty: Math.round(r() * r() * 2e5) / 1e5,
      side: r() < 0.5 ? 'buy' : 'sell', trades: 1, ingest_ts: ts + 5000, source: 'ws',
    }
  }
  return out
}

/** One quote per `every` trades, a few ticks around the trade price, `lagUs` before it. */
export function quotesFor(tape: Trade[], every = 2, seed = 2, lagUs = 200): Quote[] {
  const r = rng(seed)
  const out: Quote[] = []
  for (let i = 0; i < tape.length; i += every) {
    const t = tape[i]
    const half = 0.01 + Math.floor(r() * 5) * 0.01
    out.push({
      exchange: 'binance', symbol: t.symbol, native_symbol: t.native_symbol, update_id: i, ts: t.ts - lagUs,
      bid: Math.round((t.price - half) * 100) / 100, bid_qty: Math.round(r() * 5e5) / 1e5, ask: Math.round((t.price + half) * 100) / 100, ask_qty: Math.round(r() * 5e5) / 1e5,
      ingest_ts: t.ts - lagUs, source: 'ws',
    })
  }
  return out
}

/** 1m candles of a tape over [from, until) (ms), flat at the previous close where a minute has no trade. */
export function candlesOf(tape: Trade[], from: number, until: number): Candle[] {
  const out: Candle[] = []
  let i = 0
  let prev: number | undefined
  for (let t0 = from; t0 < until; t0 += 60_000) {
    const c: Candle = { exchange: 'binance', symbol: tape[0]?.symbol ?? 'BTC-USDT', tf: '1m', open_time: t0, close_time: t0 + 59_999, open: NaN, high: -Infinity, low: Infinity, close: NaN, volume: 0, quote_volume: 0, trades: 0, taker_buy_volume: 0, taker_buy_quote_volume: 0, vwap: 0, first_trade_id: -1, last_trade_id: -1, final: true }
    while (i < tape.length && tape[i].ts / 1000 < t0) i++
    for (; i < tape.length && tape[i].ts / 1000 < t0 + 60_000; i++) {
      const t = tape[i]
      if (c.trades === 0) { c.open = t.price; c.first_trade_id = t.first_trade_id }
      c.high = Math.max(c.high, t.price); c.low = Math.min(c.low, t.price); c.close = t.price
      c.volume += t.qty; c.quote_volume += t.price * t.qty; c.trades += t.trades; c.last_trade_id = t.last_trade_id
      if (t.side === 'buy') { c.taker_buy_volume += t.qty; c.taker_buy_quote_volume += t.price * t.qty }
    }
    if (c.trades === 0) {
      if (prev === undefined) continue
      Object.assign(c, { open: prev, high: prev, low: prev, close: prev })
    }
    c.vwap = c.volume > 0 ? c.quote_volume / c.volume : c.close
    prev = c.close
    out.push(c)
  }
  return out
}
