import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import { CANDLE_COLUMNS, TRADE_COLUMNS, type Candle, type Trade } from '../../market/index'
import { readColumns, readParquet, writeParquet, writeTable } from './index'
import { readTradeTable, writeTradeTable } from '../trades/index'

/** Trades whose times and ids move by small, large (25-32 bit) and too large (> 32 bit) steps, some backwards. */
function trades(n: number, jump = 0): Trade[] {
  const out: Trade[] = []
  let ts = 1_764_460_800_000_000
  for (let i = 0; i < n; i++) {
    ts += i % 97 === 0 ? 2_000_000_000 + i : i % 89 === 0 ? -5_000 : (i * 7919) % 40_000
    if (jump && i === n >> 1) ts += jump
    out.push({
      exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: 1_000_000_000 + i, first_trade_id: 3_000_000_000 + 2 * i - (i % 50 === 0 ? 4_000_000_000 : 0),
      last_trade_id: 3_000_000_001 + 2 * i, ts, price: 65000 + ((i * 31) % 700) / 100, qty: ((i * 104729) % 100000) / 1e5 + 0.00001,
      side: i % 3 ? 'buy' : 'sell', trades: 1 + (i % 4), ingest_ts: ts + 40_000 + ((i * 13) % 9000), source: i % 5 ? 'ws' : 'rest',
    })
  }
  return out
}

const candle = (i: number): Candle => ({
  exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', open_time: 1_764_460_800_000 + i * 60_000, close_time: 1_764_460_859_999 + i * 60_000,
  open: 1.5, high: 2 + i, low: 1, close: 1.25, volume: 0.1 * i, quote_volume: 3.3, trades: i, taker_buy_volume: 0, taker_buy_quote_volume: 0,
  vwap: 1.1, first_trade_id: 3e9 + i, last_trade_id: i % 4 ? 3e9 + i : -1, final: i % 3 === 0,
})

