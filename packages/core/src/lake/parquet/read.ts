/**
 * The lake's column reader, the columns view of its one decoder (`decode.ts`; the rows view,
 * `readParquet` in `index.ts`, is built on this): the requested columns of one or more flat Parquet
 * files straight into typed arrays (strings read as `text`: plain arrays), concatenated in file
 * order (no per-row objects: a day of trades decodes in a fraction of what row assembly costs; the
 * `parquet` bench section measures it against hyparquet and arrow-rs). Columns can be split over
 * worker threads (`../workers`) that read the files from and write into shared memory. hyparquet
 * parses the footers, and reads instead a file the decoder does not cover (the reason reported).
 * A row with a null in a requested column is left out and counted, unless nulls are asked for.
 *
 * Module state: shared buffers reused between calls (`arenas`, dropped when idle), and the decode task the workers run.
 */
import { parquetMetadata, parquetReadObjects } from 'hyparquet'
import type { FileMetaData } from 'hyparquet'
import { defineTask, onPoolStop, runTask, startWorkers } from '../workers/index'
import { codeOf, decodeFile, fillMissing, leavesOf, type ColumnRequest, type ColumnValues, type DecodeOptions, type DecodeValues, type State, type TextValues } from './decode'
import { Unsupported } from './encodings'

export type { ColumnRequest, ColumnValues, TextValues }
export { Unsupported }

export interface DecodedColumns {
  /** Rows kept: rows with a null in a requested column are left out (unless `keepNulls`). */
  length: number
  values: ColumnValues
  /** The `text` columns. */
  texts: TextValues
  /** Rows left out for a null in a requested column. */
  nulls: number
  /** One line per file read by hyparquet instead, with the reason. */
  fallbacks: string[]
  /** Threads that decoded (this one and workers). */
  threads: number
  /** With `keepNulls` and `masks`: by column, 1 where its value is null. */
  masks?: Record<string, Uint8Array>
}

export const defaults = {
  /**
   * Reads of fewer rows decode on the calling thread whatever `threads` asks: below this, a worker
   * costs more than it saves (bronze-shaped files, six columns, this 2-core machine, 2026-12-06: 240
   * rows 0.48 ms on one thread against 0.94 ms on two, 2,000 rows 0.49 against 0.80 ms, 20,000 rows
   * 6.5 against 4.9 ms), and a pool kept busy by small reads holds a worker's heap and the shared
   * buffers for good (the candle job of a quiet symbol decodes one small bronze object a minute).
   */
  parallelRows: 20_000,
}

export interface ReadOptions {
  /**
   * Threads to decode with (each takes the next column from a shared queue; string codes stay on
   * this one), for reads of at least `parallelRows` rows. The extra threads are worker threads kept
   * for later calls; where they cannot start (a runtime that cannot load this module in a worker)
   * decoding stays on this thread.
   */
  threads: number
  /** Fewer rows than this decode on this thread alone (default `defaults.parallelRows`). */
  parallelRows: number
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
  /**
   * Rows with nulls kept: a null is NaN in a number column, 255 in a flag or code column and null
   * in a text column (`nulls` then counts the rows that hold one). Else such rows are left out.
   */
  keepNulls?: boolean
  /** With `keepNulls`: each column's nulls marked apart too (`DecodedColumns.masks`), so a null tells from a stored NaN. */
  masks?: boolean
}

/**
 * The requested columns of one or more flat Parquet files, concatenated in file order. Throws a
 * clear error for a file that is not Parquet or lacks a requested column. (One function of about
 * 90 lines: the order of its steps, codes, shared queue, worker failures, fallbacks, nulls, is the
 * contract between the threads, easier to check read in one place.)
 * @example await readColumns(bytes, [{ name: 'price', as: 'number' }]) // { values: { price: Float64Array } }
 */
