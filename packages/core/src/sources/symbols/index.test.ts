import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { countingStore } from '../../../test/counting-store'
import { dimSymbolsKey } from '../../lake/layout/index'
import { readParquet } from '../../lake/parquet/index'
import { ANALYST_VIEWS, analystViewStatements, decimalsOf, dimFromBinance, dimFromCoinbase, fetchDimSymbols, readDimSymbols, refreshDimSymbols, writeDimSymbols, type DimSymbol } from './index'

const DATA = fileURLToPath(new URL('../../../../../../shared/data/binance/be4e5c81354b/', import.meta.url))
const hasData = existsSync(DATA)
if (!hasData) console.warn(`symbols tests: the recorded exchangeInfo answers are skipped: ${DATA} is absent`)
const NOW = Date.parse('2026-11-24T15:00:00Z')

/** The first recorded `exchangeInfo` answer of a recording (`<url> -> <ts>: <json>` lines). */
function recordedInfo(file: string) {
  const line = readFileSync(DATA + file, 'utf8').split('\n').find((l) => l.includes('exchangeInfo ->'))!
  return JSON.parse(line.slice(line.indexOf(': {') + 2))
}

const spot = (symbol: string, base: string, quote: string, tick: string, step: string, status = 'TRADING') => ({
  symbol, status, baseAsset: base, quoteAsset: quote,
  filters: [{ filterType: 'PRICE_FILTER', minPrice: tick, maxPrice: '1000000.00000000', tickSize: tick }, { filterType: 'LOT_SIZE', minQty: step, maxQty: '9000.00000000', stepSize: step }, { filterType: 'MIN_NOTIONAL', minNotional: '5.00000000' }],
})

/** Exchange API `GET /products` entries, keyed as Coinbase sends them. */
const exchangeProducts = [
  { id: 'BTC-USD', base_currency: 'BTC', quote_currency: 'USD', quote_increment: '0.01', base_increment: '0.00000001', display_name: 'BTC-USD', min_market_funds: '1', margin_enabled: false, post_only: false, limit_only: false, cancel_only: false, status: 'online', status_message: '', trading_disabled: false, fx_stablecoin: false, max_slippage_percentage: '0.02000000', auction_mode: false },
  { id: 'RAI-USD', base_currency: 'RAI', quote_currency: 'USD', quote_increment: '0.01', base_increment: '0.001', display_name: 'RAI-USD', min_market_funds: '1', status: 'delisted', status_message: '', trading_disabled: true },
  { id: 'bad id', base_currency: 'X', quote_currency: 'Y', quote_increment: '0.1', base_increment: '1', status: 'online' },
]
/** Advanced Trade `GET /api/v3/brokerage/market/products`: price step is `price_increment`, `quote_increment` is for quote sizes. */
const advancedProducts = {
  products: [
    { product_id: 'ETH-USDC', price: '3012.55', base_increment: '0.00000001', quote_increment: '0.00000001', price_increment: '0.01', quote_min_size: '1', base_min_size: '0.00000001', status: 'online', trading_disabled: false, is_disabled: false, cancel_only: false, product_type: 'SPOT', base_currency_id: 'ETH', quote_currency_id: 'USDC', base_display_symbol: 'ETH', quote_display_symbol: 'USDC' },
    { product_id: 'SOL-USD', base_increment: '0.001', price_increment: '0.01', status: 'online', product_type: 'SPOT', quote_currency_id: 'USD' },
  ],
  num_products: 2,
}

