import { describe, expect, it } from 'vitest'
import type { RestKline } from '../../sources/binance/index'
import { compareCandles, diffCandle, fetchKlines, formatReport, lakeCandleOf, sameDecimal, verifyCandles, type LakeCandle } from './index'

const T0 = Date.parse('2026-11-24T15:00:00Z')
const M = 60_000

const kline = (i: number, over: Partial<RestKline> = {}): RestKline => ({
  open_time: T0 + i * M, close_time: T0 + i * M + M - 1, open: '60000.01000000', high: '60010.00000000', low: '59990.50000000', close: '60005.00000000',
  volume: '0.30000000', quote_volume: '18001.50300000', trades: 12, taker_buy_volume: '0.10000000', taker_buy_quote_volume: '6000.50100000', ...over,
})
/** The lake's candle for the same kline, with the float noise a running sum leaves. */
const lake = (i: number, over: Partial<LakeCandle> = {}): LakeCandle => ({
  open_time: T0 + i * M, open: 60000.01, high: 60010, low: 59990.5, close: 60005, volume: 0.1 + 0.2, quote_volume: 6000.501 + 12001.0020000000001,
  trades: 12, taker_buy_volume: 0.1, taker_buy_quote_volume: 6000.501, final: true, ...over,
})

describe('verify: lake candles against exchange klines', () => {
  it('takes a double as equal to a decimal when it shows that decimal at 8 places, and not when one unit of the 8th place apart', () => {
    expect(sameDecimal(0.1 + 0.2, '0.30000000')).toBe(true)
    expect(sameDecimal(60000.01, '60000.01000000')).toBe(true)
    expect(sameDecimal(0.30000001, '0.30000000')).toBe(false)
    expect(sameDecimal(60000.01, '60000.02000000')).toBe(false)
    expect(sameDecimal(123456789.12345678, '123456789.12345678')).toBe(true)
    expect(sameDecimal(123456789.12345678 + 1e-7, '123456789.12345678')).toBe(false) // past what a double of this size can tell apart (ulp 1.5e-8)
    expect(sameDecimal(Number.NaN, '0')).toBe(false)
  })

  it('reports nothing when every field agrees, float noise included', () => {
    expect(diffCandle(lake(0), kline(0))).toEqual([])
    const r = compareCandles({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', from: T0, to: T0 + 3 * M, klines: [0, 1, 2].map((i) => kline(i)), lake: [0, 1, 2].map((i) => lake(i)) })
    expect(r).toMatchObject({ compared: 3, matched: 3, differing: [], missingInLake: [], missingAtExchange: [], ok: true })
    expect(formatReport(r)).toEqual([`OK: binance BTC-USDT 1m 2026-11-24T15:00:00.000Z .. 2026-11-24T15:03:00.000Z: 3 candles compared, 3 match, 0 differ (0 fields), 0 missing in the lake, 0 missing at the exchange`])
  })

  it('names each differing field of each candle, and the candles missing on either side', () => {
    const klines = [kline(0), kline(1, { high: '60010.01000000', trades: 13 }), kline(2), kline(4, { quote_volume: '18001.50400000' })]
    const lakes = [lake(0), lake(1), lake(3), lake(4)]
    const r = compareCandles({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', from: T0, to: T0 + 5 * M, klines, lake: lakes })
    expect(r.ok).toBe(false)
    expect(r.differing).toEqual([
      { open_time: T0 + M, final: true, fields: [{ field: 'high', lake: 60010, exchange: '60010.01000000' }, { field: 'trades', lake: 12, exchange: '13' }] },
      { open_time: T0 + 4 * M, final: true, fields: [{ field: 'quote_volume', lake: lakes[3].quote_volume, exchange: '18001.50400000' }] },
    ])
    expect(r.missingInLake.map((k) => k.open_time)).toEqual([T0 + 2 * M])
    expect(r.missingAtExchange.map((c) => c.open_time)).toEqual([T0 + 3 * M])
    expect(formatReport(r)).toEqual([
      '2026-11-24T15:01:00.000Z  high  lake 60010.00000000  exchange 60010.01000000',
      '2026-11-24T15:01:00.000Z  trades  lake 12  exchange 13',
      '2026-11-24T15:02:00.000Z  missing in the lake  (exchange: 12 trades, volume 0.30000000)',
      '2026-11-24T15:03:00.000Z  missing at the exchange  (lake: 12 trades, volume 0.30000000)',
      '2026-11-24T15:04:00.000Z  quote_volume  lake 18001.50300000  exchange 18001.50400000',
      'DIFFERENT: binance BTC-USDT 1m 2026-11-24T15:00:00.000Z .. 2026-11-24T15:05:00.000Z: 3 candles compared, 1 match, 2 differ (3 fields), 1 missing in the lake, 1 missing at the exchange',
    ])
  })

  it('compares only open times in [from, to), each kline once', () => {
    const r = compareCandles({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', from: T0 + M, to: T0 + 2 * M, klines: [kline(0), kline(1), kline(1), kline(2)], lake: [lake(0, { open: 1 }), lake(1), lake(2)] })
    expect(r).toMatchObject({ compared: 1, matched: 1, ok: true })
  })

  it('reads lake rows as engines return them: ISO or Athena time strings, numeric strings', () => {
    const row = { open_time: '2026-11-24T15:01:00.000Z', open: '1.5', high: 2, low: 1, close: 2, volume: 3, quote_volume: 4, trades: '7', taker_buy_volume: 1, taker_buy_quote_volume: 2, final: false }
    expect(lakeCandleOf(row)).toEqual({ open_time: T0 + M, open: 1.5, high: 2, low: 1, close: 2, volume: 3, quote_volume: 4, trades: 7, taker_buy_volume: 1, taker_buy_quote_volume: 2, final: false })
    expect(lakeCandleOf({ ...row, open_time: '2026-11-24 15:01:00.000' }).open_time).toBe(T0 + M)
  })

  it('pages klines by startTime with limit 1000 and waits out a short 429', async () => {
    const urls: string[] = []
    let throttled = false
    const rows = (start: number, n: number) => Array.from({ length: n }, (_, i) => { const t = start + i * M; return [t, '1.00000000', '1.00000000', '1.00000000', '1.00000000', '0.00000000', t + M - 1, '0.00000000', 0, '0.00000000', '0.00000000', '0'] })
    const fetchImpl = (async (url: string) => {
      urls.push(url)
      const q = new URL(url).searchParams
      if (urls.length === 2 && !throttled) { throttled = true; return new Response('{"code":-1003,"msg":"Too much request weight used"}', { status: 429, headers: { 'retry-after': '0.01' } }) }
      const start = Math.ceil(Number(q.get('startTime')) / M) * M // the first open time at or after startTime, as Binance answers
      const end = Number(q.get('endTime'))
      return Response.json(rows(start, Math.min(1000, Math.floor((end - start) / M) + 1)))
    }) as unknown as typeof fetch
    const sleeps: number[] = []
    const got = await fetchKlines('http://fake-klines/api/v3', 'BTC-USDT', '1m', T0, T0 + 2500 * M, fetchImpl, async (ms) => { sleeps.push(ms); await new Promise((r) => setTimeout(r, ms)) })
    expect(got.map((k) => k.open_time)).toEqual(Array.from({ length: 2500 }, (_, i) => T0 + i * M))
    expect(sleeps).toHaveLength(1)
    expect(urls.map((u) => new URL(u).searchParams.get('startTime'))).toEqual([T0, T0 + 999 * M + 1, T0 + 999 * M + 1, T0 + 1999 * M + 1].map(String))
    expect(new URL(urls[0]).searchParams.get('limit')).toBe('1000')
    expect(new URL(urls[0]).searchParams.get('symbol')).toBe('BTCUSDT')
  })

  it('fails with the reason when the exchange answers a malformed kline', async () => {
    const bad = (row: unknown[]) => (async () => Response.json([row])) as unknown as typeof fetch
    const ok = [T0, '1.0', '1.0', '1.0', '1.0', '0.0', T0 + M - 1, '0.0', 0, '0.0', '0.0', '0']
    await expect(fetchKlines('http://bad-1/api/v3', 'BTC-USDT', '1m', T0, T0 + M, bad(ok))).resolves.toHaveLength(1)
    await expect(fetchKlines('http://bad-2/api/v3', 'BTC-USDT', '1m', T0, T0 + M, bad([T0, 1.5, ...ok.slice(2)]))).rejects.toThrow(/bad kline from http:\/\/bad-2\/api\/v3: kline field o is not a decimal string/)
    await expect(fetchKlines('http://bad-3/api/v3', 'BTC-USDT', '1m', T0, T0 + M, bad([T0, '1.0']))).rejects.toThrow(/kline is not an array of at least 11 fields/)
    await expect(fetchKlines('http://bad-4/api/v3', 'BTC-USDT', '1m', T0, T0 + M, bad(ok.map((v, i) => (i === 8 ? -1 : v))))).rejects.toThrow(/trade count is not a non-negative integer/)
  })

  it('refuses input it cannot verify with a message that says why', async () => {
    const engine = { query: async () => [] }
    await expect(verifyCandles({ exchange: 'coinbase', symbol: 'BTC-USD', tf: '1m', from: T0, to: T0 + M, engine })).rejects.toThrow(/verify knows the klines of binance, binance-us, binance-futures/)
    await expect(verifyCandles({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', from: T0, to: T0, engine })).rejects.toThrow(/from before to/)
    await expect(verifyCandles({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', from: T0, to: T0 + 200_000 * M, engine })).rejects.toThrow(/at most 100000 candles/)
  })
})
