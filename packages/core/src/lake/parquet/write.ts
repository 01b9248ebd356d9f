/**
 * The columnar Parquet writer of the lake: writes typed arrays (and string codes with their
 * dictionary) straight into Parquet pages, no per-row objects and no BigInts. It writes what every
 * mainstream reader takes (DuckDB, Athena/Trino, Spark's vectorized reader, parquet-java, arrow-rs,
 * fastparquet, hyparquet): data page v1, PLAIN numbers (DOUBLE, INT32, INT64 and timestamps from
 * doubles, exact below 2^53; INT96 from epoch microseconds), dictionary-encoded strings, bit-packed
 * booleans, SNAPPY (hyparquet-writer's compressor) or none; min/max/null-count statistics per
 * column chunk and a `created_by` parquet-java parses, so engines skip row groups. Columns with
 * nulls are OPTIONAL. With `dictionary` it dictionary-encodes numbers too and falls back to PLAIN
 * pages when a dictionary outgrows its page, as parquet-mr does: the local Firehose emulator
 * writes Firehose's own Parquet shape with it. DELTA_BINARY_PACKED integers remain on request.
 */
import { snappyCompress } from 'hyparquet-writer/src/snappy.js'
import { Thrift, BINARY, I32, STRUCT } from './thrift'
import type { Column, ColumnType } from '../../market/index'
import type { TradeTable } from './columns'
import { TRADE_COLUMNS } from '../../market/index'

/**
 * `created_by` in parquet-java's form (`name version x.y.z (build b)`): parquet-java ignores the
 * string statistics of a file whose `created_by` it cannot parse.
 */
export const CREATED_BY = 'ticklake version 1.0.0 (build ticklake)'

export const defaults = {
  codec: 'SNAPPY' as 'SNAPPY' | 'UNCOMPRESSED',
  rowGroupSize: 100_000,
  /** Row groups also end before this many bytes of plain values (parquet-mr's block size). */
  rowGroupBytes: Infinity,
  /** Bytes of plain values a data page holds, about (parquet-mr's page size). */
  pageSize: 1_048_576,
  /** A dictionary larger than this is not written: the column's values are PLAIN (parquet-mr's fallback). */
  dictionaryPageSize: 1_048_576,
  /** Numbers dictionary-encoded too, as parquet-mr does (strings always are). */
  dictionary: false,
  /** The encoding named on dictionary-encoded pages: RLE_DICTIONARY, or parquet-mr v1's PLAIN_DICTIONARY. */
  dictionaryEncoding: 'RLE_DICTIONARY' as 'RLE_DICTIONARY' | 'PLAIN_DICTIONARY',
  /** Integer and timestamp columns DELTA_BINARY_PACKED (else PLAIN). Spark before 3.3 and fastparquet misread it: off in the lake. */
  delta: false,
  /** Min, max and null count of every column chunk, so engines skip row groups. */
  statistics: true,
  createdBy: CREATED_BY,
  /** Name of the schema's root (parquet-mr under Hive writes `hive_schema`). */
  rootName: 'schema',
}

/** Nulls of a column (1 where the row has none) and whether it is OPTIONAL without any. */
interface Nullable { nulls?: Uint8Array; optional?: boolean }

/**
 * One column to write: numbers as doubles (timestamps in their unit; `INT96` from epoch
 * microseconds, as Hive writes `timestamp`), or strings as codes into `dict`.
 */
export type ColumnSpec = Nullable & (
  | { name: string; type: Exclude<ColumnType, 'STRING' | 'BOOLEAN'> | 'INT96'; values: Float64Array }
  | { name: string; type: 'STRING'; codes: Uint8Array | Uint16Array | Uint32Array; dict: string[] }
  | { name: string; type: 'BOOLEAN'; flags: Uint8Array })

export type WriteColumnsOptions = typeof defaults & {
  /** Rows to write, in this order (indexes into the arrays); all rows in order without it. */
  rows?: Uint32Array
}

const TWO32 = 4294967296
const utf8 = new TextEncoder()

function schemaOf(c: ColumnSpec) {
  const base = { name: c.name, repetition_type: c.nulls || c.optional ? 'OPTIONAL' as const : 'REQUIRED' as const }
  switch (c.type) {
    case 'STRING': return { ...base, type: 'BYTE_ARRAY' as const, converted_type: 'UTF8' as const }
    case 'DOUBLE': return { ...base, type: 'DOUBLE' as const }
    case 'BOOLEAN': return { ...base, type: 'BOOLEAN' as const }
    case 'INT32': return { ...base, type: 'INT32' as const }
    case 'INT64': return { ...base, type: 'INT64' as const }
    case 'INT96': return { ...base, type: 'INT96' as const }
    case 'TIMESTAMP_MICROS': return { ...base, type: 'INT64' as const, converted_type: 'TIMESTAMP_MICROS' as const, logical_type: { type: 'TIMESTAMP' as const, isAdjustedToUTC: true, unit: 'MICROS' as const } }
    case 'TIMESTAMP_MILLIS': return { ...base, type: 'INT64' as const, converted_type: 'TIMESTAMP_MILLIS' as const, logical_type: { type: 'TIMESTAMP' as const, isAdjustedToUTC: true, unit: 'MILLIS' as const } }
  }
}

