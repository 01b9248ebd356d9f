/**
 * The columnar Parquet writer of the lake: writes typed arrays (and one-byte string codes with
 * their dictionary) straight into Parquet pages, no per-row objects and no BigInts, for jobs that
 * hold their data as columns (silver trades). Flat REQUIRED columns, data page v2, one page per
 * column per row group: numbers PLAIN (DOUBLE, INT32, INT64 and timestamps from doubles, exact
 * below 2^53) or, for integers, DELTA_BINARY_PACKED on request (small and cheap where snappy in
 * JavaScript is not), strings RLE_DICTIONARY, booleans PLAIN; SNAPPY (hyparquet-writer's
 * compressor) or UNCOMPRESSED.
 * The files read back with hyparquet, DuckDB and the fast decoder (`columns.ts`) alike.
 */
import { snappyCompress } from 'hyparquet-writer/src/snappy.js'
import { Thrift, BINARY, I32, STRUCT } from './thrift'
import type { Column, ColumnType } from '../market/index'
import type { TradeTable } from './columns'
import { TRADE_COLUMNS } from '../market/index'

export const defaults = {
  codec: 'SNAPPY' as 'SNAPPY' | 'UNCOMPRESSED',
  rowGroupSize: 100_000,
  /** Integer and timestamp columns DELTA_BINARY_PACKED (else PLAIN). */
  delta: false,
}

/** One column to write: numbers as doubles, or strings as codes into `dict`. */
export type ColumnSpec =
  | { name: string; type: Exclude<ColumnType, 'STRING' | 'BOOLEAN'>; values: Float64Array }
  | { name: string; type: 'STRING'; codes: Uint8Array; dict: string[] }
  | { name: string; type: 'BOOLEAN'; flags: Uint8Array }

export interface WriteColumnsOptions {
  codec: 'SNAPPY' | 'UNCOMPRESSED'
  rowGroupSize: number
  delta: boolean
  /** Rows to write, in this order (indexes into the arrays); all rows in order without it. */
  rows?: Uint32Array
}

const TWO32 = 4294967296
const utf8 = new TextEncoder()

function schemaOf(c: ColumnSpec) {
  const base = { name: c.name, repetition_type: 'REQUIRED' as const }
  switch (c.type) {
    case 'STRING': return { ...base, type: 'BYTE_ARRAY' as const, converted_type: 'UTF8' as const }
    case 'DOUBLE': return { ...base, type: 'DOUBLE' as const }
    case 'BOOLEAN': return { ...base, type: 'BOOLEAN' as const }
    case 'INT32': return { ...base, type: 'INT32' as const }
    case 'INT64': return { ...base, type: 'INT64' as const }
    case 'TIMESTAMP_MICROS': return { ...base, type: 'INT64' as const, converted_type: 'TIMESTAMP_MICROS' as const, logical_type: { type: 'TIMESTAMP' as const, isAdjustedToUTC: true, unit: 'MICROS' as const } }
    case 'TIMESTAMP_MILLIS': return { ...base, type: 'INT64' as const, converted_type: 'TIMESTAMP_MILLIS' as const, logical_type: { type: 'TIMESTAMP' as const, isAdjustedToUTC: true, unit: 'MILLIS' as const } }
  }
}

/** `schemaOf`, made once per column name and type (jobs write the same few schemas over and over). */
const schemaCache = new Map<string, ReturnType<typeof schemaOf>>()
function schemaFor(c: ColumnSpec) {
  const key = `${c.name}\u0000${c.type}`
  let s = schemaCache.get(key)
  if (!s) { s = schemaOf(c); if (schemaCache.size < 4096) schemaCache.set(key, s) }
  return s
}

