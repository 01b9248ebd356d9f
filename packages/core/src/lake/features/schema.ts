/**
 * The one schema of the gold feature tables: `FEATURE_COLUMNS` (one row per trade) and
 * `CANDLE_FEATURE_COLUMNS` (one row per 1m candle). It drives the columnar Parquet writer, the
 * computation's output, docs/features.md and the test that holds the doc equal to it: a feature
 * column is added here or nowhere.
 */
import type { ColumnType } from '../../market/index'

/** One column of a feature table. `nullable` columns are OPTIONAL in Parquet (null where unknown). */
export interface FeatureColumn { name: string; type: ColumnType; nullable?: boolean; note: string; family: string }

/** Trade-count windows of the rolling features. */
export const WINDOWS = [10, 50, 100, 500] as const
/** Trade counts of the momentum (log return) features. */
export const MOMENTUM = [1, 10, 50, 100, 500] as const
/** Trade counts ahead of the targets. */
export const HORIZONS = [10, 50] as const
/** Trades of history a row needs: the longest window's returns need one price before it. */
export const LOOKBACK = Math.max(...WINDOWS, ...MOMENTUM)

const perWindow = (w: number): FeatureColumn[] => [
  { name: `mean_price_${w}`, type: 'DOUBLE', family: 'rolling price', note: `mean price of the last ${w} trades (this one included)` },
  { name: `price_vs_mean_${w}`, type: 'DOUBLE', family: 'rolling price', note: `price / mean_price_${w} - 1` },
  { name: `vwap_${w}`, type: 'DOUBLE', family: 'rolling price', note: `volume-weighted price of the last ${w} trades: sum(price*qty) / sum(qty) (mean price when qty sums to 0)` },
  { name: `range_${w}`, type: 'DOUBLE', family: 'rolling price', note: `(max - min) / mean of the prices of the last ${w} trades` },
  { name: `volatility_${w}`, type: 'DOUBLE', family: 'rolling volatility', note: `sample standard deviation (n-1) of the last ${w} one-trade log returns` },
  { name: `volume_${w}`, type: 'DOUBLE', family: 'rolling volume', note: `sum of qty over the last ${w} trades (base asset)` },
  { name: `quote_volume_${w}`, type: 'DOUBLE', family: 'rolling volume', note: `sum of price*qty over the last ${w} trades (quote asset)` },
  { name: `buy_volume_${w}`, type: 'DOUBLE', family: 'rolling volume', note: `sum of qty of taker buys over the last ${w} trades` },
  { name: `sell_volume_${w}`, type: 'DOUBLE', family: 'rolling volume', note: `sum of qty of taker sells over the last ${w} trades` },
  { name: `buy_share_${w}`, type: 'DOUBLE', family: 'buy/sell', note: `buy/sell volume ratio as a share: buy_volume_${w} / volume_${w}, in [0, 1] (0.5 when volume is 0)` },
  { name: `imbalance_${w}`, type: 'DOUBLE', family: 'buy/sell', note: `(buy_volume_${w} - sell_volume_${w}) / volume_${w}, in [-1, 1] (0 when volume is 0)` },
  { name: `pressure_${w}`, type: 'DOUBLE', family: 'buy/sell', note: `quote-volume-weighted buy/sell pressure: (buy price*qty - sell price*qty) / quote_volume_${w}, in [-1, 1]` },
  { name: `buy_count_share_${w}`, type: 'DOUBLE', family: 'buy/sell', note: `share of the last ${w} trades that were taker buys` },
  { name: `duration_s_${w}`, type: 'DOUBLE', family: 'activity', note: `seconds from the first to the last of the last ${w} trades (trade intensity)` },
]

