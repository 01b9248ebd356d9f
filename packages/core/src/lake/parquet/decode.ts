/**
 * The column decoder's core, the lake's one Parquet decoder: one flat Parquet file's requested
 * columns straight into typed arrays (Float64Array for numbers, timestamps and booleans, Uint8Array
 * for string flags and codes) or, for `text`, a plain array of strings, one pass per column chunk
 * and no per-row objects. Both views of the reader sit on it: columns (`read.ts`) and rows
 * (`readParquet`, `index.ts`); hyparquet parses the footer and page headers. It covers what
 * writes the lake's files: hyparquet-writer and ticklake's writer (REQUIRED or OPTIONAL columns,
 * data page v1 or v2), Firehose's Parquet conversion, parquet-mr and DuckDB: SNAPPY or no
 * compression, PLAIN, PLAIN_DICTIONARY / RLE_DICTIONARY and DELTA_BINARY_PACKED encodings,
 * RLE/bit-packed definition levels, BOOLEAN, INT32, INT64, INT96, FLOAT, DOUBLE and BYTE_ARRAY
 * (DELTA_BINARY_PACKED for integers only). Anything else throws
 * `Unsupported` (the reader, `read.ts`, then hands the file to hyparquet). Eight-byte PLAIN values
 * without nulls are decompressed straight into their rows and INT64 turned into doubles in place;
 * dictionary strings go straight to one-byte codes; text is decoded once per dictionary entry.
 *
 * Module state: scratch buffers (decompressed page, levels, indices) reused from page to page.
 */
import type { ColumnMetaData, FileMetaData, SchemaElement } from 'hyparquet'
import { parquetSchema } from 'hyparquet'
import { parquetHeader } from 'hyparquet/src/column.js'
import { MAX_BIT_WIDTH, Unsupported, decodeDelta, definedLevels, hybrid, hybridBytes } from './encodings'
import { snappyUncompress } from './snappy'

/**
 * How one column is read: `number` keeps the stored value (INT64 as a double, exact below 2^53;
 * a timestamp in its own unit; INT96 as epoch microseconds; BOOLEAN as 0 or 1); `micros`
 * converts a timestamp of any unit (and INT96) to epoch microseconds, and takes a plain INT64 as
 * epoch microseconds already (Firehose writes the Glue table's `bigint` times so); `flag` gives 1
 * where a string equals `equals`, else 0; `code` gives a string's index in `values` (up to 255
 * strings), and strings not yet there are appended to it (by the calling thread; a worker meeting
 * one leaves its file to that thread); `text` gives the strings themselves, any number of distinct
 * ones, null for a null (decoded on the calling thread only).
 */
export type ColumnRequest =
  | { name: string; as: 'number' | 'micros' }
  | { name: string; as: 'flag'; equals: string }
  | { name: string; as: 'code'; values: string[] }
  | { name: string; as: 'text' }

/** Columns by name, one value a row. */
export type ColumnValues = Record<string, Float64Array | Uint8Array>

/** `text` columns by name, one string (null for a null) a row. */
export type TextValues = Record<string, (string | null)[]>

/** What the decoder writes into: the typed arrays, and plain arrays for `text`. */
export type DecodeValues = Record<string, ColumnValues[string] | TextValues[string]>

/** What a decode met: whether any requested value was null (its row is marked in `nullRows`). */
export interface State { nulls: boolean }

interface Target {
  req: ColumnRequest; out: Float64Array | Uint8Array; at: number; rows: number; scale: number; int96: boolean
  /** What a null becomes: 0, or NaN / 255 where nulls are kept. */
  none: number
  /** Set for string columns read as one byte per row (flags and codes). */
  bytes: boolean
  flag?: Uint8Array
  /** `code`: the strings known so far, UTF-8, and whether new ones may be appended. */
  codes?: { list: string[]; encoded: Uint8Array[]; grow: boolean }
  /** `text`: the column's strings (`out` is then unused). */
  text?: (string | null)[]
}

/** How a decode goes: the string lists may grow (only on the thread that owns them), and what a null becomes. */
export interface DecodeOptions {
  grow: boolean
  /** Nulls kept as NaN (numbers) and 255 (flags, codes); else 0, their rows marked to be left out. */
  keepNulls?: boolean
  /** Values of string columns a file does not hold (its key's Hive partitions). */
  fill?: Record<string, string>
  /** Each column's own null marks (by name; else a null marks `nullRows`): tells a null from a stored NaN. */
  masks?: Record<string, Uint8Array>
}

