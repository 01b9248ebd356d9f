/**
 * Random records across the whole range Ticklake takes (TRADE_LIMITS: prices 1e-8..1e12,
 * quantities 1e-8..1e15, up to 8 decimals), and some it refuses, sent through the real door
 * (`POST /api/ingest`, by a key bound to the exchange), written as the bronze objects Firehose makes of them,
 * and run through the real candle and silver handlers on S3 events: the candles must equal a
 * direct BigInt computation from the decimal strings, and silver must hold every accepted trade.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { createApi, newApiKey, jsonKeyStore } from '@ticklake/core/serve/api'
import { bronzeTradesPrefix, candleStateKey, goldCandleFileKey } from '@ticklake/core/lake/layout'
import { readSilverHour, rowsOf } from '@ticklake/core/lake/silver'
import { readParquet } from '@ticklake/core/lake/parquet'
import { TRADE_LIMITS, type Candle, type Trade } from '@ticklake/core/market'
import { createCandlesHandler } from '@ticklake/functions/candles'
import { createSilverHandler } from '@ticklake/functions/silver'
import { memoryStore, s3Event } from '../store/index'
import { bronzeTradesFile } from './convert'

const T0 = Date.parse('2026-11-24T15:00:00Z')
const NOW = T0 + 2 * 3_600_000
const EX = 'myfeed', SYM = 'BIG-QUOTE'

/** `m / 10^d` written out. */
const decimal = (m: bigint, d: number) => { const s = m.toString().padStart(d + 1, '0'); return d ? `${s.slice(0, -d)}.${s.slice(-d)}` : s }
/** A decimal string as an integer at 10^-8. */
const at8 = (s: string) => { const [i, f = ''] = s.split('.'); return BigInt(i + f.padEnd(8, '0')) }
const HALF = 5n * 10n ** 7n, E8 = 10n ** 8n

/** Decimal strings of up to 15 significant digits (a double holds each exactly) and up to 8 decimals, in [1e-8, max]. */
const value = (max: number) => fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 1, max: 15 })).chain(([d, digits]) => fc.bigInt({ min: 1n, max: 10n ** BigInt(digits) - 1n }).map((m) => decimal(m, d))),
  fc.constantFrom('99999999.12345678', '0.00000001', String(max)),
).filter((s) => at8(s) <= BigInt(max) * E8)

interface Gen { sec: number; price: string; qty: string; buy: boolean; n: number; again: boolean }
const gen: fc.Arbitrary<Gen> = fc.record({
  sec: fc.integer({ min: 0, max: 3599 }), price: value(TRADE_LIMITS.maxPrice), qty: value(TRADE_LIMITS.maxQty),
  buy: fc.boolean(), n: fc.integer({ min: 1, max: 3 }), again: fc.boolean(),
}).filter((g) => at8(g.price) * at8(g.qty) <= BigInt(TRADE_LIMITS.maxNotional) * E8 * E8 / 2n) // (well inside: the door compares doubles)

/** What no door takes: beyond a limit, not finite, or rounding to 0. */
const refused = fc.constantFrom<[unknown, unknown]>([1e308, 1], [1e12 * 1.5, 1], [1, 2e15], [1e10, 1e9], [NaN, 1], [1, Infinity], [0, 1], [1, 4e-9], [-5, 1])

/** The direct computation of one candle from the decimal strings of its trades (in id order). */
function direct(ts: (Gen & { id: number })[]) {
  let v = 0n, q = 0n, bv = 0n, bq = 0n, trades = 0
  for (const t of ts) {
    const Q = at8(t.qty), PQ = at8(t.price) * Q
    v += Q; q += PQ; trades += t.n
    if (t.buy) { bv += Q; bq += PQ }
  }
  const prices = ts.map((t) => Number(t.price))
  return {
    open: prices[0], high: Math.max(...prices), low: Math.min(...prices), close: prices.at(-1)!, trades,
    volume: Number(decimal(v, 8)), quote_volume: Number(decimal((q + HALF) / E8, 8)), taker_buy_volume: Number(decimal(bv, 8)), taker_buy_quote_volume: Number(decimal((bq + HALF) / E8, 8)),
  }
}
const fields = (c: Candle) => ({ open: c.open, high: c.high, low: c.low, close: c.close, trades: c.trades, volume: c.volume, quote_volume: c.quote_volume, taker_buy_volume: c.taker_buy_volume, taker_buy_quote_volume: c.taker_buy_quote_volume })

