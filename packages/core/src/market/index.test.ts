import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { TRADE_LIMITS, byText, reservedExchange, roundValue, scaledDecimal, takeable, tradeValues, valuesProblem } from './index'

describe('trade value limits', () => {
  it('takes prices and quantities from 1e-8 to their limits, with up to 8 decimals', () => {
    expect(tradeValues(1e-8, 1e-8)).toEqual({ price: 1e-8, qty: 1e-8 })
    expect(tradeValues(99999999.12345678, 0.5)).toEqual({ price: 99999999.12345678, qty: 0.5 })
    expect(tradeValues(TRADE_LIMITS.maxPrice, 1e-6)).toEqual({ price: 1e12, qty: 1e-6 })
    expect(tradeValues(1e-3, TRADE_LIMITS.maxQty)).toEqual({ price: 1e-3, qty: 1e15 })
  })

  it('refuses what is not finite, rounds to zero, or is above a limit, naming the field', () => {
    expect(tradeValues(1e308, 1)).toEqual({ reason: expect.stringMatching(/^price 1e\+308 is above 1000000000000/) })
    expect(tradeValues(NaN, 1)).toEqual({ reason: 'price must be a finite number' })
    expect(tradeValues(1, Infinity)).toEqual({ reason: 'qty must be a finite number' })
    expect(tradeValues(1, '1')).toEqual({ reason: 'qty must be a finite number' })
    expect(tradeValues(4e-9, 1)).toEqual({ reason: expect.stringMatching(/^price 0 is below 1e-8/) })
    expect(tradeValues(1, -2)).toEqual({ reason: expect.stringMatching(/^qty -2 is below/) })
    expect(tradeValues(1, 1e16)).toEqual({ reason: expect.stringMatching(/^qty 10000000000000000 is above 1000000000000000/) })
    expect(tradeValues(1e10, 1e9)).toEqual({ reason: expect.stringMatching(/^price x qty 10000000000000000000 is above 1000000000000000000/) })
  })

  it('rounds half up to 8 decimals from the shortest decimal of the value', () => {
    expect(roundValue(0.1 + 0.2)).toBe(0.3)
    expect(roundValue(0.123456785)).toBe(0.12345679)
    expect(roundValue(0.123456784)).toBe(0.12345678)
    expect(roundValue(5e-9)).toBe(1e-8)
    expect(roundValue(4.9e-9)).toBe(0)
    expect(roundValue(1e21)).toBe(1e21)
    expect(tradeValues(0.1 + 0.2, 1 / 3)).toEqual({ price: 0.3, qty: 0.33333333 })
  })

  it('scales any finite double to the exact integer of its decimal', () => {
    expect(scaledDecimal(0.1, 8)).toBe(10_000_000n)
    expect(scaledDecimal(1 / 3, 8)).toBe(33_333_333n)
    expect(scaledDecimal(1e21, 2)).toBe(10n ** 23n)
    expect(scaledDecimal(1.5e-7, 8)).toBe(15n)
    expect(scaledDecimal(2.5e-9, 8)).toBe(0n)
    expect(scaledDecimal(99999999.12345678, 8)).toBe(9_999_999_912_345_678n)
    expect(() => scaledDecimal(NaN, 8)).toThrow(RangeError)
    fc.assert(fc.property(fc.bigInt({ min: 1n, max: 10n ** 15n - 1n }), fc.integer({ min: 0, max: 8 }), (m, d) => {
      const s = d ? `${m / 10n ** BigInt(d)}.${(m % 10n ** BigInt(d)).toString().padStart(d, '0')}` : m.toString()
      expect(scaledDecimal(Number(s), 8)).toBe(m * 10n ** BigInt(8 - d))
    }))
  })

  it('agrees with itself: what tradeValues gives is takeable, and every refusal has a reason', () => {
    fc.assert(fc.property(fc.double({ noNaN: false }), fc.double(), (p, q) => {
      const r = tradeValues(p, q)
      if ('reason' in r) expect(r.reason).toBeTruthy()
      else { expect(takeable(r.price, r.qty)).toBe(true); expect(valuesProblem(r.price, r.qty)).toBeUndefined() }
    }))
  })

  it('reserves the names of built-in venues, of venues that may be added to them, and of simulated sources', () => {
    for (const n of ['binance', 'binance-us', 'binance-futures', 'coinbase', 'Binance', 'binance-spot2', 'coinbase-pro', 'sim', 'sim-binance', 'sim-coinbase']) expect(reservedExchange(n), n).toBe(true)
    for (const n of ['myfeed', 'kraken', 'binancefeed', 'my-binance', 'simple']) expect(reservedExchange(n), n).toBe(false)
  })
})

describe('byText', () => {
  it('orders names by code unit, as S3 lists keys: capitals before small letters, hour folders by their digits', () => {
    expect(['sim-binance', 'binance-us', 'Binance', 'binance', 'coinbase'].sort(byText)).toEqual(['Binance', 'binance', 'binance-us', 'coinbase', 'sim-binance'])
    expect(['dt=2026-12-06/hour=10', 'dt=2026-12-06/hour=09', 'dt=2026-12-05/hour=23'].sort(byText)).toEqual(['dt=2026-12-05/hour=23', 'dt=2026-12-06/hour=09', 'dt=2026-12-06/hour=10'])
    expect(byText('a', 'a')).toBe(0)
  })
})
