import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import fc from 'fast-check'
import { parquetReadObjects } from 'hyparquet'
import { snappyCompress } from 'hyparquet-writer/src/snappy.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import { TRADE_COLUMNS, type Trade } from '../../market/index'
import { readParquet, writeParquet } from './index'
import { readColumns } from './read'
import { hybrid } from './encodings'
import { snappyUncompress } from './snappy'
import { writeColumns } from './write'
import { TRADE_COLUMN_REQUESTS, readTradeColumns } from '../trades/index'

const NAMES = TRADE_COLUMN_REQUESTS.map((r) => r.name)

/** Trades with repeating prices (so writers pick dictionaries) and, where asked, nulls. */
function trades(n: number, nullEvery = 0): Trade[] {
  const out: Trade[] = []
  let price = 65000
  for (let i = 0; i < n; i++) {
    price = Math.round((price + ((i * 7919) % 11) - 5) * 100) / 100 + (i % 3) * 0.01
    const t: any = {
      exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: 1_000_000_000 + i,
      first_trade_id: 3_000_000_000 + 2 * i, last_trade_id: 3_000_000_001 + 2 * i, ts: 1_764_460_800_000_000 + i * 1713,
      price, qty: ((i * 104729) % 100000) / 1e5 + 0.00001, side: i % 3 ? 'buy' : 'sell', trades: 1 + (i % 4), ingest_ts: 0, source: 'ws',
    }
    if (nullEvery && i % nullEvery === 5) t[NAMES[i % NAMES.length]] = null
    out.push(t)
  }
  return out
}

/** hyparquet's row objects (as `readParquet` gave them before it was a view of our decoder): INT64 and timestamps as numbers in their unit. */
async function hyparquetRows(bytes: Uint8Array, columns?: string[]): Promise<any[]> {
  const parsers = { timestampFromMicroseconds: Number, timestampFromMilliseconds: Number, timestampFromNanoseconds: (v: bigint) => Number(v / 1000n) }
  const rows = await parquetReadObjects({ file: bytes.slice().buffer, columns, parsers } as any)
  for (const row of rows) for (const k in row) if (typeof row[k] === 'bigint') row[k] = Number(row[k])
  return rows
}

/** What hyparquet reads, as columns, leaving out rows with a null in a needed column. */
async function expected(bytes: Uint8Array) {
  const rows = (await hyparquetRows(bytes, NAMES)).filter((r) => NAMES.every((k) => r[k] !== null && r[k] !== undefined))
  return {
    length: rows.length,
    ts: rows.map((r) => r.ts), price: rows.map((r) => r.price), qty: rows.map((r) => r.qty), buy: rows.map((r) => (r.side === 'buy' ? 1 : 0)),
    trades: rows.map((r) => r.trades), first_trade_id: rows.map((r) => r.first_trade_id), last_trade_id: rows.map((r) => r.last_trade_id), trade_id: rows.map((r) => r.trade_id),
  }
}

const plain = (c: Record<string, any>) => Object.fromEntries(Object.entries(c).map(([k, v]) => [k, typeof v === 'number' ? v : Array.from(v)]))

let dir: string
let duck: DuckDBConnection
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ticklake-columns-'))
  duck = await (await DuckDBInstance.create(':memory:')).connect()
})
afterAll(() => { duck?.closeSync(); rmSync(dir, { recursive: true, force: true }) })

/** DuckDB rewrites our file with its own writer (OPTIONAL columns, data page v1, dictionaries), or writes what `select` selects. */
async function viaDuckDB(bytes: Uint8Array, options: string, select = 'SELECT * FROM src') {
  const src = join(dir, `src-${Math.random()}.parquet`)
  const dst = join(dir, `dst-${Math.random()}.parquet`)
  writeFileSync(src, bytes)
  await duck.run(`COPY (${select.replace('FROM src', `FROM read_parquet('${src}')`)}) TO '${dst}' (FORMAT parquet, ${options})`)
  return new Uint8Array(readFileSync(dst))
}

