import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { S3Event } from 'aws-lambda'
import { DuckDBInstance } from '@duckdb/node-api'
import { firehoseStream } from '@ticklake/core/aws/firehose'
import { PARQUET_SERDE } from '@ticklake/core/aws/glue'
import { writeCheckpoint } from '@ticklake/core/sources/checkpoint'
import { goldCandleFileKey, servingKey, type ServingWindow } from '@ticklake/core/lake/layout'
import { readSilverHour, rowsOf } from '@ticklake/core/lake/silver'
import { readParquet, writeParquet } from '@ticklake/core/lake/parquet'
import { PRICE_COLUMNS, type PriceSnapshot } from '@ticklake/core/sources/coingecko'
import { DIM_SYMBOL_COLUMNS, type DimSymbol } from '@ticklake/core/sources/symbols'
import { createFeaturesHandler } from '@ticklake/functions/features'
import { parquetMetadata } from 'hyparquet'
import { rowsAllReadersAgreeOn } from '../../test/readers'
import { rng } from '../../../core/test/synthetic'
import { TRADE_COLUMNS, type Candle, type Trade } from '@ticklake/core/market'
import { createCandlesHandler } from '@ticklake/functions/candles'
import { createSilverHandler } from '@ticklake/functions/silver'
import { fileStore } from '../store/index'
import { startFirehose } from './index'

const dirs: string[] = []
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

const T0 = Date.parse('2026-11-24T22:00:00Z')
const HOURS = 3

/** Trades over three hours (across a day's end) with prices of 2 and quantities of up to 8 decimals, aggTrade id ranges, both sides. */
function tape(): Trade[] {
  const r = rng(7)
  const out: Trade[] = []
  let ts = T0 * 1000 + 250_000, id = 8_000_000_000, price = 97_000
  while (ts < (T0 + HOURS * 3_600_000) * 1000) {
    price = Math.round((price + (r() - 0.5) * 20) * 100) / 100
    const n = 1 + Math.floor(r() * 3)
    out.push({
      exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: out.length + 1, first_trade_id: id, last_trade_id: id + n - 1, ts, price,
      qty: Math.round(r() * 2e8) / 1e8 + 1e-8, side: r() < 0.5 ? 'buy' : 'sell', trades: n, ingest_ts: ts + 30_000, source: 'ws',
    })
    id += n
    // a quiet stretch of several minutes in the second hour: flat candles there, as Binance has them
    ts += out.length === 700 ? 420_000_000 : Math.floor(1_000 + r() * 5_000_000)
  }
  return out
}

