import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { CANDLE_COLUMNS, TRADE_COLUMNS, type Candle, type Trade } from '@ticklake/core/market'
import { goldCandleFileKey, goldCandlesKey, silverTradesKey } from '@ticklake/core/lake/layout'
import { writeParquet } from '@ticklake/core/lake/parquet'
import { readDimSymbols } from '@ticklake/core/sources/symbols'
import { startFakeExchange, type FakeExchange } from '../exchange/index'
import { fileStore } from '../store/index'
import { main } from '../cli'
import { duckdbEngine } from './index'

const T0 = Date.parse('2026-11-24T15:00:00Z')
let dir: string
let fx: FakeExchange
/** A made-up Coinbase Exchange API `GET /products` answer, served on loopback. */
const products = [
  { id: 'BTC-USD', base_currency: 'BTC', quote_currency: 'USD', quote_increment: '0.01', base_increment: '0.00000001', display_name: 'BTC-USD', min_market_funds: '1', status: 'online', trading_disabled: false },
  { id: 'ETH-USD', base_currency: 'ETH', quote_currency: 'USD', quote_increment: '0.01', base_increment: '0.00000001', display_name: 'ETH-USD', min_market_funds: '1', status: 'online', trading_disabled: false },
]
const coinbase = createServer((req, res) => {
  if (req.url !== '/products') { res.writeHead(404).end('{"message":"NotFound"}'); return }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(products))
})

async function cli(args: string[]) {
  const out: string[] = []
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((s) => { out.push(String(s)); return true })
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => { out.push(a.join(' ') + '\n') })
  try { return { code: await main(args), out: out.join('') } } finally { write.mockRestore(); log.mockRestore() }
}

const candle = (exchange: string, symbol: string, tf: Candle['tf'], open_time: number, close: number): Candle => ({
  exchange, symbol, tf, open_time, close_time: open_time + 59_999, open: close, high: close, low: close, close, volume: 1, quote_volume: close,
  trades: 1, taker_buy_volume: 0, taker_buy_quote_volume: 0, vwap: close, first_trade_id: 1, last_trade_id: 1, final: true,
})
const trade = (symbol: string, id: number): Trade => ({ exchange: 'binance', symbol, native_symbol: symbol.replace('-', ''), trade_id: id, first_trade_id: id, last_trade_id: id, ts: T0 * 1000 + id, price: 100, qty: 1, side: 'buy', trades: 1, ingest_ts: T0 * 1000, source: 'ws' })

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ticklake-views-'))
  fx = await startFakeExchange({ symbols: ['BTC-USDT', 'ETH-USDT'], historyMs: 60_000, ratePerSec: 1 })
  await new Promise<void>((r) => coinbase.listen(0, '127.0.0.1', () => r()))
})

