/**
 * The fast column decoder of the lake: reads only the named columns of flat Parquet files straight
 * into typed arrays (Float64Array for numbers and timestamps, Uint8Array for string flags such as
 * taker side), one pass per column chunk and no per-row objects, so a day of trades decodes in a
 * fraction of what row assembly costs. It covers what writes our trade files: hyparquet-writer
 * (REQUIRED columns, data page v2) and Firehose's Parquet conversion, parquet-mr, or DuckDB
 * (OPTIONAL columns, data page v1): SNAPPY or no compression, PLAIN and PLAIN_DICTIONARY /
 * RLE_DICTIONARY encodings, RLE/bit-packed definition levels, INT32, INT64, INT96, FLOAT, DOUBLE
 * and BYTE_ARRAY. A file using anything else is read by hyparquet instead, and the reason is
 * reported. A row with a null in any requested column is left out and counted. Snappy is
 * decompressed here too (a word-at-a-time fast loop; eight-byte PLAIN values without nulls are
 * decompressed straight into their rows and INT64 turned into doubles in place), dictionary
 * strings go straight to one-byte codes, and the columns can be split over worker threads that
 * read the files from and write into shared memory.
 */
import { parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet'
import type { ColumnMetaData, FileMetaData, SchemaElement } from 'hyparquet'
import { parquetHeader } from 'hyparquet/src/column.js'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import type { TradeColumns } from '../candles/kernel'

export const defaults = {
  /** Bit widths above this (dictionary indices, levels) are left to hyparquet. */
  maxBitWidth: 24,
}

/**
 * How one column is read: `number` keeps the stored value (INT64 as a double, exact below 2^53);
 * `micros` converts a timestamp of any unit (and INT96) to epoch microseconds, and takes a plain
 * INT64 as epoch microseconds already (Firehose writes the Glue table's `bigint` times so); `flag` gives 1
 * where a string equals `equals`, else 0; `code` gives a string's index in `values` (up to 255
 * strings), and strings not yet there are appended to it (by this thread; a worker meeting one
 * leaves its file to this thread).
 */
export type ColumnRequest =
  | { name: string; as: 'number' | 'micros' }
  | { name: string; as: 'flag'; equals: string }
  | { name: string; as: 'code'; values: string[] }

export interface DecodedColumns {
  /** Rows kept: rows with a null in a requested column are left out. */
  length: number
  values: Record<string, Float64Array | Uint8Array>
  /** Rows left out for a null in a requested column. */
  nulls: number
  /** One line per file read by hyparquet instead, with the reason. */
  fallbacks: string[]
  /** Threads that decoded (this one and workers). */
  threads: number
}

/** Trades as columns, the candle kernel's input: one definition, in core/candles. */
export type { TradeColumns }

/** The trade columns the candle kernel needs, as `readColumns` requests. */
export const TRADE_COLUMN_REQUESTS: ColumnRequest[] = [
  { name: 'ts', as: 'micros' },
  { name: 'price', as: 'number' },
  { name: 'qty', as: 'number' },
  { name: 'side', as: 'flag', equals: 'buy' },
  { name: 'trades', as: 'number' },
  { name: 'first_trade_id', as: 'number' },
  { name: 'last_trade_id', as: 'number' },
  { name: 'trade_id', as: 'number' },
]

/** A file (or part of one) this decoder does not cover; hyparquet reads it instead. */
export class Unsupported extends Error {}

/**
 * Trade files (bronze or silver, any number) as one set of columns, in file order.
 * @example const { columns, nulls } = await readTradeColumns([bytesA, bytesB])
 */
export async function readTradeColumns(files: Uint8Array | Uint8Array[], options: Partial<ReadOptions> = {}) {
  const d = await readColumns(files, TRADE_COLUMN_REQUESTS, options)
  const v = d.values as Record<string, Float64Array>
  const columns: TradeColumns = {
    length: d.length, ts: v.ts, price: v.price, qty: v.qty, buy: d.values.side as Uint8Array,
    trades: v.trades, first_trade_id: v.first_trade_id, last_trade_id: v.last_trade_id, trade_id: v.trade_id,
  }
  return { columns, nulls: d.nulls, fallbacks: d.fallbacks, threads: d.threads }
}

/**
 * Every column of a trade file (TRADE_COLUMNS) as arrays: the kernel's columns plus `ingest_ts`,
 * and the string columns as one-byte codes into `strings` (`buy` is side's code: the list starts
 * `sell`, `buy`, so 1 means a taker buy, as the kernel reads it).
 */
export interface TradeTable extends TradeColumns {
  ingest_ts: Float64Array
  exchange: Uint8Array; symbol: Uint8Array; native_symbol: Uint8Array; source: Uint8Array
  strings: Record<TradeString, string[]>
}

export type TradeString = 'exchange' | 'symbol' | 'native_symbol' | 'side' | 'source'

/** Code lists to start a trade table with: side's first two fix the meaning of `buy`. */
export const tradeStrings = (): Record<TradeString, string[]> => ({ exchange: [], symbol: [], native_symbol: [], side: ['sell', 'buy'], source: [] })

/**
 * Trade files read whole (every column of TRADE_COLUMNS) as one table, in file order; the code
 * lists of `strings` (from `tradeStrings()`) grow with the strings met.
 * @example const { table } = await readTradeTable([silver, ...bronze])
 */
export async function readTradeTable(files: Uint8Array | Uint8Array[], options: Partial<ReadOptions> & { strings?: Record<TradeString, string[]> } = {}) {
  const strings = options.strings ?? tradeStrings()
  const code = (name: TradeString): ColumnRequest => ({ name, as: 'code', values: strings[name] })
  const requests: ColumnRequest[] = [
    ...TRADE_COLUMN_REQUESTS.filter((r) => r.name !== 'side'), { name: 'ingest_ts', as: 'micros' },
    code('side'), code('exchange'), code('symbol'), code('native_symbol'), code('source'),
  ]
  const d = await readColumns(files, requests, options)
  const v = d.values as Record<string, Float64Array>, b = d.values as Record<string, Uint8Array>
  const table: TradeTable = {
    length: d.length, ts: v.ts, price: v.price, qty: v.qty, buy: b.side, trades: v.trades,
    first_trade_id: v.first_trade_id, last_trade_id: v.last_trade_id, trade_id: v.trade_id, ingest_ts: v.ingest_ts,
    exchange: b.exchange, symbol: b.symbol, native_symbol: b.native_symbol, source: b.source, strings,
  }
  return { table, nulls: d.nulls, fallbacks: d.fallbacks, threads: d.threads }
}

export interface ReadOptions {
  /**
   * Threads to decode with (each takes the next column from a shared queue; string codes stay on
   * this one). The extra threads are worker threads kept for later calls; where they cannot start (a
   * runtime that cannot load this module in a worker) decoding stays on this thread.
   */
  threads: number
  /**
   * Columns not read whose nulls leave a row out as well, as when every column is read (so that a
   * reader of a few columns keeps the rows a reader of all keeps). Decoded only in files whose
   * metadata cannot rule nulls out (OPTIONAL, without a zero null count in its statistics).
   */
  nullsOf?: string[]
  /** Names of number columns laid out with the others but not read (the caller fills them; rows with nulls are left out of them too). */
  extra?: string[]
  /**
   * Values of string columns a file does not hold: the Hive partitions of its key (Firehose
   * writes a table's non-partition columns only), e.g. `{ exchange: 'binance', symbol: 'BTC-USDT' }`.
   */
  fill?: Record<string, string>
}

/**
 * The requested columns of one or more flat Parquet files, concatenated in file order. Throws a
 * clear error for a file that is not Parquet or lacks a requested column.
 * @example await readColumns(bytes, [{ name: 'price', as: 'number' }]) // { values: { price: Float64Array } }
 */
export async function readColumns(files: Uint8Array | Uint8Array[], requests: ColumnRequest[], options: Partial<ReadOptions> = {}): Promise<DecodedColumns> {
  const list = Array.isArray(files) ? files : [files]
  const metas = list.map((f) => parquetMetadata(f))
  const starts: number[] = []
  let total = 0
  for (const m of metas) { starts.push(total); total += Number(m.num_rows) }
  // columns are split between threads; string codes stay on this one (only it may add to their lists)
  const movable = requests.filter((r) => r.as !== 'code')
  const helpers = Math.min((options.threads ?? 1) - 1, movable.length - 1)
  const pool = helpers > 0 && total > 0 ? await workerPool(helpers) : []
  const shared = pool.length > 0
  // every row of every column is written by the decode, so the value arrays need no zeroing
  const make = (bytes: number) => (shared ? new SharedArrayBuffer(bytes) : Buffer.allocUnsafeSlow(bytes).buffer)
  const values: Record<string, Float64Array | Uint8Array> = {}
  for (const r of [...(options.extra ?? []).map((name): ColumnRequest => ({ name, as: 'number' })), ...requests]) values[r.name] = r.as === 'flag' || r.as === 'code' ? new Uint8Array(make(total)) : new Float64Array(make(total * 8))
  const nullRows = shared ? new Uint8Array(new SharedArrayBuffer(total)) : new Uint8Array(total)
  const state = { nulls: false }
  // the files once in shared memory, so that workers read them where they are
  const copies = shared ? sharedCopies(list) : undefined
  const inShared = copies?.views ?? list
  const unsupported = new Map<number, string>()
  // string codes first, on this thread (only it may add to their lists); then every thread takes
  // the next column of a shared queue, largest first, until none is left
  const codes = requests.filter((r) => r.as === 'code')
  const queue = shared ? byCost(metas, movable) : movable
  const next = new Int32Array(shared ? new SharedArrayBuffer(4) : new ArrayBuffer(4))
  const helped = pool.map((w) => askWorker(w, { files: inShared, starts, requests: queue, next, values, nullRows }))
  const decodeColumns = (columns: ColumnRequest[]) => list.forEach((f, i) => {
    if (unsupported.has(i)) return
    try { decodeFile(f, metas[i], columns, values, starts[i], nullRows, state, true, options.fill) } catch (e) {
      if (!(e instanceof Unsupported)) throw e
      unsupported.set(i, e.message)
    }
  })
  try {
    decodeColumns(codes)
    for (let k = Atomics.add(next, 0, 1); k < queue.length; k = Atomics.add(next, 0, 1)) decodeColumns([queue[k]])
  } catch (e) { await Promise.allSettled(helped); copies?.release(); throw e }
  const results = await Promise.allSettled(helped)
  copies?.release()
  // a worker that failed or stopped leaves its columns to this thread: every column again, here
  if (results.some((r) => r.status === 'rejected')) {
    unsupported.clear()
    decodeColumns(requests)
  }
  const retry = new Set<number>()
  for (const settled of results) {
    if (settled.status === 'rejected') continue
    const r = settled.value
    if (r.nulls) state.nulls = true
    for (const [i, reason] of r.unsupported) if (!unsupported.has(i)) { retry.add(i); unsupported.set(i, reason) }
  }
  const fallbacks: string[] = []
  for (const [i, reason] of [...unsupported].sort((x, y) => x[0] - y[0])) {
    // a worker stops at a file it cannot decode alone: this thread decodes that file whole, or hands it to hyparquet
    if (retry.has(i)) {
      try { decodeFile(list[i], metas[i], requests, values, starts[i], nullRows, state, true, options.fill); continue } catch (e) { if (!(e instanceof Unsupported)) throw e }
    }
    fallbacks.push(`file ${i}: ${reason}; read with hyparquet`)
    await fallbackFile(list[i], metas[i], requests, values, starts[i], nullRows, state, options.fill)
  }
  // columns not read whose nulls leave a row out too: decoded only where the metadata cannot rule nulls out
  const leaves = options.nullsOf?.length ? metas.map((m) => leavesOf(m)) : []
  for (const name of options.nullsOf ?? []) {
    if (requests.some((r) => r.name === name)) continue
    let scratch: Record<string, Float64Array | Uint8Array> | undefined
    for (let i = 0; i < list.length; i++) {
      const leaf = leaves[i].get(name)
      if (!leaf || leaf.repetition_type === 'REQUIRED') continue
      const chunks = metas[i].row_groups.map((g) => g.columns.find((c) => c.meta_data?.path_in_schema[0] === name)?.meta_data)
      if (chunks.every((c) => c?.statistics?.null_count !== undefined && Number(c.statistics.null_count) === 0)) continue
      const req: ColumnRequest = leaf.type === 'BYTE_ARRAY' ? { name, as: 'flag', equals: '' } : { name, as: 'number' }
      scratch ??= { [name]: leaf.type === 'BYTE_ARRAY' ? new Uint8Array(total) : new Float64Array(total) }
      try { decodeFile(list[i], metas[i], [req], scratch, starts[i], nullRows, state, true) } catch (e) {
        if (!(e instanceof Unsupported)) throw e
        await fallbackFile(list[i], metas[i], [req], scratch, starts[i], nullRows, state)
      }
    }
  }
  let length = total
  if (state.nulls) length = dropNullRows(values, nullRows, total)
  return { length, values, nulls: total - length, fallbacks, threads: pool.length + 1 }
}

/** The requests, most work first (a column's uncompressed bytes in all files): the queue threads take them from. */
function byCost(metas: FileMetaData[], requests: ColumnRequest[]): ColumnRequest[] {
  const size = (r: ColumnRequest) => {
    let bytes = 0
    for (const m of metas) for (const g of m.row_groups) for (const c of g.columns) if (c.meta_data?.path_in_schema[0] === r.name) bytes += Number(c.meta_data.total_uncompressed_size)
    return bytes
  }
  return requests.map((r) => ({ r, bytes: size(r) })).sort((a, b) => b.bytes - a.bytes).map((x) => x.r)
}

/** Shared buffers files were copied into, free for the next call: fresh shared memory costs its page faults every time. */
const arenas: SharedArrayBuffer[] = []

/**
 * The files copied into one SharedArrayBuffer (views into it), so workers read them without a
 * copy each; `release` hands the buffer to the next call once every reader is done.
 */
function sharedCopies(files: Uint8Array[]) {
  const size = files.reduce((s, f) => s + f.length, 0)
  const i = arenas.findIndex((b) => b.byteLength >= size)
  const buffer = i >= 0 ? arenas.splice(i, 1)[0] : new SharedArrayBuffer(Math.ceil(size / 4_194_304) * 4_194_304 || 4_194_304)
  let at = 0
  const views = files.map((f) => { const v = new Uint8Array(buffer, at, f.length); v.set(f); at += f.length; return v })
  const release = () => { if (arenas.length < 2 && buffer.byteLength <= 268_435_456) arenas.push(buffer) }
  return { views, release }
}

/** A worker's job: the columns of `requests` it takes from the shared queue (`next` is the next index to take). */
interface WorkerJob { files: Uint8Array[]; starts: number[]; requests: ColumnRequest[]; next: Int32Array; values: Record<string, Float64Array | Uint8Array>; nullRows: Uint8Array }
interface WorkerDone { nulls: boolean; unsupported: [number, string][]; error?: string }
type Port = Pick<Worker, 'postMessage' | 'on' | 'once' | 'off' | 'ref' | 'unref'>

let workers: Promise<Port[]> | undefined

/** Up to `n` started workers, each running `serveColumns` of this very module; none where they cannot start. */
async function workerPool(n: number): Promise<Port[]> {
  const have = (await workers) ?? []
  if (have.length >= n || (workers && have.length === 0)) return have.slice(0, n)
  workers = (async () => {
    const started = await Promise.all(Array.from({ length: n - have.length }, () => new Promise<Port | undefined>((resolve) => {
      // the worker loads this module (or the bundle holding it), which then serves (see the end)
      const w = new Worker(`import(${JSON.stringify(import.meta.url)})`, { eval: true, workerData: { ticklakeColumns: true } })
      w.unref()
      const fail = () => { resolve(undefined); w.terminate() }
      w.once('error', fail)
      w.once('message', (m) => { w.off('error', fail); w.on('error', () => {}); resolve(m === 'ready' ? w : undefined) })
      w.once('exit', () => { exited.add(w); workers = undefined }) // a pool with a stopped worker is started afresh next time
    })))
    return [...have, ...started.filter((w): w is Port => !!w)]
  })()
  live = await workers
  return live.slice(0, n)
}

/** The workers started so far, for callers that post at once (`onWorker`). */
let live: Port[] = []

const queues = new WeakMap<Port, Promise<unknown>>()
/** Workers that stopped: a job queued behind one that was running is refused, not left waiting. */
const exited = new WeakSet<Port>()

/**
 * Sends a job to a worker after its earlier ones (at once when it has none: the caller decodes its
 * own part meanwhile); rejects when the worker fails or exits.
 */
function askWorker<T extends { error?: string } = WorkerDone>(w: Port, job: WorkerJob | TaskJob): Promise<T> {
  const start = () => new Promise<T>((resolve, reject) => {
    const onExit = () => reject(new Error('parquet decode worker stopped'))
    if (exited.has(w)) return onExit()
    w.once('exit', onExit)
    w.once('message', (m: T) => { w.off('exit', onExit); w.unref(); if (m.error) reject(new Error(m.error)); else resolve(m) })
    w.ref() // keeps the process alive while the worker has work
    w.postMessage(job)
  })
  const earlier = queues.get(w)
  const run = earlier ? earlier.catch(() => {}).then(start) : start()
  queues.set(w, run)
  const done = () => { if (queues.get(w) === run) queues.delete(w) }
  run.then(done, done)
  return run
}

function dropNullRows(values: Record<string, Float64Array | Uint8Array>, nullRows: Uint8Array, total: number) {
  let kept = 0
  for (const k in values) {
    const a = values[k]
    kept = 0
    for (let i = 0; i < total; i++) if (!nullRows[i]) a[kept++] = a[i]
    values[k] = a.subarray(0, kept)
  }
  return kept
}

interface Target {
  req: ColumnRequest; out: Float64Array | Uint8Array; at: number; rows: number; scale: number; int96: boolean
  /** Set for string columns read as one byte per row (flags and codes). */
  bytes: boolean
  flag?: Uint8Array
  /** `code`: the strings known so far, UTF-8, and whether new ones may be appended. */
  codes?: { list: string[]; encoded: Uint8Array[]; grow: boolean }
}
interface State { nulls: boolean }

function decodeFile(file: Uint8Array, meta: FileMetaData, requests: ColumnRequest[], values: Record<string, Float64Array | Uint8Array>, at: number, nullRows: Uint8Array, state: State, grow: boolean, fill?: Record<string, string>) {
  const leaves = leavesOf(meta)
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength)
  let groupAt = at
  for (const group of meta.row_groups) {
    const rows = Number(group.num_rows)
    for (const req of requests) {
      const leaf = leaves.get(req.name)
      if (!leaf) { fillMissing(req, values[req.name], groupAt, rows, fill); continue }
      const chunk = group.columns.find((c) => c.meta_data?.path_in_schema.length === 1 && c.meta_data.path_in_schema[0] === req.name)?.meta_data
      if (!chunk) throw new Unsupported(`column ${req.name} has no chunk metadata in a row group`)
      if (chunk.type !== leaf.type) throw new Unsupported(`column ${req.name}: chunk type ${chunk.type} differs from schema ${leaf.type}`)
      const t = targetOf(req, leaf, values[req.name], groupAt, rows, grow)
      decodeChunk(file, view, chunk, leaf, t, nullRows, state)
    }
    groupAt += rows
  }
}