describe('the AWS lake path on Firehose-shaped objects', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ticklake-aws-path-')); dirs.push(dir)
  const store = fileStore(join(dir, 'lake'))
  const trades = tape()
  const bronzeEvents: S3Event[] = [], stateEvents: S3Event[] = [], featureEvents: S3Event[] = []

  beforeAll(async () => {
    store.notify({ prefix: 'bronze/trades/', suffix: '.parquet', handler: (e) => bronzeEvents.push(e) })
    store.notify({ prefix: 'state/candles/', suffix: '.json', handler: (e) => stateEvents.push(e) })
    store.notify({ prefix: 'state/silver/', suffix: '.json', handler: (e) => featureEvents.push(e) })
    // small blocks, so that objects hold several row groups as large buffers do in AWS
    const fh = await startFirehose(store, { bufferMs: 3_600_000, serde: { ...PARQUET_SERDE, blockSizeBytes: 20_000, pageSizeBytes: 4_096 } })
    const stream = firehoseStream(fh.streamName, fh.endpoint)
    // six buffers, the third sent twice (at-least-once delivery)
    const sixth = Math.ceil(trades.length / 6)
    for (let b = 0; b < 6; b++) {
      const batch = trades.slice(b * sixth, (b + 1) * sixth)
      for (let i = 0; i < batch.length; i += 500) expect(await stream.putRecords(batch.slice(i, i + 500))).toEqual({ failed: [] })
      if (b === 2) for (let i = 0; i < batch.length; i += 500) await stream.putRecords(batch.slice(i, i + 500))
      await fh.flush()
    }
    await fh.close()
    const last = trades.at(-1)!
    await writeCheckpoint(store, { exchange: 'binance', symbol: 'BTC-USDT', last_trade_id: last.trade_id, ts: last.ts + 3_600_000_000, updated_at: 0 })
    await new Promise((r) => setTimeout(r, 20))
    // the real handlers, on the S3 events the bucket sent, in the order it sent them (as stacks/pipeline.ts chains them)
    const candles = createCandlesHandler({ store, now: () => T0 + (HOURS + 2) * 3_600_000 })
    for (const e of bronzeEvents) await candles(e)
    await new Promise((r) => setTimeout(r, 20))
    const silver = createSilverHandler({ store })
    for (const e of stateEvents) await silver(e)
    await new Promise((r) => setTimeout(r, 20))
    const features = createFeaturesHandler({ store })
    for (const e of featureEvents) await features(e)
  })

  it('turns Firehose\'s bronze objects, through the real candle and silver handlers on S3 events, into the gold, serving and silver a direct computation gives', async () => {
    const keys = bronzeEvents.map((e) => decodeURIComponent(e.Records[0].s3.object.key))
    expect(keys.length).toBeGreaterThanOrEqual(HOURS * 2)
    for (const k of keys) expect(k).toMatch(/^bronze\/trades\/exchange=binance\/symbol=BTC-USDT\/dt=\d{4}-\d\d-\d\d\/hour=\d\d\/ticklake-trades-1-\d{4}(-\d\d){5}-[0-9a-f-]{36}\.parquet$/)

    // the direct computation: DuckDB over the trades themselves (each once), not over the lake
    const db = await (await DuckDBInstance.create(':memory:')).connect()
    const json = join(dir, 'trades.json')
    writeFileSync(json, JSON.stringify(trades))
    const direct = async (minutes: number) => (await db.runAndReadAll(`
      WITH t AS (SELECT * FROM read_json('${json}')), b AS (SELECT *, (ts // (${minutes}::BIGINT * 60000000)) * ${minutes}::BIGINT * 60000 AS open_ms FROM t)
      SELECT open_ms::BIGINT AS open_ms, arg_min(price, first_trade_id) AS open, max(price) AS high, min(price) AS low, arg_max(price, first_trade_id) AS close,
        sum(qty)::DOUBLE AS volume, round(sum(price * qty), 8)::DOUBLE AS quote_volume, sum(last_trade_id - first_trade_id + 1)::BIGINT AS trades,
        coalesce(sum(qty) FILTER (side = 'buy'), 0)::DOUBLE AS taker_buy_volume, min(first_trade_id)::BIGINT AS first_trade_id, max(last_trade_id)::BIGINT AS last_trade_id
      FROM b GROUP BY open_ms ORDER BY open_ms`)).getRowObjects().map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v)])))
    const gold = async (tf: '1m' | '1h' | '1d') => {
      const files = new Set<string>()
      for (let t = T0; t < T0 + HOURS * 3_600_000; t += 60_000) files.add(goldCandleFileKey('binance', 'BTC-USDT', tf, t))
      const rows: Candle[] = []
      for (const k of files) rows.push(...await readParquet<Candle>((await store.get(k))!))
      return rows.filter((c) => c.open_time >= T0 - (tf === '1d' ? 86_400_000 : 0) && c.open_time < T0 + HOURS * 3_600_000).sort((a, b) => a.open_time - b.open_time)
    }
    const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b))
    for (const [tf, minutes] of [['1m', 1], ['1h', 60], ['1d', 1440]] as const) {
      const want = await direct(minutes)
      const got = await gold(tf)
      const traded = got.filter((c) => c.trades > 0)
      expect(traded.map((c) => c.open_time), tf).toEqual(want.map((w) => w.open_ms))
      traded.forEach((c, i) => {
        const w = want[i]
        expect([c.open, c.high, c.low, c.close, c.trades, c.first_trade_id, c.last_trade_id], `${tf} ${c.open_time}`).toEqual([w.open, w.high, w.low, w.close, w.trades, w.first_trade_id, w.last_trade_id])
        for (const f of ['volume', 'quote_volume', 'taker_buy_volume'] as const) expect(close(c[f], w[f]), `${tf} ${c.open_time} ${f}: ${c[f]} vs ${w[f]}`).toBe(true)
      })
      if (tf === '1m') {
        // every minute of the three hours, the quiet ones flat at the previous close with no volume, all final
        // but the first (it opens the symbol's history in the lake: trades before its first one are unknown)
        const first = Math.floor(trades[0].ts / 60_000_000) * 60_000
        expect(got.map((c) => c.open_time)).toEqual(Array.from({ length: (T0 + HOURS * 3_600_000 - first) / 60_000 }, (_, i) => first + i * 60_000))
        const flat = got.filter((c) => c.trades === 0)
        expect(flat.length).toBeGreaterThan(5)
        for (const c of flat) expect(c.open === c.close && c.volume === 0 && c.close === got[got.indexOf(c) - 1].close).toBe(true)
        expect(got.map((c) => c.final)).toEqual(got.map((_, i) => i > 0))
        // the serving window the page loads holds the same candles (and flat ones after, up to ingest's horizon)
        const serving = JSON.parse(new TextDecoder().decode((await store.get(servingKey('binance', 'BTC-USDT', '1m')))!)) as ServingWindow
        expect(serving.candles.filter((c) => c.open_time < T0 + HOURS * 3_600_000).slice(-got.length)).toEqual(got)
      }
    }

    // silver: every trade once (the repeated buffer removed), ordered by id, exchange and symbol from the key
    const silverRows: Trade[] = []
    for (let h = 0; h < HOURS; h++) {
      const d = new Date(T0 + h * 3_600_000).toISOString()
      silverRows.push(...rowsOf((await readSilverHour(store, 'binance', 'BTC-USDT', d.slice(0, 10), d.slice(11, 13)))!.table))
    }
    expect(silverRows).toEqual(trades)
    db.closeSync()
  })

  it('writes every kind of lake file so that hyparquet, arrow-rs (parquet-wasm) and DuckDB read the same value in every row and column', async () => {
    const kinds = new Map<string, number>()
    const count = (kind: string, rows: number) => kinds.set(kind, (kinds.get(kind) ?? 0) + rows)
    for (const { key } of await store.list('')) {
      if (!key.endsWith('.parquet')) continue
      const bytes = (await store.get(key))!
      const rows = await rowsAllReadersAgreeOn(bytes)
      if (key.startsWith('silver/') || key.startsWith('gold/candles/')) {
        // statistics engines can skip row groups by, under a created_by parquet-java parses (else it ignores string statistics)
        const meta = parquetMetadata(bytes)
        expect(meta.created_by).toMatch(/^\S+ version \d+\.\d+\.\d+ \(build [^)]+\)$/)
        for (const g of meta.row_groups) for (const c of g.columns) expect(c.meta_data!.statistics, `${key} ${c.meta_data!.path_in_schema}`).toMatchObject({ null_count: 0n, min_value: expect.anything(), max_value: expect.anything() })
      }
      const kind = key.startsWith('gold/candles/') ? `gold ${/tf=(\w+)/.exec(key)![1]}` : key.split('/').slice(0, 2).join('/')
      count(kind, rows.length)
    }
    // the files written from rows by jobs outside this path, through the same writers: bronze in
    // ticklake's own shape (older local lakes), prices, the symbol dimension (with nulls)
    count('bronze, ticklake\'s shape', (await rowsAllReadersAgreeOn(writeParquet(TRADE_COLUMNS, trades.slice(0, 500)))).length)
    const prices: PriceSnapshot[] = [1, 2, 3].map((i) => ({ source: 'coingecko', coin: 'bitcoin', currency: i % 2 ? 'usd' : 'brl', price: 97_000.5 * i, market_cap: 1.9e12, volume_24h: 3.1e10, change_24h_pct: -1.25, complete: i !== 2, last_updated: T0 * 1000 + i, ingest_ts: T0 * 1000 + 5_000_000 + i }))
    count('prices', (await rowsAllReadersAgreeOn(writeParquet(PRICE_COLUMNS, prices))).length)
    const symbols: DimSymbol[] = Array.from({ length: 300 }, (_, i) => ({ exchange: i % 2 ? 'binance' : 'coinbase', symbol: `C${i}-USDT`, native_symbol: `C${i}USDT`, base: `C${i}`, quote: 'USDT', status: 'TRADING', trading: i % 7 !== 0, contract_type: 'spot', tick_size: 0.01, lot_size: 1e-5, min_qty: i % 3 ? 1e-5 : null, min_notional: i % 5 ? 5 : null, price_decimals: 2, qty_decimals: 5, updated_at: T0 + i }))
    count('dim_symbols', (await rowsAllReadersAgreeOn(writeParquet(DIM_SYMBOL_COLUMNS, symbols, { nullable: true }))).length)
    const seen = Object.fromEntries(kinds)
    expect(Object.keys(seen).sort()).toEqual(['bronze, ticklake\'s shape', 'bronze/trades', 'dim_symbols', 'gold 15m', 'gold 1d', 'gold 1h', 'gold 1m', 'gold 4h', 'gold 5m', 'gold/features', 'prices', 'silver/trades'])
    expect(seen['bronze/trades']).toBe(trades.length + Math.ceil(trades.length / 6))
    expect(seen['silver/trades']).toBe(trades.length)
  })
})
