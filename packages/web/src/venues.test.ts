import { describe, expect, it } from 'vitest'
import { joinVenues, symbolOn, venueLabel, venuesOf } from './venues'

describe('the venues of the pickers', () => {
  it('takes the exchanges of /api/symbols, or groups its rows when it has none', () => {
    const rows = [{ exchange: 'binance', symbol: 'BTC-USDT' }, { exchange: 'sim-coinbase', symbol: 'BTC-USD' }, { exchange: 'binance', symbol: 'ETH-USDT' }]
    expect(venuesOf({ symbols: rows })).toEqual([
      { exchange: 'binance', simulated: false, symbols: ['BTC-USDT', 'ETH-USDT'] },
      { exchange: 'sim-coinbase', simulated: true, symbols: ['BTC-USD'] },
    ])
    expect(venuesOf({ symbols: rows, exchanges: [{ exchange: 'coinbase', simulated: false, symbols: ['SOL-USD'] }] })).toEqual([{ exchange: 'coinbase', simulated: false, symbols: ['SOL-USD'] }])
    expect(venuesOf(undefined)).toEqual([])
  })

  it('joins the ingested venue to the lake’s, its own symbols first, and labels the simulated ones', () => {
    const v = joinVenues([{ exchange: 'coinbase', simulated: false, symbols: ['BTC-USD'] }, { exchange: 'binance', simulated: false, symbols: ['ETH-USDT', 'BTC-USDT'] }], { exchange: 'binance', simulated: true, symbols: ['BTC-USDT', 'SOL-USDT'] })
    expect(v).toEqual([{ exchange: 'binance', simulated: true, symbols: ['BTC-USDT', 'SOL-USDT', 'ETH-USDT'] }, { exchange: 'coinbase', simulated: false, symbols: ['BTC-USD'] }])
    expect(v.map(venueLabel)).toEqual(['binance (simulated)', 'coinbase'])
  })

  it('keeps the symbol on another venue when it is listed there, else one of the same base, else the first', () => {
    const v = { exchange: 'coinbase', simulated: false, symbols: ['ETH-USD', 'BTC-USD', 'BTC-EUR'] }
    expect(symbolOn(v, 'BTC-EUR')).toBe('BTC-EUR')
    expect(symbolOn(v, 'BTC-USDT')).toBe('BTC-USD')
    expect(symbolOn(v, 'SOL-USDT')).toBe('ETH-USD')
    expect(symbolOn(undefined, 'BTC-USDT')).toBeUndefined()
  })
})