/** `schemaOf`, made once per column name and type (jobs write the same few schemas over and over). */
const schemaCache = new Map<string, ReturnType<typeof schemaOf>>()
function schemaFor(c: ColumnSpec) {
  const key = `${c.name}\u0000${c.type}\u0000${c.nulls || c.optional ? 1 : 0}`
  let s = schemaCache.get(key)
  if (!s) { s = schemaOf(c); if (schemaCache.size < 4096) schemaCache.set(key, s) }
  return s
}

/** The values of rows `[from, to)` (through `rows` when given) as PLAIN bytes. */
function plainNumbers(c: { type: string; values: Float64Array }, rows: Uint32Array | undefined, from: number, to: number) {
  const n = to - from, x = c.values
  if (c.type === 'DOUBLE') {
    // in order, the values' own bytes (copied once, into the file)
    if (!rows) return new Uint8Array(x.buffer, x.byteOffset + from * 8, n * 8)
    const out = new Float64Array(n)
    for (let i = 0; i < n; i++) out[i] = x[rows[from + i]]
    return new Uint8Array(out.buffer)
  }
  if (c.type === 'INT32') {
    const out = new Int32Array(n)
    for (let i = 0; i < n; i++) out[i] = x[rows ? rows[from + i] : from + i]
    return new Uint8Array(out.buffer)
  }
  // INT64: two little-endian 32-bit halves of the integer-valued double (two's complement below 0)
  const out = new DataView(new ArrayBuffer(n * 8))
  for (let i = 0; i < n; i++) {
    const v = x[rows ? rows[from + i] : from + i]
    const hi = Math.floor(v / TWO32)
    out.setUint32(i * 8, v - hi * TWO32, true)
    out.setInt32(i * 8 + 4, hi, true)
  }
  return new Uint8Array(out.buffer)
}

/** ULEB128 of a non-negative integer below 2^54 (plain arithmetic: bit operations stop at 32 bits). */
function uleb(v: number, out: number[]) {
  do { const b = v % 128; v = Math.floor(v / 128); out.push(v ? b | 0x80 : b) } while (v)
}
const zigzag = (v: number) => (v >= 0 ? 2 * v : -2 * v - 1)

/**
 * Integer values of rows `[from, to)` as a DELTA_BINARY_PACKED page body (blocks of 128, four
 * miniblocks of 32): consecutive ids pack to almost nothing and times to two or three bytes.
 * Undefined when a block would need more than 32 bits a delta (then PLAIN is written).
 */
function deltaNumbers(x: Float64Array, rows: Uint32Array | undefined, from: number, to: number): Uint8Array | undefined {
  const n = to - from
  // every delta at once; per block, the least delta and each miniblock's greatest in one pass
  if (deltas.length < n) deltas = new Float64Array(Math.max(n, deltas.length * 2))
  const d = deltas
  if (rows) { let prev = x[rows[from]]; for (let i = 1; i < n; i++) { const v = x[rows[from + i]]; d[i] = v - prev; prev = v } } else deltasOf(x, from, n, d)
  const first = x[rows ? rows[from] : from]
  const head: number[] = []
  uleb(128, head); uleb(4, head); uleb(n, head); uleb(zigzag(first), head)
  const room = head.length + Math.ceil((n - 1) / 128) * (12 + 4 + 4 * 32 * 4) + 16
  if (packed.length < room) packed = new Uint8Array(Math.max(room, packed.length * 2))
  const out = packed
  out.set(head)
  let p = head.length
  const h: number[] = []
  const tops = new Float64Array(4)
  for (let b = 1; b < n; b += 128) {
    const m = Math.min(128, n - b)
    const min = blockRange(d, b, b + m, tops)
    h.length = 0
    uleb(zigzag(min), h)
    for (let k = 0; k < h.length; k++) out[p++] = h[k]
    const widthsAt = p
    p += 4
    for (let k = 0; k < 4; k++) {
      const lo = b + k * 32
      if (lo >= b + m) { out[widthsAt + k] = 0; continue }
      const hi = Math.min(b + m, lo + 32)
      const top = tops[k] - min
      if (top >= TWO32) return undefined
      const width = top === 0 ? 0 : 32 - Math.clz32(top)
      out[widthsAt + k] = width
      if (width > 24) p = packWide(d, lo, hi, min, width, out, p)
      else if (width > 0) p = packSmall(d, lo, hi, min, width, out, p)
    }
  }
  return out.slice(0, p)
}

/** Scratch of the delta encoder, reused from page to page (pages are packed one at a time). */
let deltas = new Float64Array(1 << 16)
let packed = new Uint8Array(1 << 18)

function deltasOf(x: Float64Array, from: number, n: number, d: Float64Array) {
  for (let i = 1; i < n; i++) d[i] = x[from + i] - x[from + i - 1]
}