/** `../trades` bundled into plain JavaScript (as the bundle `npm start` runs), so its workers can load it. */
async function bundledTrades() {
  const bundled = join(dir, 'columns.mjs')
  await build({ entryPoints: [join(import.meta.dirname, '../trades/index.ts')], outfile: bundled, bundle: true, platform: 'node', format: 'esm', logLevel: 'silent' })
  return import(/* @vite-ignore */ pathToFileURL(bundled).href)
}

describe('readTradeColumns', () => {
  it('decodes our REQUIRED snappy files over several row groups and pages to what hyparquet reads', async () => {
    const bytes = writeParquet(TRADE_COLUMNS, trades(5000), { rowGroupSize: 2000, pageSize: 4096 })
    const { columns, nulls, fallbacks } = await readTradeColumns(bytes)
    expect(nulls).toBe(0)
    expect(fallbacks).toEqual([])
    expect(plain(columns)).toEqual(await expected(bytes))
  })

  it('leaves out and counts rows with nulls in OPTIONAL columns, uncompressed or snappy', async () => {
    for (const codec of ['UNCOMPRESSED', 'SNAPPY'] as const) {
      const bytes = writeParquet(TRADE_COLUMNS, trades(3000, 7), { rowGroupSize: 1000, pageSize: 2048, nullable: true, codec })
      const { columns, nulls, fallbacks } = await readTradeColumns(bytes)
      const want = await expected(bytes)
      expect(fallbacks).toEqual([])
      expect(nulls).toBeGreaterThan(300)
      expect(columns.length + nulls).toBe(3000)
      expect(plain(columns)).toEqual(want)
    }
  })

  it('decodes DuckDB-written OPTIONAL, snappy, dictionary-encoded files (as Firehose writes them) with nulls', async () => {
    const bytes = await viaDuckDB(writeParquet(TRADE_COLUMNS, trades(20_000, 11), { nullable: true }), 'COMPRESSION snappy, ROW_GROUP_SIZE 6000')
    const { columns, nulls, fallbacks } = await readTradeColumns(bytes)
    expect(fallbacks).toEqual([])
    expect(nulls).toBeGreaterThan(1000)
    expect(plain(columns)).toEqual(await expected(bytes))
  })

  it('concatenates several files in order', async () => {
    const a = writeParquet(TRADE_COLUMNS, trades(1500), { rowGroupSize: 700 })
    const b = await viaDuckDB(writeParquet(TRADE_COLUMNS, trades(900)), 'COMPRESSION snappy')
    const { columns } = await readTradeColumns([a, b])
    const [ea, eb] = [await expected(a), await expected(b)]
    expect(columns.length).toBe(2400)
    expect(Array.from(columns.trade_id)).toEqual([...ea.trade_id, ...eb.trade_id])
    expect(Array.from(columns.ts.subarray(1500))).toEqual(eb.ts)
  })

  it('falls back to hyparquet, saying why, for an encoding it does not cover', async () => {
    const bytes = await viaDuckDB(writeParquet(TRADE_COLUMNS, trades(4000, 13), { nullable: true }), 'COMPRESSION snappy, PARQUET_VERSION V2')
    const { columns, fallbacks } = await readTradeColumns(bytes)
    expect(fallbacks.join()).toMatch(/encoding (DELTA|BYTE_STREAM)/)
    expect(plain(columns)).toEqual(await expected(bytes))
  })

  it('gives the same columns when asked for two threads, on one thread where a worker cannot load this module', async () => {
    const files = [writeParquet(TRADE_COLUMNS, trades(1200)), await viaDuckDB(writeParquet(TRADE_COLUMNS, trades(800, 9), { nullable: true }), 'COMPRESSION snappy')]
    const one = await readTradeColumns(files)
    const two = await readTradeColumns(files, { threads: 2, parallelRows: 0 })
    expect(two.threads).toBeGreaterThanOrEqual(1)
    expect(plain(two.columns)).toEqual(plain(one.columns))
    expect(two.nulls).toBe(one.nulls)
  })

  it('decodes on two threads, to the same columns, when the module is plain JavaScript (as bundled)', async () => {
    const m = await bundledTrades()
    const files = [writeParquet(TRADE_COLUMNS, trades(1500), { rowGroupSize: 500 }), await viaDuckDB(writeParquet(TRADE_COLUMNS, trades(900, 9), { nullable: true }), 'COMPRESSION snappy'), writeParquet(TRADE_COLUMNS, trades(700))]
    const two = await m.readTradeColumns(files, { threads: 2, parallelRows: 0 })
    const one = await readTradeColumns(files)
    expect(two.threads).toBe(2)
    expect(plain(two.columns)).toEqual(plain(one.columns))
    expect(two.nulls).toBe(one.nulls)
  })

  it('keeps a read of fewer than parallelRows rows on this thread, even when asked for two (as bundled)', async () => {
    const m = await bundledTrades()
    const files = [writeParquet(TRADE_COLUMNS, trades(1500)), writeParquet(TRADE_COLUMNS, trades(900))]
    expect((await m.readTradeColumns(files, { threads: 2, parallelRows: 2401 })).threads).toBe(1)
    expect((await m.readTradeColumns(files, { threads: 2, parallelRows: 2400 })).threads).toBe(2)
    expect((await m.readTradeColumns(files, { threads: 2 })).threads).toBe(1) // the default: 20,000 rows
  })

  it('drops the shared buffers of a threaded decode once no decode took them for the pool\'s idle time', async () => {
    const entry = join(dir, 'arenas.ts')
    writeFileSync(entry, [
      `export { readTradeColumns } from ${JSON.stringify(join(import.meta.dirname, '../trades/index.ts'))}`,
      `export { heldArenaBytes } from ${JSON.stringify(join(import.meta.dirname, 'read.ts'))}`,
      `export { defaults as workerDefaults } from ${JSON.stringify(join(import.meta.dirname, '../workers/index.ts'))}`,
    ].join('\n'))
    const bundled = join(dir, 'arenas.mjs')
    await build({ entryPoints: [entry], outfile: bundled, bundle: true, platform: 'node', format: 'esm', logLevel: 'silent' })
    const m = await import(/* @vite-ignore */ pathToFileURL(bundled).href)
    m.workerDefaults.idleMs = 300
    const files = [writeParquet(TRADE_COLUMNS, trades(1500)), writeParquet(TRADE_COLUMNS, trades(900))]
    expect((await m.readTradeColumns(files, { threads: 2, parallelRows: 0 })).threads).toBe(2)
    expect(m.heldArenaBytes()).toBeGreaterThan(0) // kept for the next decode
    await new Promise((r) => setTimeout(r, 600))
    expect(m.heldArenaBytes()).toBe(0)
  })

  it('throws a clear error for a file that lacks a needed column or is not Parquet', async () => {
    const bytes = writeParquet(TRADE_COLUMNS.filter((c) => c.name !== 'qty'), trades(10))
    await expect(readTradeColumns(bytes)).rejects.toThrow(/column qty is missing/)
    await expect(readTradeColumns(new TextEncoder().encode('not parquet at all'))).rejects.toThrow(/parquet/)
  })
})