function timeUnit(el: SchemaElement) {
  const lt = el.logical_type
  if (lt?.type === 'TIMESTAMP') return lt.unit
  return el.converted_type === 'TIMESTAMP_MILLIS' ? 'MILLIS' : el.converted_type === 'TIMESTAMP_MICROS' ? 'MICROS' : undefined
}

function leavesOf(meta: FileMetaData) {
  const leaves = new Map<string, SchemaElement>()
  for (const c of parquetSchema(meta).children) if (!c.children.length) leaves.set(c.element.name, c.element)
  return leaves
}

const NUMBER_TYPES = new Set(['INT32', 'INT64', 'INT96', 'FLOAT', 'DOUBLE'])

const utf8 = new TextEncoder()

function targetOf(req: ColumnRequest, el: SchemaElement, out: Float64Array | Uint8Array, at: number, rows: number, grow: boolean): Target {
  const type = el.type!
  if (req.as === 'flag' || req.as === 'code') {
    if (type !== 'BYTE_ARRAY') throw new Unsupported(`column ${req.name}: a ${req.as} needs a string column, found ${type}`)
    if (req.as === 'flag') return { req, out, at, rows, scale: 1, int96: false, bytes: true, flag: utf8.encode(req.equals) }
    return { req, out, at, rows, scale: 1, int96: false, bytes: true, codes: { list: req.values, encoded: req.values.map((v) => utf8.encode(v)), grow } }
  }
  if (!NUMBER_TYPES.has(type)) throw new Unsupported(`column ${req.name}: type ${type} is not numeric`)
  if (el.converted_type === 'DECIMAL' || el.logical_type?.type === 'DECIMAL') throw new Unsupported(`column ${req.name}: DECIMAL`)
  const int96 = type === 'INT96'
  const unit = timeUnit(el)
  // a plain INT64 time is epoch microseconds by the lake's schema (Firehose writes the Glue table's `bigint` so)
  if (req.as === 'micros' && !unit && !int96 && type !== 'INT64') throw new Error(`parquet column ${req.name} is not a timestamp or INT64 (type ${type})`)
  const scale = unit === 'MILLIS' ? 1000 : unit === 'NANOS' ? 0.001 : 1
  return { req, out, at, rows, scale, int96, bytes: false }
}