export const FEATURE_COLUMNS: FeatureColumn[] = [
  { name: 'exchange', type: 'STRING', family: 'key', note: 'partition; binance, binance-us, binance-futures, coinbase' },
  { name: 'symbol', type: 'STRING', family: 'key', note: 'partition; normalized BASE-QUOTE' },
  { name: 'trade_id', type: 'INT64', family: 'key', note: 'the silver trade this row describes (aggTrade id for Binance)' },
  { name: 'ts', type: 'TIMESTAMP_MICROS', family: 'key', note: 'exchange trade time, UTC' },
  { name: 'price', type: 'DOUBLE', family: 'trade', note: 'trade price' },
  { name: 'qty', type: 'DOUBLE', family: 'trade', note: 'trade quantity (base asset)' },
  { name: 'quote_qty', type: 'DOUBLE', family: 'trade', note: 'price * qty (quote asset)' },
  { name: 'side_sign', type: 'INT32', family: 'trade', note: '+1 taker buy, -1 taker sell' },
  { name: 'gap_ms', type: 'DOUBLE', family: 'trade', note: 'milliseconds since the previous trade' },
  ...MOMENTUM.map((k): FeatureColumn => ({ name: `return_${k}`, type: 'DOUBLE', family: 'momentum', note: `log return over the last ${k} trade${k > 1 ? 's' : ''}: ln(price / price ${k} trade${k > 1 ? 's' : ''} before)` })),
  ...WINDOWS.flatMap(perWindow),
  { name: 'bid', type: 'DOUBLE', nullable: true, family: 'quote', note: 'best bid of the latest quote at or before the trade (as-of join on ts); null when there is none' },
  { name: 'ask', type: 'DOUBLE', nullable: true, family: 'quote', note: 'best ask of that quote' },
  { name: 'bid_qty', type: 'DOUBLE', nullable: true, family: 'quote', note: 'quantity at the best bid' },
  { name: 'ask_qty', type: 'DOUBLE', nullable: true, family: 'quote', note: 'quantity at the best ask' },
  { name: 'mid', type: 'DOUBLE', nullable: true, family: 'quote', note: '(bid + ask) / 2' },
  { name: 'spread', type: 'DOUBLE', nullable: true, family: 'quote', note: 'ask - bid' },
  { name: 'spread_bps', type: 'DOUBLE', nullable: true, family: 'quote', note: 'relative spread: (ask - bid) / mid * 1e4' },
  { name: 'microprice', type: 'DOUBLE', nullable: true, family: 'quote', note: 'size-weighted mid: (bid * ask_qty + ask * bid_qty) / (bid_qty + ask_qty) (mid when both sizes are 0)' },
  { name: 'microprice_vs_mid_bps', type: 'DOUBLE', nullable: true, family: 'quote', note: '(microprice - mid) / mid * 1e4' },
  { name: 'price_vs_mid_bps', type: 'DOUBLE', nullable: true, family: 'quote', note: 'trade price against the mid: (price - mid) / mid * 1e4' },
  { name: 'book_imbalance', type: 'DOUBLE', nullable: true, family: 'quote', note: '(bid_qty - ask_qty) / (bid_qty + ask_qty) (0 when both are 0)' },
  { name: 'quote_age_ms', type: 'DOUBLE', nullable: true, family: 'quote', note: 'milliseconds from the quote to the trade' },
  { name: 'hour_of_day', type: 'INT32', family: 'time', note: 'UTC hour of the trade, 0-23 (not `hour`: that is the partition)' },
  { name: 'minute_of_hour', type: 'INT32', family: 'time', note: 'UTC minute of the hour, 0-59' },
  { name: 'day_of_week', type: 'INT32', family: 'time', note: 'ISO weekday in UTC: 1 Monday .. 7 Sunday' },
  { name: 'weekend', type: 'INT32', family: 'time', note: '1 on Saturday and Sunday (UTC), else 0' },
  { name: 'hour_sin', type: 'DOUBLE', family: 'time', note: 'sin(2 pi * seconds of the UTC day / 86400)' },
  { name: 'hour_cos', type: 'DOUBLE', family: 'time', note: 'cos(2 pi * seconds of the UTC day / 86400)' },
  ...HORIZONS.map((k): FeatureColumn => ({ name: `target_return_${k}`, type: 'DOUBLE', nullable: true, family: 'target', note: `log return to the trade ${k} trades ahead: ln(price ${k} trades later / price); null until that trade is in silver` })),
]