/** The least of `d[lo, hi)`; the greatest of each 32 of them into `tops`. */
function blockRange(d: Float64Array, lo: number, hi: number, tops: Float64Array) {
  let min = d[lo]
  for (let k = 0; k < 4; k++) {
    const a = lo + k * 32, z = Math.min(hi, a + 32)
    let top = a < hi ? d[a] : 0
    for (let i = a; i < z; i++) { const v = d[i]; if (v > top) top = v; if (v < min) min = v }
    tops[k] = top
  }
  return min
}

/** Values `d[lo, hi)` less `min` (and zeros up to 32 of them) bit-packed at `width` <= 24, LSB first; returns the next offset. */
function packSmall(d: Float64Array, lo: number, hi: number, min: number, width: number, out: Uint8Array, p: number) {
  let acc = 0, bits = 0
  for (let i = lo; i < lo + 32; i++) {
    acc |= (i < hi ? d[i] - min : 0) << bits
    bits += width
    while (bits >= 8) { out[p++] = acc & 0xff; acc >>>= 8; bits -= 8 }
  }
  return p
}

/** The same at 25..32 bits: each value as its low 16 bits, then the rest. */
function packWide(d: Float64Array, lo: number, hi: number, min: number, width: number, out: Uint8Array, p: number) {
  let acc = 0, bits = 0
  for (let i = lo; i < lo + 32; i++) {
    const x = i < hi ? d[i] - min : 0
    acc |= (x & 0xffff) << bits
    bits += 16
    while (bits >= 8) { out[p++] = acc & 0xff; acc >>>= 8; bits -= 8 }
    acc |= Math.floor(x / 65536) << bits
    bits += width - 16
    while (bits >= 8) { out[p++] = acc & 0xff; acc >>>= 8; bits -= 8 }
  }
  return p
}

/** The strings of a dictionary as a PLAIN BYTE_ARRAY page body. */
function plainStrings(dict: string[]) {
  const parts = dict.map((s) => utf8.encode(s))
  const out = new Uint8Array(parts.reduce((s, p) => s + 4 + p.length, 0))
  const view = new DataView(out.buffer)
  let at = 0
  for (const p of parts) { view.setUint32(at, p.length, true); out.set(p, at + 4); at += 4 + p.length }
  return out
}

/**
 * Codes of rows `[from, to)` as an RLE_DICTIONARY page body: the bit width, then one RLE run when
 * every row has the same code, else bit-packed groups of eight.
 */
function dictionaryIndexes(codes: Uint8Array, rows: Uint32Array | undefined, from: number, to: number, size: number) {
  const n = to - from
  const width = Math.max(1, Math.ceil(Math.log2(Math.max(2, size))))
  // the codes in row order, gathered once (a view, without `rows`)
  let x = codes.subarray(from, to)
  if (rows) { x = new Uint8Array(n); for (let i = 0; i < n; i++) x[i] = codes[rows[from + i]] }
  const first = n ? x[0] : 0
  let same = true
  for (let i = 1; i < n && same; i++) same = x[i] === first
  const head = (v: number, out: number[]) => { do { let b = v & 0x7f; v = Math.floor(v / 128); if (v) b |= 0x80; out.push(b) } while (v) }
  if (same) {
    const h: number[] = [width]
    head(n * 2, h)
    h.push(first) // width <= 8: one byte holds the value
    return new Uint8Array(h)
  }
  const groups = Math.ceil(n / 8)
  const h: number[] = [width]
  head(groups * 2 + 1, h)
  const out = new Uint8Array(h.length + groups * width)
  out.set(h)
  let p = h.length
  if (width === 1) {
    // flags (such as side): eight rows a byte
    const whole = n >> 3
    for (let g = 0; g < whole; g++) {
      const i = g << 3
      out[p++] = x[i] | (x[i + 1] << 1) | (x[i + 2] << 2) | (x[i + 3] << 3) | (x[i + 4] << 4) | (x[i + 5] << 5) | (x[i + 6] << 6) | (x[i + 7] << 7)
    }
    if (whole < groups) { let b = 0; for (let i = whole << 3; i < n; i++) b |= x[i] << (i & 7); out[p++] = b }
    return out
  }
  let acc = 0, bits = 0
  for (let i = 0; i < groups * 8; i++) {
    acc |= (i < n ? x[i] : 0) << bits
    bits += width
    while (bits >= 8) { out[p++] = acc & 0xff; acc >>>= 8; bits -= 8 }
  }
  return out
}

/** Rows `[from, to)` of the column chunk, through `rows` when given: the row numbers in file order. */
function rowRange(rows: Uint32Array | undefined, from: number, to: number): Uint32Array {
  if (rows) return rows.subarray(from, to)
  const out = new Uint32Array(to - from)
  for (let i = 0; i < out.length; i++) out[i] = from + i
  return out
}