/** Decompressed pages, definition levels and dictionary indices live here, reused from page to page. */
let scratch = new Uint8Array(1 << 20)
let levels = new Uint32Array(1 << 16)
let indices = new Uint32Array(1 << 16)
const grow = <T extends { length: number }>(a: T, n: number, make: (n: number) => T): T => (a.length >= n ? a : make(Math.max(n, a.length * 2)))

function decodeChunk(file: Uint8Array, view: DataView, chunk: ColumnMetaData, el: SchemaElement, t: Target, nullRows: Uint8Array, state: State) {
  const name = t.req.name
  const codec = chunk.codec
  if (codec !== 'SNAPPY' && codec !== 'UNCOMPRESSED') throw new Unsupported(`column ${name}: codec ${codec}`)
  const maxDef = el.repetition_type === 'OPTIONAL' ? 1 : el.repetition_type === 'REQUIRED' ? 0 : -1
  if (maxDef < 0) throw new Unsupported(`column ${name}: repetition ${el.repetition_type}`)
  // some writers put 0 in dictionary_page_offset for a chunk without a dictionary
  const dataAt = Number(chunk.data_page_offset)
  const dictAt = Number(chunk.dictionary_page_offset ?? 0)
  let pos = dictAt > 0 && dictAt < dataAt ? dictAt : dataAt
  const end = pos + Number(chunk.total_compressed_size)
  if (end > file.length) throw new Error(`parquet column ${name} runs past the end of the file`)
  let dict: Float64Array | Uint8Array | undefined
  let row = t.at
  const last = t.at + t.rows
  while (row < last && pos < end) {
    const reader = { view, offset: pos }
    const h = parquetHeader(reader)
    const start = reader.offset
    pos = start + h.compressed_page_size
    if (pos > end) throw new Error(`parquet column ${name}: page runs past its column chunk`)
    const body = file.subarray(start, pos)
    if (h.type === 'DICTIONARY_PAGE') {
      const n = h.dictionary_page_header!.num_values
      const page = inflate(body, h.uncompressed_page_size, codec)
      dict = t.bytes ? new Uint8Array(n) : new Float64Array(n)
      decodePlain(page, 0, page.length, el, t, dict, 0, n)
    } else if (h.type === 'DATA_PAGE') {
      const d = h.data_page_header!
      const page = inflate(body, h.uncompressed_page_size, codec)
      let p = 0
      let present = d.num_values
      if (maxDef) {
        if (d.definition_level_encoding !== 'RLE') throw new Unsupported(`column ${name}: definition levels ${d.definition_level_encoding}`)
        const len = page[p] | (page[p + 1] << 8) | (page[p + 2] << 16) | (page[p + 3] << 24)
        p += 4
        present = definedLevels(page, p, p + len, d.num_values)
        if (present !== d.num_values) {
          levels = grow(levels, d.num_values, (n) => new Uint32Array(n))
          hybrid(page, p, p + len, 1, levels, d.num_values, 1)
        }
        p += len
      }
      decodeValues(page, p, page.length, d.encoding, el, t, dict, row, d.num_values, present, nullRows, state)
      row += d.num_values
    } else if (h.type === 'DATA_PAGE_V2') {
      const d = h.data_page_header_v2!
      const rl = d.repetition_levels_byte_length
      const dl = d.definition_levels_byte_length
      if (rl) throw new Unsupported(`column ${name}: repetition levels`)
      let present = d.num_values
      if (maxDef) {
        present = definedLevels(body, 0, dl, d.num_values)
        if (present !== d.num_values) {
          levels = grow(levels, d.num_values, (n) => new Uint32Array(n))
          hybrid(body, 0, dl, 1, levels, d.num_values, 1)
        }
      }
      const compressed = d.is_compressed !== false && codec === 'SNAPPY'
      const size = h.uncompressed_page_size - rl - dl
      if (compressed && present === d.num_values && row + present <= last && d.encoding === 'PLAIN' && !t.bytes && size === present * 8 && (el.type === 'DOUBLE' || (el.type === 'INT64' && LITTLE_ENDIAN))) {
        // eight-byte values with no nulls: decompressed straight into their rows, no copy
        const o = t.out as Float64Array
        snappyUncompress(body.subarray(rl + dl), new Uint8Array(o.buffer, o.byteOffset + row * 8, size), size)
        if (el.type === 'INT64') int64InPlace(o, row, present)
        if (t.scale !== 1) rescale(o, row, present, t.scale)
        row += d.num_values
        continue
      }
      const data = compressed ? inflate(body.subarray(rl + dl), size, codec) : body.subarray(rl + dl)
      decodeValues(data, 0, data.length, d.encoding, el, t, dict, row, d.num_values, present, nullRows, state)
      row += d.num_values
    }
  }
  if (row !== last) throw new Error(`parquet column ${name} holds ${row - t.at} values, expected ${t.rows}`)
}

