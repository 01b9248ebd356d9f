import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { strToU8, zipSync } from 'fflate'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { S3Event } from 'aws-lambda'
import type { Trade } from '@ticklake/core/market'
import { readParquet } from '@ticklake/core/lake/parquet'
import { completeKey, goldCandleFileKey } from '@ticklake/core/lake/layout'
import { readSilverHour, rowsOf } from '@ticklake/core/lake/silver'
import { ALL_TIMEFRAMES } from '@ticklake/core/lake/candles'
import type { Candle, Timeframe } from '@ticklake/core/market'
import { fileStore } from '../store/index'
import { buildCandles, importArchives, progressBar, resolveSymbol, type ImportProgress } from './index'
import { main } from '../cli'

const dirs: string[] = []
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'ticklake-import-')); dirs.push(d); return d }
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

const NOW = Date.UTC(2025, 5, 1)
const H = 3_600_000_000
const T0 = Date.UTC(2025, 0, 1) * 1000
/** Five trades in hours 00 and 01 of 2025-01-01 (µs times, as spot files from 2025 on), and one bad row. */
const rows = [
  `1000,96000.50000000,0.00100000,96.00050000,${T0 + 1},True,True`,
  `1001,96001.00000000,0.25000000,24000.25000000,${T0 + 2},False,True`,
  `1002,96002.00000000,0.50000000,48001.00000000,${T0 + H - 1},False,True`,
  '1003,96003.00000000,oops,0,0,True,True',
  `1004,96004.00000000,1.00000000,96004.00000000,${T0 + H},True,True`,
  `1005,96005.00000000,2.00000000,192010.00000000,${T0 + H + 5},False,True`,
]
const expected = (id: number, ts: number, price: number, qty: number, side: Trade['side']): Trade => ({
  exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: id, first_trade_id: id, last_trade_id: id,
  ts, price, qty, side, trades: 1, ingest_ts: NOW * 1000, source: 'archive',
})
const hour = (h: string) => `bronze/trades/exchange=binance/symbol=BTC-USDT/dt=2025-01-01/hour=${h}/`

/** Writes the archive as a ZIP with its CHECKSUM file beside it; returns the ZIP's path. */
function archive(dir: string, name = 'BTCUSDT-trades-2025-01-01', lines = rows, checksum: 'good' | 'bad' | 'none' = 'good') {
  const zip = zipSync({ [`${name}.csv`]: strToU8(lines.join('\r\n') + '\r\n') })
  const path = join(dir, `${name}.zip`)
  writeFileSync(path, zip)
  const sha = createHash('sha256').update(checksum === 'bad' ? strToU8('other') : zip).digest('hex')
  if (checksum !== 'none') writeFileSync(`${path}.CHECKSUM`, `${sha}  ${name}.zip`)
  return path
}

async function bronze(store: ReturnType<typeof fileStore>) {
  const keys = (await store.list('bronze/')).map((o) => o.key)
  const trades: Trade[] = []
  // bronze holds the Glue table's columns, as Firehose writes them: exchange and symbol are the key's partitions
  for (const k of keys) {
    const [, exchange, symbol] = /exchange=([^/]+)\/symbol=([^/]+)\//.exec(k)!
    trades.push(...(await readParquet<Trade>((await store.get(k))!)).map((t) => ({ ...t, exchange, symbol }) as Trade))
  }
  return { keys, trades: trades.sort((a, b) => a.trade_id - b.trade_id) }
}

