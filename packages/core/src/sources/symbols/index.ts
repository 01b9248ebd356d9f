/**
 * The symbol dimension (`gold/dim_symbols`) and the analyst views over it. Turns Binance
 * `exchangeInfo` (spot, US, USD-M futures) and Coinbase products (Exchange `GET /products` or
 * Advanced Trade `GET /api/v3/brokerage/market/products`) into one row per (exchange, symbol) with
 * base, quote, tick size, lot size and status; refreshes the one Parquet object per exchange with a
 * conditional put; and holds the SQL of the views `fact_trades` and `fact_candles`, the same text
 * for Athena and DuckDB. Entries that cannot be read are returned as reasons, never thrown.
 */
import type { Column } from '../../market/index'
import { CANDLE_COLUMNS, TRADE_COLUMNS, symbolOf } from '../../market/index'
import { ENDPOINTS, exchangeInfo, restBase } from '../binance/index'
import { defaults as coinbaseDefaults } from '../coinbase/index'
import { HttpError, request, unreachable } from '../http/index'
import { dimSymbolsKey } from '../../lake/layout/index'
import { readParquet, writeParquet } from '../../lake/parquet/index'
import { updateObject, type ObjectStore } from '../../ports/index'

export const defaults = {
  requestTimeoutMs: 15_000,
  /** Conditional-write retries when another refresh wrote the dimension meanwhile. */
  writeRetries: 5,
}

/** One tradable instrument of one exchange. Sizes are numbers; `*_decimals` say how many decimals they have. */
export interface DimSymbol {
  exchange: string
  /** Normalized `BASE-QUOTE` (dated futures: `BASE-QUOTE-YYMMDD`), as the lake's partitions spell it. */
  symbol: string
  native_symbol: string
  base: string
  quote: string
  /** The exchange's own word: Binance `TRADING`, `BREAK`, ...; Coinbase `online`, `offline`, `delisted`. */
  status: string
  /** True when the exchange accepts orders now. */
  trading: boolean
  /** `spot`, or the futures contract type in lower case (`perpetual`, `current_quarter`, ...). */
  contract_type: string
  /** Price step (Binance PRICE_FILTER.tickSize; Coinbase price/quote increment). */
  tick_size: number
  /** Quantity step (Binance LOT_SIZE.stepSize; Coinbase base_increment). */
  lot_size: number
  /** Smallest order quantity, null when the exchange does not say. */
  min_qty: number | null
  /** Smallest order value in the quote asset, null when the exchange does not say. */
  min_notional: number | null
  price_decimals: number
  qty_decimals: number
  /** When this row was fetched (epoch ms). */
  updated_at: number
}

export const DIM_SYMBOL_COLUMNS: Column<DimSymbol>[] = [
  { name: 'exchange', type: 'STRING', note: 'binance, binance-us, binance-futures, coinbase' },
  { name: 'symbol', type: 'STRING', note: 'normalized BASE-QUOTE, as in the lake partitions' },
  { name: 'native_symbol', type: 'STRING', note: "the exchange's own spelling" },
  { name: 'base', type: 'STRING' },
  { name: 'quote', type: 'STRING' },
  { name: 'status', type: 'STRING', note: "the exchange's own status word" },
  { name: 'trading', type: 'BOOLEAN', note: 'orders accepted now' },
  { name: 'contract_type', type: 'STRING', note: 'spot, perpetual, current_quarter, ...' },
  { name: 'tick_size', type: 'DOUBLE', note: 'price step' },
  { name: 'lot_size', type: 'DOUBLE', note: 'quantity step' },
  { name: 'min_qty', type: 'DOUBLE', note: 'null when unknown' },
  { name: 'min_notional', type: 'DOUBLE', note: 'null when unknown' },
  { name: 'price_decimals', type: 'INT32', note: 'decimals of tick_size' },
  { name: 'qty_decimals', type: 'INT32', note: 'decimals of lot_size' },
  { name: 'updated_at', type: 'TIMESTAMP_MILLIS', note: 'when fetched' },
]