describe('the symbol dimension', () => {
  it('reads tick size, lot size, status and decimals from Binance exchangeInfo and names every entry it leaves out', () => {
    const info = { symbols: [spot('BTCUSDT', 'BTC', 'USDT', '0.01000000', '0.00001000'), spot('ETHBTC', 'ETH', 'BTC', '0.00000100', '0.00010000', 'BREAK'), { symbol: 'NOFILTERS', status: 'TRADING', baseAsset: 'NO', quoteAsset: 'FILTERS', filters: [] }] }
    const { rows, rejected } = dimFromBinance(info, 'binance', NOW)
    expect(rows).toEqual([
      { exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', base: 'BTC', quote: 'USDT', status: 'TRADING', trading: true, contract_type: 'spot', tick_size: 0.01, lot_size: 0.00001, min_qty: 0.00001, min_notional: 5, price_decimals: 2, qty_decimals: 5, updated_at: NOW },
      expect.objectContaining({ symbol: 'ETH-BTC', status: 'BREAK', trading: false, tick_size: 0.000001, price_decimals: 6, qty_decimals: 4 }),
    ])
    expect(rejected).toEqual(['NOFILTERS: PRICE_FILTER.tickSize or LOT_SIZE.stepSize missing'])
    expect(dimFromBinance({ code: -1121, msg: 'Invalid symbol.' }, 'binance', NOW)).toEqual({ rows: [], rejected: ['exchangeInfo has no "symbols" array'] })
    expect([decimalsOf('1'), decimalsOf('10.00000000'), decimalsOf('0.00000001'), decimalsOf('0.5')]).toEqual([0, 0, 8, 1])
  })

  it.skipIf(!hasData)('reads the recorded spot, Binance.US and USD-M futures exchangeInfo answers whole', () => {
    const s = dimFromBinance(recordedInfo('BINANCE.0'), 'binance', NOW)
    expect(s.rejected).toEqual([])
    expect(s.rows).toHaveLength(1405)
    expect(s.rows.find((r) => r.native_symbol === 'BTCUSDT')).toMatchObject({ symbol: 'BTC-USDT', base: 'BTC', quote: 'USDT', tick_size: 0.01, price_decimals: 2, contract_type: 'spot' })
    const us = dimFromBinance(recordedInfo('BINANCE_US.0'), 'binance-us', NOW)
    expect(us.rows.find((r) => r.native_symbol === 'BTCUSD')).toMatchObject({ symbol: 'BTC-USD', tick_size: 0.01, lot_size: 0.000001, min_notional: 10 })
    const f = dimFromBinance(recordedInfo('BINANCE_FUTURES.0'), 'binance-futures', NOW)
    expect(f.rows.find((r) => r.native_symbol === 'BTCUSDT')).toMatchObject({ symbol: 'BTC-USDT', contract_type: 'perpetual', tick_size: 0.01, lot_size: 0.001, min_notional: 5 })
    const dated = f.rows.find((r) => r.native_symbol.includes('_'))!
    expect(dated.symbol).toBe(`${dated.base}-${dated.quote}-${dated.native_symbol.split('_')[1]}`)
    expect(dated.contract_type).toBe('current_quarter')
  })

  it('reads Coinbase products from the Exchange API and from Advanced Trade, with the price step of each', () => {
    const ex = dimFromCoinbase(exchangeProducts, NOW)
    expect(ex.rows).toEqual([
      { exchange: 'coinbase', symbol: 'BTC-USD', native_symbol: 'BTC-USD', base: 'BTC', quote: 'USD', status: 'online', trading: true, contract_type: 'spot', tick_size: 0.01, lot_size: 0.00000001, min_qty: null, min_notional: 1, price_decimals: 2, qty_decimals: 8, updated_at: NOW },
      expect.objectContaining({ symbol: 'RAI-USD', status: 'delisted', trading: false }),
    ])
    expect(ex.rejected).toEqual(['bad id: product id is missing or malformed'])
    const at = dimFromCoinbase(advancedProducts, NOW)
    expect(at.rows).toEqual([expect.objectContaining({ symbol: 'ETH-USDC', base: 'ETH', quote: 'USDC', tick_size: 0.01, lot_size: 0.00000001, min_qty: 0.00000001, min_notional: 1, trading: true })])
    expect(at.rejected).toEqual(['SOL-USD: base/quote currency missing'])
    expect(dimFromCoinbase({ message: 'not found' }, NOW).rejected).toEqual(['products answer is neither an array nor {products: [...]}'])
  })

  it('fetches Coinbase products from the restUrl given and refuses an exchange it has no list for', async () => {
    const seen: string[] = []
    const fetchImpl = (async (url: string) => { seen.push(url); return new Response(JSON.stringify(exchangeProducts), { headers: { 'content-type': 'application/json' } }) }) as unknown as typeof fetch
    const r = await fetchDimSymbols('coinbase', 'http://127.0.0.1:1', NOW, fetchImpl)
    expect(seen).toEqual(['http://127.0.0.1:1/products'])
    expect(r.rows.map((x) => x.symbol)).toEqual(['BTC-USD', 'RAI-USD'])
    await expect(fetchDimSymbols('kraken')).rejects.toThrow(/no symbol list for exchange "kraken"/)
    const empty = (async () => new Response('[]')) as unknown as typeof fetch
    await expect(refreshDimSymbols(countingStore(), 'coinbase', 'http://x', empty)).rejects.toThrow(/listed no readable symbol; the dimension is left as it was/)
  })

  it('replaces one exchange in the one Parquet object and keeps the others, nulls where the exchange says nothing', async () => {
    const store = countingStore()
    const bin = dimFromBinance({ symbols: [spot('BTCUSDT', 'BTC', 'USDT', '0.01', '0.00001'), spot('ETHUSDT', 'ETH', 'USDT', '0.01', '0.0001')] }, 'binance', NOW).rows
    const cb = dimFromCoinbase(exchangeProducts, NOW).rows
    expect(await writeDimSymbols(store, bin)).toBe(2)
    expect(await writeDimSymbols(store, cb)).toBe(4)
    expect(await writeDimSymbols(store, bin.slice(0, 1), ['binance'])).toBe(3) // ETHUSDT delisted from the answer: gone from the dim
    const rows = await readDimSymbols(store)
    expect(rows.map((r) => `${r.exchange}/${r.symbol}`)).toEqual(['binance/BTC-USDT', 'coinbase/BTC-USD', 'coinbase/RAI-USD'])
    expect(rows.find((r) => r.symbol === 'BTC-USD')).toEqual(cb[0])
    const raw = await readParquet<DimSymbol>((await store.get(dimSymbolsKey()))!, ['min_qty'])
    expect(raw.map((r) => r.min_qty)).toEqual([0.00001, null, null])
  })

  it('writes over the version it read only, so a racing refresh of another exchange is kept', async () => {
    const store = countingStore()
    const bin = dimFromBinance({ symbols: [spot('BTCUSDT', 'BTC', 'USDT', '0.01', '0.00001')] }, 'binance', NOW).rows
    const cb = dimFromCoinbase(exchangeProducts, NOW).rows
    await Promise.all([writeDimSymbols(store, bin), writeDimSymbols(store, cb)])
    expect((await readDimSymbols(store)).map((r) => r.symbol).sort()).toEqual(['BTC-USD', 'BTC-USDT', 'RAI-USD'])
  })

  it('defines fact_trades and fact_candles as left joins to dim_symbols in one SQL text for both engines', () => {
    expect(Object.keys(ANALYST_VIEWS)).toEqual(['fact_trades', 'fact_candles'])
    for (const sql of Object.values(ANALYST_VIEWS)) expect(sql).toMatch(/ LEFT JOIN dim_symbols d ON d\.exchange = f\.exchange AND d\.symbol = f\.symbol$/)
    expect(analystViewStatements()[1]).toMatch(/^CREATE OR REPLACE VIEW fact_candles AS SELECT f\.exchange, .* FROM candles f LEFT JOIN/)
  })
})