/** Bytes a value takes PLAIN-encoded (strings: their mean UTF-8 length and its 4-byte prefix). */
function valueBytes(c: ColumnSpec) {
  if (c.type === 'BOOLEAN') return 0.125
  if (c.type === 'STRING') return 4 + (c.dict.length ? c.dict.reduce((s, d) => s + utf8.encode(d).length, 0) / c.dict.length : 0)
  return c.type === 'INT32' ? 4 : c.type === 'INT96' ? 12 : 8
}

/** RLE/bit-packed hybrid of `n` values of `width` bits (levels or dictionary indexes): one RLE run when all are equal, else bit-packed groups of eight. */
function hybrid(values: ArrayLike<number>, n: number, width: number): Uint8Array {
  const head: number[] = []
  let same = n > 0
  for (let i = 1; i < n && same; i++) same = values[i] === values[0]
  if (same) {
    uleb(n * 2, head)
    const v = values[0], bytes = Math.ceil(width / 8)
    for (let b = 0; b < bytes; b++) head.push(Math.floor(v / 2 ** (8 * b)) & 0xff)
    return new Uint8Array(head)
  }
  const groups = Math.ceil(n / 8)
  uleb(groups * 2 + 1, head)
  const out = new Uint8Array(head.length + groups * width)
  out.set(head)
  let p = head.length, acc = 0, bits = 0
  if (width <= 24) {
    for (let i = 0; i < groups * 8; i++) {
      acc |= (i < n ? values[i] : 0) << bits
      bits += width
      while (bits >= 8) { out[p++] = acc & 0xff; acc >>>= 8; bits -= 8 }
    }
    return out
  }
  for (let i = 0; i < groups * 8; i++) {
    let v = i < n ? values[i] : 0
    // up to 32 bits a value: feed them 16 at a time (bit operations stop at 32 bits)
    for (let left = width; left > 0;) {
      const take = Math.min(16, left)
      acc += (v % (1 << take)) * 2 ** bits
      v = Math.floor(v / (1 << take))
      bits += take
      left -= take
      while (bits >= 8) { out[p++] = acc % 256; acc = Math.floor(acc / 256); bits -= 8 }
    }
  }
  return out
}

/** Definition levels of a page (1 present, 0 null) as data page v1 writes them: a 4-byte length, then the hybrid at width 1. */
function definitionLevels(nulls: Uint8Array | undefined, rows: Uint32Array): Uint8Array {
  const levels = new Uint8Array(rows.length)
  for (let i = 0; i < rows.length; i++) levels[i] = nulls?.[rows[i]] ? 0 : 1
  const body = hybrid(levels, rows.length, 1)
  const out = new Uint8Array(4 + body.length)
  new DataView(out.buffer).setUint32(0, body.length, true)
  out.set(body, 4)
  return out
}

/** INT96 timestamps (Hive's and Impala's): nanoseconds of the day, then the Julian day, from epoch microseconds. */
function int96(values: Float64Array, rows: Uint32Array): Uint8Array {
  const out = new DataView(new ArrayBuffer(rows.length * 12))
  for (let i = 0; i < rows.length; i++) {
    const us = values[rows[i]]
    const day = Math.floor(us / 86_400_000_000)
    const nanos = (us - day * 86_400_000_000) * 1000
    const hi = Math.floor(nanos / TWO32)
    out.setUint32(i * 12, nanos - hi * TWO32, true)
    out.setUint32(i * 12 + 4, hi, true)
    out.setInt32(i * 12 + 8, day + 2_440_588, true)
  }
  return new Uint8Array(out.buffer)
}

/** PLAIN bytes of the values at `rows` (strings through their dictionary). */
function plainValues(c: ColumnSpec, rows: Uint32Array): Uint8Array {
  if (c.type === 'BOOLEAN') {
    const out = new Uint8Array(Math.ceil(rows.length / 8))
    for (let i = 0; i < rows.length; i++) if (c.flags[rows[i]]) out[i >> 3] |= 1 << (i & 7)
    return out
  }
  if (c.type === 'STRING') {
    const parts = c.dict.map((d) => utf8.encode(d))
    let size = 0
    for (let i = 0; i < rows.length; i++) size += 4 + parts[c.codes[rows[i]]].length
    const out = new Uint8Array(size), view = new DataView(out.buffer)
    let at = 0
    for (let i = 0; i < rows.length; i++) { const b = parts[c.codes[rows[i]]]; view.setUint32(at, b.length, true); out.set(b, at + 4); at += 4 + b.length }
    return out
  }
  if (c.type === 'INT96') return int96(c.values, rows)
  return plainNumbers(c, rows, 0, rows.length)
}

/** Chunk statistics: min and max as PLAIN bytes (strings unsigned by UTF-8 bytes), and the null count. */
interface Stats { min?: Uint8Array; max?: Uint8Array; nulls: number; signed: boolean }