export async function readColumns(files: Uint8Array | Uint8Array[], requests: ColumnRequest[], options: Partial<ReadOptions> = {}): Promise<DecodedColumns> {
  const list = Array.isArray(files) ? files : [files]
  const metas = list.map((f) => parquetMetadata(f))
  const starts: number[] = []
  let total = 0
  for (const m of metas) { starts.push(total); total += Number(m.num_rows) }
  // columns are split between threads; string codes stay on this one (only it may add to their
  // lists), and so does text (plain arrays cannot be shared)
  const onThis = (r: ColumnRequest) => r.as === 'code' || r.as === 'text'
  const movable = requests.filter((r) => !onThis(r))
  const helpers = total >= (options.parallelRows ?? defaults.parallelRows) ? Math.min((options.threads ?? 1) - 1, movable.length - 1) : 0
  const pool = helpers > 0 && total > 0 ? await startWorkers(helpers) : []
  const shared = pool.length > 0
  // every row of every column is written by the decode, so the value arrays need no zeroing
  const make = (bytes: number) => (shared ? new SharedArrayBuffer(bytes) : Buffer.allocUnsafeSlow(bytes).buffer)
  const values: DecodeValues = {}
  for (const r of [...(options.extra ?? []).map((name): ColumnRequest => ({ name, as: 'number' })), ...requests]) {
    values[r.name] = r.as === 'text' ? new Array<string | null>(total).fill(null) : r.as === 'flag' || r.as === 'code' ? new Uint8Array(make(total)) : new Float64Array(make(total * 8))
  }
  const nullRows = shared ? new Uint8Array(new SharedArrayBuffer(total)) : new Uint8Array(total)
  const masks = options.keepNulls && options.masks ? Object.fromEntries(requests.map((r) => [r.name, shared ? new Uint8Array(new SharedArrayBuffer(total)) : new Uint8Array(total)])) : undefined
  const state = { nulls: false }
  // the files once in shared memory, so that workers read them where they are
  const copies = shared ? sharedCopies(list) : undefined
  const inShared = copies?.views ?? list
  const unsupported = new Map<number, string>()
  // string codes and text first, on this thread (only it may add to their lists); then every thread
  // takes the next column of a shared queue, largest first, until none is left
  const codes = requests.filter(onThis)
  const queue = shared ? byCost(metas, movable) : movable
  const next = new Int32Array(shared ? new SharedArrayBuffer(4) : new ArrayBuffer(4))
  // (text stays here: its arrays are not sent)
  const job: DecodeJob = { files: inShared, starts, requests: queue, next, values: split(values).values, nullRows, keepNulls: options.keepNulls, masks }
  const helped = pool.map((w) => runTask<DecodeDone>(w, DECODE_TASK, job).then((r) => { if (!r.ran) throw new Error('the worker lacks the decode task'); return r.result }))
  const own = { grow: true, keepNulls: options.keepNulls, fill: options.fill, masks }
  const decodeColumns = (columns: ColumnRequest[]) => list.forEach((f, i) => {
    if (unsupported.has(i)) return
    try { decodeFile(f, metas[i], columns, values, starts[i], nullRows, state, own) } catch (e) {
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
      try { decodeFile(list[i], metas[i], requests, values, starts[i], nullRows, state, own); continue } catch (e) { if (!(e instanceof Unsupported)) throw e }
    }
    fallbacks.push(`file ${i}: ${reason}; read with hyparquet`)
    await fallbackFile(list[i], metas[i], requests, values, starts[i], nullRows, state, own)
  }
  // columns not read whose nulls leave a row out too: decoded only where the metadata cannot rule nulls out
  const leaves = options.nullsOf?.length ? metas.map((m) => leavesOf(m)) : []
  for (const name of options.nullsOf ?? []) {
    if (requests.some((r) => r.name === name)) continue
    let scratch: ColumnValues | undefined
    for (let i = 0; i < list.length; i++) {
      const leaf = leaves[i].get(name)
      if (!leaf || leaf.repetition_type === 'REQUIRED') continue
      const chunks = metas[i].row_groups.map((g) => g.columns.find((c) => c.meta_data?.path_in_schema[0] === name)?.meta_data)
      if (chunks.every((c) => c?.statistics?.null_count !== undefined && Number(c.statistics.null_count) === 0)) continue
      const req: ColumnRequest = leaf.type === 'BYTE_ARRAY' ? { name, as: 'flag', equals: '' } : { name, as: 'number' }
      scratch ??= { [name]: leaf.type === 'BYTE_ARRAY' ? new Uint8Array(total) : new Float64Array(total) }
      try { decodeFile(list[i], metas[i], [req], scratch, starts[i], nullRows, state, { grow: true }) } catch (e) {
        if (!(e instanceof Unsupported)) throw e
        await fallbackFile(list[i], metas[i], [req], scratch, starts[i], nullRows, state, { grow: true })
      }
    }
  }
  if (masks) return { length: total, ...split(values), nulls: state.nulls ? countOnes(nullRows, Object.values(masks)) : 0, fallbacks, threads: pool.length + 1, masks }
  if (options.keepNulls) return { length: total, ...split(values), nulls: state.nulls ? countOnes(nullRows) : 0, fallbacks, threads: pool.length + 1 }
  const length = state.nulls ? dropNullRows(values, nullRows, total) : total
  return { length, ...split(values), nulls: total - length, fallbacks, threads: pool.length + 1 }
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

/**
 * Shared buffers files were copied into, free for the next call: fresh shared memory costs its
 * page faults every time. They serve threaded decodes only, so they go when the idle worker pool
 * stops: a long-running process that decoded a backfill once does not keep them.
 */
const arenas: SharedArrayBuffer[] = [] // module state: at most two buffers of up to 256 MiB
onPoolStop(() => { arenas.length = 0 })

/** Bytes of the shared buffers kept for the next call. */
export const heldArenaBytes = () => arenas.reduce((n, b) => n + b.byteLength, 0)

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

/** Rows marked in `a`, or in any of `more`. */
function countOnes(a: Uint8Array, more: Uint8Array[] = []) {
  let n = 0
  if (!more.length) { for (let i = 0; i < a.length; i++) n += a[i]; return n }
  for (let i = 0; i < a.length; i++) n += a[i] || more.some((m) => m[i]) ? 1 : 0
  return n
}

/** The decoded columns apart: typed arrays, and text. */
function split(all: DecodeValues) {
  const values: ColumnValues = {}, texts: TextValues = {}
  for (const k in all) { const a = all[k]; if (Array.isArray(a)) texts[k] = a; else values[k] = a }
  return { values, texts }
}

/** Each column without the rows marked in `nullRows` (in place); returns the rows kept. */
function dropNullRows(values: DecodeValues, nullRows: Uint8Array, total: number) {
  let kept = 0
  for (const k in values) {
    const a = values[k]
    kept = 0
    if (Array.isArray(a)) {
      for (let i = 0; i < total; i++) if (!nullRows[i]) a[kept++] = a[i]
      a.length = kept
      continue
    }
    for (let i = 0; i < total; i++) if (!nullRows[i]) a[kept++] = a[i]
    values[k] = a.subarray(0, kept)
  }
  return kept
}

/** Timestamps as their stored number (nanoseconds, and INT96, as microseconds): `fallbackFile` scales them as the request asks. */
const parsers = {
  timestampFromMilliseconds: (v: bigint) => Number(v),
  timestampFromMicroseconds: (v: bigint) => Number(v),
  timestampFromNanoseconds: (v: bigint) => Number(v / 1000n),
}

/** hyparquet reads a file the decoder does not cover; values land in the same arrays, as the decoder would put them. */

async function fallbackFile(file: Uint8Array, meta: FileMetaData, requests: ColumnRequest[], values: DecodeValues, at: number, nullRows: Uint8Array, state: State, o: DecodeOptions) {
  const leaves = leavesOf(meta)
  const held = requests.filter((r) => leaves.has(r.name))
  for (const req of requests) if (!leaves.has(req.name)) fillMissing(req, values[req.name], at, Number(meta.num_rows), o.fill)
  const rows = await parquetReadObjects({ file: file.slice().buffer, metadata: meta, columns: held.map((r) => r.name), parsers })
  for (const req of held) {
    const marks = o.masks?.[req.name] ?? nullRows
    if (req.as === 'text') {
      const text = values[req.name] as (string | null)[]
      for (let i = 0; i < rows.length; i++) {
        const v = rows[i][req.name]
        if (v === null || v === undefined) { text[at + i] = null; marks[at + i] = 1; state.nulls = true } else text[at + i] = typeof v === 'string' ? v : String(v)
      }
      continue
    }
    const out = values[req.name] as Float64Array | Uint8Array
    const el = leaves.get(req.name)!
    const millis = el.logical_type?.type === 'TIMESTAMP' ? el.logical_type.unit === 'MILLIS' : el.converted_type === 'TIMESTAMP_MILLIS'
    const scale = req.as === 'micros' && millis ? 1000 : 1
    const none = !o.keepNulls ? 0 : req.as === 'flag' || req.as === 'code' ? 255 : NaN
    for (let i = 0; i < rows.length; i++) {
      const v = rows[i][req.name]
      if (v === null || v === undefined) { out[at + i] = none; marks[at + i] = 1; state.nulls = true; continue }
      if (req.as === 'flag') out[at + i] = v === req.equals ? 1 : 0
      else if (req.as === 'code') out[at + i] = codeOf(req.name, req.values, String(v))
      else out[at + i] = Number(v) * scale
    }
  }
}

/** A worker's part of a `readColumns`: the columns of `requests` it takes from the shared queue (`next` is the next index to take). */
interface DecodeJob { files: Uint8Array[]; starts: number[]; requests: ColumnRequest[]; next: Int32Array; values: DecodeValues; nullRows: Uint8Array; keepNulls?: boolean; masks?: Record<string, Uint8Array> }
interface DecodeDone { nulls: boolean; unsupported: [number, string][] }

const DECODE_TASK = 'parquet.columns'

/** On a worker: decodes the columns it takes into the shared arrays; a file it cannot decode alone is left to the caller. */
function decodeOnWorker(job: DecodeJob): DecodeDone {
  const state = { nulls: false }
  const unsupported: [number, string][] = []
  const metas = job.files.map((f) => parquetMetadata(f))
  const failed = new Set<number>()
  for (let c = Atomics.add(job.next, 0, 1); c < job.requests.length; c = Atomics.add(job.next, 0, 1)) {
    job.files.forEach((f, k) => {
      if (failed.has(k)) return
      try { decodeFile(f, metas[k], [job.requests[c]], job.values, job.starts[k], job.nullRows, state, { grow: false, keepNulls: job.keepNulls, masks: job.masks }) } catch (e) {
        if (!(e instanceof Unsupported)) throw e
        failed.add(k)
        unsupported.push([k, e.message])
      }
    })
  }
  return { nulls: state.nulls, unsupported }
}

defineTask(DECODE_TASK, decodeOnWorker, import.meta.url)