function decodeValues(page: Uint8Array, p: number, end: number, encoding: string, el: SchemaElement, t: Target, dict: Float64Array | Uint8Array | undefined, row: number, count: number, present: number, nullRows: Uint8Array, state: State) {
  const dense = present === count
  // with nulls, values are decoded densely into a temporary array and then spread over the rows
  const out = dense ? t.out : t.bytes ? new Uint8Array(present) : new Float64Array(present)
  const at = dense ? row : 0
  if (encoding === 'PLAIN') decodePlain(page, p, end, el, t, out, at, present)
  else if (encoding === 'RLE_DICTIONARY' || encoding === 'PLAIN_DICTIONARY') {
    if (!dict) throw new Error(`parquet column ${t.req.name}: dictionary-encoded page without a dictionary`)
    const width = page[p]
    if (width > defaults.maxBitWidth) throw new Unsupported(`column ${t.req.name}: dictionary index width ${width}`)
    let bad = -1
    if (t.bytes && width > 0) bad = hybridBytes(page, p + 1, end, width, dict as Uint8Array, out as Uint8Array, at, present)
    else if (t.bytes && dict.length > 0) (out as Uint8Array).fill((dict as Uint8Array)[0], at, at + present) // a one-entry dictionary may carry no index data
    else {
      indices = grow(indices, present, (n) => new Uint32Array(n))
      if (width === 0) indices.fill(0, 0, present) // a one-entry dictionary may carry no index data
      else hybrid(page, p + 1, end, width, indices, present, -1)
      bad = t.bytes ? lookupFlags(indices, dict as Uint8Array, out as Uint8Array, at, present) : lookupNumbers(indices, dict as Float64Array, out as Float64Array, at, present)
    }
    if (bad >= 0) throw new Error(`parquet column ${t.req.name}: dictionary index ${bad} out of ${dict.length}`)
  } else if (encoding === 'DELTA_BINARY_PACKED' && !t.bytes && (el.type === 'INT32' || el.type === 'INT64')) {
    decodeDelta(page, p, end, t, out as Float64Array, at, present)
  } else throw new Unsupported(`column ${t.req.name}: encoding ${encoding}`)
  if (dense) return
  state.nulls = true
  if (t.bytes) spread8(levels, out as Uint8Array, t.out as Uint8Array, row, count, nullRows)
  else spread64(levels, out as Float64Array, t.out as Float64Array, row, count, nullRows)
}