/** The values of rows `[from, to)` (through `rows` when given) as PLAIN bytes. */
function plainNumbers(c: Extract<ColumnSpec, { values: Float64Array }>, rows: Uint32Array | undefined, from: number, to: number) {
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

/** Flags of rows `[from, to)` as a PLAIN BOOLEAN page body (bit-packed, first row in the lowest bit). */
function plainBooleans(flags: Uint8Array, rows: Uint32Array | undefined, from: number, to: number) {
  const n = to - from, out = new Uint8Array(Math.ceil(n / 8))
  for (let i = 0; i < n; i++) if (flags[rows ? rows[from + i] : from + i]) out[i >> 3] |= 1 << (i & 7)
  return out
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

/**
 * Writes columns of equal length as one Parquet file.
 * @example writeColumns([{ name: 'price', type: 'DOUBLE', values: prices }], prices.length)
 */
export function writeColumns(columns: ColumnSpec[], length: number, options: Partial<WriteColumnsOptions> = {}): Uint8Array {
  const { codec, rowGroupSize, rows, delta: encodeDelta } = { ...defaults, ...options }
  const n = rows ? rows.length : length
  const compress = (b: Uint8Array) => (codec === 'SNAPPY' ? snappyCompress(b) : b)
  const out = new Parts()
  out.push(MAGIC)
  const row_groups: { columns: Chunk[]; total_byte_size: number; num_rows: number }[] = []
  const schemas = columns.map(schemaFor)
  for (let from = 0; from < n || (from === 0 && n === 0); from += rowGroupSize) {
    const to = Math.min(n, from + rowGroupSize)
    const chunks: Chunk[] = []
    let groupBytes = 0
    for (let ci = 0; ci < columns.length; ci++) {
      const c = columns[ci]
      const start = out.offset
      let dictionary_page_offset: number | undefined
      let uncompressed = 0
      let body: Uint8Array
      let encoding: Encoding = c.type === 'STRING' ? 'RLE_DICTIONARY' : 'PLAIN'
      if (c.type === 'STRING') {
        dictionary_page_offset = out.offset
        const dict = plainStrings(c.dict)
        const packed = compress(dict)
        uncompressed += out.thrift((t) => dictionaryPageHeader(t, dict.length, packed.length, c.dict.length))
        out.push(packed)
        uncompressed += dict.length
        body = dictionaryIndexes(c.codes, rows, from, to, c.dict.length)
      } else if (c.type === 'BOOLEAN') body = plainBooleans(c.flags, rows, from, to)
      else {
        const delta = c.type !== 'DOUBLE' && to - from >= 2 && encodeDelta ? deltaNumbers(c.values, rows, from, to) : undefined
        encoding = delta ? 'DELTA_BINARY_PACKED' : 'PLAIN'
        body = delta ?? plainNumbers(c, rows, from, to)
      }
      const data_page_offset = out.offset
      const packed = compress(body)
      uncompressed += out.thrift((t) => dataPageHeader(t, body.length, packed.length, to - from, encoding, codec !== 'UNCOMPRESSED'))
      out.push(packed)
      uncompressed += body.length
      const schema = schemas[ci]
      chunks.push({
        file_offset: start, type: schema.type, encodings: c.type === 'STRING' ? ['PLAIN', 'RLE_DICTIONARY'] : [encoding], name: c.name, codec,
        num_values: to - from, total_uncompressed_size: uncompressed, total_compressed_size: out.offset - start, data_page_offset, dictionary_page_offset,
      })
      groupBytes += uncompressed
    }
    row_groups.push({ columns: chunks, total_byte_size: groupBytes, num_rows: to - from })
    if (n === 0) break
  }
  out.thrift((t) => footer(t, schemas, n, row_groups)) // footer and its length
  out.push(MAGIC)
  return out.bytes()
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

type Encoding = 'PLAIN' | 'DELTA_BINARY_PACKED' | 'RLE_DICTIONARY'
interface Chunk {
  file_offset: number; type: ReturnType<typeof schemaOf>['type']; encodings: Encoding[]; name: string; codec: WriteColumnsOptions['codec']
  num_values: number; total_uncompressed_size: number; total_compressed_size: number; data_page_offset: number; dictionary_page_offset?: number
}
// indexes into Parquet's thrift enums (hyparquet/src/constants.js)
const TYPES = { BOOLEAN: 0, INT32: 1, INT64: 2, DOUBLE: 5, BYTE_ARRAY: 6 } as const
const ENCODINGS = { PLAIN: 0, DELTA_BINARY_PACKED: 5, RLE_DICTIONARY: 8 } as const
const CODECS = { UNCOMPRESSED: 0, SNAPPY: 1 } as const
const CONVERTED = { UTF8: 0, TIMESTAMP_MILLIS: 9, TIMESTAMP_MICROS: 10 } as const

/** PageHeader of a PLAIN dictionary page. */
export function dictionaryPageHeader(t: Thrift, size: number, compressed: number, count: number) {
  t.begin(); t.i32(1, 2); t.i32(2, size); t.i32(3, compressed)
  t.struct(7, () => { t.i32(1, count); t.i32(2, ENCODINGS.PLAIN) })
  t.end()
}

/** PageHeader of a data page v2 without levels (REQUIRED columns). */
export function dataPageHeader(t: Thrift, size: number, compressed: number, count: number, encoding: Encoding, isCompressed: boolean) {
  t.begin(); t.i32(1, 3); t.i32(2, size); t.i32(3, compressed)
  t.struct(8, () => {
    t.i32(1, count); t.i32(2, 0); t.i32(3, count); t.i32(4, ENCODINGS[encoding]); t.i32(5, 0); t.i32(6, 0)
    if (!isCompressed) t.bool(7, false) // default true
  })
  t.end()
}

/** FileMetaData, then its length (four bytes, little-endian). */
export function footer(t: Thrift, schemas: ReturnType<typeof schemaOf>[], rows: number, groups: { columns: Chunk[]; total_byte_size: number; num_rows: number }[]) {
  const start = t.bytes.length
  t.begin()
  t.i32(1, 2)
  t.structs(2, schemas.length + 1, (i) => {
    if (i === 0) { t.string(4, 'root'); t.i32(5, schemas.length); return }
    const s = schemas[i - 1] as { name: string; type: keyof typeof TYPES; converted_type?: keyof typeof CONVERTED; logical_type?: { unit: 'MICROS' | 'MILLIS' } }
    t.i32(1, TYPES[s.type]); t.i32(3, 0); t.string(4, s.name)
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
      })
    })
    t.i64(2, groups[g].total_byte_size); t.i64(3, groups[g].num_rows)
  })
  t.string(6, 'ticklake')
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
 * the same values `writeParquet` writes (REQUIRED, no statistics), at a fraction of its cost for
 * the many small files a job writes (gold candles). Strings are dictionary-encoded (up to 255
 * distinct per column); a missing value, or a fraction in an integer column, is an error.
 * @example writeTable(CANDLE_COLUMNS, candles)
 */
