/** Property and fuzz tests: any answer CoinGecko (or something pretending to be it) sends gets rows or problems, never a throw or a NaN. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseSimplePrice } from './index'

describe('coingecko simple/price under hostile input', () => {
  it('returns rows and problems for any string or JSON value, with finite numbers only', () => {
    const input = fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.jsonValue({ maxDepth: 4 }), fc.dictionary(fc.constantFrom('bitcoin', 'ethereum', 'x'), fc.dictionary(fc.constantFrom('usd', 'brl', 'usd_market_cap', 'usd_24h_vol', 'usd_24h_change', 'last_updated_at'), fc.jsonValue({ maxDepth: 1 }))))
    fc.assert(fc.property(input, (body) => {
      const { rows, problems } = parseSimplePrice(body, ['bitcoin', 'ethereum'], ['usd', 'brl'], 1)
      expect(Array.isArray(problems)).toBe(true)
      for (const r of rows) for (const k of ['price', 'market_cap', 'volume_24h', 'change_24h_pct', 'last_updated'] as const) expect(Number.isFinite(r[k])).toBe(true)
      for (const r of rows) expect(r.price).toBeGreaterThan(0)
    }), { numRuns: 2_000 })
  })

  it('takes a last_updated_at too large for microseconds as no time, not as Infinity (found by the property above)', () => {
    const { rows } = parseSimplePrice([{ bitcoin: { last_updated_at: 1.797693134862316e302, usd: 5e-324 } }][0], ['bitcoin'], ['usd'], 1)
    expect(rows).toMatchObject([{ price: 5e-324, last_updated: 0, complete: false }])
  })
})