// Small monomorphic loops: one array type each, so V8 compiles each to straight typed-array code.

function lookupNumbers(idx: Uint32Array, dict: Float64Array, out: Float64Array, at: number, count: number) {
  const n = dict.length
  for (let i = 0; i < count; i++) {
    const k = idx[i]
    if (k >= n) return k
    out[at + i] = dict[k]
  }
  return -1
}

function lookupFlags(idx: Uint32Array, dict: Uint8Array, out: Uint8Array, at: number, count: number) {
  const n = dict.length
  for (let i = 0; i < count; i++) {
    const k = idx[i]
    if (k >= n) return k
    out[at + i] = dict[k]
  }
  return -1
}

function spread64(def: Uint32Array, dense: Float64Array, out: Float64Array, row: number, count: number, nullRows: Uint8Array) {
  for (let i = 0, k = 0; i < count; i++) {
    if (def[i] === 1) out[row + i] = dense[k++]
    else { out[row + i] = 0; nullRows[row + i] = 1 }
  }
}

function spread8(def: Uint32Array, dense: Uint8Array, out: Uint8Array, row: number, count: number, nullRows: Uint8Array) {
  for (let i = 0, k = 0; i < count; i++) {
    if (def[i] === 1) out[row + i] = dense[k++]
    else { out[row + i] = 0; nullRows[row + i] = 1 }
  }
}

const TWO32 = 4294967296

function decodePlain(page: Uint8Array, p: number, end: number, el: SchemaElement, t: Target, out: Float64Array | Uint8Array, at: number, count: number) {
  const type = el.type
  const width = t.bytes ? 4 : type === 'INT96' ? 12 : type === 'INT32' || type === 'FLOAT' ? 4 : 8
  if (p + width * count > end) throw new Error(`parquet column ${t.req.name}: page holds fewer values than its header says`)
  if (t.bytes) {
    const stop = t.flag ? plainFlags(page, p, end, t.flag, out as Uint8Array, at, count) : plainCodes(page, p, end, t, out as Uint8Array, at, count)
    if (stop > end) throw new Error(`parquet column ${t.req.name}: string runs past its page`)
    return
  }
  const o = out as Float64Array
  if (type === 'DOUBLE') new Uint8Array(o.buffer, o.byteOffset + at * 8, count * 8).set(page.subarray(p, p + count * 8))
  else if (type === 'INT64' && LITTLE_ENDIAN) {
    new Uint8Array(o.buffer, o.byteOffset + at * 8, count * 8).set(page.subarray(p, p + count * 8))
    int64InPlace(o, at, count)
  } else if (type === 'INT64') plainInt64(new DataView(page.buffer, page.byteOffset + p, count * 8), o, at, count)
  else if (type === 'INT32') plainInt32(new DataView(page.buffer, page.byteOffset + p, count * 4), o, at, count)
  else if (type === 'FLOAT') plainFloat(new DataView(page.buffer, page.byteOffset + p, count * 4), o, at, count)
  else if (type === 'INT96') plainInt96(new DataView(page.buffer, page.byteOffset + p, count * 12), o, at, count)
  else throw new Unsupported(`column ${t.req.name}: PLAIN ${type}`)
  if (t.scale !== 1 && !t.int96) rescale(o, at, count, t.scale)
}

/** 1 where a length-prefixed string equals `flag`; returns the offset after the last string. */
function plainFlags(page: Uint8Array, p: number, end: number, flag: Uint8Array, out: Uint8Array, at: number, count: number) {
  const fl = flag.length
  for (let i = 0; i < count && p <= end; i++) {
    const len = page[p] | (page[p + 1] << 8) | (page[p + 2] << 16) | (page[p + 3] << 24)
    p += 4
    let eq = len === fl ? 1 : 0
    for (let j = 0; eq && j < fl; j++) if (page[p + j] !== flag[j]) eq = 0
    out[at + i] = eq
    p += len
  }
  return p
}

/** A ULEB128 at `r.p` (values below 2^53), moving `r.p` past it. */
function readUleb(buf: Uint8Array, r: { p: number }, end: number) {
  let v = 0, scale = 1, b = 0
  do {
    if (r.p >= end) throw new Error('parquet delta header runs past its page')
    b = buf[r.p++]; v += (b & 0x7f) * scale; scale *= 128
  } while (b & 0x80)
  return v
}
const unzigzag = (v: number) => (v % 2 === 0 ? v / 2 : -(v + 1) / 2)

/**
 * DELTA_BINARY_PACKED integers (as written by this codebase's silver writer, parquet-mr or DuckDB)
 * into doubles: miniblock widths up to 32 bits; wider ones are left to hyparquet.
 */
