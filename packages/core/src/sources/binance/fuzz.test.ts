/** Property and fuzz tests: hostile input never makes the Binance parser throw. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseFrame, resolverFor, type ParseContext } from './index'

const ctx: ParseContext = { exchange: 'binance', resolve: resolverFor(['BTC-USDT']), ingestTs: 1, source: 'ws' }
const good = { e: 'aggTrade', E: 1, s: 'BTCUSDT', a: 5, p: '60000.10000000', q: '0.00100000', f: 10, l: 12, T: 1700000000000, m: false, M: true }

/** Any JSON value, including the awkward ones. */
const anyJson = fc.jsonValue({ maxDepth: 4 })

describe('binance parser under hostile input', () => {
  it('returns a result for any string, never a throw', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (raw) => {
      expect(['trade', 'ignored', 'error']).toContain(parseFrame(raw, ctx).kind)
    }), { numRuns: 2_000 })
  })

  it('returns a result for any JSON, wrapped as a stream frame or not', () => {
    fc.assert(fc.property(anyJson, fc.boolean(), (data, wrap) => {
      const raw = JSON.stringify(wrap ? { stream: 'btcusdt@aggTrade', data } : data)
      expect(['trade', 'ignored', 'error']).toContain(parseFrame(raw, ctx).kind)
    }), { numRuns: 2_000 })
  })

  it('rejects an aggTrade with any one field replaced by a wrong value, and accepts it whole', () => {
    expect(parseFrame(JSON.stringify({ stream: 'btcusdt@aggTrade', data: good }), ctx).kind).toBe('trade')
    const fields = ['a', 'p', 'q', 'f', 'l', 'T', 'm'] as const
    const wrong = fc.oneof(fc.constant(null), fc.constant(-1), fc.constant('x'), fc.constant(1.5), fc.constant({}), fc.constant([]), fc.constant('NaN'), fc.constant('1e999'), fc.constant(Number.MAX_SAFE_INTEGER + 2))
    fc.assert(fc.property(fc.constantFrom(...fields), wrong, (field, value) => {
      if (field === 'm' && typeof value === 'boolean') return
      const r = parseFrame(JSON.stringify({ stream: 'btcusdt@aggTrade', data: { ...good, [field]: value } }), ctx)
      expect(r.kind).toBe('error')
    }), { numRuns: 500 })
  })

  it('parses every well-formed aggTrade to a trade whose taker side and trade count follow m, f and l', () => {
    const agg = fc.record({
      a: fc.nat(), f: fc.nat({ max: 1e12 }), n: fc.nat({ max: 1000 }), T: fc.nat({ max: 4e12 }), m: fc.boolean(),
      p: fc.integer({ min: 1, max: 1e12 }), q: fc.integer({ min: 1, max: 1e12 }),
    })
    fc.assert(fc.property(agg, (x) => {
      const data = { e: 'aggTrade', E: x.T, s: 'BTCUSDT', a: x.a, p: (x.p / 1e8).toFixed(8), q: (x.q / 1e8).toFixed(8), f: x.f, l: x.f + x.n, T: x.T, m: x.m, M: true }
      const r = parseFrame(JSON.stringify({ stream: 'btcusdt@aggTrade', data }), ctx)
      expect(r.kind).toBe('trade')
      if (r.kind !== 'trade') return
      expect(r.trade.side).toBe(x.m ? 'sell' : 'buy')
      expect(r.trade.trades).toBe(x.n + 1)
      expect(r.trade.ts).toBe(x.T * 1000)
    }), { numRuns: 1_000 })
  })
})
