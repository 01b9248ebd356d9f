import { describe, expect, it } from 'vitest'
import { goldCandlesKey } from '../../lake/layout/index'
import { exchangeStatusOf, exchangesOf } from './exchanges'

const NOW = Date.parse('2026-11-25T00:00:00Z')
const iso = (ms: number) => new Date(ms).toISOString()
const span = (exchange: string, symbol: string, first: string, last: string, candles: number) => ({ exchange, symbol, first_candle: first, last_candle: last, candles })
const src = (exchange: string, symbol: string, lag: number, rate = 1, records = 10) => ({ exchange, symbol, last_trade_time: iso(NOW - lag), lag_ms: lag, ingest_rate_per_s: rate, records_24h: records })

describe('the exchanges of /api/symbols', () => {
  it('groups symbols by exchange, with each exchange’s span and candle count, and says which are simulated', () => {
    const rows = [
      span('sim-coinbase', 'ETH-USD', '2026-11-24T01:00:00.000Z', '2026-11-24T05:00:00.000Z', 241),
      span('binance', 'ETH-USDT', '2026-11-24T02:00:00.000Z', '2026-11-24T23:59:00.000Z', 1320),
      span('binance', 'BTC-USDT', '2026-11-24T00:00:00.000Z', '2026-11-24T12:00:00.000Z', 721),
      span('sim-coinbase', 'BTC-USD', '2026-11-23T00:00:00.000Z', '2026-11-24T00:00:00.000Z', 1441),
    ]
    expect(exchangesOf(rows)).toEqual([
      { exchange: 'binance', venue: 'binance', simulated: false, symbols: ['BTC-USDT', 'ETH-USDT'], first_candle: '2026-11-24T00:00:00.000Z', last_candle: '2026-11-24T23:59:00.000Z', candles: 2041 },
      { exchange: 'sim-coinbase', venue: 'coinbase', simulated: true, symbols: ['BTC-USD', 'ETH-USD'], first_candle: '2026-11-23T00:00:00.000Z', last_candle: '2026-11-24T05:00:00.000Z', candles: 1682 },
    ])
  })

  it('answers no exchange for an empty lake', () => {
    expect(exchangesOf([])).toEqual([])
  })
})

describe('the exchanges of /api/status', () => {
  it('takes an exchange’s lag from its freshest symbol and its worst lag from its stalest, counting each symbol by its freshest source', () => {
    const [ex] = exchangeStatusOf({
      now: NOW, symbols: [{ exchange: 'binance', symbol: 'BTC-USDT' }, { exchange: 'binance', symbol: 'ETH-USDT' }], stalls: [], gold: [],
      sources: [src('binance', 'BTC-USDT', 2_000, 1.5, 100), src('binance', 'BTC-USDT', 90_000, 0, 5), src('binance', 'ETH-USDT', 40_000, 0.25, 20)],
    })
    expect(ex).toMatchObject({ exchange: 'binance', simulated: false, symbols: ['BTC-USDT', 'ETH-USDT'], last_trade_time: iso(NOW - 2_000), lag_ms: 2_000, max_lag_ms: 40_000, idle: [], ingest_rate_per_s: 1.75, records_24h: 125 })
  })

  it('lists every exchange of the lake, with its stalled and idle symbols and the age of its own newest gold object', () => {
    const rows = exchangeStatusOf({
      now: NOW,
      symbols: [{ exchange: 'binance', symbol: 'BTC-USDT' }, { exchange: 'sim-coinbase', symbol: 'BTC-USD' }, { exchange: 'sim-coinbase', symbol: 'ETH-USD' }],
      sources: [src('binance', 'BTC-USDT', 1_000), src('sim-coinbase', 'BTC-USD', 30_000)],
      stalls: [{ exchange: 'sim-coinbase', symbol: 'BTC-USD' }, { exchange: 'coinbase', symbol: 'SOL-USD' }],
      gold: [
        { key: goldCandlesKey('binance', 'BTC-USDT', '1m', '2026-11-24', '23'), lastModified: NOW - 5_000 },
        { key: goldCandlesKey('sim-coinbase', 'BTC-USD', '1m', '2026-11-24', '22'), lastModified: NOW - 3_600_000 },
        { key: goldCandlesKey('sim-coinbase', 'ETH-USD', '1m', '2026-11-24', '23'), lastModified: NOW - 60_000 },
      ],
    })
    expect(rows.map((r) => [r.exchange, r.venue, r.simulated, r.stalled, r.idle, r.lag_ms, r.freshness_ms, r.newest_gold_time])).toEqual([
      ['binance', 'binance', false, [], [], 1_000, 5_000, iso(NOW - 5_000)],
      // a stall of a symbol the lake has no candles or checkpoint of yet still names its exchange
      ['coinbase', 'coinbase', false, ['SOL-USD'], ['SOL-USD'], null, null, null],
      ['sim-coinbase', 'coinbase', true, ['BTC-USD'], ['ETH-USD'], 30_000, 60_000, iso(NOW - 60_000)],
    ])
  })
})
