/**
 * Finished candles: candles of the kernel's exact aggregates (volumes as the double nearest to the
 * exact decimal, quote volumes rounded half up to 8 places first, flat candles at the previous close
 * for periods without trades, final where the lake holds the whole period), candles of every
 * timeframe straight from trade columns, and `addTrade`, the live path's float candle update.
 */
import type { Candle, Timeframe, Trade } from '../../market/index'
import { TIMEFRAMES } from '../../market/index'
import { ALL_TIMEFRAMES, aggregateMinutes, bigNumber, bigRounded, exactNumber, rollups, roundedNumber, type Aggregates, type TradeColumns } from './kernel'

export interface CandleOptions {
  exchange: string
  symbol: string
  /** Close before the first period: periods without trades before the first trade are flat at it; without it they are left out. */
  prevClose?: number
  /** Periods that close before this time (ms) are final. */
  complete?: number
  /**
   * Spans `[from, until)` (ms) the lake holds every trade of: when given, a period is final when
   * one span (touching spans count as one) holds it whole, and `complete` is not used.
   */
  spans?: [number, number][]
  /** Only periods opening in `[from, until)` (ms) are returned. */
  from?: number
  until?: number
}

/**
 * Candles of aggregates: periods with trades as they are, periods without at the previous close
 * with zero volume (once a close is known), each final when it closes before `complete`.
 */
export function candlesOf(a: Aggregates, o: CandleOptions): Candle[] {
  const size = TIMEFRAMES[a.tf], out: Candle[] = []
  const complete = o.complete ?? -Infinity, from = o.from ?? -Infinity, until = o.until ?? Infinity
  const qd = a.dp + a.dq
  const spans = o.spans && mergeSpans(o.spans)
  const isFinal = (open: number, close: number) => spans ? spans.some(([f, u]) => f <= open && close < u) : close < complete
  let price = o.prevClose
  for (let i = 0; i < a.length; i++) {
    const open_time = a.start + i * size, close_time = open_time + size - 1
    if (a.records[i] === 0) {
      if (price !== undefined && open_time >= from && open_time < until) out.push(flatCandle(o.exchange, o.symbol, a.tf, open_time, price, isFinal(open_time, close_time)))
      continue
    }
    price = a.close[i]
    if (open_time < from || open_time >= until) continue
    const w = a.wide
    const volume = w ? bigNumber(w.v[i], a.dq) : exactNumber(a.vHi[i], a.vLo[i], a.dq)
    out.push({
      exchange: o.exchange, symbol: o.symbol, tf: a.tf, open_time, close_time,
      open: a.open[i], high: a.high[i], low: a.low[i], close: a.close[i],
      volume, quote_volume: w ? bigRounded(w.q[i], qd) : roundedNumber(a.qHi[i], a.qLo[i], qd), trades: a.trades[i],
      taker_buy_volume: w ? bigNumber(w.bv[i], a.dq) : exactNumber(a.bvHi[i], a.bvLo[i], a.dq),
      taker_buy_quote_volume: w ? bigRounded(w.bq[i], qd) : roundedNumber(a.bqHi[i], a.bqLo[i], qd),
      vwap: (w ? bigNumber(w.q[i], qd) : exactNumber(a.qHi[i], a.qLo[i], qd)) / volume,
      first_trade_id: a.first[i], last_trade_id: a.last[i], final: isFinal(open_time, close_time),
    })
  }
  return out
}

/**
 * Spans `[from, until)` as the fewest disjoint ones, in order: overlapping and touching spans
 * joined, empty ones dropped.
 * @example mergeSpans([[5, 9], [0, 5], [20, 20]]) // [[0, 9]]
 */
export function mergeSpans(spans: readonly (readonly [number, number])[]): [number, number][] {
  const out: [number, number][] = []
  for (const [f, u] of [...spans].filter(([f, u]) => u > f).sort((a, b) => a[0] - b[0])) {
    const last = out.at(-1)
    if (last && f <= last[1]) last[1] = Math.max(last[1], u); else out.push([f, u])
  }
  return out
}