function statisticsOf(c: ColumnSpec, rows: Uint32Array, present: Uint32Array): Stats {
  const nulls = rows.length - present.length
  if (c.type === 'INT96' || present.length === 0) return { nulls, signed: false }
  if (c.type === 'STRING') {
    const used = new Uint8Array(c.dict.length)
    for (let i = 0; i < present.length; i++) used[c.codes[present[i]]] = 1
    let min: Uint8Array | undefined, max: Uint8Array | undefined
    c.dict.forEach((d, k) => {
      if (!used[k]) return
      const b = utf8.encode(d)
      if (!min || Buffer.compare(b, min) < 0) min = b
      if (!max || Buffer.compare(b, max) > 0) max = b
    })
    return { min, max, nulls, signed: false }
  }
  if (c.type === 'BOOLEAN') {
    let any0 = false, any1 = false
    for (let i = 0; i < present.length; i++) if (c.flags[present[i]]) any1 = true; else any0 = true
    return { min: Uint8Array.of(any0 ? 0 : 1), max: Uint8Array.of(any1 ? 1 : 0), nulls, signed: true }
  }
  let lo = Infinity, hi = -Infinity
  const x = c.values
  for (let i = 0; i < present.length; i++) { const v = x[present[i]]; if (v < lo) lo = v; if (v > hi) hi = v }
  if (lo > hi) return { nulls, signed: true } // only NaN
  if (lo === 0) lo = -0 // as the format asks of floating-point zeros
  if (hi === 0) hi = 0
  const bytes = (v: number) => plainNumbers({ type: c.type, values: Float64Array.of(v) }, undefined, 0, 1)
  return { min: bytes(lo), max: bytes(hi), nulls, signed: true }
}

/**
 * Writes columns of equal length as one Parquet file: data page v1 (every mainstream reader takes
 * it), pages of about `pageSize` bytes, row groups of `rowGroupSize` rows, column statistics.
 * A column with `nulls` (or `optional`) is OPTIONAL, its nulls as definition levels.
 * @example writeColumns([{ name: 'price', type: 'DOUBLE', values: prices }], prices.length)
 */