/** What a parse produced: the rows, and one reason per entry left out. */
export interface DimResult { rows: DimSymbol[]; rejected: string[] }

const DECIMAL = /^\d{1,20}(\.\d{1,20})?$/
const ASSET = /^[A-Z0-9]{1,20}$/

/** Decimals of a step: `decimalsOf('0.01000000') === 2`, `decimalsOf('1') === 0`. */
export function decimalsOf(step: string): number {
  const frac = step.split('.')[1]?.replace(/0+$/, '') ?? ''
  return frac.length
}

const num = (v: unknown) => (typeof v === 'string' && DECIMAL.test(v) ? Number(v) : typeof v === 'number' && Number.isFinite(v) ? v : undefined)

/**
 * Dimension rows of a Binance `exchangeInfo` answer (spot, US or USD-M futures).
 * @example dimFromBinance(await exchangeInfo(restBase('binance', url)), 'binance', Date.now())
 */
export function dimFromBinance(info: unknown, exchange: string, now: number): DimResult {
  const out: DimResult = { rows: [], rejected: [] }
  const list = (info as any)?.symbols
  if (!Array.isArray(list)) return { rows: [], rejected: ['exchangeInfo has no "symbols" array'] }
  for (const s of list) {
    const name = typeof s?.symbol === 'string' ? s.symbol : JSON.stringify(s)?.slice(0, 40)
    const filters: any[] = Array.isArray(s?.filters) ? s.filters : []
    const price = filters.find((f) => f?.filterType === 'PRICE_FILTER')
    const lot = filters.find((f) => f?.filterType === 'LOT_SIZE')
    const notional = filters.find((f) => f?.filterType === 'MIN_NOTIONAL' || f?.filterType === 'NOTIONAL')
    const status = s?.status ?? s?.contractStatus
    if (typeof s?.symbol !== 'string' || !ASSET.test(s.symbol.replace('_', ''))) { out.rejected.push(`${name}: symbol is missing or malformed`); continue }
    if (!ASSET.test(s.baseAsset ?? '') || !ASSET.test(s.quoteAsset ?? '')) { out.rejected.push(`${name}: baseAsset/quoteAsset missing`); continue }
    if (typeof status !== 'string') { out.rejected.push(`${name}: status missing`); continue }
    if (!DECIMAL.test(price?.tickSize ?? '') || !DECIMAL.test(lot?.stepSize ?? '')) { out.rejected.push(`${name}: PRICE_FILTER.tickSize or LOT_SIZE.stepSize missing`); continue }
    const contract = typeof s.contractType === 'string' && s.contractType ? s.contractType.toLowerCase() : s.contractType === '' ? 'unknown' : 'spot'
    const dated = s.symbol.includes('_') ? `-${s.symbol.split('_')[1]}` : ''
    out.rows.push({
      exchange, symbol: symbolOf(s.baseAsset, s.quoteAsset) + dated, native_symbol: s.symbol, base: s.baseAsset, quote: s.quoteAsset,
      status, trading: status === 'TRADING', contract_type: contract,
      tick_size: Number(price.tickSize), lot_size: Number(lot.stepSize), min_qty: num(lot.minQty) ?? null,
      min_notional: num(notional?.minNotional ?? notional?.notional) ?? null,
      price_decimals: decimalsOf(price.tickSize), qty_decimals: decimalsOf(lot.stepSize), updated_at: now,
    })
  }
  return out
}

/**
 * Dimension rows of Coinbase products: the Exchange API's `GET /products` (an array of `{id,
 * base_currency, quote_currency, quote_increment, base_increment, status, trading_disabled}`) or
 * Advanced Trade's `{products: [{product_id, base_currency_id, quote_currency_id, price_increment,
 * base_increment, status, trading_disabled, product_type}]}`. On the Exchange API `quote_increment`
 * is the price step; on Advanced Trade it is `price_increment`.
 */
