/**
 * The thrift structures of a Parquet file the column writer (`write.ts`) writes: page headers and
 * the footer (FileMetaData with its column chunks and statistics), byte for byte as
 * hyparquet-writer writes them (tested).
 */
import { Thrift, BINARY, I32, STRUCT } from './thrift'

export type Encoding = 'PLAIN' | 'PLAIN_DICTIONARY' | 'RLE' | 'DELTA_BINARY_PACKED' | 'RLE_DICTIONARY'
/** A column's schema element. */
export interface Leaf { name: string; type: keyof typeof TYPES; repetition_type: 'REQUIRED' | 'OPTIONAL'; converted_type?: keyof typeof CONVERTED; logical_type?: { type: 'TIMESTAMP'; isAdjustedToUTC: true; unit: 'MICROS' | 'MILLIS' } }

/** Chunk statistics: min and max as PLAIN bytes (strings unsigned by UTF-8 bytes), and the null count. */
export interface Stats { min?: Uint8Array; max?: Uint8Array; nulls: number; signed: boolean }

/** A written column chunk, as the footer describes it. */
export interface Chunk {
  file_offset: number; type: Leaf['type']; encodings: Encoding[]; name: string; codec: keyof typeof CODECS
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
export function footer(t: Thrift, schemas: Leaf[], rows: number, groups: { columns: Chunk[]; total_byte_size: number; num_rows: number }[], o: { createdBy: string; rootName: string }) {
  const start = t.bytes.length
  t.begin()
  t.i32(1, 1)
  t.structs(2, schemas.length + 1, (i) => {
    if (i === 0) { t.string(4, o.rootName); t.i32(5, schemas.length); return }
    const s = schemas[i - 1]
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
