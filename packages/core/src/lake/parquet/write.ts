/**
 * The columnar Parquet writer of the lake: writes typed arrays (and string codes with their
 * dictionary) straight into Parquet pages, no per-row objects and no BigInts. It writes what every
 * mainstream reader takes (DuckDB, Athena/Trino, Spark's vectorized reader, parquet-java, arrow-rs,
 * fastparquet, hyparquet): data page v1, PLAIN numbers (DOUBLE, INT32, INT64 and timestamps from
 * doubles, exact below 2^53; INT96 from epoch microseconds), dictionary-encoded strings, bit-packed
 * booleans, SNAPPY (hysnappy's compressor, `snappy.ts`) or none; min/max/null-count statistics per
 * column chunk and a `created_by` parquet-java parses, so engines skip row groups. Columns with
 * nulls are OPTIONAL. With `dictionary` it dictionary-encodes numbers too and falls back to PLAIN
 * pages when a dictionary outgrows its page, as parquet-mr does: the local Firehose emulator
 * writes Firehose's own Parquet shape with it. DELTA_BINARY_PACKED integers remain on request.
 */
import { snappyCompress } from './snappy'
import { Thrift } from './thrift'
import { deltaNumbers, dictionaryIndexes, hybrid, plainStrings } from './encode'
import { dataPageHeaderV1, dictionaryPageHeader, footer, type Chunk, type Encoding, type Leaf, type Stats } from './footer'

/** The types of a table's columns (the lake's schema lists, `market`'s `Column`, fit it). */
export type ColumnType = 'STRING' | 'INT32' | 'INT64' | 'DOUBLE' | 'BOOLEAN' | 'TIMESTAMP_MICROS' | 'TIMESTAMP_MILLIS'
/** A column of a table of rows `T`: the field it is read from and its type. */
export interface TableColumn<T> { name: keyof T & string; type: ColumnType }

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

function schemaOf(c: ColumnSpec): Leaf {
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
  const first = present[0], run = present[present.length - 1] - first === present.length - 1 // rows in order, none left out
  if (run) for (let i = first; i <= first + present.length - 1; i++) { const v = x[i]; if (v < lo) lo = v; if (v > hi) hi = v }
  else for (let i = 0; i < present.length; i++) { const v = x[present[i]]; if (v < lo) lo = v; if (v > hi) hi = v }
  if (lo > hi) return { nulls, signed: true } // only NaN
  if (lo === 0) lo = -0 // as the format asks of floating-point zeros
  if (hi === 0) hi = 0
  const bytes = (v: number) => plainNumbers({ type: c.type, values: Float64Array.of(v) }, undefined, 0, 1)
  return { min: bytes(lo), max: bytes(hi), nulls, signed: true }
}

/**
 * Writes columns of equal length as one Parquet file: data page v1 (every mainstream reader takes
 * it), pages of about `pageSize` bytes, row groups of `rowGroupSize` rows, column statistics.
 * A column with `nulls` (or `optional`) is OPTIONAL, its nulls as definition levels. (Long: one
 * pass per column chunk, pages, dictionary and chunk metadata together, as the file lays them out.)
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
          // rows in file order without nulls: numbers straight from their array (a view, for doubles)
          const inOrder = !rows && !nulls && c.type !== 'INT96' && c.type !== 'BOOLEAN' && c.type !== 'STRING' && pp.length > 0
          values = delta ?? (inOrder ? plainNumbers(c, undefined, pp[0], pp[0] + pp.length) : plainValues(c, pp))
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


/**
 * Rows described by a column list of `market` as one Parquet file, through the columnar writer:
 * every file of the lake that is written from rows (gold candles, prices, dim_symbols) is written
 * here. Strings are dictionary-encoded; with `nullable`, columns are OPTIONAL and a missing value
 * is a null, else it is an error, as is a fraction in an integer column.
 * @example writeTable(CANDLE_COLUMNS, candles)
 */
export function writeTable<T>(columns: TableColumn<T>[], rows: readonly T[], options: Partial<Omit<WriteColumnsOptions, 'rows'>> & { nullable?: boolean } = {}): Uint8Array {
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