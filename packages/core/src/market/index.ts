/**
 * Market types and the one schema of every record Ticklake stores. The trade and candle column
 * lists here drive the Parquet writer, runtime validation, the SQL the query engines run and the
 * Glue table columns in `stacks/` (through `aws/glue.ts`): a column is added here or nowhere.
 */

/**
 * The simulator's venues: each fake exchange trades under its own name, so simulated trades never
 * share a lake partition, a checkpoint, a serving window or a live channel with market data.
 */
export type SimExchange = 'sim-binance' | 'sim-binance-us' | 'sim-binance-futures' | 'sim-coinbase'
/** Market venues, and the simulator's (`sim-…`). `binance-delivery` (COIN-M futures) comes only from replayed captures. */
export type Exchange = 'binance' | 'binance-us' | 'binance-futures' | 'binance-delivery' | 'coinbase' | SimExchange
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

/**
 * Trades as columns (typed arrays, one value a trade), as the lake's jobs read them from Parquet
 * and the candle kernel sums them; sorted by first trade id where the decoder and silver give them.
 */
export interface TradeColumns {
  length: number
  /** Exchange trade time, epoch µs. */
  ts: Float64Array
  price: Float64Array
  qty: Float64Array
  /** 1 where the taker bought. */
  buy: Uint8Array
  /** Individual trades a record covers. */
  trades: Float64Array
  first_trade_id: Float64Array
  last_trade_id: Float64Array
  trade_id: Float64Array
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
  { name: 'exchange', type: 'STRING', note: 'partition; binance, binance-us, binance-futures, coinbase (sim-binance, ... for the simulator)' },
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

/**
 * Orders strings (exchanges, symbols, hour folders) by code unit, as S3 lists keys: the same on
 * every machine and locale, and without `localeCompare`, which pages in ICU's collation data.
 * @example ['b', 'a'].sort(byText) // ['a', 'b']
 */
export const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** True for a simulated venue (`sim-binance`, ...): its data is fake, never market data. */
export const isSimulated = (exchange: string) => exchange.startsWith('sim-')

/**
 * The simulated stand-in of a venue, under its own name: `simulatedOf('binance-us') === 'sim-binance-us'`
 * (a simulated name is returned as it is).
 */
export const simulatedOf = (exchange: string) => (isSimulated(exchange) ? exchange : `sim-${exchange}`) as SimExchange

/** The venue a simulated one stands in for (whose protocol it speaks): `venueOf('sim-coinbase') === 'coinbase'`. */
export const venueOf = (exchange: string) => exchange.replace(/^sim-/, '') as Exchange

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

// ---- what a trade's price and quantity may be ------------------------------------------------

/**
 * The prices and quantities Ticklake takes, the same at every door (exchange parsers, archive
 * import, replay, `POST /api/ingest`) and in the lake jobs, which are exact for all of them:
 * values are taken at `decimals` decimals (rounded half up, from the shortest decimal that reads
 * back as the value: what `String(v)` prints), and after that rounding a price is in
 * `[minValue, maxPrice]`, a quantity in `[minValue, maxQty]`, and their product (the quote
 * amount) at most `maxNotional`. Real markets sit well inside: Bitcoin in Indonesian rupiah is
 * about 2e9, a SHIB or PEPE trade is up to some 1e11 coins, and 1e18 of any quote currency in
 * one trade is an error, not a trade.
 */
export const TRADE_LIMITS = {
  /** Decimals a price or quantity is kept at (Binance's and Coinbase's most). */
  decimals: 8,
  /** Smallest price or quantity: one unit of the 8th decimal. */
  minValue: 1e-8,
  maxPrice: 1e12,
  maxQty: 1e15,
  /** Largest price x quantity of one trade. */
  maxNotional: 1e18,
}

/** Smallest double that rounds (half up, at 8 decimals) to `minValue`. */
const HALF_UNIT = 5e-9
const SCALE8 = 1e8
const FAST_SCALED = 2 ** 51

/**
 * True when a stored price and quantity are within `TRADE_LIMITS` (as they round at 8 decimals):
 * the test the candle and silver jobs apply to every bronze row. Small enough to be inlined.
 * @example takeable(91000.5, 0.01) === true; takeable(1e308, 1) === false; takeable(NaN, 1) === false
 */
export function takeable(price: number, qty: number): boolean {
  return price >= HALF_UNIT && price <= TRADE_LIMITS.maxPrice && qty >= HALF_UNIT && qty <= TRADE_LIMITS.maxQty && price * qty <= TRADE_LIMITS.maxNotional
}

/** Why a price and quantity are not `takeable`, or undefined when they are. */
export function valuesProblem(price: number, qty: number): string | undefined {
  if (takeable(price, qty)) return undefined
  const L = TRADE_LIMITS
  for (const [k, v, max] of [['price', price, L.maxPrice], ['qty', qty, L.maxQty]] as const) {
    if (!Number.isFinite(v)) return `${k} ${v} is not a finite number`
    if (!(v >= HALF_UNIT)) return `${k} ${v} is below ${L.minValue} (at ${L.decimals} decimals it is 0 or less)`
    if (v > max) return `${k} ${v} is above ${max}, the largest Ticklake takes`
  }
  return `price x qty ${price * qty} is above ${L.maxNotional}, the largest Ticklake takes`
}

/**
 * The decimal of `v` at `d` decimals, as an integer (`v * 10^d`), rounded half up from the
 * shortest decimal that reads back as `v` (what `String(v)` prints): exact for any finite double.
 * Throws a RangeError for NaN and infinities.
 * @example scaledDecimal(0.1, 8) === 10000000n; scaledDecimal(1 / 3, 8) === 33333333n; scaledDecimal(1e21, 0) === 10n ** 21n
 */
export function scaledDecimal(v: number, d: number): bigint {
  const s = String(v)
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(s)
  if (!m) throw new RangeError(`${s} is not a finite number`)
  const frac = m[3] ?? ''
  const digits = BigInt(m[2] + frac)
  const shift = Number(m[4] ?? 0) - frac.length + d // v = digits * 10^(shift - d)
  let out: bigint
  if (shift >= 0) out = digits * 10n ** BigInt(shift)
  else {
    const p = 10n ** BigInt(-shift)
    out = digits / p
    if ((digits % p) * 2n >= p) out++
  }
  return m[1] ? -out : out
}

/**
 * `v` rounded half up to 8 decimals (see `scaledDecimal`): `v` itself when it has at most 8
 * decimals already (the usual case, a multiplication and a division).
 * @example roundValue(0.1 + 0.2) === 0.3; roundValue(0.123456789) === 0.12345679; roundValue(91000.5) === 91000.5
 */
export function roundValue(v: number): number {
  const r = Math.round(v * SCALE8)
  if (Math.abs(r) <= FAST_SCALED && r / SCALE8 === v) return v
  if (!Number.isFinite(v)) return v
  const x = scaledDecimal(v, TRADE_LIMITS.decimals)
  const neg = x < 0n, s = (neg ? -x : x).toString().padStart(9, '0')
  return Number(`${neg ? '-' : ''}${s.slice(0, -8)}.${s.slice(-8)}`)
}

/**
 * Why the lake jobs cannot take a stored trade row (its price and quantity outside `TRADE_LIMITS`,
 * or trade ids that are no range), or undefined when they can: what the candle job sends to
 * `dlq/candles/` and silver leaves out.
 */
export function rowProblem(price: number, qty: number, first: number, last: number): string | undefined {
  const p = valuesProblem(price, qty)
  if (p) return p
  if (!(first >= 0 && last >= first)) return `first_trade_id ${first} .. last_trade_id ${last} is not a range of trade ids`
  return undefined
}

/**
 * A trade's price and quantity as the lake keeps them (each rounded half up to 8 decimals), or
 * why they are refused: the one check every door applies.
 * @example tradeValues(91000.5, 0.01) // { price: 91000.5, qty: 0.01 }
 * @example tradeValues(1e308, 1) // { reason: 'price 1e+308 is above 1000000000000, ...' }
 */
export function tradeValues(price: unknown, qty: unknown): { price: number; qty: number } | { reason: string } {
  if (typeof price !== 'number' || !Number.isFinite(price)) return { reason: 'price must be a finite number' }
  if (typeof qty !== 'number' || !Number.isFinite(qty)) return { reason: 'qty must be a finite number' }
  const p = roundValue(price), q = roundValue(qty)
  const problem = valuesProblem(p, q)
  return problem ? { reason: problem } : { price: p, qty: q }
}

/** Exchanges Ticklake ingests itself: their names (and their simulated twins') belong to nobody else. */
export const BUILT_IN_EXCHANGES: readonly Exchange[] = ['binance', 'binance-us', 'binance-futures', 'coinbase']

/**
 * True for an exchange name reserved for Ticklake's own sources: a built-in venue (`binance`,
 * `binance-us`, `binance-futures`, `coinbase`), any name that starts with one and a dash
 * (`binance-spot2`, `coinbase-pro`: a venue that may be added), or a simulated source (`sim`, `sim-...`).
 * `POST /api/ingest` keys can never write under such a name.
 * @example reservedExchange('binance') === true; reservedExchange('sim-binance') === true; reservedExchange('myfeed') === false
 */
export function reservedExchange(name: string): boolean {
  const n = name.toLowerCase()
  if (n === 'sim' || n.startsWith('sim-')) return true
  return BUILT_IN_EXCHANGES.some((b) => n === b || n.startsWith(`${b}-`))
}