function decodeDelta(page: Uint8Array, p: number, end: number, t: Target, out: Float64Array, at: number, count: number) {
  const r = { p }
  const block = readUleb(page, r, end), minis = readUleb(page, r, end), total = readUleb(page, r, end)
  let v = unzigzag(readUleb(page, r, end))
  const per = block / minis
  if (!(per > 0 && per % 8 === 0)) throw new Error(`parquet column ${t.req.name}: delta block of ${block} in ${minis} miniblocks`)
  if (total < count) throw new Error(`parquet column ${t.req.name}: delta page holds ${total} values, expected ${count}`)
  if (count > 0) out[at] = v
  let i = 1
  while (i < count) {
    const min = unzigzag(readUleb(page, r, end))
    const widths = r.p
    r.p += minis
    for (let k = 0; k < minis && i < count; k++) {
      const width = page[widths + k]
      if (width > 32) throw new Unsupported(`column ${t.req.name}: delta width ${width}`)
      const n = Math.min(per, count - i)
      if (r.p + (per * width) / 8 > end && r.p + Math.ceil((n * width) / 8) > end) throw new Error(`parquet column ${t.req.name}: delta miniblock runs past its page`)
      if (width === 0) { for (let j = 0; j < n; j++) out[at + i + j] = v += min } else if (width <= 24) v = unpackSmall(page, r.p, width, n, min, v, out, at + i)
      else v = unpackWide(page, r.p, width, n, min, v, out, at + i)
      i += n
      r.p += (per * width) / 8
    }
  }
  if (t.scale !== 1) rescale(out, at, count, t.scale)
}

function unpackSmall(buf: Uint8Array, q: number, width: number, n: number, min: number, v: number, out: Float64Array, at: number) {
  const mask = (1 << width) - 1
  let acc = 0, bits = 0
  for (let j = 0; j < n; j++) {
    while (bits < width) { acc |= buf[q++] << bits; bits += 8 }
    v += min + (acc & mask)
    out[at + j] = v
    acc >>>= width
    bits -= width
  }
  return v
}

function unpackWide(buf: Uint8Array, q: number, width: number, n: number, min: number, v: number, out: Float64Array, at: number) {
  // a bit buffer of up to 39 bits kept in a double (bit operations stop at 32)
  const size = 2 ** width
  let acc = 0, bits = 0, scale = 1
  for (let j = 0; j < n; j++) {
    while (bits < width) { acc += buf[q++] * scale; scale *= 256; bits += 8 }
    const u = acc % size
    acc = (acc - u) / size
    scale /= size
    bits -= width
    v += min + u
    out[at + j] = v
  }
  return v
}

/** Each length-prefixed string's index in the target's list (appended when new and allowed); returns the offset after the last string. */
function plainCodes(page: Uint8Array, p: number, end: number, t: Target, out: Uint8Array, at: number, count: number) {
  const c = t.codes!
  let last = -1
  for (let i = 0; i < count && p <= end; i++) {
    const len = page[p] | (page[p + 1] << 8) | (page[p + 2] << 16) | (page[p + 3] << 24)
    p += 4
    // runs of one value are common (constant or sorted columns): try the last match first
    let k = last >= 0 && sameBytes(page, p, len, c.encoded[last]) ? last : -1
    for (let j = 0; k < 0 && j < c.encoded.length; j++) if (sameBytes(page, p, len, c.encoded[j])) k = j
    if (k < 0) k = addCode(t, page.subarray(p, Math.min(end, p + len)))
    out[at + i] = last = k
    p += len
  }
  return p
}

function sameBytes(page: Uint8Array, p: number, len: number, s: Uint8Array) {
  if (s.length !== len) return false
  for (let j = 0; j < len; j++) if (page[p + j] !== s[j]) return false
  return true
}

const utf8In = new TextDecoder()