export function dimFromCoinbase(body: unknown, now: number, exchange = 'coinbase'): DimResult {
  const out: DimResult = { rows: [], rejected: [] }
  const list = Array.isArray(body) ? body : (body as any)?.products
  if (!Array.isArray(list)) return { rows: [], rejected: ['products answer is neither an array nor {products: [...]}'] }
  for (const p of list) {
    const id = p?.product_id ?? p?.id
    const base = p?.base_currency_id ?? p?.base_currency
    const quote = p?.quote_currency_id ?? p?.quote_currency
    const tick = p?.price_increment ?? p?.quote_increment
    const step = p?.base_increment
    const name = typeof id === 'string' ? id : JSON.stringify(p)?.slice(0, 40)
    if (typeof id !== 'string' || !/^[A-Z0-9]{1,20}(-[A-Z0-9]{1,20}){1,3}$/.test(id)) { out.rejected.push(`${name}: product id is missing or malformed`); continue }
    if (!ASSET.test(base ?? '') || !ASSET.test(quote ?? '')) { out.rejected.push(`${name}: base/quote currency missing`); continue }
    if (!DECIMAL.test(tick ?? '') || !DECIMAL.test(step ?? '')) { out.rejected.push(`${name}: price or base increment missing`); continue }
    if (typeof p.status !== 'string') { out.rejected.push(`${name}: status missing`); continue }
    const type = typeof p.product_type === 'string' && p.product_type !== 'SPOT' ? p.product_type.toLowerCase() : 'spot'
    out.rows.push({
      exchange, symbol: type === 'spot' ? symbolOf(base, quote) : id, native_symbol: id, base, quote, status: p.status,
      trading: p.status === 'online' && p.trading_disabled !== true && p.is_disabled !== true && p.cancel_only !== true,
      contract_type: type, tick_size: Number(tick), lot_size: Number(step),
      min_qty: num(p.base_min_size) ?? null, min_notional: num(p.min_market_funds ?? p.quote_min_size) ?? null,
      price_decimals: decimalsOf(tick), qty_decimals: decimalsOf(step), updated_at: now,
    })
  }
  return out
}

/** Exchanges whose symbols `fetchDimSymbols` can list. */
export const DIM_EXCHANGES = [...Object.keys(ENDPOINTS), 'coinbase']

/**
 * Fetches one exchange's instruments: Binance venues through `exchangeInfo` (with its rate-limit
 * handling), Coinbase through `GET /products` of the Exchange API (or any `restUrl` serving either
 * products shape, e.g. `https://api.coinbase.com/api/v3/brokerage/market` for Advanced Trade).
 */
export async function fetchDimSymbols(exchange: string, restUrl?: string, now = Date.now(), fetchImpl: typeof fetch = fetch): Promise<DimResult> {
  try { return await fetchDim(exchange, restUrl, now, fetchImpl) } catch (e: any) {
    const why = unreachable(e)
    if (why) throw new Error(`cannot reach ${exchange} at ${restUrl ?? 'its public REST API'}: ${why}`)
    throw e
  }
}

async function fetchDim(exchange: string, restUrl: string | undefined, now: number, fetchImpl: typeof fetch): Promise<DimResult> {
  if (exchange === 'coinbase') {
    const url = `${restUrl ?? coinbaseDefaults.restUrl}/products`
    const { json } = await request(url, { fetch: fetchImpl, timeoutMs: defaults.requestTimeoutMs, headers: { accept: 'application/json' }, name: 'Coinbase' })
    if (json === undefined) throw new HttpError(200, `Coinbase answered ${url} with something other than JSON`, { url })
    return dimFromCoinbase(json, now)
  }
  const venue = ENDPOINTS[exchange]
  if (!venue) throw new Error(`no symbol list for exchange ${JSON.stringify(exchange)}: one of ${DIM_EXCHANGES.join(', ')}`)
  return dimFromBinance(await exchangeInfo(restBase(exchange, restUrl ?? venue.rest), fetchImpl), exchange, now)
}