export function writeTable<T>(columns: Column<T>[], rows: readonly T[], options: Partial<Omit<WriteColumnsOptions, 'rows'>> = {}): Uint8Array {
  const n = rows.length
  const specs = columns.map((c): ColumnSpec => {
    const name = c.name as string
    const missing = (i: number) => new Error(`column ${name}: row ${i} has no value`)
    if (c.type === 'STRING') {
      const dict: string[] = [], index = new Map<string, number>(), codes = new Uint8Array(n)
      let last: unknown, lastCode = -1
      for (let i = 0; i < n; i++) {
        const raw = rows[i][c.name] as unknown
        if (raw === last && lastCode >= 0) { codes[i] = lastCode; continue } // the same string as the row before: the usual case
        if (raw === null || raw === undefined) throw missing(i)
        const v = String(raw)
        let k = index.get(v)
        if (k === undefined) {
          if (dict.length >= 255) throw new Error(`column ${name}: more than 255 distinct strings`)
          index.set(v, (k = dict.push(v) - 1))
        }
        codes[i] = lastCode = k
        last = raw
      }
      return { name, type: 'STRING', codes, dict }
    }
    if (c.type === 'BOOLEAN') {
      const flags = new Uint8Array(n)
      for (let i = 0; i < n; i++) {
        const v = rows[i][c.name] as unknown
        if (v === null || v === undefined) throw missing(i)
        flags[i] = v ? 1 : 0
      }
      return { name, type: 'BOOLEAN', flags }
    }
    const values = new Float64Array(n)
    const integer = c.type !== 'DOUBLE'
    for (let i = 0; i < n; i++) {
      const raw = rows[i][c.name] as unknown
      if (raw === null || raw === undefined) throw missing(i)
      const v = typeof raw === 'number' ? raw : Number(raw)
      if (integer && !Number.isInteger(v)) throw new Error(`column ${name}: row ${i} holds ${v}, not an integer`)
      values[i] = v
    }
    return { name, type: c.type, values }
  })
  return writeColumns(specs, n, options)
}