/** Appends a new string to a `code` column's list, where this thread may. */
function addCode(t: Target, bytes: Uint8Array) {
  const c = t.codes!
  if (!c.grow) throw new Unsupported(`column ${t.req.name}: a string not in the list`)
  if (c.list.length >= 255) throw new Error(`parquet column ${t.req.name} holds more than 255 distinct strings; it cannot be read as codes`)
  c.list.push(utf8In.decode(bytes))
  c.encoded.push(bytes.slice())
  return c.list.length - 1
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/**
 * INT64 values already copied into `o[at, at + count)` turned into doubles where they lie (exact
 * below 2^53): each slot is read as two 32-bit halves before the double overwrites it.
 */
function int64InPlace(o: Float64Array, at: number, count: number) {
  const w = new Int32Array(o.buffer, o.byteOffset + at * 8, count * 2)
  for (let i = 0; i < count; i++) o[at + i] = w[2 * i + 1] * TWO32 + (w[2 * i] >>> 0)
}

/** Little-endian INT64 as doubles (exact below 2^53): high half times 2^32 plus the low half. */
function plainInt64(v: DataView, o: Float64Array, at: number, count: number) {
  for (let i = 0; i < count; i++) o[at + i] = v.getInt32(i * 8 + 4, true) * TWO32 + v.getUint32(i * 8, true)
}

function plainInt32(v: DataView, o: Float64Array, at: number, count: number) {
  for (let i = 0; i < count; i++) o[at + i] = v.getInt32(i * 4, true)
}

function plainFloat(v: DataView, o: Float64Array, at: number, count: number) {
  for (let i = 0; i < count; i++) o[at + i] = v.getFloat32(i * 4, true)
}

/** INT96 timestamps: nanoseconds of the day (int64) then the Julian day (int32), to epoch µs. */
function plainInt96(v: DataView, o: Float64Array, at: number, count: number) {
  for (let i = 0; i < count; i++) {
    const b = i * 12
    const nanos = v.getUint32(b + 4, true) * TWO32 + v.getUint32(b, true)
    o[at + i] = (v.getInt32(b + 8, true) - 2440588) * 86_400_000_000 + Math.floor(nanos / 1000)
  }
}

function rescale(o: Float64Array, at: number, count: number, scale: number) {
  if (scale < 1) for (let i = at; i < at + count; i++) o[i] = Math.floor(o[i] * scale)
  else for (let i = at; i < at + count; i++) o[i] = o[i] * scale
}

/**
 * Decodes `count` values of the RLE/bit-packed hybrid in `buf[p, end)` into `out`; returns how
 * many equal `match` (pass -1 to skip counting).
 */
export function hybrid(buf: Uint8Array, p: number, end: number, width: number, out: Uint32Array, count: number, match: number): number {
  let i = 0
  let matched = 0
  const bytes = (width + 7) >> 3
  if (width > defaults.maxBitWidth) throw new Unsupported(`bit width ${width}`)
  const mask = (1 << width) - 1
  while (i < count) {
    if (p >= end) throw new Error('parquet RLE/bit-packed run ends before its values')
    let h = 0
    let s = 1
    let b: number
    do { b = buf[p++]; h += (b & 0x7f) * s; s *= 128 } while (b & 0x80 && p < end)
    if (h % 2 === 0) {
      const run = Math.min(h / 2, count - i)
      let v = 0
      for (let k = 0; k < bytes; k++) v |= buf[p++] << (8 * k)
      out.fill(v, i, i + run)
      if (v === match) matched += run
      i += run
    } else {
      const groups = (h - 1) / 2
      const stop = p + groups * width
      if (stop > end) throw new Error('parquet bit-packed run is longer than its page')
      const n = Math.min(groups * 8, count - i)
      let q = p
      if (width === 1) {
        for (let k = 0; k < n; k++) {
          const v = (buf[q + (k >> 3)] >> (k & 7)) & 1
          out[i + k] = v
          if (v === match) matched++
        }
      } else {
        // width <= 24, so the bit buffer never needs more than 31 bits
        let acc = 0
        let bits = 0
        for (let k = 0; k < n; k++) {
          while (bits < width) { acc |= buf[q++] << bits; bits += 8 }
          const v = acc & mask
          acc >>>= width
          bits -= width
          out[i + k] = v
          if (v === match) matched++
        }
      }
      i += n
      p = stop
    }
  }
  return matched
}

/**
 * Dictionary indices (RLE/bit-packed hybrid in `buf[p, end)`) of a one-byte-per-row column
 * (flags, codes) looked up in `dict` straight into `out[at, at + count)`: runs (a constant
 * column is one) become one fill. Returns the first index past the dictionary, or -1.
 */
function hybridBytes(buf: Uint8Array, p: number, end: number, width: number, dict: Uint8Array, out: Uint8Array, at: number, count: number): number {
  if (width > defaults.maxBitWidth) throw new Unsupported(`bit width ${width}`)
  const bytes = (width + 7) >> 3, mask = (1 << width) - 1, size = dict.length
  let i = 0
  while (i < count) {
    if (p >= end) throw new Error('parquet RLE/bit-packed run ends before its values')
    let h = 0, s = 1, b: number
    do { b = buf[p++]; h += (b & 0x7f) * s; s *= 128 } while (b & 0x80 && p < end)
    if (h % 2 === 0) {
      const run = Math.min(h / 2, count - i)
      let v = 0
      for (let k = 0; k < bytes; k++) v |= buf[p++] << (8 * k)
      if (v >= size) return v
      out.fill(dict[v], at + i, at + i + run)
      i += run
    } else {
      const groups = (h - 1) / 2
      const stop = p + groups * width
      if (stop > end) throw new Error('parquet bit-packed run is longer than its page')
      const n = Math.min(groups * 8, count - i)
      let q = p, acc = 0, bits = 0
      for (let k = 0; k < n; k++) {
        while (bits < width) { acc |= buf[q++] << bits; bits += 8 }
        const v = acc & mask
        acc >>>= width
        bits -= width
        if (v >= size) return v
        out[at + i + k] = dict[v]
      }
      i += n
      p = stop
    }
  }
  return -1
}

/**
 * How many of `count` one-bit definition levels (RLE/bit-packed hybrid in `buf[p, end)`) are 1,
 * without writing them out: a page without nulls needs no levels.
 */
function definedLevels(buf: Uint8Array, p: number, end: number, count: number): number {
  let i = 0, ones = 0
  while (i < count) {
    if (p >= end) throw new Error('parquet RLE/bit-packed run ends before its values')
    let h = 0, s = 1, b: number
    do { b = buf[p++]; h += (b & 0x7f) * s; s *= 128 } while (b & 0x80 && p < end)
    if (h % 2 === 0) {
      const run = Math.min(h / 2, count - i)
      if (buf[p++] === 1) ones += run
      i += run
    } else {
      const groups = (h - 1) / 2
      if (p + groups > end) throw new Error('parquet bit-packed run is longer than its page')
      const n = Math.min(groups * 8, count - i)
      for (let k = 0; k < n; k++) ones += (buf[p + (k >> 3)] >> (k & 7)) & 1
      i += n
      p += groups
    }
  }
  return ones
}

/** The page's bytes uncompressed, in a buffer reused until the next page. */
function inflate(body: Uint8Array, size: number, codec: string): Uint8Array {
  if (codec === 'UNCOMPRESSED') return body
  scratch = grow(scratch, size + 16, (n) => new Uint8Array(n))
  snappyUncompress(body, scratch, size)
  return scratch.subarray(0, size)
}

/**
 * Snappy block decompression of `size` bytes (by default all of `output`) into `output`, never
 * writing past `size`. Integer arithmetic only, so V8 stays on small-integer code. While both
 * buffers have 68 bytes left, literals and copies up to 64 bytes move as 32-bit words (a word may
 * run up to 3 bytes past the op; what follows overwrites them); near the ends, and for long ops,
 * bytes or native `set`/`copyWithin`.
 */
export function snappyUncompress(input: Uint8Array, output: Uint8Array, size = output.length) {
  const n = input.length | 0
  const dv = new DataView(output.buffer, output.byteOffset, output.byteLength)
  const iv = new DataView(input.buffer, input.byteOffset, input.byteLength)
  let pos = 0, len = 0, shift = 0, b = 0
  do { b = input[pos++] | 0; len |= (b & 0x7f) << shift; shift += 7 } while (b & 0x80 && shift < 35)
  if (len >>> 0 !== size || size > output.length) throw new Error(`snappy length ${len >>> 0} differs from the page's ${size}`)
  let out = 0
  // the fast loop moves literals and copies of up to 64 bytes as 32-bit words; it stops 68 bytes
  // short of either end so that whole words never read or write past the buffers
  const inStop = n - 68, outStop = size - 68
  while (pos < n) {
    while (pos < inStop && out < outStop) {
      const c = input[pos]
      const tag = c & 3
      if (tag === 0) {
        const l = (c >>> 2) + 1
        if (l > 60) break
        pos++
        for (let k = 0; k < l; k += 4) dv.setInt32(out + k, iv.getInt32(pos + k, true), true)
        pos += l
        out += l
        continue
      }
      let l = 0, off = 0
      if (tag === 1) { l = ((c >>> 2) & 7) + 4; off = ((c >>> 5) << 8) | input[pos + 1] }
      else if (tag === 2) { l = (c >>> 2) + 1; off = input[pos + 1] | (input[pos + 2] << 8) }
      else break
      if (off < 8 || off > out) break
      pos += 1 + tag
      // words in order read bytes at least 8 back, already final even where the copy overlaps itself
      const from = out - off
      dv.setInt32(out, dv.getInt32(from, true), true)
      dv.setInt32(out + 4, dv.getInt32(from + 4, true), true)
      for (let k = 8; k < l; k += 4) dv.setInt32(out + k, dv.getInt32(from + k, true), true)
      out += l
    }
    if (pos >= n) break
    const c = input[pos++]
    const tag = c & 3
    if (tag === 0) {
      let l = (c >>> 2) + 1
      if (l > 60) {
        const extra = l - 60
        l = input[pos] | 0
        if (extra > 1) l |= input[pos + 1] << 8
        if (extra > 2) l |= input[pos + 2] << 16
        if (extra > 3) l |= input[pos + 3] << 24
        l = (l + 1) | 0
        pos += extra
      }
      if (l <= 0 || pos + l > n || out + l > size) throw new Error('snappy literal runs past its buffer')
      if (l < 32) for (let k = 0; k < l; k++) output[out + k] = input[pos + k]
      else output.set(input.subarray(pos, pos + l), out)
      pos += l
      out += l
      continue
    }
    let l = 0, off = 0
    if (tag === 1) { l = ((c >>> 2) & 7) + 4; off = ((c >>> 5) << 8) | input[pos++] }
    else if (tag === 2) { l = (c >>> 2) + 1; off = input[pos] | (input[pos + 1] << 8); pos += 2 }
    else { l = (c >>> 2) + 1; off = input[pos] | (input[pos + 1] << 8) | (input[pos + 2] << 16) | (input[pos + 3] << 24); pos += 4 }
    if (off <= 0 || off > out || out + l > size) throw new Error('snappy copy out of range')
    let from = out - off
    if (off >= l && l > 32) { output.copyWithin(out, from, from + l); out += l }
    else for (const stop = out + l; out < stop;) output[out++] = output[from++]
  }
  if (pos !== n || out !== size) throw new Error(`snappy produced ${out} bytes, expected ${size}`)
}

/** Every timestamp as epoch microseconds, as the fast path gives them. */
const microsParsers = {
  timestampFromMilliseconds: (v: bigint) => Number(v) * 1000,
  timestampFromMicroseconds: (v: bigint) => Number(v),
  timestampFromNanoseconds: (v: bigint) => Number(v / 1000n),
}

/** hyparquet reads a file this decoder does not cover; values land in the same arrays. */
/** A string column the file does not hold, from `fill` (a partition of its key); an error without one. */
function fillMissing(req: ColumnRequest, out: Float64Array | Uint8Array, at: number, rows: number, fill: Record<string, string> | undefined) {
  const v = fill?.[req.name]
  if (v === undefined || (req.as !== 'code' && req.as !== 'flag')) throw new Error(`parquet column ${req.name} is missing from the file`)
  out.fill(req.as === 'flag' ? (v === req.equals ? 1 : 0) : codeOf(req.name, req.values, v), at, at + rows)
}

async function fallbackFile(file: Uint8Array, meta: FileMetaData, requests: ColumnRequest[], values: Record<string, Float64Array | Uint8Array>, at: number, nullRows: Uint8Array, state: State, fill?: Record<string, string>) {
  const leaves = leavesOf(meta)
  const held = requests.filter((r) => leaves.has(r.name))
  for (const req of requests) if (!leaves.has(req.name)) fillMissing(req, values[req.name], at, Number(meta.num_rows), fill)
  const rows = await parquetReadObjects({ file: file.slice().buffer, metadata: meta, columns: held.map((r) => r.name), parsers: microsParsers })
  for (const req of held) {
    const out = values[req.name]
    for (let i = 0; i < rows.length; i++) {
      const v = rows[i][req.name]
      if (v === null || v === undefined) { nullRows[at + i] = 1; state.nulls = true; continue }
      if (req.as === 'flag') out[at + i] = v === req.equals ? 1 : 0
      else if (req.as === 'code') out[at + i] = codeOf(req.name, req.values, String(v))
      else out[at + i] = Number(v)
    }
  }
}

function codeOf(name: string, list: string[], v: string) {
  const k = list.indexOf(v)
  if (k >= 0) return k
  if (list.length >= 255) throw new Error(`parquet column ${name} holds more than 255 distinct strings; it cannot be read as codes`)
  return list.push(v) - 1
}

// ---- other work on the same workers ------------------------------------------------------------

interface TaskJob { task: string; input: unknown }
interface TaskDone { ran: boolean; result?: unknown; error?: string }
const tasks = new Map<string, (input: any) => unknown>()

/**
 * Registers a function the decode workers may run (`onWorker`), for work on columns they hold in
 * shared memory. A worker loads this module's file, which is the whole bundle where the code is
 * bundled: every module's registrations run there too.
 * @example workerTask('candles.minutes', (input) => aggregateMinutesAt(input.cols, ...))
 */
export function workerTask(name: string, fn: (input: any) => unknown) { tasks.set(name, fn) }

/**
 * Runs a registered task on a decode worker already started (by a `readColumns` of more than one
 * thread), posted at once so that it runs while the caller goes on: `{ ran: false }` where there
 * is none or it lacks the task (the caller then runs it itself). Typed arrays over shared memory
 * in `input` reach the worker without a copy.
 */
export function onWorker<T>(name: string, input: unknown): Promise<{ ran: true; result: T } | { ran: false }> {
  const w = live.find((x) => !exited.has(x))
  if (!w) return Promise.resolve({ ran: false })
  return askWorker<TaskDone>(w, { task: name, input }).then((r) => (r.ran ? { ran: true as const, result: r.result as T } : { ran: false as const }), () => ({ ran: false as const }))
}

/** A worker's side: decodes the files it is sent into the shared arrays, or runs a registered task. */
function serveColumns(port: NonNullable<typeof parentPort>) {
  port.on('message', (message: WorkerJob | TaskJob) => {
    if ('task' in message) {
      const fn = tasks.get(message.task)
      try { port.postMessage(fn ? { ran: true, result: fn(message.input) } satisfies TaskDone : { ran: false } satisfies TaskDone) } catch (e) { port.postMessage({ ran: false, error: (e as Error).message } satisfies TaskDone) }
      return
    }
    const job = message
    const state = { nulls: false }
    const unsupported: [number, string][] = []
    try {
      const metas = job.files.map((f) => parquetMetadata(f))
      const failed = new Set<number>()
      for (let c = Atomics.add(job.next, 0, 1); c < job.requests.length; c = Atomics.add(job.next, 0, 1)) {
        job.files.forEach((f, k) => {
          if (failed.has(k)) return
          try { decodeFile(f, metas[k], [job.requests[c]], job.values, job.starts[k], job.nullRows, state, false) } catch (e) {
            if (!(e instanceof Unsupported)) throw e
            failed.add(k)
            unsupported.push([k, e.message])
          }
        })
      }
      port.postMessage({ nulls: state.nulls, unsupported } satisfies WorkerDone)
    } catch (e) {
      port.postMessage({ nulls: false, unsupported, error: (e as Error).message } satisfies WorkerDone)
    }
  })
  port.postMessage('ready')
}

if (!isMainThread && parentPort && workerData?.ticklakeColumns === true) serveColumns(parentPort)
