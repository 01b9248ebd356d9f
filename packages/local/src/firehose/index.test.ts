import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { S3Event } from 'aws-lambda'
import { firehoseStream } from '@ticklake/core/aws/firehose'
import { readParquet } from '@ticklake/core/lake/parquet'
import type { Candle, Trade } from '@ticklake/core/market'
import { writeCheckpoint } from '@ticklake/core/sources/checkpoint'
import { createCandlesHandler } from '@ticklake/functions/candles'
import { fileStore } from '../store/index'
import { duckdbEngine } from '../duckdb/index'
import { defaults, startFirehose, STREAMS } from './index'
import { FIREHOSE_TABLES, PARQUET_SERDE } from '@ticklake/core/aws/glue'

const T0 = Date.parse('2026-11-24T15:00:00Z')
const trade = (i: number, sec: number, price: number): Trade => ({ exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: i, first_trade_id: i * 2, last_trade_id: i * 2 + 1, ts: (T0 + sec * 1000) * 1000 + 123, price, qty: 0.5, side: i % 2 ? 'buy' : 'sell', trades: 2, ingest_ts: Date.now() * 1000, source: 'ws' })

const dirs: string[] = []
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'ticklake-')); dirs.push(d); return d }
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

describe('firehose emulator and the lake path', () => {
  it('takes records from the real Firehose SDK client and lands the Glue table\'s non-partition columns as Hive-partitioned Parquet that DuckDB reads as Athena does', async () => {
    const dir = tmp()
    const store = fileStore(dir)
    const events: S3Event[] = []
    store.notify({ prefix: 'bronze/trades/', suffix: '.parquet', handler: (e) => events.push(e) })
    const fh = await startFirehose(store, { bufferMs: 60_000 })
    const stream = firehoseStream(fh.streamName, fh.endpoint)
    const trades = [trade(1, 1, 100), trade(2, 30, 101), trade(3, 3599, 99), trade(4, 3600, 98)]
    expect(await stream.putRecords(trades)).toEqual({ failed: [] })
    await fh.close()

    const keys = (await store.list('bronze/trades/')).map((o) => o.key)
    expect(keys).toHaveLength(2)
    expect(keys[0]).toMatch(/^bronze\/trades\/exchange=binance\/symbol=BTC-USDT\/dt=2026-11-24\/hour=15\/ticklake-trades-1-.*\.parquet$/)
    expect(keys[1]).toMatch(/hour=16\//)
    // Firehose writes the table's columns only: no exchange or symbol (they are the key's), times as plain bigint
    const { exchange: _e, symbol: _s, ...rest } = trades[0]
    expect(Object.keys(rest)).toHaveLength(11)
    expect(await readParquet(await store.get(keys[0]) as Uint8Array)).toEqual(trades.slice(0, 3).map(({ exchange: _x, symbol: _y, ...r }) => r))
    // S3 events carry URL-encoded keys, as S3 sends them
    expect(events.map((e) => e.Records[0].s3.object.key)).toContain(keys[0].replace(/=/g, '%3D'))

    const db = await duckdbEngine(dir)
    const rows = await db.query({ sql: 'SELECT trade_id, ts, price, side, trades, exchange, symbol, dt, hour FROM bronze_trades ORDER BY trade_id', params: [] })
    db.close()
    expect(rows.map((r) => r.trade_id)).toEqual([1, 2, 3, 4])
    expect(rows[0]).toMatchObject({ ts: trades[0].ts, price: 100, side: 'buy', trades: 2, exchange: 'binance', symbol: 'BTC-USDT', dt: '2026-11-24', hour: '15' })
  })

  it('takes at most its records-per-second quota and fails the rest of a batch record by record, as Firehose throttles', async () => {
    const store = fileStore(tmp())
    const fh = await startFirehose(store, { bufferMs: 60_000, recordsPerSec: 300 })
    const stream = firehoseStream(fh.streamName, fh.endpoint)
    // start at the top of a second so both batches fall in one quota window
    await new Promise((r) => setTimeout(r, 1_000 - (Date.now() % 1_000)))
    const first = await stream.putRecords(Array.from({ length: 200 }, (_, i) => trade(i, 1, 100)))
    const second = await stream.putRecords(Array.from({ length: 200 }, (_, i) => trade(200 + i, 1, 100)))
    expect(first.failed).toEqual([])
    expect(second.failed).toEqual(Array.from({ length: 100 }, (_, i) => 100 + i))
    await new Promise((r) => setTimeout(r, 1_000 - (Date.now() % 1_000)))
    expect(await stream.putRecords(second.failed.map((i) => trade(200 + i, 1, 100)))).toEqual({ failed: [] })
    await fh.close()
    expect(fh.stats()).toMatchObject({ written: 400, throttled: 100 })
  })

  it('sends records it cannot partition or convert to the error output prefix as Firehose\'s error documents, and keeps the good ones', async () => {
    const store = fileStore(tmp())
    const fh = await startFirehose(store, { bufferMs: 60_000 })
    const missing = { ...trade(3, 3, 100), qty: undefined }
    const res = await firehoseStream(fh.streamName, fh.endpoint).putRecords([trade(1, 1, 100), { hello: 'world' }, { ...trade(2, 2, 100), price: 'x' }, missing])
    expect(res.failed).toEqual([])
    await fh.close()
    const [good] = await store.list('bronze/trades/')
    // a field missing from a record is a null, as the Hive JSON SerDe reads it; a string in a double is refused
    expect((await readParquet<Trade>((await store.get(good.key))!)).map((r) => [r.trade_id, r.qty])).toEqual([[1, 0.5], [3, null]])
    const read = async (type: string) => {
      const [err] = await store.list(`errors/${type}/`)
      expect(err.key).toMatch(new RegExp(`^errors/${type}/dt=\\d{4}-\\d{2}-\\d{2}/ticklake-trades-1-\\d{4}(-\\d\\d){5}-[0-9a-f-]{36}$`))
      return new TextDecoder().decode(await store.get(err.key)).trim().split('\n').map((l) => JSON.parse(l))
    }
    const [partition] = await read('processing-failed')
    expect(partition.lastErrorMessage).toMatch(/exchange/)
    expect(JSON.parse(Buffer.from(partition.rawData, 'base64').toString())).toEqual({ hello: 'world' })
    const [conversion] = await read('format-conversion-failed')
    expect(conversion).toMatchObject({ attemptsMade: 1, lastErrorCode: 'DataFormatConversion.MalformedData', lastErrorMessage: expect.stringMatching(/price/), dataCatalogTable: { tableName: 'bronze_trades' } })
  })

  it('recomputes an hour to the same gold candles however often and in whatever order its events arrive', async () => {
    const dir = tmp()
    const store = fileStore(dir)
    const events: S3Event[] = []
    store.notify({ prefix: 'bronze/trades/', suffix: '.parquet', handler: (e) => events.push(e) })
    const fh = await startFirehose(store, { bufferMs: 60_000 })
    const stream = firehoseStream(fh.streamName, fh.endpoint)
    await stream.putRecords([trade(1, 1, 100), trade(2, 61, 105)])
    await fh.flush()
    await stream.putRecords([trade(2, 61, 105), trade(3, 150, 103)]) // a duplicate, as at-least-once delivery gives
    await fh.close()
    await new Promise((r) => setTimeout(r, 20))
    const handler = createCandlesHandler({ store, now: () => T0 + 7_200_000 })
    await handler(events[1])
    // before ingest's checkpoint passes the hour, only what the trades show is known: no flat tail, last minute open;
    // the first minute opens the symbol's history in the lake (what came before its first trade is unknown): not final either
    const early = await readParquet<Candle>((await store.get('gold/candles/exchange=binance/symbol=BTC-USDT/tf=1m/dt=2026-11-24/hour=15.parquet'))!)
    expect(early.map((c) => [c.open_time - T0, c.final])).toEqual([[0, false], [60_000, true], [120_000, false]])
    await writeCheckpoint(store, { exchange: 'binance', symbol: 'BTC-USDT', last_trade_id: 3, ts: (T0 + 3_700_000) * 1000, updated_at: 0 })
    await handler(events[1]); await handler(events[0])
    const gold = 'gold/candles/exchange=binance/symbol=BTC-USDT/tf=1m/dt=2026-11-24/hour=15.parquet'
    const first = await store.get(gold)
    await handler(events[0]); await handler(events[1])
    expect(await store.get(gold)).toEqual(first)

    const db = await duckdbEngine(dir)
    const rows = await db.query({ sql: 'SELECT open_time, open, close, volume, trades, final FROM candles WHERE tf = ? AND open_time < CAST(? AS TIMESTAMP) ORDER BY open_time', params: ['1m', '2026-11-24 16:00:00'] })
    db.close()
    expect(rows).toHaveLength(60)
    expect(rows.slice(0, 3)).toEqual([
      { open_time: '2026-11-24T15:00:00.000Z', open: 100, close: 100, volume: 0.5, trades: 2, final: false },
      { open_time: '2026-11-24T15:01:00.000Z', open: 105, close: 105, volume: 0.5, trades: 2, final: true },
      { open_time: '2026-11-24T15:02:00.000Z', open: 103, close: 103, volume: 0.5, trades: 2, final: true },
    ])
    expect(rows[59]).toMatchObject({ open_time: '2026-11-24T15:59:00.000Z', open: 103, volume: 0 })
  })
})

describe('firehose emulator buffering', () => {
  it('delivers a full buffer once while a delivery is running, and then waits for the buffer to fill again', async () => {
    const files = fileStore(tmp())
    // a slow bucket: a delivery takes a while, as a large one does
    const store = { ...files, put: async (...a: Parameters<typeof files.put>) => { await new Promise((r) => setTimeout(r, 50)); return files.put(...a) } }
    const fh = await startFirehose(store, { bufferMs: 60_000, bufferRecords: 100 })
    const stream = firehoseStream(fh.streamName, fh.endpoint)
    // five full buffers at once: the first fills and delivers, the other four arrive during its delivery
    for (let b = 0; b < 5; b++) expect(await stream.putRecords(Array.from({ length: 100 }, (_, i) => trade(b * 100 + i, 1, 100)))).toEqual({ failed: [] })
    // then a trickle far under the buffer's size
    for (let i = 0; i < 25; i++) { await stream.putRecords([trade(500 + i, 2, 100)]); await new Promise((r) => setTimeout(r, 20)) }
    const objects = (await files.list('bronze/trades/')).map((o) => o.key)
    // two deliveries (100 records, then the 400 that came during it); the trickle waits in the buffer
    expect(objects).toHaveLength(2)
    await fh.close()
    const keys = (await files.list('bronze/trades/')).map((o) => o.key)
    const ids = (await Promise.all(keys.map(async (k) => readParquet<Trade>((await files.get(k))!)))).flat().map((r) => r.trade_id)
    expect(keys).toHaveLength(3)
    expect(ids.sort((a, b) => a - b)).toEqual(Array.from({ length: 525 }, (_, i) => i))
  })
})

describe('firehose emulator durability', () => {
  it('delivers records it acknowledged before a crash when it starts again', async () => {
    const dir = tmp()
    const store = fileStore(join(dir, 'lake'))
    const spoolDir = join(dir, 'spool')
    const fh = await startFirehose(store, { bufferMs: 60_000, spoolDir })
    expect(await firehoseStream(fh.streamName, fh.endpoint).putRecords([trade(1, 1, 100), trade(2, 2, 101)])).toEqual({ failed: [] })
    // a crash: the process dies with the records acknowledged but still in the buffer
    expect(await store.list('bronze/')).toEqual([])
    const again = await startFirehose(store, { bufferMs: 60_000, spoolDir })
    await again.close()
    await fh.close() // the first one's late flush may duplicate them: silver removes duplicates
    const keys = (await store.list('bronze/')).map((o) => o.key)
    const rows = (await Promise.all(keys.map(async (k) => readParquet<Trade>((await store.get(k))!)))).flat()
    expect(new Set(rows.map((r) => r.trade_id))).toEqual(new Set([1, 2]))
  })
})

describe('firehose emulator and the stacks', () => {
  it('writes each stream with the Glue table, ParquetSerDe, file extension and error prefix that stacks/lake.ts gives the delivery streams in AWS', () => {
    const stack = readFileSync(join(__dirname, '../../../../stacks/lake.ts'), 'utf8').replace(/\s+/g, ' ')
    // the stack declares the bronze tables from core's FIREHOSE_TABLES and converts with PARQUET_SERDE, as the emulator does
    expect(stack).toContain("catalogTable('BronzeTrades', FIREHOSE_TABLES.trades.table, FIREHOSE_TABLES.trades.folder, FIREHOSE_TABLES.trades.columns, FIREHOSE_PARTITIONS)")
    expect(stack).toContain("catalogTable('Quotes', FIREHOSE_TABLES.quotes.table, FIREHOSE_TABLES.quotes.folder, FIREHOSE_TABLES.quotes.columns, FIREHOSE_PARTITIONS)")
    expect(stack).toContain('parquetSerDe: PARQUET_SERDE')
    expect(stack).toContain("fileExtension: '.parquet'")
    expect(stack).toContain('errorOutputPrefix: ERROR_OUTPUT_PREFIX')
    expect(stack).toContain('prefix: firehosePrefix(folder)')
    expect(STREAMS.map((s) => [s.table, s.folder, s.columns])).toEqual([
      [FIREHOSE_TABLES.trades.table, FIREHOSE_TABLES.trades.folder, FIREHOSE_TABLES.trades.columns],
      [FIREHOSE_TABLES.quotes.table, FIREHOSE_TABLES.quotes.folder, FIREHOSE_TABLES.quotes.columns],
    ])
    expect(defaults.serde).toBe(PARQUET_SERDE)
  })
})