/**
 * The requested columns of one file into `values` from row `at` on; a null's row is marked in
 * `nullRows`. Throws `Unsupported` for what this decoder does not cover, an error for a corrupt file.
 */
export function decodeFile(file: Uint8Array, meta: FileMetaData, requests: ColumnRequest[], values: DecodeValues, at: number, nullRows: Uint8Array, state: State, o: DecodeOptions) {
  const leaves = leavesOf(meta)
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength)
  let groupAt = at
  for (const group of meta.row_groups) {
    const rows = Number(group.num_rows)
    for (const req of requests) {
      const leaf = leaves.get(req.name)
      if (!leaf) { fillMissing(req, values[req.name], groupAt, rows, o.fill); continue }
      const chunk = group.columns.find((c) => c.meta_data?.path_in_schema.length === 1 && c.meta_data.path_in_schema[0] === req.name)?.meta_data
      if (!chunk) throw new Unsupported(`column ${req.name} has no chunk metadata in a row group`)
      if (chunk.type !== leaf.type) throw new Unsupported(`column ${req.name}: chunk type ${chunk.type} differs from schema ${leaf.type}`)
      const t = targetOf(req, leaf, values[req.name], groupAt, rows, o)
      decodeChunk(file, view, chunk, leaf, t, o.masks?.[req.name] ?? nullRows, state)
    }
    groupAt += rows
  }
}

function timeUnit(el: SchemaElement) {
  const lt = el.logical_type
  if (lt?.type === 'TIMESTAMP') return lt.unit
  return el.converted_type === 'TIMESTAMP_MILLIS' ? 'MILLIS' : el.converted_type === 'TIMESTAMP_MICROS' ? 'MICROS' : undefined
}

/** The top-level leaf columns of a file by name. */
export function leavesOf(meta: FileMetaData) {
  const leaves = new Map<string, SchemaElement>()
  for (const c of parquetSchema(meta).children) if (!c.children.length) leaves.set(c.element.name, c.element)
  return leaves
}

const NUMBER_TYPES = new Set(['BOOLEAN', 'INT32', 'INT64', 'INT96', 'FLOAT', 'DOUBLE'])

const utf8 = new TextEncoder()
const NO_NUMBERS = new Float64Array(0)

function targetOf(req: ColumnRequest, el: SchemaElement, values: DecodeValues[string], at: number, rows: number, o: DecodeOptions): Target {
  const type = el.type!
  if (req.as === 'text') {
    if (type !== 'BYTE_ARRAY') throw new Unsupported(`column ${req.name}: a text needs a string column, found ${type}`)
    return { req, out: NO_NUMBERS, text: values as (string | null)[], at, rows, scale: 1, int96: false, none: NaN, bytes: false }
  }
  const out = values as Float64Array | Uint8Array
  if (req.as === 'flag' || req.as === 'code') {
    if (type !== 'BYTE_ARRAY') throw new Unsupported(`column ${req.name}: a ${req.as} needs a string column, found ${type}`)
    const none = o.keepNulls ? 255 : 0
    if (req.as === 'flag') return { req, out, at, rows, scale: 1, int96: false, none, bytes: true, flag: utf8.encode(req.equals) }
    return { req, out, at, rows, scale: 1, int96: false, none, bytes: true, codes: { list: req.values, encoded: req.values.map((v) => utf8.encode(v)), grow: o.grow } }
  }
  if (!NUMBER_TYPES.has(type)) throw new Unsupported(`column ${req.name}: type ${type} is not numeric`)
  if (el.converted_type === 'DECIMAL' || el.logical_type?.type === 'DECIMAL') throw new Unsupported(`column ${req.name}: DECIMAL`)
  const int96 = type === 'INT96'
  const unit = timeUnit(el)
  // a plain INT64 time is epoch microseconds by the lake's schema (Firehose writes the Glue table's `bigint` so)
  if (req.as === 'micros' && !unit && !int96 && type !== 'INT64') throw new Error(`parquet column ${req.name} is not a timestamp or INT64 (type ${type})`)
  // `number` keeps a timestamp in its unit; `micros` scales it
  const scale = req.as !== 'micros' ? 1 : unit === 'MILLIS' ? 1000 : unit === 'NANOS' ? 0.001 : 1
  return { req, out, at, rows, scale, int96, none: o.keepNulls ? NaN : 0, bytes: false }
}

