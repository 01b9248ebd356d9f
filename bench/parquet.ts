/**
 * Parquet benchmarks (issue 13): what stays hand-written in `core/src/lake/parquet` is decided
 * here. One generated day of trades (the candle bench's day and cache: 2,000,000 trades by
 * default, 24 hourly files as AWS Firehose writes bronze) is read and written by our codec and by
 * the libraries that could replace it, in the same run, best of `runs` each:
 * - reading the six columns the candle job needs, and every column: our `readColumns` (one
 *   thread), our `readParquet` (row objects: the rows view of the same decoder), hyparquet's
 *   `parquetRead` with those columns into typed arrays (`onChunk`, no row objects), hyparquet's
 *   `parquetReadObjects` (row objects, the peer of `readParquet`, which it was before), and arrow-rs
 *   (parquet-wasm `readParquet`, to its own memory, on to Arrow JS columns through IPC, and on
 *   to the candle kernel's columns);
 * - snappy: every snappy page of the day decompressed by our `snappyUncompress`, hyparquet's and
 *   hysnappy's (WebAssembly); and compressed again by the writer's compressor (hysnappy's, since
 *   issue 13) and hyparquet-writer's JavaScript one (the writer's before);
 * - writing the day as silver (every trade column, from typed arrays): our `writeTradeTable`
 *   (uncompressed, as silver is written, and snappy), hyparquet-writer's `parquetWriteBuffer`, and
 *   parquet-wasm's `writeParquet` (from an Arrow table).
 * Each row gives ms, MB/s of the files' bytes (uncompressed bytes for snappy) and the time as a
 * ratio of ours (above 1: slower than ours).
 */
import { readFileSync } from 'node:fs'
import { parquetMetadata, parquetRead, parquetReadObjects } from 'hyparquet'
import { parquetHeader } from 'hyparquet/src/column.js'
import { snappyUncompress as hyparquetSnappy } from 'hyparquet/src/snappy.js'
import { parquetWriteBuffer } from 'hyparquet-writer'
import { snappyCompress as hyparquetWriterCompress } from 'hyparquet-writer/src/snappy.js'
import { snappyUncompressor } from 'hysnappy'
import * as wasm from 'parquet-wasm/node'
import { tableFromArrays, tableFromIPC, tableToIPC } from 'apache-arrow'
import { readColumns, readParquet, type ColumnRequest } from '../packages/core/src/lake/parquet/index'
import { snappyCompress, snappyUncompress } from '../packages/core/src/lake/parquet/snappy'
import { HOUR_COLUMNS } from '../packages/core/src/lake/candles/index'
import { readTradeTable, writeTradeTable } from '../packages/core/src/lake/trades/index'
import { bronze, filesIn } from './candles'
import type { Row } from './ingest'

export const defaults = { trades: 2_000_000, seed: 42, day: '2026-11-24', runs: 3 }

/** Best wall time of `runs` (after one untimed run). */
async function best(runs: number, fn: () => unknown) {
  await fn()
  let min = Infinity
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    await fn()
    min = Math.min(min, performance.now() - t)
  }
  return min
}

const micros = { timestampFromMicroseconds: (v: bigint) => Number(v), timestampFromMilliseconds: (v: bigint) => Number(v) * 1000, timestampFromNanoseconds: (v: bigint) => Number(v / 1000n) }

/** hyparquet's columnar read: the named columns of each file into one Float64Array (numbers) or array (strings) each. */
async function hyparquetColumns(files: Uint8Array[], names: string[]) {
  const out: Record<string, unknown[] | Float64Array> = {}
  let at = 0
  const total = files.reduce((s, f) => s + Number(parquetMetadata(f.buffer as ArrayBuffer).num_rows), 0)
  for (const n of names) out[n] = new Float64Array(total)
  for (const f of files) {
    const file = f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength) as ArrayBuffer
    const metadata = parquetMetadata(file)
    await parquetRead({
      file, metadata, columns: names, parsers: micros,
      onChunk: ({ columnName, columnData, rowStart }: { columnName: string; columnData: ArrayLike<unknown>; rowStart: number }) => {
        const o = out[columnName] as Float64Array
        for (let i = 0; i < columnData.length; i++) { const v = columnData[i]; o[at + rowStart + i] = typeof v === 'string' ? +(v === 'buy') : Number(v) }
      },
    } as any)
    at += Number(metadata.num_rows)
  }
  return out
}

