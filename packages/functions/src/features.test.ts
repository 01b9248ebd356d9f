import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { DuckDBInstance } from '@duckdb/node-api'
import { memoryStore, s3Event } from '@ticklake/local/store/index'
import { CANDLE_COLUMNS, QUOTE_COLUMNS, TRADE_COLUMNS, type Trade } from '@ticklake/core/market'
import { writeParquet } from '@ticklake/core/lake/parquet'
import { bronzeQuotesPrefix, goldCandleFeaturesKey, goldCandlesKey, goldTradeFeaturesKey, silverManifestKey, silverPartKey, silverTradesKey } from '@ticklake/core/lake/layout'
import { FEATURE_COLUMNS, CANDLE_FEATURE_COLUMNS, LOOKBACK, readFeatureTable, runFeatures, tradeFeatures, candleIndicators, type CandleSeries } from '@ticklake/core/lake/features'
import { sqsEvent } from '@ticklake/local/queue/index'
import { candlesOf, quotesFor, trades } from '../../core/test/synthetic'
import { createFeaturesHandler, featureHoursOf } from './features'

// runFeatures as it is, its calls counted (and made to fail for one hour where a test says so)
vi.mock('@ticklake/core/lake/features', async (original) => {
  const m = await original<typeof import('@ticklake/core/lake/features')>()
  return { ...m, runFeatures: vi.fn(m.runFeatures) }
})
const real = (await vi.importActual<typeof import('@ticklake/core/lake/features')>('@ticklake/core/lake/features')).runFeatures
beforeEach(() => { vi.mocked(runFeatures).mockReset(); vi.mocked(runFeatures).mockImplementation(real) })

const X = 'binance', S = 'BTC-USDT', DT = '2026-11-24'
const HOURS = ['10', '11', '12']
const t0 = Date.UTC(2026, 10, 24, 10)
const PER_HOUR = 1500
const tape = trades({ n: PER_HOUR * 3, start: t0, spanMs: 3 * 3_600_000, seed: 5 })
const hourOf = (t: Trade) => String(new Date(t.ts / 1000).getUTCHours()).padStart(2, '0')
const quotes = quotesFor(tape, 2)
const candles = candlesOf(tape, t0, t0 + 3 * 3_600_000)
const event = (key: string) => s3Event('ticklake-test', key, 1, '"x"')
const candleKey = (h: string) => goldCandlesKey(X, S, '1m', DT, h)

/** A lake holding silver trades, bronze quotes (two files an hour) and 1m gold candles for `hours`. */
async function lake(hours = HOURS) {
  const store = memoryStore()
  for (const h of hours) {
    await store.put(silverTradesKey(X, S, DT, h), writeParquet(TRADE_COLUMNS, tape.filter((t) => hourOf(t) === h)))
    const q = quotes.filter((x) => String(new Date(x.ts / 1000).getUTCHours()).padStart(2, '0') === h)
    await store.put(`${bronzeQuotesPrefix(X, S, DT, h)}a.parquet`, writeParquet(QUOTE_COLUMNS, q.slice(0, 300), { nullable: true }))
    await store.put(`${bronzeQuotesPrefix(X, S, DT, h)}b.parquet`, writeParquet(QUOTE_COLUMNS, q.slice(300), { nullable: true }))
    await store.put(candleKey(h), writeParquet(CANDLE_COLUMNS, candles.filter((c) => String(new Date(c.open_time).getUTCHours()).padStart(2, '0') === h)))
  }
  return store
}

const TRADE_READ = Object.fromEntries(FEATURE_COLUMNS.map((c) => [c.name, c.type === 'STRING' ? 'string' : 'number'])) as Record<string, 'number' | 'string'>
const near = (a: number, b: number) => (Number.isNaN(a) && Number.isNaN(b)) || Math.abs(a - b) <= Math.max(1e-9 * Math.abs(b), 1e-12)

