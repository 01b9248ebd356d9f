/**
 * Market types and the one schema of every record Ticklake stores. The trade and candle column
 * lists here drive the Parquet writer, runtime validation, the SQL the query engines run and (later)
 * the Glue table columns in `stacks/`: a column is added here or nowhere.
 */

export type Exchange = 'binance' | 'binance-us' | 'binance-futures' | 'coinbase'
export type Side = 'buy' | 'sell'
export type TradeSource = 'ws' | 'rest' | 'archive' | 'replay' | 'api'
export type Timeframe = '1m' | '5m' | '15m' | '1h' | '4h' | '1d'

export const TIMEFRAMES: Record<Timeframe, number> = {
  '1m': 60_000, '5m': 300_000, '15m': 900_000, '1h': 3_600_000, '4h': 14_400_000, '1d': 86_400_000,
}

/** One normalized trade (for Binance, one aggTrade). Times are epoch MICROseconds. */
export interface Trade {
  exchange: Exchange
  symbol: string
  native_symbol: string
  trade_id: number
  first_trade_id: number
  last_trade_id: number
  ts: number
  price: number
  qty: number
  side: Side
  trades: number
  ingest_ts: number
  source: TradeSource
}

/** Best bid and ask at one moment (Binance bookTicker). Times are epoch MICROseconds. */
export interface Quote {
  exchange: Exchange
  symbol: string
  native_symbol: string
  update_id: number
  /** Exchange time where the venue sends one (futures), else the receive time. */
  ts: number
  bid: number
  bid_qty: number
  ask: number
  ask_qty: number
  ingest_ts: number
  source: TradeSource
}

/** One candle, Binance-kline compatible. Times are epoch MILLIseconds (open_time is the stamp). */
export interface Candle {
  exchange: string
  symbol: string
  tf: Timeframe
  open_time: number
  close_time: number
  open: number
  high: number
  low: number
  close: number
  volume: number
  quote_volume: number
  trades: number
  taker_buy_volume: number
  taker_buy_quote_volume: number
  vwap: number
  first_trade_id: number
  last_trade_id: number
  final: boolean
}

export type ColumnType = 'STRING' | 'INT32' | 'INT64' | 'DOUBLE' | 'BOOLEAN' | 'TIMESTAMP_MICROS' | 'TIMESTAMP_MILLIS'
export interface Column<T> { name: keyof T & string; type: ColumnType; note?: string }

export const TRADE_COLUMNS: Column<Trade>[] = [
  { name: 'exchange', type: 'STRING', note: 'partition; binance, binance-us, binance-futures, coinbase' },
  { name: 'symbol', type: 'STRING', note: 'partition; normalized BASE-QUOTE' },
  { name: 'native_symbol', type: 'STRING', note: "the exchange's own spelling" },
  { name: 'trade_id', type: 'INT64', note: "the exchange's id for this record (aggTrade id)" },
  { name: 'first_trade_id', type: 'INT64' },
  { name: 'last_trade_id', type: 'INT64' },
  { name: 'ts', type: 'TIMESTAMP_MICROS', note: 'exchange trade time, UTC' },
  { name: 'price', type: 'DOUBLE' },
  { name: 'qty', type: 'DOUBLE' },
  { name: 'side', type: 'STRING', note: 'taker side: buy / sell' },
  { name: 'trades', type: 'INT32', note: 'individual trades represented' },
  { name: 'ingest_ts', type: 'TIMESTAMP_MICROS', note: 'when ticklake received it' },
  { name: 'source', type: 'STRING', note: 'ws, rest, archive, replay, api' },
]