describe('decoding primitives', () => {
  it('reads RLE and bit-packed runs of any width', () => {
    // RLE run of 3 x 5 (width 3), then one bit-packed group of 8 values 0..7 at width 3
    const buf = new Uint8Array([6, 5, 3, 0b10001000, 0b11000110, 0b11111010])
    const out = new Uint32Array(11)
    expect(hybrid(buf, 0, buf.length, 3, out, 11, 5)).toBe(4)
    expect(Array.from(out)).toEqual([5, 5, 5, 0, 1, 2, 3, 4, 5, 6, 7])
  })

  it('decompresses snappy blocks of any mix of literals and copies to the bytes compressed, writing nothing past the size', () => {
    // runs of repeated short patterns (copies at small and large offsets) between random stretches (literals)
    const chunk = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 300 }),
      fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 200 })).map(([p, n]) => Uint8Array.from({ length: p.length * n }, (_, i) => p[i % p.length])),
    )
    fc.assert(fc.property(fc.array(chunk, { maxLength: 40 }), (chunks) => {
      const data = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0))
      chunks.reduce((at, c) => (data.set(c, at), at + c.length), 0)
      const packed = snappyCompress(data)
      const exact = new Uint8Array(data.length)
      snappyUncompress(packed, exact)
      expect(exact).toEqual(data)
      const roomy = new Uint8Array(data.length + 80).fill(7)
      snappyUncompress(packed, roomy, data.length)
      expect(roomy.subarray(0, data.length)).toEqual(data)
      expect(roomy.subarray(data.length).every((b) => b === 7)).toBe(true)
    }), { numRuns: 300 })
  })

  it('reads INT64 and millisecond timestamps, negative ones too, from snappy and uncompressed pages over several row groups', async () => {
    const n = 1000, v = Float64Array.from({ length: n }, (_, i) => 1_764_000_000_000 + i * 37 - (i % 3 ? 0 : 5e12))
    for (const codec of ['SNAPPY', 'UNCOMPRESSED'] as const) {
      for (const type of ['TIMESTAMP_MILLIS', 'INT64'] as const) {
        const file = writeColumns([{ name: 'x', type, values: v }], n, { codec, rowGroupSize: 300 })
        const r = await readColumns(file, [{ name: 'x', as: type === 'INT64' ? 'number' : 'micros' }])
        expect(r.fallbacks).toEqual([])
        expect(Array.from(r.values.x)).toEqual(Array.from(v, (x) => (type === 'INT64' ? x : x * 1000)))
      }
    }
  })

  it('reads booleans as 0 and 1, keeps a timestamp in its unit for `number`, and keeps nulls as NaN and 255 when asked, all itself', async () => {
    const n = 300, nulls = Uint8Array.from({ length: n }, (_, i) => +(i % 7 === 3))
    const file = writeColumns([
      { name: 'b', type: 'BOOLEAN', flags: Uint8Array.from({ length: n }, (_, i) => +(i % 3 === 0)) },
      { name: 'ms', type: 'TIMESTAMP_MILLIS', values: Float64Array.from({ length: n }, (_, i) => 1_764_000_000_000 + i) },
      { name: 'x', type: 'DOUBLE', values: Float64Array.from({ length: n }, (_, i) => i / 4), nulls },
      { name: 's', type: 'STRING', codes: Uint8Array.from({ length: n }, (_, i) => i % 2), dict: ['a', 'b'], nulls },
    ], n, { rowGroupSize: 128 })
    const requests = [{ name: 'b', as: 'number' }, { name: 'ms', as: 'number' }, { name: 'x', as: 'number' }, { name: 's', as: 'code', values: [] as string[] }] as const
    const kept = await readColumns(file, [...requests], { keepNulls: true })
    expect(kept.fallbacks).toEqual([])
    expect(kept.length).toBe(n)
    expect(kept.nulls).toBe(nulls.reduce((a, b) => a + b, 0))
    expect(Array.from(kept.values.b)).toEqual(Array.from({ length: n }, (_, i) => +(i % 3 === 0)))
    expect(Array.from(kept.values.ms)).toEqual(Array.from({ length: n }, (_, i) => 1_764_000_000_000 + i))
    expect(Array.from(kept.values.x)).toEqual(Array.from({ length: n }, (_, i) => (i % 7 === 3 ? NaN : i / 4)))
    expect(Array.from(kept.values.s)).toEqual(Array.from({ length: n }, (_, i) => (i % 7 === 3 ? 255 : i % 2)))
    const dropped = await readColumns(file, [...requests])
    expect(dropped.length).toBe(n - kept.nulls)
    expect(Array.from(dropped.values.x)).toEqual(Array.from({ length: n }, (_, i) => i / 4).filter((_, i) => i % 7 !== 3))
  })

  it('rejects a snappy block whose copy points before the start', () => {
    expect(() => snappyUncompress(new Uint8Array([4, 0b00000001 | (0 << 2), 9]), new Uint8Array(4))).toThrow(/snappy/)
  })
})