describe('features function', () => {
  it('reads hours from 1m candle and silver keys, and ignores other timeframes', () => {
    const ev = { Records: [...event(candleKey('10')).Records, ...event(goldCandlesKey(X, S, '5m', DT, '11')).Records, ...event(silverTradesKey(X, S, DT, '12')).Records, ...event(candleKey('10')).Records] }
    expect(featureHoursOf(ev as any).map((h) => h.hour)).toEqual(['10', '12'])
  })

  it('reads hours from the silver manifest the silver job commits and from a silver part\'s key', () => {
    const ev = { Records: [...event(silverManifestKey(X, S, DT, '11')).Records, ...event(silverPartKey(X, S, DT, '12', '0a1b2c3d-000004-9f8e7d6c')).Records] }
    expect(featureHoursOf(ev as any)).toEqual([{ exchange: X, symbol: S, dt: DT, hour: '11' }, { exchange: X, symbol: S, dt: DT, hour: '12' }])
  })

  it('writes each hour its event names, equal to one pass over the whole tape, lookback and targets crossing hour files', async () => {
    const store = await lake()
    const handler = createFeaturesHandler({ store })
    for (const h of HOURS) await handler(event(candleKey(h)))
    const got: Record<string, number[]> = {}
    let rows = 0
    for (const h of HOURS) {
      const c = await readFeatureTable((await store.get(goldTradeFeaturesKey(X, S, DT, h)))!, TRADE_READ)
      rows += c.rows
      for (const col of FEATURE_COLUMNS) if (col.type !== 'STRING') (got[col.name] ??= []).push(...c[col.name])
    }
    expect(rows).toBe(tape.length - LOOKBACK)
    const series = { length: tape.length, tradeId: Float64Array.from(tape, (t) => t.trade_id), ts: Float64Array.from(tape, (t) => t.ts), price: Float64Array.from(tape, (t) => t.price), qty: Float64Array.from(tape, (t) => t.qty), buy: Uint8Array.from(tape, (t) => +(t.side === 'buy')) }
    const qs = { length: quotes.length, ts: Float64Array.from(quotes, (q) => q.ts), bid: Float64Array.from(quotes, (q) => q.bid), ask: Float64Array.from(quotes, (q) => q.ask), bidQty: Float64Array.from(quotes, (q) => q.bid_qty), askQty: Float64Array.from(quotes, (q) => q.ask_qty) }
    const want = tradeFeatures(series, 0, tape.length, { exchange: X, symbol: S, quotes: qs })
    const wrong: string[] = []
    for (const col of FEATURE_COLUMNS) if (col.type !== 'STRING') {
      const w = want.table[col.name] as Float64Array
      for (let i = 0; i < rows; i++) if (!near(got[col.name][i], w[i])) wrong.push(`${col.name}[${i}]: ${got[col.name][i]} vs ${w[i]}`)
    }
    expect(wrong.slice(0, 5)).toEqual([])
    expect(got.target_return_50.filter(Number.isNaN).length).toBe(50) // only the newest rows of the lake wait for targets

    const cs = (n: number): CandleSeries => ({ length: n, openTime: Float64Array.from(candles, (c) => c.open_time), high: Float64Array.from(candles, (c) => c.high), low: Float64Array.from(candles, (c) => c.low), close: Float64Array.from(candles, (c) => c.close), volume: Float64Array.from(candles, (c) => c.volume), quoteVolume: Float64Array.from(candles, (c) => c.quote_volume), final: new Float64Array(n).fill(1) })
    const ind = candleIndicators(cs(candles.length), 0, { exchange: X, symbol: S })
    const c12 = await readFeatureTable((await store.get(goldCandleFeaturesKey(X, S, DT, '12')))!, Object.fromEntries(CANDLE_FEATURE_COLUMNS.map((c) => [c.name, c.type === 'STRING' ? 'string' : 'number'])) as any)
    expect(c12.rows).toBe(60)
    for (const col of ['sma_50', 'ema_26', 'rsi_14', 'macd_signal', 'bb_upper', 'atr_14', 'vwap_day', 'vwap_day_typical']) {
      for (let i = 0; i < 60; i++) expect(near(c12[col][i], (ind.table[col] as Float64Array)[120 + i]), `${col}[${i}]`).toBe(true)
    }
  })

  it('leaves the newest targets null until the next hour arrives, then fills them in the previous hour', async () => {
    const store = await lake(['10', '11'])
    const handler = createFeaturesHandler({ store })
    const [first] = await handler(event(candleKey('11')))
    expect(first.pendingTargets).toBe(50)
    const more = await lake(['12'])
    for (const k of more.keys()) await store.put(k, (await more.get(k))!)
    const [next] = await handler(event(candleKey('12')))
    expect(next.refreshed).toEqual([`${DT}/11`])
    const h11 = await readFeatureTable((await store.get(goldTradeFeaturesKey(X, S, DT, '11')))!, { target_return_50: 'number', target_return_10: 'number' })
    expect(h11.target_return_50.some(Number.isNaN)).toBe(false)
    expect((await handler(event(candleKey('12'))))[0].refreshed).toEqual([]) // nothing new for hour 11
  })

  it('refreshes once each neighbour that read this hour when a late trade changes it', async () => {
    const store = await lake()
    const handler = createFeaturesHandler({ store })
    for (const h of HOURS) await handler(event(candleKey(h)))
    const before = await store.get(goldTradeFeaturesKey(X, S, DT, '12'))
    const late = tape.filter((t) => hourOf(t) === '11').map((t, i, all) => (i === all.length - 1 ? { ...t, price: t.price * 1.01 } : t))
    await store.put(silverTradesKey(X, S, DT, '11'), writeParquet(TRADE_COLUMNS, late))
    const [r] = await handler(event(candleKey('11')))
    expect(r.refreshed).toEqual([`${DT}/10`, `${DT}/12`]) // 10 took its last targets from 11, 12 its lookback
    const after = await store.get(goldTradeFeaturesKey(X, S, DT, '12'))
    expect(Buffer.from(after!).equals(Buffer.from(before!))).toBe(false)
    const c = await readFeatureTable(after!, { return_500: 'number', price: 'number' })
    expect(c.return_500[0]).toBeCloseTo(Math.log(c.price[0] / late[late.length - LOOKBACK].price), 12)
  })

  it('ends at the same files whatever the order, duplication and concurrency of events', async () => {
    const a = await lake()
    const ha = createFeaturesHandler({ store: a })
    for (const h of HOURS) await ha(event(candleKey(h)))
    const b = await lake()
    const hb = createFeaturesHandler({ store: b })
    await Promise.all(['12', '10', '11', '12', '10', '11', '12'].map((h) => hb(event(candleKey(h)))))
    const gold = a.keys().filter((k) => k.startsWith('gold/features/'))
    expect(gold).toHaveLength(6)
    expect(b.keys().filter((k) => k.startsWith('gold/features/'))).toEqual(gold)
    for (const k of gold) expect(Buffer.from((await b.get(k))!).equals(Buffer.from((await a.get(k))!)), k).toBe(true)
  })

  it('skips an unreadable quote file with its reason, and still writes the hour', async () => {
    const store = await lake(['10', '11'])
    await store.put(`${bronzeQuotesPrefix(X, S, DT, '11')}c.parquet`, 'PAR1 not really')
    const lines: string[] = []
    const [r] = await createFeaturesHandler({ store, log: (l) => lines.push(l) })(event(candleKey('11')))
    expect(r.rows).toBe(PER_HOUR)
    expect(r.warnings).toHaveLength(1)
    expect(lines[0]).toMatch(/hour=11\/c\.parquet: unreadable quote file skipped/)
    const c = await readFeatureTable((await store.get(goldTradeFeaturesKey(X, S, DT, '11')))!, { bid: 'number' })
    expect(c.bid.some(Number.isNaN)).toBe(false)
  })

  it('writes files DuckDB reads, with every schema column and null targets as SQL nulls', async () => {
    const store = await lake(['10', '11'])
    await createFeaturesHandler({ store })(event(candleKey('11')))
    const dir = mkdtempSync(join(tmpdir(), 'ticklake-features-'))
    try {
      writeFileSync(join(dir, 't.parquet'), (await store.get(goldTradeFeaturesKey(X, S, DT, '11')))!)
      writeFileSync(join(dir, 'c.parquet'), (await store.get(goldCandleFeaturesKey(X, S, DT, '11')))!)
      const duck = await (await DuckDBInstance.create(':memory:')).connect()
      const cols = (await (await duck.run(`describe select * from '${join(dir, 't.parquet')}'`)).getRowObjects()).map((r) => r.column_name)
      expect(cols).toEqual(FEATURE_COLUMNS.map((c) => c.name))
      const [row] = await (await duck.run(`select count(*)::int n, count(target_return_50)::int t, min(ts)::varchar first_ts, count(bid)::int q from '${join(dir, 't.parquet')}'`)).getRowObjects()
      expect(row).toMatchObject({ n: PER_HOUR, t: PER_HOUR - 50, q: PER_HOUR })
      expect(String(row.first_ts)).toMatch(/^2026-11-24 11:/)
      const [c] = await (await duck.run(`select count(*)::int n, count(rsi_14)::int r from '${join(dir, 'c.parquet')}'`)).getRowObjects()
      expect(c).toEqual({ n: 60, r: 60 })
      duck.closeSync()
    } finally { rmSync(dir, { recursive: true, force: true }) }
  })

  describe('behind its queue', () => {
    const body = (key: string) => JSON.stringify(event(key))
    const testEvent = JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent', Time: '2026-11-24T10:00:00.000Z', Bucket: 'ticklake-test', RequestId: '5582815E1AEA5ADF', HostId: '8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE' })
    const ranHours = () => vi.mocked(runFeatures).mock.calls.map(([a]) => a.hour)

    it('runs each hour once for a batch, however many of its messages name it', async () => {
      const store = await lake(['10', '11'])
      const bodies = Array.from({ length: 500 }, (_, i) => body(i % 2 ? candleKey(i % 4 === 1 ? '10' : '11') : silverManifestKey(X, S, DT, i % 4 === 0 ? '10' : '11')))
      expect(await createFeaturesHandler({ store })(sqsEvent(bodies))).toEqual({ batchItemFailures: [] })
      expect(ranHours()).toEqual(['10', '11'])
      for (const h of ['10', '11']) expect(await store.get(goldTradeFeaturesKey(X, S, DT, h)), h).toBeDefined()
    })

    it('skips the s3:TestEvent S3 sends when the queue notification is set up', async () => {
      const store = await lake(['10'])
      const lines: string[] = []
      expect(await createFeaturesHandler({ store, log: (l) => lines.push(l) })(sqsEvent([testEvent, body(candleKey('10'))]))).toEqual({ batchItemFailures: [] })
      expect(ranHours()).toEqual(['10'])
      expect(lines).toEqual([])
    })

    it('logs a message that holds no S3 event, with why, and runs the hours of the others', async () => {
      const store = await lake(['10'])
      const lines: string[] = []
      const batch = sqsEvent(['{"Records": [', JSON.stringify({ hello: 'queue' }), body(candleKey('10'))])
      expect(await createFeaturesHandler({ store, log: (l) => lines.push(l) })(batch)).toEqual({ batchItemFailures: [] })
      expect(ranHours()).toEqual(['10'])
      expect(lines).toEqual([
        expect.stringMatching(new RegExp(`^features: message ${batch.Records[0].messageId} skipped, not JSON`)),
        expect.stringMatching(new RegExp(`^features: message ${batch.Records[1].messageId} skipped, not an S3 event notification.*hello`)),
      ])
    })

    it('returns the messages of an hour whose run failed, and only those, for another receive', async () => {
      const store = await lake(['10', '11'])
      vi.mocked(runFeatures).mockImplementation(async (a) => { if (a.hour === '11') throw new Error('the disk is full'); return real(a) })
      const lines: string[] = []
      const batch = sqsEvent([body(candleKey('10')), body(candleKey('11')), body(silverManifestKey(X, S, DT, '11')), body(silverManifestKey(X, S, DT, '10'))])
      const answer = await createFeaturesHandler({ store, log: (l) => lines.push(l) })(batch)
      expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: batch.Records[1].messageId }, { itemIdentifier: batch.Records[2].messageId }] })
      expect(ranHours()).toEqual(['10', '11'])
      expect(await store.get(goldTradeFeaturesKey(X, S, DT, '10'))).toBeDefined()
      expect(lines).toEqual([expect.stringMatching(/features binance\/BTC-USDT\/2026-11-24\/11 failed, its 2 message\(s\) to be received again: the disk is full/)])
    })
  })
})