export const QUOTE_COLUMNS: Column<Quote>[] = [
  { name: 'exchange', type: 'STRING', note: 'partition' },
  { name: 'symbol', type: 'STRING', note: 'partition; normalized BASE-QUOTE' },
  { name: 'native_symbol', type: 'STRING' },
  { name: 'update_id', type: 'INT64', note: 'order book update id' },
  { name: 'ts', type: 'TIMESTAMP_MICROS', note: 'exchange time, or receive time where the venue sends none (spot)' },
  { name: 'bid', type: 'DOUBLE' },
  { name: 'bid_qty', type: 'DOUBLE' },
  { name: 'ask', type: 'DOUBLE' },
  { name: 'ask_qty', type: 'DOUBLE' },
  { name: 'ingest_ts', type: 'TIMESTAMP_MICROS' },
  { name: 'source', type: 'STRING' },
]

export const CANDLE_COLUMNS: Column<Candle>[] = [
  { name: 'exchange', type: 'STRING' },
  { name: 'symbol', type: 'STRING' },
  { name: 'tf', type: 'STRING' },
  { name: 'open_time', type: 'TIMESTAMP_MILLIS' },
  { name: 'close_time', type: 'TIMESTAMP_MILLIS' },
  { name: 'open', type: 'DOUBLE' },
  { name: 'high', type: 'DOUBLE' },
  { name: 'low', type: 'DOUBLE' },
  { name: 'close', type: 'DOUBLE' },
  { name: 'volume', type: 'DOUBLE' },
  { name: 'quote_volume', type: 'DOUBLE' },
  { name: 'trades', type: 'INT64' },
  { name: 'taker_buy_volume', type: 'DOUBLE' },
  { name: 'taker_buy_quote_volume', type: 'DOUBLE' },
  { name: 'vwap', type: 'DOUBLE' },
  { name: 'first_trade_id', type: 'INT64' },
  { name: 'last_trade_id', type: 'INT64' },
  { name: 'final', type: 'BOOLEAN' },
]

/** Normalized `BASE-QUOTE` from its parts: `symbolOf('btc', 'usdt') === 'BTC-USDT'`. */
export const symbolOf = (base: string, quote: string) => `${base.toUpperCase()}-${quote.toUpperCase()}`

/** Binance's spelling of a normalized symbol: `nativeSymbol('BTC-USDT') === 'BTCUSDT'`. */
export const nativeSymbol = (symbol: string) => symbol.replace('-', '').toUpperCase()

/** True for a normalized symbol such as `BTC-USDT`. */
export const isSymbol = (s: unknown): s is string => typeof s === 'string' && /^[A-Z0-9]{1,20}-[A-Z0-9]{1,20}$/.test(s)

/**
 * A symbol typed by a user in any case (`btc-usdt`), normalized; undefined unless it is ASCII
 * `BASE-QUOTE`. Checked before case folding, so `ßtc-usdt` is refused rather than read as `SSTC-USDT`.
 */
export const symbolFromInput = (s: unknown): string | undefined =>
  typeof s === 'string' && /^[A-Za-z0-9]{1,20}-[A-Za-z0-9]{1,20}$/.test(s) ? s.toUpperCase() : undefined

/** Quote assets, longest first, for splitting a native symbol without the exchange's metadata. */
export const QUOTE_ASSETS = ['FDUSD', 'USDT', 'USDC', 'BUSD', 'TUSD', 'USDP', 'BIDR', 'IDRT', 'DAI', 'BTC', 'ETH', 'BNB', 'XRP', 'TRX', 'DOGE', 'EUR', 'GBP', 'TRY', 'BRL', 'AUD', 'RUB', 'UAH', 'NGN', 'ZAR', 'PLN', 'RON', 'ARS', 'MXN', 'JPY', 'USD']

/**
 * The normalized symbol of a native one: from `known` normalized symbols when one matches, else by
 * a known quote-asset suffix; undefined when neither works.
 * @example normalizeNative('BTCUSDT') === 'BTC-USDT'
 */
export function normalizeNative(native: string, known: string[] = []): string | undefined {
  const hit = known.find((s) => nativeSymbol(s) === native.toUpperCase())
  if (hit) return hit
  const n = native.toUpperCase()
  const quote = QUOTE_ASSETS.find((q) => n.endsWith(q) && n.length > q.length)
  return quote ? symbolOf(n.slice(0, -quote.length), quote) : undefined
}