/** Decompressed pages, definition levels and dictionary indices live here, reused from page to page. */
const scratch = { page: new Uint8Array(1 << 20), levels: new Uint32Array(1 << 16), indices: new Uint32Array(1 << 16) }
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
  let texts: string[] | undefined
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
      if (t.text) { texts = plainText(page, 0, page.length, n, name); continue }
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
          scratch.levels = grow(scratch.levels, d.num_values, (n) => new Uint32Array(n))
          hybrid(page, p, p + len, 1, scratch.levels, d.num_values, 1)
        }
        p += len
      }
      if (t.text) decodeText(page, p, page.length, d.encoding, t, texts, row, d.num_values, present, nullRows, state)
      else decodeValues(page, p, page.length, d.encoding, el, t, dict, row, d.num_values, present, nullRows, state)
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
          scratch.levels = grow(scratch.levels, d.num_values, (n) => new Uint32Array(n))
          hybrid(body, 0, dl, 1, scratch.levels, d.num_values, 1)
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
      if (t.text) decodeText(data, 0, data.length, d.encoding, t, texts, row, d.num_values, present, nullRows, state)
      else decodeValues(data, 0, data.length, d.encoding, el, t, dict, row, d.num_values, present, nullRows, state)
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
    if (width > MAX_BIT_WIDTH) throw new Unsupported(`column ${t.req.name}: dictionary index width ${width}`)
    let bad = -1
    if (t.bytes && width > 0) bad = hybridBytes(page, p + 1, end, width, dict as Uint8Array, out as Uint8Array, at, present)
    else if (t.bytes && dict.length > 0) (out as Uint8Array).fill((dict as Uint8Array)[0], at, at + present) // a one-entry dictionary may carry no index data
    else {
      const indices = scratch.indices = grow(scratch.indices, present, (n) => new Uint32Array(n))
      if (width === 0) indices.fill(0, 0, present) // a one-entry dictionary may carry no index data
      else hybrid(page, p + 1, end, width, indices, present, -1)
      bad = t.bytes ? lookupFlags(indices, dict as Uint8Array, out as Uint8Array, at, present) : lookupNumbers(indices, dict as Float64Array, out as Float64Array, at, present)
    }
    if (bad >= 0) throw new Error(`parquet column ${t.req.name}: dictionary index ${bad} out of ${dict.length}`)
  } else if (encoding === 'DELTA_BINARY_PACKED' && !t.bytes && (el.type === 'INT32' || el.type === 'INT64')) {
    decodeDelta(page, p, end, t.req.name, out as Float64Array, at, present)
    if (t.scale !== 1) rescale(out as Float64Array, at, present, t.scale)
  } else throw new Unsupported(`column ${t.req.name}: encoding ${encoding}`)
  if (dense) return
  state.nulls = true
  if (t.bytes) spread8(scratch.levels, out as Uint8Array, t.out as Uint8Array, row, count, nullRows, t.none)
  else spread64(scratch.levels, out as Float64Array, t.out as Float64Array, row, count, nullRows, t.none)
}

/**
 * A page's strings (PLAIN, or indices into the dictionary's `texts`) into `t.text` from `row` on;
 * a null is null, its row marked in `nullRows` (the levels are in `scratch.levels` when there are nulls).
 */
function decodeText(page: Uint8Array, p: number, end: number, encoding: string, t: Target, texts: string[] | undefined, row: number, count: number, present: number, nullRows: Uint8Array, state: State) {
  const name = t.req.name, out = t.text!, levels = scratch.levels, dense = present === count
  let values: string[]
  if (present === 0) values = []
  else if (encoding === 'PLAIN') values = plainText(page, p, end, present, name)
  else if (encoding === 'RLE_DICTIONARY' || encoding === 'PLAIN_DICTIONARY') {
    if (!texts) throw new Error(`parquet column ${name}: dictionary-encoded page without a dictionary`)
    const width = page[p]
    if (width > MAX_BIT_WIDTH) throw new Unsupported(`column ${name}: dictionary index width ${width}`)
    const indices = scratch.indices = grow(scratch.indices, present, (n) => new Uint32Array(n))
    if (width === 0) indices.fill(0, 0, present) // a one-entry dictionary may carry no index data
    else hybrid(page, p + 1, end, width, indices, present, -1)
    values = new Array<string>(present)
    for (let i = 0; i < present; i++) {
      const k = indices[i]
      if (k >= texts.length) throw new Error(`parquet column ${name}: dictionary index ${k} out of ${texts.length}`)
      values[i] = texts[k]
    }
  } else throw new Unsupported(`column ${name}: encoding ${encoding}`)
  if (dense) { for (let i = 0; i < count; i++) out[row + i] = values[i]; return }
  state.nulls = true
  for (let i = 0, k = 0; i < count; i++) {
    if (levels[i] === 1) out[row + i] = values[k++]
    else { out[row + i] = null; nullRows[row + i] = 1 }
  }
}