afterAll(async () => {
  await fx?.close()
  await new Promise((r) => coinbase.close(r))
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('gold/dim_symbols and the analyst views', () => {
  it('`ticklake symbols` writes the dimension from the exchange exchangeInfo and Coinbase products', async () => {
    const b = await cli(['symbols', '--exchange', 'binance', '--rest-url', fx.restUrl, '--data', dir])
    expect(b).toEqual({ code: 0, out: 'binance: 2 symbols written to gold/dim_symbols (2 in all)\n' })
    const c = await cli(['symbols', '--exchange', 'coinbase', '--rest-url', `http://127.0.0.1:${(coinbase.address() as AddressInfo).port}`, '--data', dir])
    expect(c).toEqual({ code: 0, out: 'coinbase: 2 symbols written to gold/dim_symbols (4 in all)\n' })
    const rows = await readDimSymbols(fileStore(dir))
    expect(rows.map((r) => `${r.exchange}/${r.symbol}`)).toEqual(['binance/BTC-USDT', 'binance/ETH-USDT', 'coinbase/BTC-USD', 'coinbase/ETH-USD'])
    // the fake exchange's PRICE_FILTER and LOT_SIZE: BTC on 0.01 and 0.00001
    expect(rows[0]).toMatchObject({ native_symbol: 'BTCUSDT', base: 'BTC', quote: 'USDT', status: 'TRADING', trading: true, tick_size: 0.01, lot_size: 0.00001, price_decimals: 2, qty_decimals: 5 })
    const errors: string[] = []
    const err = vi.spyOn(process.stderr, 'write').mockImplementation((s) => { errors.push(String(s)); return true })
    try { expect((await cli(['symbols', '--exchange', 'kraken', '--data', dir])).code).toBe(2) } finally { err.mockRestore() }
    expect(errors.join('')).toMatch(/--exchange is one of binance, binance-us, binance-futures, coinbase \(got "kraken"\)/)
  })

  it('fact_candles carries base, quote and tick size from the dimension for every timeframe, and keeps candles of symbols it lacks', async () => {
    const store = fileStore(dir)
    await store.put(goldCandlesKey('binance', 'BTC-USDT', '1m', '2026-11-24', '15'), writeParquet(CANDLE_COLUMNS, [candle('binance', 'BTC-USDT', '1m', T0, 60_000), candle('binance', 'BTC-USDT', '1m', T0 + 60_000, 60_001)]))
    await store.put(goldCandlesKey('binance', 'DOGE-USDT', '1m', '2026-11-24', '15'), writeParquet(CANDLE_COLUMNS, [candle('binance', 'DOGE-USDT', '1m', T0, 0.15)]))
    // a coarser timeframe, in its file of the year (at dt=2026-01-01)
    await store.put(goldCandleFileKey('coinbase', 'BTC-USD', '1d', Date.parse('2026-11-24T00:00:00Z')), writeParquet(CANDLE_COLUMNS, [candle('coinbase', 'BTC-USD', '1d', Date.parse('2026-11-24T00:00:00Z'), 59_000)]))
    await store.put(silverTradesKey('binance', 'ETH-USDT', '2026-11-24', '15'), writeParquet(TRADE_COLUMNS, [trade('ETH-USDT', 1), trade('ETH-USDT', 2)]))
    const db = await duckdbEngine(dir)
    try {
      const rows = await db.query({ sql: 'SELECT exchange, symbol, tf, open_time, dt, close, native_symbol, base, quote, tick_size, lot_size, trading FROM fact_candles ORDER BY exchange, symbol, open_time', params: [] })
      expect(rows).toEqual([
        { exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', open_time: '2026-11-24T15:00:00.000Z', dt: '2026-11-24', close: 60_000, native_symbol: 'BTCUSDT', base: 'BTC', quote: 'USDT', tick_size: 0.01, lot_size: 0.00001, trading: true },
        expect.objectContaining({ symbol: 'BTC-USDT', open_time: '2026-11-24T15:01:00.000Z', base: 'BTC' }),
        { exchange: 'binance', symbol: 'DOGE-USDT', tf: '1m', open_time: '2026-11-24T15:00:00.000Z', dt: '2026-11-24', close: 0.15, native_symbol: null, base: null, quote: null, tick_size: null, lot_size: null, trading: null },
        expect.objectContaining({ exchange: 'coinbase', symbol: 'BTC-USD', tf: '1d', dt: '2026-01-01', base: 'BTC', quote: 'USD', tick_size: 0.01, lot_size: 0.00000001 }),
      ])
      const [t] = await db.query({ sql: 'SELECT count(*) AS n, min(base) AS base, min(quote) AS quote, min(tick_size) AS tick, min(dt) AS dt FROM fact_trades WHERE symbol = ?', params: ['ETH-USDT'] })
      expect(t).toEqual({ n: 2, base: 'ETH', quote: 'USDT', tick: 0.01, dt: '2026-11-24' })
    } finally { db.close() }
  })

  it('defines the views over an empty lake too, where they answer no rows', async () => {
    const db = await duckdbEngine(join(dir, 'nothing-here'))
    try {
      expect(await db.query({ sql: 'SELECT * FROM fact_candles', params: [] })).toEqual([])
      expect(await db.query({ sql: 'SELECT base, quote FROM fact_trades', params: [] })).toEqual([])
    } finally { db.close() }
  })
})
