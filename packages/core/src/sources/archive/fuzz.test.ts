/** Property and fuzz tests: hostile archive rows get a reason, never a throw, and good rows survive any neighbour. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { csvTrades, parseCsvLine, type ArchiveContext } from './index'

const ctx: ArchiveContext = { exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', ingestTs: 1, source: 'archive' }
const good = '1000,96000.50000000,0.00100000,96.00050000,1735689600000000,True,True'

describe('archive rows under hostile input', () => {
  it('answers any line with a trade or a reason, for both kinds, never a throw', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), fc.constantFrom('trades' as const, 'aggTrades' as const), (line, kind) => {
      const r = parseCsvLine(line, kind, ctx)
      expect('error' in r ? typeof r.error : typeof r.trade_id).toBe('error' in r ? 'string' : 'number')
    }), { numRuns: 2_000 })
  })

  it('rejects a row with any one field replaced by garbage, and accepts it whole', () => {
    expect('error' in parseCsvLine(good, 'trades', ctx)).toBe(false)
    const garbage = fc.constantFrom('', 'x', '-1', 'NaN', '1e999', 'Infinity', '0x10', ' ', '1.2.3', '9007199254740993')
    fc.assert(fc.property(fc.integer({ min: 0, max: 4 }), garbage, (i, value) => {
      const f = good.split(',')
      f[i] = value
      const r = parseCsvLine(f.join(','), 'trades', ctx)
      if (!('error' in r)) expect(Number.isFinite(r.price) && Number.isFinite(r.qty) && Number.isSafeInteger(r.trade_id)).toBe(true)
    }), { numRuns: 500 })
  })

  // (a first line that is no trade is taken for a header and checked as one: a wrong file is refused whole, a tested rule elsewhere)
  it('streams every good row of a file salted with random bad lines, counting each bad one', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.oneof(fc.constant(null), fc.string({ maxLength: 60 })), { maxLength: 40 }).map((l) => [null, ...l]), async (lines) => {
      const rows = lines.map((l, i) => (l === null ? `${2000 + i},96000.5,0.001,96.0005,1735689600000000,False,True` : l.replace(/[\r\n]/g, '')))
      const bytes = new TextEncoder().encode(rows.join('\n') + '\n')
      let trades = 0
      let errors = 0
      for await (const b of csvTrades((async function* () { yield bytes })(), 'trades', ctx)) { trades += b.trades.length; errors += b.errors.length }
      expect(trades).toBeGreaterThanOrEqual(lines.filter((l) => l === null).length)
      expect(trades + errors).toBeLessThanOrEqual(rows.length)
    }), { numRuns: 200 })
  })
})
