/**
 * Features of the lake path (gold, after candles and silver): per-trade ML features (rolling price,
 * volatility, momentum, volume, buy/sell pressure, spread from quotes, time, targets) and
 * per-1m-candle technical indicators, computed per hour from silver trades, bronze quotes and gold
 * candles, columnar and O(n). The columns are `FEATURE_COLUMNS` and `CANDLE_FEATURE_COLUMNS`,
 * documented in docs/features.md.
 */
export * from './schema'
export { readFeatureTable, writeFeatureTable, type ColumnData, type Table } from './table'
export { tradeFeatures, rollingSum, rollingStd, rollingRange, type TradeSeries, type QuoteSeries, type FeatureOptions } from './trades'
export { sma, ema, rsi, macd, bollinger, atr, sessionVwap, wilderGainLoss, candleIndicators, type CandleSeries } from './indicators'
export { featuresHour, runFeatures, shiftHour, defaults, type FeaturesJob, type FeaturesResult, type FeaturesState, type HourRef } from './job'