export function writeColumns(columns: ColumnSpec[], length: number, options: Partial<WriteColumnsOptions> = {}): Uint8Array {
  const o = { ...defaults, ...options }
  const { codec, rows } = o
  const n = rows ? rows.length : length
  const compress = (b: Uint8Array) => (codec === 'SNAPPY' ? snappyCompress(b) : b)
  const out = new Parts()
  out.push(MAGIC)
  const row_groups: { columns: Chunk[]; total_byte_size: number; num_rows: number }[] = []
  const schemas = columns.map(schemaFor)
  // rows a group: the count asked for, and no more than `rowGroupBytes` of plain values
  const rowBytes = columns.reduce((s, c) => s + valueBytes(c), 0) || 1
  const groupRows = Math.max(1, Math.min(o.rowGroupSize, Math.floor(o.rowGroupBytes / rowBytes)))
  const dictionaryEncoding: Encoding = o.dictionaryEncoding
  for (let from = 0; from < n || (from === 0 && n === 0); from += groupRows) {
    const to = Math.min(n, from + groupRows)
    // the group's row numbers, made once for all its columns
    const all = rowRange(rows, from, to)
    const chunks: Chunk[] = []
    let groupBytes = 0
    for (let ci = 0; ci < columns.length; ci++) {
      const c = columns[ci]
      const nulls = c.nulls
      const optional = !!(nulls || c.optional)
      const pageRows = Math.max(8, Math.floor(o.pageSize / valueBytes(c)))
      // the values a page holds: its present rows
      const presentOf = (r: Uint32Array) => {
        if (!nulls) return r
        let k = 0
        const p = new Uint32Array(r.length)
        for (let i = 0; i < r.length; i++) if (!nulls[r[i]]) p[k++] = r[i]
        return p.subarray(0, k)
      }
      const start = out.offset
      let dictionary_page_offset: number | undefined
      let uncompressed = 0
      const pages: { rows: Uint32Array; present: Uint32Array; encoding: Encoding; body: Uint8Array }[] = []
      // dictionary: strings always (their codes are one), numbers where asked, while it stays small
      let dict: { page: Uint8Array; count: number } | undefined
      let indexOf: ((row: number) => number) | undefined
      let width = 0
      if (c.type === 'STRING') {
        const page = plainStrings(c.dict)
        if (c.dict.length && page.length <= o.dictionaryPageSize) { dict = { page, count: c.dict.length }; indexOf = (r) => c.codes[r]; width = Math.max(1, Math.ceil(Math.log2(Math.max(2, c.dict.length)))) }
      }
      const numberDict = o.dictionary && c.type !== 'STRING' && c.type !== 'BOOLEAN' ? new Map<number, number>() : undefined
      let fellBack = false
      const present = presentOf(all)
      const stats = o.statistics ? statisticsOf(c, all, present) : undefined
      for (let p = 0; p < all.length || (p === 0 && all.length === 0); p += pageRows) {
        const pr = all.subarray(p, Math.min(all.length, p + pageRows))
        const pp = presentOf(pr)
        let encoding: Encoding = 'PLAIN'
        let values: Uint8Array
        // (a page of nulls only has no values to look up: PLAIN, and empty)
        if (numberDict && !fellBack && pp.length && c.type !== 'STRING' && c.type !== 'BOOLEAN') {
          const x = c.values, idx = new Uint32Array(pp.length)
          for (let i = 0; i < pp.length; i++) {
            const v = x[pp[i]]
            let k = numberDict.get(v)
            if (k === undefined) { k = numberDict.size; numberDict.set(v, k) }
            idx[i] = k
          }
          // parquet-mr falls back to PLAIN for this page and the rest once the dictionary outgrows its page
          if (numberDict.size * valueBytes(c) > o.dictionaryPageSize) fellBack = true
          else {
            const w = Math.max(1, Math.ceil(Math.log2(Math.max(2, numberDict.size))))
            const h = hybrid(idx, pp.length, w)
            values = new Uint8Array(1 + h.length); values[0] = w; values.set(h, 1)
            encoding = dictionaryEncoding
            pages.push({ rows: pr, present: pp, encoding, body: values })
            continue
          }
        }
        if (indexOf && !pp.length) { values = new Uint8Array(0); encoding = 'PLAIN' } else if (indexOf && c.type === 'STRING' && c.codes instanceof Uint8Array && width <= 8) {
          values = dictionaryIndexes(c.codes, pp, 0, pp.length, c.dict.length)
          encoding = dictionaryEncoding
        } else if (indexOf) {
          const idx = new Uint32Array(pp.length)
          for (let i = 0; i < pp.length; i++) idx[i] = indexOf(pp[i])
          const h = hybrid(idx, pp.length, width)
          values = new Uint8Array(1 + h.length); values[0] = width; values.set(h, 1)
          encoding = dictionaryEncoding
        } else {
          const delta = o.delta && c.type !== 'DOUBLE' && c.type !== 'INT96' && c.type !== 'BOOLEAN' && c.type !== 'STRING' && pp.length >= 2 && !nulls
            ? deltaNumbers(c.values, pp, 0, pp.length) : undefined
          encoding = delta ? 'DELTA_BINARY_PACKED' : 'PLAIN'
          values = delta ?? plainValues(c, pp)
        }
        pages.push({ rows: pr, present: pp, encoding, body: values })
        if (all.length === 0) break
      }
      if (numberDict && numberDict.size && pages.some((pg) => pg.encoding === dictionaryEncoding) && c.type !== 'STRING' && c.type !== 'BOOLEAN') {
        const keys = Float64Array.from(numberDict.keys())
        dict = { page: plainValues({ ...c, values: keys } as ColumnSpec, rowRange(undefined, 0, keys.length)), count: keys.length }
      }
      if (dict) {
        dictionary_page_offset = out.offset
        const packed = compress(dict.page)
        uncompressed += out.thrift((t) => dictionaryPageHeader(t, dict!.page.length, packed.length, dict!.count, dictionaryEncoding === 'PLAIN_DICTIONARY' ? 'PLAIN_DICTIONARY' : 'PLAIN'))
        out.push(packed)
        uncompressed += dict.page.length
      }
      const data_page_offset = out.offset
      const used = new Set<Encoding>()
      for (const pg of pages) {
        const body = optional ? concat(definitionLevels(nulls, pg.rows), pg.body) : pg.body
        const packed = compress(body)
        uncompressed += out.thrift((t) => dataPageHeaderV1(t, body.length, packed.length, pg.rows.length, pg.encoding, optional))
        out.push(packed)
        uncompressed += body.length
        used.add(pg.encoding)
      }
      const encodings: Encoding[] = [...used]
      if (dict && !used.has('PLAIN') && dictionaryEncoding === 'RLE_DICTIONARY') encodings.push('PLAIN') // the dictionary page's
      if (optional) encodings.push('RLE')
      const schema = schemas[ci]
      chunks.push({
        file_offset: start, type: schema.type, encodings, name: c.name, codec,
        num_values: to - from, total_uncompressed_size: uncompressed, total_compressed_size: out.offset - start, data_page_offset, dictionary_page_offset, stats,
      })
      groupBytes += uncompressed
    }
    row_groups.push({ columns: chunks, total_byte_size: groupBytes, num_rows: to - from })
    if (n === 0) break
  }
  out.thrift((t) => footer(t, schemas, n, row_groups, o)) // footer and its length
  out.push(MAGIC)
  return out.bytes()
}