/** Our rows view (`readParquet`) of the named columns, file by file. */
async function oursRows(files: Uint8Array[], names: string[]) {
  let n = 0
  for (const f of files) n += (await readParquet(f, names)).length
  return n
}

async function hyparquetRows(files: Uint8Array[], names: string[]) {
  let n = 0
  for (const f of files) n += (await parquetReadObjects({ file: f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength) as ArrayBuffer, columns: names, parsers: micros })).length
  return n
}

/** arrow-rs: each file to an Arrow table in WebAssembly memory; with `js`, on to Arrow JS columns (IPC). */
function arrowRs(files: Uint8Array[], names: string[], js: boolean) {
  let n = 0
  for (const f of files) {
    const t = wasm.readParquet(f, { columns: names })
    if (js) n += tableFromIPC(t.intoIPCStream()).numRows
    else { n += t.numBatches; t.free() }
  }
  return n
}

/**
 * arrow-rs to what the candle job needs: Arrow JS columns (IPC) turned into one Float64Array a
 * number column (INT64 from BigInt) and taker flags from `side`, all files concatenated; nulls not
 * looked at (ours leaves their rows out), so this favours arrow-rs.
 */
function arrowRsKernel(files: Uint8Array[], req: readonly ColumnRequest[]) {
  const tables = files.map((f) => tableFromIPC(wasm.readParquet(f, { columns: req.map((r) => r.name) }).intoIPCStream()))
  const total = tables.reduce((s, t) => s + t.numRows, 0)
  const out: Record<string, Float64Array | Uint8Array> = {}
  for (const r of req) {
    const o = (out[r.name] = r.as === 'flag' ? new Uint8Array(total) : new Float64Array(total))
    let at = 0
    for (const t of tables) {
      const col = t.getChild(r.name)!
      if (r.as === 'flag') { for (const v of col) o[at++] = v === r.equals ? 1 : 0; continue }
      for (const chunk of col.data) {
        const v = chunk.values as Float64Array | BigInt64Array
        if (v instanceof BigInt64Array) for (let i = 0; i < chunk.length; i++) o[at + i] = Number(v[chunk.offset + i])
        else o.set(v.subarray(chunk.offset, chunk.offset + chunk.length), at)
        at += chunk.length
      }
    }
  }
  return out
}

/** Every snappy page body of the files with its uncompressed size. */
function snappyPages(files: Uint8Array[]) {
  const pages: { body: Uint8Array; size: number }[] = []
  for (const f of files) {
    const meta = parquetMetadata(f.buffer as ArrayBuffer)
    const view = new DataView(f.buffer, f.byteOffset, f.byteLength)
    for (const g of meta.row_groups) for (const c of g.columns) {
      const m = c.meta_data!
      if (m.codec !== 'SNAPPY') continue
      let pos = Number(m.dictionary_page_offset || m.data_page_offset)
      const end = pos + Number(m.total_compressed_size)
      while (pos < end) {
        const r = { view, offset: pos }
        const h = parquetHeader(r)
        pages.push({ body: f.subarray(r.offset, r.offset + h.compressed_page_size), size: h.uncompressed_page_size })
        pos = r.offset + h.compressed_page_size
      }
    }
  }
  return pages
}

const row = (name: string, ms: number, bytes: number, ours: number, note: string): Row[] => [
  { name: `${name}_ms`, value: Math.round(ms * 10) / 10, unit: 'ms', note: `${note}; ${Math.round(bytes / 1e6 / (ms / 1000))} MB/s; ${(ms / ours).toFixed(2)}x ours` },
]