describe('archive import', () => {
  it('imports a checked ZIP into bronze Parquet per hour, with the bad row in the DLQ and an S3 event per file', async () => {
    const dir = tmp()
    const store = fileStore(join(dir, 'lake'))
    const events: S3Event[] = []
    store.notify({ prefix: 'bronze/trades/', suffix: '.parquet', handler: (e) => events.push(e) })
    const progress: ImportProgress[] = []
    const [s] = await importArchives([archive(dir)], { store, now: () => NOW, onProgress: (p) => progress.push(p) })

    expect(s).toMatchObject({ status: 'imported', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', kind: 'trades', trades: 5, hours: 2, checksum: 'ok' })
    expect(s.files).toEqual([`${hour('00')}archive-BTCUSDT-trades-2025-01-01-0.parquet`, `${hour('01')}archive-BTCUSDT-trades-2025-01-01-0.parquet`])
    expect(s.errors).toEqual({ count: 1, first: [{ line: 4, reason: expect.stringMatching(/qty/), text: '1003,96003.00000000,oops,0,0,True,True' }] })
    const { keys, trades } = await bronze(store)
    expect(keys).toEqual(s.files)
    expect(trades).toEqual([
      expected(1000, T0 + 1, 96000.5, 0.001, 'sell'),
      expected(1001, T0 + 2, 96001, 0.25, 'buy'),
      expected(1002, T0 + H - 1, 96002, 0.5, 'buy'),
      expected(1004, T0 + H, 96004, 1, 'sell'),
      expected(1005, T0 + H + 5, 96005, 2, 'buy'),
    ])
    expect(s.dlq).toBe('dlq/archive/dt=2025-01-01/BTCUSDT-trades-2025-01-01.jsonl')
    const dlq = new TextDecoder().decode(await store.get(s.dlq!)).trim().split('\n').map((l) => JSON.parse(l))
    expect(dlq).toEqual([{ file: 'BTCUSDT-trades-2025-01-01.zip', line: 4, reason: expect.any(String), text: expect.any(String) }])
    await new Promise((r) => setTimeout(r, 10))
    expect(events.map((e) => decodeURIComponent(e.Records[0].s3.object.key))).toEqual(s.files)
    expect(progress.at(-1)).toMatchObject({ trades: 5, bytes: progress.at(-1)!.totalBytes })
  })

  it('gives the same keys and the same trades when the same file is imported again (no duplicates)', async () => {
    const dir = tmp()
    const store = fileStore(join(dir, 'lake'))
    const path = archive(dir)
    const [first] = await importArchives([path], { store, now: () => NOW })
    const before = await bronze(store)
    const [again] = await importArchives([path], { store, now: () => NOW })
    expect(again.files).toEqual(first.files)
    expect(await bronze(store)).toEqual(before)
  })

  it('splits an hour into parts of at most maxRowsPerFile rows, and drops parts an earlier import left beyond them', async () => {
    const dir = tmp()
    const store = fileStore(join(dir, 'lake'))
    const lines = Array.from({ length: 7 }, (_, i) => `${i},1,1,1,${T0 + i},False,True`)
    const path = archive(dir, 'BTCUSDT-trades-2025-01-01', lines, 'none')
    const [small] = await importArchives([path], { store, settings: { maxRowsPerFile: 2 } })
    expect(small.files.map((k) => k.split('/').pop())).toEqual([0, 1, 2, 3].map((n) => `archive-BTCUSDT-trades-2025-01-01-${n}.parquet`))
    expect(small.checksum).toBe('absent')
    const [big] = await importArchives([path], { store, settings: { maxRowsPerFile: 5 } })
    expect(big.files).toHaveLength(2)
    const { keys, trades } = await bronze(store)
    expect(keys).toEqual(big.files)
    expect(trades.map((t) => t.trade_id)).toEqual([0, 1, 2, 3, 4, 5, 6])
  })

  it('writes one file per hour, not one per row, when the rows interleave two time ranges', async () => {
    const dir = tmp()
    const store = fileStore(join(dir, 'lake'))
    // like some futures archives: two runs of ids, hours apart, alternating row by row
    const lines = Array.from({ length: 40 }, (_, i) => `${i},1,1,1,${T0 + (i % 2) * 5 * H + i},False,True`)
    lines.push(...Array.from({ length: 12 }, (_, i) => `${100 + i},1,1,1,${T0 + 9 * H + i},False,True`))
    const [s] = await importArchives([archive(dir, 'BTCUSDT-trades-2025-01-01', lines, 'none')], { store, settings: { idleRows: 10 } })
    expect(s.files.map((k) => k.split('/').slice(-2).join('/'))).toEqual([
      'hour=00/archive-BTCUSDT-trades-2025-01-01-0.parquet', 'hour=05/archive-BTCUSDT-trades-2025-01-01-0.parquet', 'hour=09/archive-BTCUSDT-trades-2025-01-01-0.parquet',
    ])
    expect((await bronze(store)).trades).toHaveLength(52)
  })

  it('refuses a file whose CHECKSUM does not match, writing nothing', async () => {
    const dir = tmp()
    const store = fileStore(join(dir, 'lake'))
    const [s] = await importArchives([archive(dir, 'BTCUSDT-trades-2025-01-01', rows, 'bad')], { store })
    expect(s).toMatchObject({ status: 'refused', checksum: 'mismatch', trades: 0, reason: expect.stringMatching(/SHA-256 mismatch.*not imported/) })
    expect(await store.list('')).toEqual([])
  })

  it('reads a plain CSV of aggTrades with a header and ms times, under the symbol and exchange asked for', async () => {
    const dir = tmp()
    const store = fileStore(join(dir, 'lake'))
    const path = join(dir, 'export.csv')
    const ms = Date.UTC(2023, 4, 1, 12)
    writeFileSync(path, `agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n7,29223.0,0.639,100,103,${ms},false`)
    const [s] = await importArchives([path], { store, symbol: 'ETHBTC', kind: 'aggTrades', exchange: 'binance-futures', now: () => NOW })
    expect(s).toMatchObject({ status: 'imported', symbol: 'ETH-BTC', native_symbol: 'ETHBTC', trades: 1 })
    expect(s.files).toEqual(['bronze/trades/exchange=binance-futures/symbol=ETH-BTC/dt=2023-05-01/hour=12/archive-export-0.parquet'])
    expect((await bronze(store)).trades).toMatchObject([{ trade_id: 7, first_trade_id: 100, last_trade_id: 103, trades: 4, ts: ms * 1000, side: 'buy' }])
  })

  it('refuses, with a clear reason, a file whose symbol cannot be told and an unknown exchange', async () => {
    const dir = tmp()
    const store = fileStore(join(dir, 'lake'))
    const path = archive(dir, 'FOOBAR-trades-2025-01-01')
    const [s] = await importArchives([path], { store })
    expect(s).toMatchObject({ status: 'refused', reason: expect.stringMatching(/cannot split FOOBAR into base and quote.*pass the symbol/) })
    const [ok] = await importArchives([path], { store, symbol: 'FOO-BAR', now: () => NOW })
    expect(ok).toMatchObject({ status: 'imported', symbol: 'FOO-BAR', native_symbol: 'FOOBAR' })
    const [ex] = await importArchives([path], { store, symbol: 'FOO-BAR', exchange: 'coinbase' })
    expect(ex).toMatchObject({ status: 'refused', reason: expect.stringMatching(/exchange "coinbase"/) })
    expect(resolveSymbol(undefined, 'BTC-USDT')).toEqual({ symbol: 'BTC-USDT', native: 'BTCUSDT' })
    // checked before case folding: ß is not SS
    expect(resolveSymbol(undefined, 'ßtcusdt')).toEqual({ reason: expect.stringMatching(/not ASCII/) })
    expect(resolveSymbol(undefined, 'ßtc-usdt')).toEqual({ reason: expect.stringMatching(/not ASCII/) })
  })

  it('makes every candle of an imported full day final, in every timeframe: its last minutes and its 1d candle too', async () => {
    const dir = tmp()
    const store = fileStore(join(dir, 'lake'))
    // a quiet day: trades in the first and the last minute and a few between, no checkpoint anywhere
    const times = [T0 + 5, T0 + 3 * H + 17, T0 + 12 * H, T0 + 24 * H - 60_000_000 + 1, T0 + 24 * H - 1]
    const lines = times.map((ts, i) => `${2000 + i},${100 + i}.5,0.1,${(100 + i + 0.5) * 0.1},${ts},${i % 2 ? 'True' : 'False'},True`)
    const [s] = await importArchives([archive(dir, 'BTCUSDT-trades-2025-01-01', lines)], { store, now: () => NOW })
    expect(s).toMatchObject({ status: 'imported', trades: 5, complete: { from: '2025-01-01T00:00:00.000Z', until: '2025-01-02T00:00:00.000Z' } })
    await buildCandles(store, s.files)
    const day = T0 / 1000
    const counts: Record<Timeframe, number> = { '1m': 1440, '5m': 288, '15m': 96, '1h': 24, '4h': 6, '1d': 1 }
    for (const tf of ALL_TIMEFRAMES) {
      const keys = new Set(Array.from({ length: 1440 }, (_, i) => goldCandleFileKey('binance', 'BTC-USDT', tf, day + i * 60_000)))
      const candles: Candle[] = []
      for (const k of keys) candles.push(...await readParquet<Candle>((await store.get(k))!))
      const inDay = candles.filter((c) => c.open_time >= day && c.open_time < day + 86_400_000)
      expect(inDay.length, tf).toBe(counts[tf])
      expect(inDay.filter((c) => !c.final).map((c) => `${tf} ${new Date(c.open_time).toISOString()}`)).toEqual([])
    }
  })

  it('records a monthly archive\'s every day as complete, and no span for an archive with a bad row or without a date in its name', async () => {
    const dir = tmp()
    const store = fileStore(join(dir, 'lake'))
    const [month] = await importArchives([archive(dir, 'BTCUSDT-trades-2025-02', [`1,1,1,1,${Date.UTC(2025, 1, 3) * 1000},False,True`])], { store, now: () => NOW })
    expect(month.complete).toEqual({ from: '2025-02-01T00:00:00.000Z', until: '2025-03-01T00:00:00.000Z' })
    const records = (await store.list('state/complete/')).map((o) => o.key)
    expect(records).toHaveLength(28)
    expect(records[0]).toBe(completeKey('binance', 'BTC-USDT', '2025-02-01'))
    expect(JSON.parse(new TextDecoder().decode((await store.get(completeKey('binance', 'BTC-USDT', '2025-02-28')))!))).toMatchObject({ from: Date.UTC(2025, 1, 28), until: Date.UTC(2025, 2, 1), source: 'archive' })
    const [bad] = await importArchives([archive(dir)], { store, now: () => NOW })
    expect(bad.complete).toBeUndefined()
    expect(bad.warnings.join(' ')).toMatch(/1 bad row\(s\): the archive's span is not recorded as complete/)
    const path = join(dir, 'export.csv')
    writeFileSync(path, `1,1,1,1,${T0},False,True`)
    const [unnamed] = await importArchives([path], { store, symbol: 'ETH-USDT', kind: 'trades', now: () => NOW })
    expect(unnamed.status).toBe('imported')
    expect(unnamed.complete).toBeUndefined()
    expect(unnamed.warnings.join(' ')).toMatch(/tells no date/)
    expect((await store.list('state/complete/')).map((o) => o.key)).toEqual(records)
  })

  it('renders a one-line progress bar with percent, MB and trades per second', () => {
    expect(progressBar({ file: 'a.zip', bytes: 5e6, totalBytes: 1e7, trades: 200_000, elapsedMs: 2_000 }, 10))
      .toBe('a.zip [#####-----]  50.0%  5.0/10.0 MB  200,000 trades  100,000 trades/s')
  })
})

describe('ticklake import', () => {
  it('imports an archive from the command line, builds its candles and silver, and `ticklake candles` answers for it', async () => {
    const dir = tmp()
    const data = join(dir, 'lake')
    const path = archive(dir)
    const out: string[] = []
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((s) => { out.push(String(s)); return true })
    const log = vi.spyOn(console, 'log').mockImplementation((s) => { out.push(String(s)) })
    try {
      expect(await main(['import', path, '--data', data])).toBe(0)
      expect(out.join('\n')).toMatch(/imported 5 trades of BTC-USDT \(trades\) into 2 hour\(s\), checksum ok/)
      expect(out.join('\n')).toMatch(/1 bad row\(s\), e\.g\. line 4/)
      out.length = 0
      expect(await main(['candles', '--symbol', 'BTC-USDT', '--from', '2025-01-01T00:00:00Z', '--to', '2025-01-01T00:02:00Z', '--format', 'json', '--data', data])).toBe(0)
    } finally { write.mockRestore(); log.mockRestore() }
    const candles = JSON.parse(out.join(''))
    expect(candles[0]).toMatchObject({ open_time: '2025-01-01T00:00:00.000Z', open: 96000.5, high: 96001, low: 96000.5, close: 96001, trades: 2, first_trade_id: 1000, last_trade_id: 1001 })
    expect(candles[0].volume).toBeCloseTo(0.251, 9)
    expect(candles[0].taker_buy_volume).toBeCloseTo(0.25, 9)
    expect(candles[1]).toMatchObject({ open_time: '2025-01-01T00:01:00.000Z', volume: 0, trades: 0, open: 96001, close: 96001 })
    const silver = fileStore(data)
    const ids = async (h: string) => rowsOf((await readSilverHour(silver, 'binance', 'BTC-USDT', '2025-01-01', h))!.table).map((r) => r.trade_id)
    expect(await ids('00')).toEqual([1000, 1001, 1002])
    expect(await ids('01')).toEqual([1004, 1005])
  })

  it('exits 2 with a usage line when no file is named, and 1 with the reason on stderr when a file fails its checksum', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    const log = vi.spyOn(console, 'log').mockImplementation(() => {})
    try {
      expect(await main(['import'])).toBe(2)
      expect(String(err.mock.calls[0][0])).toMatch(/name one or more archive files/)
      const dir = tmp()
      expect(await main(['import', archive(dir, 'BTCUSDT-trades-2025-01-01', rows, 'bad'), '--data', join(dir, 'lake')])).toBe(1)
      expect(String(err.mock.calls.at(-1)![0])).toMatch(/refused: .*CHECKSUM/)
      expect(log).not.toHaveBeenCalled()
    } finally { err.mockRestore(); log.mockRestore() }
  })
})