/** A zero-volume candle at `price` (a period without trades). */
export function flatCandle(exchange: string, symbol: string, tf: Timeframe, openTime: number, price: number, final = false): Candle {
  return {
    exchange, symbol, tf, open_time: openTime, close_time: openTime + TIMEFRAMES[tf] - 1,
    open: price, high: price, low: price, close: price, volume: 0, quote_volume: 0, trades: 0,
    taker_buy_volume: 0, taker_buy_quote_volume: 0, vwap: price, first_trade_id: -1, last_trade_id: -1, final,
  }
}

const round8 = (x: number) => Math.round(x * 1e8) / 1e8

/**
 * Adds one trade to a live candle of any timeframe (its period must hold the trade); a candle
 * without trades takes the trade's price as its open. Volumes stay exact decimals (both addends
 * have at most 8 decimals); quote volumes are float sums, the lake's candles correct them.
 */
export function addTrade(c: Candle, t: Trade) {
  if (c.trades === 0) { c.open = c.high = c.low = t.price; c.first_trade_id = t.first_trade_id }
  c.high = Math.max(c.high, t.price)
  c.low = Math.min(c.low, t.price)
  c.close = t.price
  c.volume = round8(c.volume + t.qty)
  c.quote_volume += t.price * t.qty
  c.trades += t.trades
  if (t.side === 'buy') { c.taker_buy_volume = round8(c.taker_buy_volume + t.qty); c.taker_buy_quote_volume += t.price * t.qty }
  c.vwap = c.volume ? c.quote_volume / c.volume : c.close
  c.last_trade_id = Math.max(c.last_trade_id, t.last_trade_id)
  if (c.first_trade_id < 0 || t.first_trade_id < c.first_trade_id) c.first_trade_id = t.first_trade_id
}

export interface ColumnsOptions extends CandleOptions {
  /** Range of the 1m candles (ms, `until` exclusive); coarser candles cover the periods it touches. */
  from: number
  until: number
  timeframes?: Timeframe[]
}

/**
 * Candles of every timeframe from trade columns: exact 1m aggregates in one pass, rolled up.
 * @example candlesOfColumns(cols, { exchange: 'binance', symbol: 'BTC-USDT', from: dayStart, until: dayStart + 86_400_000 })['1h'].length === 24
 */
export function candlesOfColumns(cols: TradeColumns, o: ColumnsOptions): Record<Timeframe, Candle[]> {
  const byTf = rollups(aggregateMinutes(cols, o.from, o.until))
  const out = {} as Record<Timeframe, Candle[]>
  for (const tf of o.timeframes ?? ALL_TIMEFRAMES) {
    const size = TIMEFRAMES[tf]
    out[tf] = candlesOf(byTf[tf], { ...o, from: Math.floor(o.from / size) * size, until: o.until })
  }
  return out
}

/** Trade rows as columns (for callers holding `Trade` objects). */
export function columnsOf(trades: readonly { ts: number; price: number; qty: number; side: string; trades: number; first_trade_id: number; last_trade_id: number; trade_id: number }[]): TradeColumns {
  const n = trades.length, f = () => new Float64Array(n)
  const c: TradeColumns = { length: n, ts: f(), price: f(), qty: f(), buy: new Uint8Array(n), trades: f(), first_trade_id: f(), last_trade_id: f(), trade_id: f() }
  for (let i = 0; i < n; i++) {
    const t = trades[i]
    c.ts[i] = t.ts; c.price[i] = t.price; c.qty[i] = t.qty; c.buy[i] = t.side === 'buy' ? 1 : 0
    c.trades[i] = t.trades; c.first_trade_id[i] = t.first_trade_id; c.last_trade_id[i] = t.last_trade_id; c.trade_id[i] = t.trade_id
  }
  return c
}