export async function parquetBench(o: Partial<typeof defaults> = {}): Promise<Row[]> {
  const { trades, seed, day, runs } = { ...defaults, ...o }
  const dirs = await bronze(trades, seed, day)
  const files = filesIn(dirs.firehose).map((f) => new Uint8Array(readFileSync(f)))
  const bytes = files.reduce((s, f) => s + f.length, 0)
  const rows: Row[] = []
  const what = `${trades} trades, ${files.length} bronze files as Firehose writes them (${(bytes / 1e6).toFixed(1)} MB)`

  // reading: the candle job's columns, then every column
  const all: ColumnRequest[] = [...HOUR_COLUMNS, { name: 'trade_id', as: 'number' }, { name: 'trades', as: 'number' }, { name: 'ingest_ts', as: 'micros' }, { name: 'native_symbol', as: 'code', values: [] }, { name: 'source', as: 'code', values: [] }]
  for (const [label, req] of [['candle_columns', HOUR_COLUMNS], ['all_columns', all]] as const) {
    const names = req.map((r) => r.name)
    const ours = await best(runs, () => readColumns(files, req, { fill: { exchange: 'binance', symbol: 'BTC-USDT' } }))
    rows.push(...row(`parquet_read_${label}_ours`, ours, bytes, ours, `our readColumns, one thread, ${names.length} columns of ${what}`))
    rows.push(...row(`parquet_read_${label}_hyparquet_columns`, await best(runs, () => hyparquetColumns(files, names)), bytes, ours, 'hyparquet parquetRead of the same columns into typed arrays (onChunk, no row objects)'))
    rows.push(...row(`parquet_read_${label}_ours_rows`, await best(Math.min(runs, 2), () => oursRows(files, names)), bytes, ours, 'our readParquet of the same columns (row objects, the rows view of the same decoder)'))
    rows.push(...row(`parquet_read_${label}_hyparquet_rows`, await best(Math.min(runs, 2), () => hyparquetRows(files, names)), bytes, ours, "hyparquet parquetReadObjects of the same columns (row objects, the peer of readParquet)"))
    rows.push(...row(`parquet_read_${label}_arrow_rs`, await best(runs, () => arrowRs(files, names, false)), bytes, ours, 'arrow-rs (parquet-wasm readParquet) to Arrow in WebAssembly memory'))
    rows.push(...row(`parquet_read_${label}_arrow_rs_js`, await best(runs, () => arrowRs(files, names, true)), bytes, ours, 'arrow-rs, then to Arrow JS columns (IPC, apache-arrow)'))
    if (label === 'candle_columns') rows.push(...row(`parquet_read_${label}_arrow_rs_kernel`, await best(runs, () => arrowRsKernel(files, req)), bytes, ours, "arrow-rs, then to the candle kernel's columns (doubles, taker flags), as ours gives them"))
  }

  // snappy: every page of the day
  const pages = snappyPages(files)
  const plain = pages.reduce((s, p) => s + p.size, 0)
  const out = new Uint8Array(Math.max(...pages.map((p) => p.size)) + 16)
  const hysnappy = snappyUncompressor()
  const ours = await best(runs, () => { for (const p of pages) snappyUncompress(p.body, out, p.size) })
  const pagesNote = `${pages.length} snappy pages, ${(plain / 1e6).toFixed(1)} MB uncompressed`
  rows.push(...row('parquet_snappy_ours', ours, plain, ours, `our snappyUncompress: ${pagesNote}`))
  rows.push(...row('parquet_snappy_hyparquet', await best(runs, () => { for (const p of pages) hyparquetSnappy(p.body, out.subarray(0, p.size)) }), plain, ours, "hyparquet's snappyUncompress (JavaScript)"))
  rows.push(...row('parquet_snappy_hysnappy', await best(runs, () => { for (const p of pages) hysnappy(p.body, p.size) }), plain, ours, 'hysnappy (WebAssembly), a new array per page'))
  // compression, as the writer uses it (gold, prices, the Firehose emulator)
  const raw = pages.map((p) => { const o = new Uint8Array(p.size); snappyUncompress(p.body, o); return o })
  const oursPack = await best(runs, () => { for (const r of raw) snappyCompress(r) })
  rows.push(...row('parquet_snappy_compress_ours', oursPack, plain, oursPack, "the writer's snappyCompress (hysnappy): the same pages"))
  rows.push(...row('parquet_snappy_compress_hyparquet_writer', await best(runs, () => { for (const r of raw) hyparquetWriterCompress(r) }), plain, oursPack, "hyparquet-writer's snappyCompress (JavaScript)"))

  // writing the day as silver, from typed arrays
  const { table } = await readTradeTable(files, { fill: { exchange: 'binance', symbol: 'BTC-USDT' } })
  const oursPlain = await best(runs, () => writeTradeTable(table, undefined, { codec: 'UNCOMPRESSED' }))
  const silver = writeTradeTable(table, undefined, { codec: 'UNCOMPRESSED' }).length
  rows.push(...row('parquet_write_silver_ours', oursPlain, silver, oursPlain, `our writeTradeTable, uncompressed as silver is written (${table.length} trades, ${(silver / 1e6).toFixed(1)} MB)`))
  rows.push(...row('parquet_write_silver_ours_snappy', await best(runs, () => writeTradeTable(table, undefined, { codec: 'SNAPPY' })), silver, oursPlain, 'the same, snappy'))
  const strings = (codes: Uint8Array, list: string[]) => Array.from(codes, (k) => list[k])
  const int64 = (x: Float64Array) => BigInt64Array.from(x, (v) => BigInt(v))
  const columnData = () => [
    { name: 'exchange', data: strings(table.exchange, table.strings.exchange), type: 'STRING' as const },
    { name: 'symbol', data: strings(table.symbol, table.strings.symbol), type: 'STRING' as const },
    { name: 'native_symbol', data: strings(table.native_symbol, table.strings.native_symbol), type: 'STRING' as const },
    ...(['trade_id', 'first_trade_id', 'last_trade_id', 'ts'] as const).map((n) => ({ name: n, data: int64(table[n]), type: 'INT64' as const })),
    { name: 'price', data: table.price, type: 'DOUBLE' as const }, { name: 'qty', data: table.qty, type: 'DOUBLE' as const },
    { name: 'side', data: strings(table.buy, table.strings.side), type: 'STRING' as const },
    { name: 'trades', data: Int32Array.from(table.trades), type: 'INT32' as const },
    { name: 'ingest_ts', data: int64(table.ingest_ts), type: 'INT64' as const },
    { name: 'source', data: strings(table.source, table.strings.source), type: 'STRING' as const },
  ]
  rows.push(...row('parquet_write_silver_hyparquet_writer', await best(Math.min(runs, 2), () => parquetWriteBuffer({ columnData: columnData(), codec: 'UNCOMPRESSED' })), silver, oursPlain, "hyparquet-writer's parquetWriteBuffer, uncompressed (its columns made from the table's arrays, timed too)"))
  const props = (c: wasm.Compression) => new wasm.WriterPropertiesBuilder().setCompression(c).build()
  const arrowTable = () => tableFromArrays(Object.fromEntries(columnData().map((c) => [c.name, c.data])) as any)
  rows.push(...row('parquet_write_silver_arrow_rs', await best(runs, () => wasm.writeParquet(wasm.Table.fromIPCStream(tableToIPC(arrowTable(), 'stream')), props(wasm.Compression.UNCOMPRESSED))), silver, oursPlain, "arrow-rs (parquet-wasm writeParquet), uncompressed, from an Arrow JS table of the same columns (made and passed through IPC, timed too)"))
  return rows
}