/** Indicator periods of the candle table. */
export const INDICATORS = { sma: [20, 50], ema: [12, 26, 50], rsi: 14, macd: { fast: 12, slow: 26, signal: 9 }, bollinger: { period: 20, stdDev: 2 }, atr: 14 } as const

export const CANDLE_FEATURE_COLUMNS: FeatureColumn[] = [
  { name: 'exchange', type: 'STRING', family: 'key', note: 'partition' },
  { name: 'symbol', type: 'STRING', family: 'key', note: 'partition; normalized BASE-QUOTE' },
  { name: 'open_time', type: 'TIMESTAMP_MILLIS', family: 'key', note: 'the 1m candle this row describes (its open time, UTC)' },
  { name: 'close', type: 'DOUBLE', family: 'candle', note: "the candle's close" },
  { name: 'volume', type: 'DOUBLE', family: 'candle', note: "the candle's volume (base asset)" },
  { name: 'final', type: 'BOOLEAN', family: 'candle', note: 'the candle was final when the row was computed (a later run recomputes it)' },
  ...INDICATORS.sma.map((p): FeatureColumn => ({ name: `sma_${p}`, type: 'DOUBLE', nullable: true, family: 'moving average', note: `simple moving average of the last ${p} closes` })),
  ...INDICATORS.ema.map((p): FeatureColumn => ({ name: `ema_${p}`, type: 'DOUBLE', nullable: true, family: 'moving average', note: `exponential moving average of closes, alpha 2/(${p}+1), seeded with the SMA of the first ${p}` })),
  { name: 'rsi_14', type: 'DOUBLE', nullable: true, family: 'oscillator', note: "RSI 14 with Wilder's smoothing (first averages are plain means of 14 changes); not rounded (technicalindicators rounds to 2 decimals)" },
  { name: 'macd', type: 'DOUBLE', nullable: true, family: 'oscillator', note: 'EMA 12 - EMA 26 of closes' },
  { name: 'macd_signal', type: 'DOUBLE', nullable: true, family: 'oscillator', note: 'EMA 9 of macd, seeded with the SMA of its first 9 values' },
  { name: 'macd_hist', type: 'DOUBLE', nullable: true, family: 'oscillator', note: 'macd - macd_signal' },
  { name: 'bb_middle', type: 'DOUBLE', nullable: true, family: 'bollinger', note: 'Bollinger middle band: SMA 20 of closes' },
  { name: 'bb_upper', type: 'DOUBLE', nullable: true, family: 'bollinger', note: 'bb_middle + 2 * population standard deviation of the last 20 closes' },
  { name: 'bb_lower', type: 'DOUBLE', nullable: true, family: 'bollinger', note: 'bb_middle - 2 * that standard deviation' },
  { name: 'bb_pb', type: 'DOUBLE', nullable: true, family: 'bollinger', note: '%b: (close - bb_lower) / (bb_upper - bb_lower); null when the bands are flat' },
  { name: 'atr_14', type: 'DOUBLE', nullable: true, family: 'volatility', note: 'average true range 14: Wilder average (alpha 1/14) of true ranges, seeded with their SMA; the first candle has no true range' },
  { name: 'vwap_day', type: 'DOUBLE', nullable: true, family: 'vwap', note: 'session VWAP since 00:00 UTC from trades: sum(quote_volume) / sum(volume); null before the first volume of the day' },
  { name: 'vwap_day_typical', type: 'DOUBLE', nullable: true, family: 'vwap', note: 'session VWAP since 00:00 UTC from candles: sum(volume * (high+low+close)/3) / sum(volume) (the technicalindicators convention)' },
]