function concat(a: Uint8Array, b: Uint8Array) {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

const MAGIC = new TextEncoder().encode('PAR1')

/**
 * A file built as a list of parts, joined once: page bodies as they are, and the thrift headers
 * and footer all written into one growing byte list, kept as [start, length) ranges of it.
 */
class Parts {
  list: (Uint8Array | number)[] = []
  offset = 0
  meta = new Thrift()
  push(b: Uint8Array) { this.list.push(b); this.offset += b.length }
  /** Pushes what `write` writes; returns its length. */
  thrift(write: (t: Thrift) => void) {
    const start = this.meta.bytes.length
    write(this.meta)
    const length = this.meta.bytes.length - start
    this.list.push(start, length)
    this.offset += length
    return length
  }
  bytes() {
    const out = new Uint8Array(this.offset)
    const meta = Uint8Array.from(this.meta.bytes)
    let at = 0
    for (let i = 0; i < this.list.length; i++) {
      const b = this.list[i]
      if (typeof b === 'number') { const length = this.list[++i] as number; out.set(meta.subarray(b, b + length), at); at += length } else { out.set(b, at); at += b.length }
    }
    return out
  }
}

// ---- page headers and footer (thrift), as hyparquet-writer writes them --------------------------

type Encoding = 'PLAIN' | 'PLAIN_DICTIONARY' | 'RLE' | 'DELTA_BINARY_PACKED' | 'RLE_DICTIONARY'
interface Chunk {
  file_offset: number; type: ReturnType<typeof schemaOf>['type']; encodings: Encoding[]; name: string; codec: WriteColumnsOptions['codec']
  num_values: number; total_uncompressed_size: number; total_compressed_size: number; data_page_offset: number; dictionary_page_offset?: number
  stats?: Stats
}
// indexes into Parquet's thrift enums (hyparquet/src/constants.js)
const TYPES = { BOOLEAN: 0, INT32: 1, INT64: 2, INT96: 3, DOUBLE: 5, BYTE_ARRAY: 6 } as const
const ENCODINGS = { PLAIN: 0, PLAIN_DICTIONARY: 2, RLE: 3, DELTA_BINARY_PACKED: 5, RLE_DICTIONARY: 8 } as const
const CODECS = { UNCOMPRESSED: 0, SNAPPY: 1 } as const
const CONVERTED = { UTF8: 0, TIMESTAMP_MILLIS: 9, TIMESTAMP_MICROS: 10 } as const

/** PageHeader of a dictionary page (PLAIN values; parquet-mr's v1 writer names it PLAIN_DICTIONARY). */
export function dictionaryPageHeader(t: Thrift, size: number, compressed: number, count: number, encoding: 'PLAIN' | 'PLAIN_DICTIONARY' = 'PLAIN') {
  t.begin(); t.i32(1, 2); t.i32(2, size); t.i32(3, compressed)
  t.struct(7, () => { t.i32(1, count); t.i32(2, ENCODINGS[encoding]) })
  t.end()
}

/** PageHeader of a data page v1: values, and before them the definition levels of an OPTIONAL column (RLE). */
export function dataPageHeaderV1(t: Thrift, size: number, compressed: number, count: number, encoding: Encoding, optional: boolean) {
  t.begin(); t.i32(1, 0); t.i32(2, size); t.i32(3, compressed)
  t.struct(5, () => { t.i32(1, count); t.i32(2, ENCODINGS[encoding]); t.i32(3, ENCODINGS.RLE); t.i32(4, optional ? ENCODINGS.RLE : 4 /* BIT_PACKED: no levels */) })
  t.end()
}

/** Statistics of a column chunk: min_value/max_value, and for numbers the old min/max too (parquet-mr before 1.10 reads only those). */
function statistics(t: Thrift, s: Stats) {
  t.struct(12, () => {
    if (s.signed && s.max && s.min) { t.binary(1, s.max); t.binary(2, s.min) }
    t.i64(3, s.nulls)
    if (s.max && s.min) { t.binary(5, s.max); t.binary(6, s.min) }
  })
}

/** FileMetaData, then its length (four bytes, little-endian). */
export function footer(t: Thrift, schemas: ReturnType<typeof schemaOf>[], rows: number, groups: { columns: Chunk[]; total_byte_size: number; num_rows: number }[], o: Pick<WriteColumnsOptions, 'createdBy' | 'rootName'> = defaults) {
  const start = t.bytes.length
  t.begin()
  t.i32(1, 1)
  t.structs(2, schemas.length + 1, (i) => {
    if (i === 0) { t.string(4, o.rootName); t.i32(5, schemas.length); return }
    const s = schemas[i - 1] as { name: string; type: keyof typeof TYPES; repetition_type: 'REQUIRED' | 'OPTIONAL'; converted_type?: keyof typeof CONVERTED; logical_type?: { unit: 'MICROS' | 'MILLIS' } }
    t.i32(1, TYPES[s.type]); t.i32(3, s.repetition_type === 'OPTIONAL' ? 1 : 0); t.string(4, s.name)
    if (s.converted_type) t.i32(6, CONVERTED[s.converted_type])
    if (s.logical_type) t.struct(10, () => t.struct(8, () => { t.bool(1, true); t.struct(2, () => t.struct(s.logical_type!.unit === 'MICROS' ? 2 : 1, () => {})) }))
  })
  t.i64(3, rows)
  t.structs(4, groups.length, (g) => {
    t.structs(1, groups[g].columns.length, (j) => {
      const c = groups[g].columns[j]
      t.i64(2, c.file_offset)
      t.struct(3, () => {
        t.i32(1, TYPES[c.type]); t.list(2, I32, c.encodings.length, (k) => t.zigzag(ENCODINGS[c.encodings[k]])); t.list(3, BINARY, 1, () => t.string(undefined, c.name))
        t.i32(4, CODECS[c.codec]); t.i64(5, c.num_values); t.i64(6, c.total_uncompressed_size); t.i64(7, c.total_compressed_size); t.i64(9, c.data_page_offset)
        if (c.dictionary_page_offset !== undefined) t.i64(11, c.dictionary_page_offset)
        if (c.stats) statistics(t, c.stats)
      })
    })
    t.i64(2, groups[g].total_byte_size); t.i64(3, groups[g].num_rows)
  })
  t.string(6, o.createdBy)
  t.list(7, STRUCT, schemas.length, () => { t.begin(); t.struct(1, () => {}); t.end() }) // column orders: type-defined
  t.end()
  const length = t.bytes.length - start
  t.bytes.push(length & 255, (length >>> 8) & 255, (length >>> 16) & 255, length >>> 24)
}

/**
 * A trade table (every column of TRADE_COLUMNS) as one Parquet file, the rows `rows` in that
 * order (all rows when absent).
 * @example store.put(silverKey, writeTradeTable(table, order))
 */
export function writeTradeTable(t: TradeTable, rows?: Uint32Array, options: Partial<Omit<WriteColumnsOptions, 'rows'>> = {}): Uint8Array {
  const codes: Record<string, [Uint8Array, string[]]> = {
    exchange: [t.exchange, t.strings.exchange], symbol: [t.symbol, t.strings.symbol], native_symbol: [t.native_symbol, t.strings.native_symbol],
    side: [t.buy, t.strings.side], source: [t.source, t.strings.source],
  }
  const specs = TRADE_COLUMNS.map((c): ColumnSpec => {
    if (c.type === 'STRING') return { name: c.name, type: 'STRING', codes: codes[c.name][0], dict: codes[c.name][1] }
    if (c.type === 'BOOLEAN') throw new Error(`trade column ${c.name} is BOOLEAN`)
    return { name: c.name, type: c.type, values: (t as unknown as Record<string, Float64Array>)[c.name] }
  })
  return writeColumns(specs, t.length, { ...options, rows })
}

/**
 * Rows described by a column list of `market` as one Parquet file, through the columnar writer:
 * every file of the lake that is written from rows (gold candles, prices, dim_symbols) is written
 * here. Strings are dictionary-encoded; with `nullable`, columns are OPTIONAL and a missing value
 * is a null, else it is an error, as is a fraction in an integer column.
 * @example writeTable(CANDLE_COLUMNS, candles)
 */
export function writeTable<T>(columns: Column<T>[], rows: readonly T[], options: Partial<Omit<WriteColumnsOptions, 'rows'>> & { nullable?: boolean } = {}): Uint8Array {
  const n = rows.length
  const { nullable = false, ...write } = options
  const specs = columns.map((c): ColumnSpec => {
    const name = c.name as string
    const nulls = nullable ? new Uint8Array(n) : undefined
    /** True where the row has no value (a null); an error unless the table is nullable. */
    const none = (raw: unknown, i: number) => {
      if (raw !== null && raw !== undefined) return false
      if (!nulls) throw new Error(`column ${name}: row ${i} has no value`)
      nulls[i] = 1
      return true
    }
    if (c.type === 'STRING') {
      const dict: string[] = [], index = new Map<string, number>()
      let codes: Uint8Array | Uint32Array = new Uint8Array(n)
      let last: unknown, lastCode = -1
      for (let i = 0; i < n; i++) {
        const raw = rows[i][c.name] as unknown
        if (raw === last && lastCode >= 0) { codes[i] = lastCode; continue } // the same string as the row before: the usual case
        if (none(raw, i)) continue
        const v = String(raw)
        let k = index.get(v)
        if (k === undefined) {
          if (dict.length === 255 && codes instanceof Uint8Array) codes = Uint32Array.from(codes) // past one byte a code
          index.set(v, (k = dict.push(v) - 1))
        }
        codes[i] = lastCode = k
        last = raw
      }
      return { name, type: 'STRING', codes, dict, nulls }
    }
    if (c.type === 'BOOLEAN') {
      const flags = new Uint8Array(n)
      for (let i = 0; i < n; i++) {
        const v = rows[i][c.name] as unknown
        if (!none(v, i)) flags[i] = v ? 1 : 0
      }
      return { name, type: 'BOOLEAN', flags, nulls }
    }
    const values = new Float64Array(n)
    const integer = c.type !== 'DOUBLE'
    for (let i = 0; i < n; i++) {
      const raw = rows[i][c.name] as unknown
      if (none(raw, i)) continue
      const v = typeof raw === 'number' ? raw : Number(raw)
      if (integer && !Number.isInteger(v)) throw new Error(`column ${name}: row ${i} holds ${v}, not an integer`)
      values[i] = v
    }
    return { name, type: c.type, values, nulls }
  })
  return writeColumns(specs, n, write)
}
