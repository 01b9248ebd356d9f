import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { TIMEFRAMES, type Timeframe } from '../../market/index'
import { candleFileDt, goldCandleFileKey, partitionsOfKey } from '../../lake/layout/index'
import { QueryInputError, candlesQuery, dtBounds, featuresQuery, lastTradesQuery, latestQuery, maxSpanMs, rowJsonBytes, rowsToProve, statisticsQuery } from './index'

const DAY = 86_400_000
const D = Date.parse('2026-11-24T00:00:00Z')
const TFS = Object.keys(TIMEFRAMES) as Timeframe[]

/** The value bound to the placeholder that follows `term` in the statement's SQL. */
function bound(st: { sql: string; params: (string | number)[] }, term: string) {
  const at = st.sql.indexOf(term)
  if (at < 0) return undefined
  return st.params[st.sql.slice(0, at).split('?').length - 1]
}

describe('the dt bounds of the query SQL', () => {
  it('bounds a one-day candle query to that one day for hour and day files, and from the first day of the year for 1d', () => {
    for (const tf of ['1m', '5m', '15m', '1h', '4h'] as const) {
      const st = candlesQuery({ exchange: 'binance', symbol: 'BTC-USDT', tf, from: D, to: D + DAY })
      expect([bound(st, 'dt >= ?'), bound(st, 'dt <= ?')], tf).toEqual(['2026-11-24', '2026-11-24'])
    }
    const daily = candlesQuery({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1d', from: D, to: D + DAY })
    expect([bound(daily, 'dt >= ?'), bound(daily, 'dt <= ?')]).toEqual(['2026-01-01', '2026-01-01'])
  })

  it('binds the bounds as parameters, never in the text, and adds none without a time range', () => {
    const st = candlesQuery({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', from: D, to: D + DAY, limit: 5 })
    expect(st.sql).toContain('dt >= ? AND dt <= ?')
    expect(st.sql).not.toContain('2026')
    expect(candlesQuery({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', limit: 5 }).sql).not.toMatch(/\bdt\b/)
    const open = candlesQuery({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1h', to: D + 3_600_000 })
    expect([bound(open, 'dt >= ?'), bound(open, 'dt <= ?')]).toEqual([undefined, '2026-11-24'])
  })

  it('bounds a one-day feature query of either kind to that day, and selects the schema\'s columns, not the partitions', () => {
    for (const kind of ['trades', 'candles'] as const) {
      const st = featuresQuery({ kind, exchange: 'binance', symbol: 'BTC-USDT', from: D, to: D + DAY })
      expect([bound(st, 'dt >= ?'), bound(st, 'dt <= ?')], kind).toEqual(['2026-11-24', '2026-11-24'])
      expect(st.sql).not.toMatch(/SELECT \*/)
    }
  })

  it('bounds the statistics and the latest trade by the first day they look at, and the ingest-time query not at all', () => {
    expect(bound(statisticsQuery({ exchange: 'binance', symbol: 'BTC-USDT', from: D + 5 * 3_600_000 }), 'dt >= ?')).toBe('2026-11-24')
    expect(bound(latestQuery({ exchange: 'binance', symbol: 'BTC-USDT', now: D + 3_600_000, lookbackMs: 2 * 3_600_000 }), 'dt >= ?')).toBe('2026-11-23')
    // a trade ingested since `since` may be of any earlier day (a backfill, an import)
    expect(lastTradesQuery({ exchange: 'binance', symbol: 'BTC-USDT', since: D }).sql).not.toMatch(/\bdt\b/)
  })

  it('never leaves out the file of a candle in the range: every candle opening in [from, to) lies in a dt within the bounds', () => {
    const span = Date.parse('2030-01-01T00:00:00Z') - Date.parse('2017-01-01T00:00:00Z')
    fc.assert(fc.property(
      fc.constantFrom(...TFS), fc.integer({ min: 0, max: span }), fc.integer({ min: 1, max: 3 * 366 * DAY }),
      (tf, offset, length) => {
        const from = Date.parse('2017-01-01T00:00:00Z') + offset, to = from + length
        const { params: [lo, hi] } = dtBounds((ms) => candleFileDt(tf, ms), from, to)
        const ms = TIMEFRAMES[tf]
        // the first and the last candle opening in the range: the files in between have dts between theirs
        const first = Math.ceil(from / ms) * ms, last = Math.ceil(to / ms) * ms - ms
        if (first > last) return
        for (const t of [first, last]) {
          const dt = partitionsOfKey(goldCandleFileKey('binance', 'BTC-USDT', tf, t)).dt
          expect(dt >= lo && dt <= hi, `${tf} ${new Date(t).toISOString()} in ${lo}..${hi}`).toBe(true)
        }
      },
    ), { numRuns: 500 })
  })
})

describe('the bounds of a query range', () => {
  const q = { exchange: 'binance', symbol: 'BTC-USDT' }
  it('takes up to 100000 candles of the timeframe, a day of trade features and 100000 minutes of candle features, and refuses wider with a reason', () => {
    for (const tf of TFS) {
      const max = maxSpanMs({ tf })
      expect(max).toBe(100_000 * TIMEFRAMES[tf])
      expect(() => candlesQuery({ ...q, tf, from: 0, to: Math.min(max, Date.parse('2100-01-01')) })).not.toThrow()
      if (max < Date.parse('2100-01-01')) expect(() => candlesQuery({ ...q, tf, from: 0, to: max + 1 })).toThrow(/spans .* at most/)
    }
    expect(() => featuresQuery({ ...q, kind: 'trades', from: D, to: D + DAY })).not.toThrow()
    expect(() => featuresQuery({ ...q, kind: 'trades', from: 0, to: Date.parse('2100-01-01') })).toThrow(QueryInputError)
    expect(() => featuresQuery({ ...q, kind: 'trades', from: D, to: D + DAY + 1 })).toThrow(/kind=trades takes at most 1 days/)
    expect(() => featuresQuery({ ...q, kind: 'candles', from: D, to: D + 100_000 * 60_000 })).not.toThrow()
    expect(() => featuresQuery({ ...q, kind: 'candles', from: D, to: D + 100_000 * 60_000 + 1 })).toThrow(QueryInputError)
  })

  it('keeps the newest trade features newest within a lower bound when there is no from', () => {
    const st = featuresQuery({ ...q, kind: 'trades', since: D, limit: 10 })
    expect(bound(st, 'ts >= CAST(? AS TIMESTAMP)')).toBe('2026-11-24 00:00:00.000')
    expect(st.sql).toMatch(/ORDER BY ts DESC/)
  })
})

describe('the rows a query reads under an answer cap', () => {
  const q = { exchange: 'binance', symbol: 'BTC-USDT', from: D, to: D + DAY }
  const name = fc.stringMatching(/^[a-z_][a-z0-9_]{0,20}$/)
  const value = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.string(), fc.boolean(), fc.constant(null))

  it('counts no more bytes for a row than its JSON in an answer takes, whatever its values', () => {
    fc.assert(fc.property(fc.uniqueArray(name, { minLength: 1, maxLength: 100 }), fc.array(value, { minLength: 100, maxLength: 100 }), (names, values) => {
      const row = Object.fromEntries(names.map((n, i) => [n, values[i]]))
      expect(JSON.stringify([row, row]).length - JSON.stringify([row]).length).toBeGreaterThanOrEqual(rowJsonBytes(names))
    }))
  })

  it('reads just enough rows of a wide table to prove the answer over the cap, and the limit when it fits', () => {
    const wide = featuresQuery({ ...q, kind: 'trades', limit: 100_000, maxBytes: 8 * 1024 * 1024 })
    const cols = wide.sql.slice('SELECT '.length, wide.sql.indexOf(' FROM')).split(', ')
    const rows = wide.params.at(-1) as number
    expect(rows).toBeLessThan(10_000)
    expect((rows - 1) * rowJsonBytes(cols)).toBeLessThanOrEqual(8 * 1024 * 1024)
    expect(rows * rowJsonBytes(cols)).toBeGreaterThan(8 * 1024 * 1024)
    expect(featuresQuery({ ...q, kind: 'trades', limit: 100_000 }).params.at(-1)).toBe(100_000)
    expect(candlesQuery({ ...q, tf: '1m', limit: 500, maxBytes: 8 * 1024 * 1024 }).params.at(-1)).toBe(500)
    expect(rowsToProve(['a', 'b'], 100_000, 1_000)).toBe(72)
  })
})