describe('columnar Parquet writer', () => {
  let dir: string
  let duck: DuckDBConnection
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ticklake-write-'))
    duck = await (await DuckDBInstance.create(':memory:')).connect()
  })
  afterAll(() => { duck?.closeSync(); rmSync(dir, { recursive: true, force: true }) })

  async function duckRows(bytes: Uint8Array, sql: string) {
    const file = join(dir, `f-${Math.random()}.parquet`)
    writeFileSync(file, bytes)
    return (await duck.runAndReadAll(sql.replace('FILE', `read_parquet('${file}')`))).getRows()
  }

  for (const [codec, delta] of [['UNCOMPRESSED', true], ['SNAPPY', false], ['SNAPPY', true]] as const) {
    it(`writes trade tables that hyparquet, DuckDB and the fast decoder read back to the same trades (${codec}, ${delta ? 'delta' : 'plain'} integers), in any row order`, async () => {
      const rows = trades(3000, 9_000_000_000)
      const { table } = await readTradeTable(writeParquet(TRADE_COLUMNS, rows))
      const order = Uint32Array.from(rows.map((_, i) => (i * 1237) % rows.length))
      const wanted = Array.from(order, (i) => rows[i])
      const bytes = writeTradeTable(table, order, { codec, delta, rowGroupSize: 1000 })
      expect(await readParquet<Trade>(bytes)).toEqual(wanted)
      const back = await readTradeTable(bytes)
      expect(back.fallbacks).toEqual([])
      expect(back.table.length).toBe(wanted.length)
      expect(Array.from(back.table.ts)).toEqual(wanted.map((t) => t.ts))
      expect(Array.from(back.table.first_trade_id)).toEqual(wanted.map((t) => t.first_trade_id))
      expect(Array.from(back.table.ingest_ts)).toEqual(wanted.map((t) => t.ingest_ts))
      expect(Array.from(back.table.trades)).toEqual(wanted.map((t) => t.trades))
      expect(Array.from(back.table.source, (c) => back.table.strings.source[c])).toEqual(wanted.map((t) => t.source))
      const [[n, ts, first, ingest, tr, buys, rest]] = await duckRows(bytes, "SELECT count(*)::INT, sum(epoch_us(ts) % 1000003)::DOUBLE, sum(first_trade_id)::DOUBLE, sum(epoch_us(ingest_ts) % 999983)::DOUBLE, sum(trades)::INT, count(*) FILTER (side = 'buy')::INT, count(*) FILTER (source = 'rest')::INT FROM FILE")
      expect([n, ts, first, ingest, tr, buys, rest]).toEqual([
        wanted.length, wanted.reduce((s, t) => s + (t.ts % 1000003), 0), wanted.reduce((s, t) => s + t.first_trade_id, 0), wanted.reduce((s, t) => s + (t.ingest_ts % 999983), 0),
        wanted.reduce((s, t) => s + t.trades, 0), wanted.filter((t) => t.side === 'buy').length, wanted.filter((t) => t.source === 'rest').length,
      ])
    })
  }

  it('makes silver-like files smaller with delta integers than with snappy over plain ones', async () => {
    const { table } = await readTradeTable(writeParquet(TRADE_COLUMNS, trades(5000)))
    const delta = writeTradeTable(table, undefined, { codec: 'UNCOMPRESSED', delta: true }).length
    expect(delta).toBeLessThan(writeTradeTable(table, undefined, { codec: 'UNCOMPRESSED' }).length * 0.6)
  })

  it('writes rows of a column list (strings, timestamps, integers, booleans) to what writeParquet writes, and an empty file readers accept', async () => {
    const candles = Array.from({ length: 130 }, (_, i) => candle(i))
    const bytes = writeTable(CANDLE_COLUMNS, candles)
    expect(await readParquet<Candle>(bytes)).toEqual(await readParquet<Candle>(writeParquet(CANDLE_COLUMNS, candles)))
    expect(await duckRows(bytes, 'SELECT count(*)::INT, count(*) FILTER (final)::INT, max(epoch_ms(open_time))::DOUBLE, sum(last_trade_id)::DOUBLE FROM FILE')).toEqual([[130, 44, candles[129].open_time, candles.reduce((s, c) => s + c.last_trade_id, 0)]])
    const empty = writeTable(CANDLE_COLUMNS, [])
    expect(await readParquet(empty)).toEqual([])
    expect(await duckRows(empty, 'SELECT count(*)::INT FROM FILE')).toEqual([[0]])
  })

  it('refuses a missing value, or a fraction in an integer column, with the column named', () => {
    expect(() => writeTable(CANDLE_COLUMNS, [{ ...candle(1), volume: undefined as any }])).toThrow(/column volume: row 0 has no value/)
    expect(() => writeTable(CANDLE_COLUMNS, [{ ...candle(1), trades: 1.5 }])).toThrow(/column trades: row 0 holds 1.5/)
  })

  it('decodes DuckDB\'s DELTA_BINARY_PACKED integers itself, and leaves deltas wider than 32 bits to hyparquet', async () => {
    for (const wide of [false, true]) {
      const rows = trades(2500).map((t, i) => (wide ? t : { ...t, first_trade_id: 3_000_000_000 + 2 * i }))
      const src = join(dir, `src-${wide}.parquet`), dst = join(dir, `dst-${wide}.parquet`)
      writeFileSync(src, writeParquet(TRADE_COLUMNS, rows))
      await duck.run(`COPY (SELECT ts, trade_id, first_trade_id, trades FROM read_parquet('${src}')) TO '${dst}' (FORMAT parquet, PARQUET_VERSION V2, COMPRESSION snappy)`)
      const bytes = new Uint8Array(readFileSync(dst))
      const d = await readColumns(bytes, [{ name: 'ts', as: 'micros' }, { name: 'trade_id', as: 'number' }, { name: 'first_trade_id', as: 'number' }, { name: 'trades', as: 'number' }])
      expect(d.fallbacks.join()).toMatch(wide ? /first_trade_id: delta width 33/ : /^$/)
      expect(Array.from(d.values.ts)).toEqual(rows.map((t) => t.ts))
      expect(Array.from(d.values.first_trade_id)).toEqual(rows.map((t) => t.first_trade_id))
      expect(Array.from(d.values.trades)).toEqual(rows.map((t) => t.trades))
    }
  })

  it('reads strings as codes, adding the ones it meets, with the same codes on two threads (as bundled)', async () => {
    const bundled = join(dir, 'columns.mjs')
    await build({ entryPoints: [join(import.meta.dirname, '../trades/index.ts')], outfile: bundled, bundle: true, platform: 'node', format: 'esm', logLevel: 'silent' })
    const m = await import(/* @vite-ignore */ pathToFileURL(bundled).href)
    const a = trades(900), b = trades(700).map((t, i) => ({ ...t, source: i % 2 ? 'archive' : 'replay' }) as Trade)
    const files = [writeParquet(TRADE_COLUMNS, a), writeParquet(TRADE_COLUMNS, b)]
    const one = await readTradeTable(files)
    const two = await m.readTradeTable(files, { threads: 2, parallelRows: 0 })
    expect(two.threads).toBe(2)
    const sources = (r: typeof one) => Array.from(r.table.source, (c) => r.table.strings.source[c])
    expect(sources(one)).toEqual([...a, ...b].map((t) => t.source))
    expect(sources(two)).toEqual(sources(one))
    expect(one.table.strings.source.sort()).toEqual(['archive', 'replay', 'rest', 'ws'])
  })
})