/** `count` length-prefixed UTF-8 strings (PLAIN BYTE_ARRAY) from `page[p]` on. */
function plainText(page: Uint8Array, p: number, end: number, count: number, name: string): string[] {
  const out = new Array<string>(count)
  for (let i = 0; i < count; i++) {
    if (p + 4 > end) throw new Error(`parquet column ${name}: page holds fewer values than its header says`)
    const len = (page[p] | (page[p + 1] << 8) | (page[p + 2] << 16) | (page[p + 3] << 24)) >>> 0
    p += 4
    if (p + len > end) throw new Error(`parquet column ${name}: string runs past its page`)
    out[i] = utf8In.decode(page.subarray(p, p + len))
    p += len
  }
  return out
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

function spread64(def: Uint32Array, dense: Float64Array, out: Float64Array, row: number, count: number, nullRows: Uint8Array, none: number) {
  for (let i = 0, k = 0; i < count; i++) {
    if (def[i] === 1) out[row + i] = dense[k++]
    else { out[row + i] = none; nullRows[row + i] = 1 }
  }
}

function spread8(def: Uint32Array, dense: Uint8Array, out: Uint8Array, row: number, count: number, nullRows: Uint8Array, none: number) {
  for (let i = 0, k = 0; i < count; i++) {
    if (def[i] === 1) out[row + i] = dense[k++]
    else { out[row + i] = none; nullRows[row + i] = 1 }
  }
}

const TWO32 = 4294967296

function decodePlain(page: Uint8Array, p: number, end: number, el: SchemaElement, t: Target, out: Float64Array | Uint8Array, at: number, count: number) {
  const type = el.type
  if (type === 'BOOLEAN' && !t.bytes) {
    if (p + Math.ceil(count / 8) > end) throw new Error(`parquet column ${t.req.name}: page holds fewer values than its header says`)
    plainBooleans(page, p, out as Float64Array, at, count)
    return
  }
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

/** Bit-packed booleans (PLAIN, least significant bit first) as 0 and 1. */
function plainBooleans(page: Uint8Array, p: number, o: Float64Array, at: number, count: number) {
  for (let i = 0; i < count; i++) o[at + i] = (page[p + (i >> 3)] >> (i & 7)) & 1
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

/** The page's bytes uncompressed, in a buffer reused until the next page. */
function inflate(body: Uint8Array, size: number, codec: string): Uint8Array {
  if (codec === 'UNCOMPRESSED') return body
  const page = scratch.page = grow(scratch.page, size + 16, (n) => new Uint8Array(n))
  snappyUncompress(body, page, size)
  return page.subarray(0, size)
}

/** A string column the file does not hold, from `fill` (a partition of its key); an error without one. */
export function fillMissing(req: ColumnRequest, out: DecodeValues[string], at: number, rows: number, fill: Record<string, string> | undefined) {
  const v = fill?.[req.name]
  if (v === undefined || (req.as !== 'code' && req.as !== 'flag' && req.as !== 'text')) throw new Error(`parquet column ${req.name} is missing from the file`)
  if (req.as === 'text') (out as (string | null)[]).fill(v, at, at + rows)
  else (out as Float64Array | Uint8Array).fill(req.as === 'flag' ? (v === req.equals ? 1 : 0) : codeOf(req.name, req.values, v), at, at + rows)
}

export function codeOf(name: string, list: string[], v: string) {
  const k = list.indexOf(v)
  if (k >= 0) return k
  if (list.length >= 255) throw new Error(`parquet column ${name} holds more than 255 distinct strings; it cannot be read as codes`)
  return list.push(v) - 1
}