describe('text columns and the rows view', () => {
  /** 600 distinct strings, some not ASCII, one a row in turn. */
  const words = Array.from({ length: 600 }, (_, i) => (i % 7 === 0 ? `ünï-${i}-€` : `sym-${i}`))
  const n = 1500
  const codes = Uint32Array.from({ length: n }, (_, i) => (i * 37) % words.length)
  const nulls = Uint8Array.from({ length: n }, (_, i) => +(i % 11 === 4))

  it('reads a text column of more than 255 distinct strings as its strings, dictionary-encoded or PLAIN, by the decoder itself', async () => {
    for (const dictionaryPageSize of [1_048_576, 64]) {
      const file = writeColumns([{ name: 's', type: 'STRING', codes, dict: words }], n, { rowGroupSize: 700, pageSize: 2048, dictionaryPageSize })
      const r = await readColumns(file, [{ name: 's', as: 'text' }])
      expect(r.fallbacks).toEqual([])
      expect(r.texts.s).toEqual(Array.from(codes, (k) => words[k]))
      expect(r.values.s).toBeUndefined()
    }
  })

  it('keeps nulls of a text column as null when asked, and otherwise leaves their rows out with the other columns', async () => {
    const file = writeColumns([
      { name: 's', type: 'STRING', codes, dict: words, nulls },
      { name: 'x', type: 'DOUBLE', values: Float64Array.from({ length: n }, (_, i) => i) },
    ], n, { rowGroupSize: 500, pageSize: 1024 })
    const kept = await readColumns(file, [{ name: 's', as: 'text' }, { name: 'x', as: 'number' }], { keepNulls: true })
    expect(kept.texts.s).toEqual(Array.from(codes, (k, i) => (nulls[i] ? null : words[k])))
    expect(kept.nulls).toBe(nulls.reduce((a, b) => a + b, 0))
    const dropped = await readColumns(file, [{ name: 's', as: 'text' }, { name: 'x', as: 'number' }])
    const present = Array.from(codes, (k, i) => (nulls[i] ? undefined : [words[k], i])).filter((x) => x !== undefined)
    expect(dropped.texts.s).toEqual(present.map((p) => p![0]))
    expect(Array.from(dropped.values.x)).toEqual(present.map((p) => p![1]))
  })

  it('reads a text column of a file the decoder does not cover through hyparquet, nulls kept', async () => {
    const mine = writeColumns([{ name: 's', type: 'STRING', codes, dict: words, nulls }], n)
    const file = await viaDuckDB(mine, 'COMPRESSION snappy, PARQUET_VERSION V2', 'SELECT s FROM src')
    const r = await readColumns(file, [{ name: 's', as: 'text' }], { keepNulls: true, masks: true })
    expect(r.fallbacks.join()).toMatch(/encoding/)
    expect(r.texts.s).toEqual(Array.from(codes, (k, i) => (nulls[i] ? null : words[k])))
    expect(Array.from(r.masks!.s)).toEqual(Array.from(nulls))
  })

  it('reads booleans into rows as true and false, null where null, as hyparquet did', async () => {
    const rows = Array.from({ length: 40 }, (_, i) => ({ b: i % 5 === 2 ? null : i % 3 === 0 }))
    const file = writeParquet([{ name: 'b', type: 'BOOLEAN' }], rows, { nullable: true })
    expect(await readParquet(file)).toEqual(rows)
    expect(await readParquet(file)).toEqual(await hyparquetRows(file))
  })

  it('gives the rows hyparquet gave for every type the lake writes: INT64 and timestamps as numbers in their unit, a stored NaN apart from a null', async () => {
    const columns = [
      { name: 's', type: 'STRING' }, { name: 'i', type: 'INT32' }, { name: 'l', type: 'INT64' }, { name: 'd', type: 'DOUBLE' },
      { name: 'b', type: 'BOOLEAN' }, { name: 'us', type: 'TIMESTAMP_MICROS' }, { name: 'ms', type: 'TIMESTAMP_MILLIS' },
    ] as const
    const rows = [
      { s: 'a', i: 1, l: 2 ** 53 - 1, d: NaN, b: true, us: 1_764_000_000_000_123, ms: 1_764_000_000_000 },
      { s: null, i: null, l: null, d: null, b: null, us: null, ms: null },
      { s: '', i: -1, l: -(2 ** 40), d: -0.5, b: false, us: -5, ms: -6 },
    ]
    for (const nullable of [true, false]) {
      const table = nullable ? rows : [rows[0], rows[2]]
      const file = writeParquet([...columns], table, { nullable })
      const ours = await readParquet<any>(file)
      expect(ours).toEqual(table)
      expect(ours).toEqual(await hyparquetRows(file))
      expect(Object.keys(ours[0])).toEqual(columns.map((c) => c.name))
      expect(await readParquet(file, ['ms', 's'])).toEqual(await hyparquetRows(file, ['ms', 's']))
    }
    const int96 = writeColumns([{ name: 't', type: 'INT96', values: Float64Array.of(1_764_000_000_000_123, 0) }], 2)
    expect(await readParquet(int96)).toEqual(await hyparquetRows(int96))
    await expect(readParquet(writeParquet([...columns], rows, { nullable: true }), ['nope'])).rejects.toThrow(/column not found: nope/)
  })

  it('reads a dim_symbols-like table written by writeParquet back to the same rows, over 255 symbols, nulls and all', async () => {
    type Dim = { exchange: string; symbol: string; native_symbol: string; status: string; trading: boolean; tick_size: number; min_qty: number | null; price_decimals: number; updated_at: number }
    const columns = [
      { name: 'exchange', type: 'STRING' }, { name: 'symbol', type: 'STRING' }, { name: 'native_symbol', type: 'STRING' }, { name: 'status', type: 'STRING' },
      { name: 'trading', type: 'BOOLEAN' }, { name: 'tick_size', type: 'DOUBLE' }, { name: 'min_qty', type: 'DOUBLE' }, { name: 'price_decimals', type: 'INT32' },
      { name: 'updated_at', type: 'TIMESTAMP_MILLIS' },
    ] as const
    const dims: Dim[] = Array.from({ length: 700 }, (_, i) => ({
      exchange: ['binance', 'binance-us', 'coinbase'][i % 3], symbol: `C${i}-USDT`, native_symbol: `C${i}USDT`, status: i % 9 ? 'TRADING' : 'BREAK',
      trading: i % 9 !== 0, tick_size: 10 ** -(i % 8), min_qty: i % 4 ? 0.001 * (i % 5) : null, price_decimals: i % 8, updated_at: 1_764_000_000_000 + i,
    }))
    const file = writeParquet([...columns], dims, { nullable: true })
    const back = await readParquet<Dim>(file)
    expect(back).toEqual(dims)
    expect(back).toEqual(await hyparquetRows(file))
  })

  it('reads a file with a column outside the rows view (a DATE) as hyparquet does', async () => {
    const file = await viaDuckDB(new Uint8Array(), 'COMPRESSION snappy', "SELECT DATE '2026-11-24' + i::INT AS day, 'x' || i AS s FROM range(3) t(i)")
    const rows = await readParquet<any>(file)
    expect(rows).toEqual(await hyparquetRows(file))
    expect(rows[1].day).toBeInstanceOf(Date)
  })
})
