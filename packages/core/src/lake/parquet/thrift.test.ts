import { describe, expect, it } from 'vitest'
import { ByteWriter } from 'hyparquet-writer'
import { writePageHeader } from 'hyparquet-writer/src/datapage.js'
import { writeMetadata } from 'hyparquet-writer/src/metadata.js'
import { dataPageHeaderV1, dictionaryPageHeader, footer } from './footer'
import { Thrift } from './thrift'

/** hyparquet-writer's bytes for what `write` writes. */
function theirs(write: (w: ByteWriter) => void) {
  const w = new ByteWriter()
  write(w)
  return w.getBytes()
}
const ours = (write: (t: Thrift) => void) => { const t = new Thrift(); write(t); return Uint8Array.from(t.bytes) }

describe('thrift of the columnar writer', () => {
  it('writes page headers byte for byte as hyparquet-writer does, small and large sizes', () => {
    for (const [size, packed, n] of [[0, 0, 0], [15, 9, 1], [1_000_000, 650_123, 100_000], [2 ** 31 - 1, 2 ** 30, 2 ** 31 - 1]]) {
      for (const encoding of ['PLAIN', 'PLAIN_DICTIONARY'] as const) {
        expect(ours((t) => dictionaryPageHeader(t, size, packed, n, encoding))).toEqual(theirs((w) => writePageHeader(w, { type: 'DICTIONARY_PAGE', uncompressed_page_size: size, compressed_page_size: packed, dictionary_page_header: { num_values: n, encoding } } as any)))
      }
      for (const encoding of ['PLAIN', 'PLAIN_DICTIONARY', 'DELTA_BINARY_PACKED', 'RLE_DICTIONARY'] as const) for (const optional of [true, false]) {
        expect(ours((t) => dataPageHeaderV1(t, size, packed, n, encoding, optional))).toEqual(theirs((w) => writePageHeader(w, {
          type: 'DATA_PAGE', uncompressed_page_size: size, compressed_page_size: packed,
          data_page_header: { num_values: n, encoding, definition_level_encoding: 'RLE', repetition_level_encoding: optional ? 'RLE' : 'BIT_PACKED' },
        } as any)))
      }
    }
  })

  it('writes the footer byte for byte as hyparquet-writer does: every column type, OPTIONAL and INT96 columns, two row groups, offsets past 2^32', () => {
    const schemas = [
      { name: 'exchange', repetition_type: 'REQUIRED', type: 'BYTE_ARRAY', converted_type: 'UTF8' },
      { name: 'price', repetition_type: 'REQUIRED', type: 'DOUBLE' },
      { name: 'n', repetition_type: 'REQUIRED', type: 'INT32' },
      { name: 'id', repetition_type: 'REQUIRED', type: 'INT64' },
      { name: 'final', repetition_type: 'REQUIRED', type: 'BOOLEAN' },
      { name: 'ts', repetition_type: 'REQUIRED', type: 'INT64', converted_type: 'TIMESTAMP_MICROS', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' } },
      { name: 'open_time', repetition_type: 'REQUIRED', type: 'INT64', converted_type: 'TIMESTAMP_MILLIS', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' } },
      { name: 'ingest_ts', repetition_type: 'OPTIONAL', type: 'INT96' },
      { name: 'side', repetition_type: 'OPTIONAL', type: 'BYTE_ARRAY', converted_type: 'UTF8' },
      ...Array.from({ length: 12 }, (_, i) => ({ name: `f_é${i}`, repetition_type: 'REQUIRED', type: 'DOUBLE' })),
    ] as const
    let offset = 4
    const groups = [100_000, 7].map((rows, g) => ({
      num_rows: rows, total_byte_size: 2 ** 33 + g,
      columns: schemas.map((s) => {
        const dictionary = s.type === 'BYTE_ARRAY' ? offset : undefined
        const chunk = {
          file_offset: offset, type: s.type, encodings: (s.type === 'BYTE_ARRAY' ? ['PLAIN', 'RLE_DICTIONARY'] : s.type === 'INT64' ? ['DELTA_BINARY_PACKED'] : ['PLAIN']) as any, name: s.name, codec: g ? 'UNCOMPRESSED' as const : 'SNAPPY' as const,
          num_values: rows, total_uncompressed_size: 777 * rows, total_compressed_size: 333 * rows, data_page_offset: offset + (dictionary === undefined ? 0 : 20), dictionary_page_offset: dictionary,
        }
        offset += 2 ** 30 + 3
        return chunk
      }),
    }))
    const big = (x: number | undefined) => (x === undefined ? undefined : BigInt(x))
    const meta = {
      version: 1, created_by: 'parquet-mr version 1.10.1 (build x)', num_rows: 100_007n, schema: [{ name: 'hive_schema', num_children: schemas.length }, ...schemas],
      row_groups: groups.map((g) => ({
        total_byte_size: big(g.total_byte_size), num_rows: big(g.num_rows),
        columns: g.columns.map((c) => ({ file_offset: big(c.file_offset), meta_data: { type: c.type, encodings: c.encodings, path_in_schema: [c.name], codec: c.codec, num_values: big(c.num_values), total_uncompressed_size: big(c.total_uncompressed_size), total_compressed_size: big(c.total_compressed_size), data_page_offset: big(c.data_page_offset), dictionary_page_offset: big(c.dictionary_page_offset) } })),
      })),
    }
    expect(ours((t) => footer(t, schemas as any, 100_007, groups as any, { createdBy: 'parquet-mr version 1.10.1 (build x)', rootName: 'hive_schema' }))).toEqual(theirs((w) => writeMetadata(w, meta as any)))
  })
})