describe('records of every size Ticklake takes, from the ingest door to candles and silver', () => {
  it('give candles equal to a direct BigInt computation and a silver hour of every accepted trade, also beside records the door refuses', async () => {
    const made = newApiKey('big-feed', [EX])
    await fc.assert(fc.asyncProperty(fc.array(gen, { minLength: 1, maxLength: 40 }), fc.array(refused, { maxLength: 3 }), fc.nat(), async (gens, bad, cut) => {
      // in trade-id order, as an exchange numbers them; each a range of n individual trades
      gens.sort((a, b) => a.sec - b.sec)
      let id = 5_000
      const good = gens.map((g) => { const t = { ...g, id }; id += g.n; return t })
      const body = (t: { id: number; n: number; sec: number; buy: boolean }, price: unknown, qty: unknown) => ({ exchange: EX, symbol: SYM, trade_id: t.id, first_trade_id: t.id, last_trade_id: t.id + t.n - 1, ts: (T0 + t.sec * 1000) * 1000 + (t.id % 1000), price, qty, side: t.buy ? 'buy' : 'sell' })
      const records = [...good.map((t) => body(t, Number(t.price), Number(t.qty))), ...bad.map(([p, q], i) => body({ id: 90_000 + i, n: 1, sec: 10, buy: true }, p, q))]
      // the door
      const sent: Trade[] = []
      const stream = { putRecords: async (r: object[]) => { sent.push(...(r as Trade[])); return { failed: [] } } }
      const api = createApi({ engine: {} as any, store: memoryStore(), stream: stream as any, keys: jsonKeyStore(JSON.stringify([made.record])), clock: { now: () => NOW }, rate: { perSecond: 1e6, burst: 1e6 } })
      const res = await api.handle({ method: 'POST', path: '/api/ingest', headers: { 'x-api-key': made.key }, body: JSON.stringify(records) })
      expect(res.status).toBe(200)
      const { accepted, rejected } = JSON.parse(res.body)
      expect(accepted).toBe(good.length)
      expect(rejected.map((r: { index: number }) => r.index)).toEqual(bad.map((_, i) => good.length + i))
      // two Firehose buffers (the second resending a few of the first: at-least-once), each an S3 event to the candle handler, its state to silver's
      const store = memoryStore()
      const k = 1 + (cut % sent.length)
      const buffers = [sent.slice(0, k), [...sent.slice(k), ...gens.flatMap((g, i) => (g.again && i < k ? [sent[i]] : []))]].filter((b) => b.length)
      const candles = createCandlesHandler({ store, now: () => NOW }), silver = createSilverHandler({ store })
      for (const [i, buf] of buffers.entries()) {
        const key = `${bronzeTradesPrefix(EX, SYM, '2026-11-24', '15')}fh-${i}.parquet`
        const bytes = bronzeTradesFile(buf)
        const { etag } = await store.put(key, bytes)
        await candles(s3Event('b', key, bytes.length, etag))
        await silver(s3Event('b', candleStateKey(EX, SYM, '2026-11-24', '15'), 1, '"s"'))
      }
      // candles: every traded minute, and the hour, against the direct computation
      const gold = async (tf: '1m' | '1h') => (await readParquet<Candle>((await store.get(goldCandleFileKey(EX, SYM, tf, T0)))!)).filter((c) => Number(c.trades) > 0)
      const byMinute = new Map<number, (Gen & { id: number })[]>()
      for (const t of good) { const m = T0 + Math.floor(t.sec / 60) * 60_000; byMinute.set(m, [...(byMinute.get(m) ?? []), t]) }
      const minutes = await gold('1m')
      expect(minutes.map((c) => Number(c.open_time))).toEqual([...byMinute.keys()])
      for (const c of minutes) expect(fields(c)).toEqual(direct(byMinute.get(Number(c.open_time))!))
      expect((await gold('1h')).map(fields)).toEqual([direct(good)])
      // silver: every accepted trade once, with the door's values
      const rows = rowsOf((await readSilverHour(store, EX, SYM, '2026-11-24', '15'))!.table)
      expect(rows.map((r) => [Number(r.first_trade_id), r.price, r.qty])).toEqual(good.map((t) => [t.id, Number(t.price), Number(t.qty)]))
    }), { numRuns: 40 })
  }, 120_000)
})