/** Every row of the dimension, or none when it was never written. */
export async function readDimSymbols(store: ObjectStore): Promise<DimSymbol[]> {
  const bytes = await store.get(dimSymbolsKey())
  return bytes ? readParquet<DimSymbol>(bytes) : []
}

/**
 * Replaces the rows of the exchanges in `rows` (and of `exchanges`, even when it has none now) and
 * keeps the others, with a conditional put so two refreshes never lose each other's exchanges.
 * Resolves with the row count written.
 */
export async function writeDimSymbols(store: ObjectStore, rows: DimSymbol[], exchanges: string[] = [...new Set(rows.map((r) => r.exchange))]): Promise<number> {
  const key = dimSymbolsKey()
  const { result } = await updateObject(store, key, async (head) => {
    const old = head ? await readParquet<DimSymbol>((await store.get(key))!) : []
    const merged = [...old.filter((r) => !exchanges.includes(r.exchange)), ...rows]
    const seen = new Set<string>()
    const unique = merged.filter((r) => { const k = `${r.exchange}/${r.symbol}`; if (seen.has(k)) return false; seen.add(k); return true })
    unique.sort((a, b) => (a.exchange < b.exchange ? -1 : a.exchange > b.exchange ? 1 : a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0))
    return { body: writeParquet(DIM_SYMBOL_COLUMNS, unique, { nullable: true }), result: unique.length }
  }, { retries: defaults.writeRetries })
  return result
}

/** Fetches an exchange's instruments and writes them into the dimension; the rejected entries come back with the count. */
export async function refreshDimSymbols(store: ObjectStore, exchange: string, restUrl?: string, fetchImpl: typeof fetch = fetch) {
  const { rows, rejected } = await fetchDimSymbols(exchange, restUrl, Date.now(), fetchImpl)
  if (!rows.length) throw new Error(`${exchange} listed no readable symbol${rejected.length ? ` (${rejected.length} rejected, e.g. ${rejected[0]})` : ''}; the dimension is left as it was`)
  const total = await writeDimSymbols(store, rows, [exchange])
  return { exchange, rows: rows.length, rejected, total }
}

/** Dimension columns the fact views add (the facts' own columns come first). */
const DIM_FACT_COLUMNS = ['base', 'quote', 'status', 'trading', 'contract_type', 'tick_size', 'lot_size', 'price_decimals', 'qty_decimals'] as const

/**
 * The analyst views, as SELECTs over the tables the Glue catalog (Athena) and the DuckDB adapter
 * both name `trades` (silver), `candles` (gold, every timeframe) and `dim_symbols`. A LEFT JOIN, so
 * a fact whose symbol is missing from the dimension is kept, with null dimension columns. Each
 * carries its table's date partition `dt` too, so that `WHERE dt BETWEEN ...` reads only those days.
 */
export const ANALYST_VIEWS: Record<'fact_trades' | 'fact_candles', string> = {
  fact_trades: `SELECT ${TRADE_COLUMNS.map((c) => `f.${c.name}`).join(', ')}, f.dt, ${DIM_FACT_COLUMNS.map((c) => `d.${c}`).join(', ')} FROM trades f LEFT JOIN dim_symbols d ON d.exchange = f.exchange AND d.symbol = f.symbol`,
  fact_candles: `SELECT ${CANDLE_COLUMNS.map((c) => `f.${c.name}`).join(', ')}, f.dt, d.native_symbol, ${DIM_FACT_COLUMNS.map((c) => `d.${c}`).join(', ')} FROM candles f LEFT JOIN dim_symbols d ON d.exchange = f.exchange AND d.symbol = f.symbol`,
}

/** `CREATE OR REPLACE VIEW` statements of the analyst views: run them as they are on Athena or DuckDB. */
export const analystViewStatements = () => Object.entries(ANALYST_VIEWS).map(([name, select]) => `CREATE OR REPLACE VIEW ${name} AS ${select}`)
