import { describe, expect, it } from 'vitest'
import { parquetMetadata, parquetSchema } from 'hyparquet'
import { parquetHeader } from 'hyparquet/src/column.js'
import { FIREHOSE_TABLES, PARQUET_SERDE, type GlueColumn } from '@ticklake/core/aws/glue'
import { readColumns, readParquet } from '@ticklake/core/lake/parquet'
import { readWithArrowRs, readWithDuckDB } from '../../test/readers'
import { convertRecords, FIREHOSE_CREATED_BY } from './convert'

const T0 = Date.parse('2026-11-24T15:00:00Z') * 1000
/** Ingest's JSON records (a Trade), with a few sides, sources and repeated prices. */
const record = (i: number) => ({
  exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: 4_000_000_000 + i, first_trade_id: 9_000_000_000 + 2 * i, last_trade_id: 9_000_000_001 + 2 * i,
  ts: T0 + i * 137_911, price: 65_000 + (i % 50) / 100, qty: ((i * 7919) % 100_000) / 1e5 + 1e-5, side: i % 3 ? 'buy' : 'sell', trades: 2, ingest_ts: T0 + i * 137_911 + 40_123, source: i % 7 ? 'ws' : 'rest',
})
const TRADES = FIREHOSE_TABLES.trades.columns

/** The encodings of each page of a column chunk, read from the page headers themselves. */
function pages(bytes: Uint8Array, group: number, column: string) {
  const meta = parquetMetadata(bytes)
  const chunk = meta.row_groups[group].columns.find((c) => c.meta_data!.path_in_schema[0] === column)!.meta_data!
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: string[] = []
  let at = Number(chunk.dictionary_page_offset ?? chunk.data_page_offset)
  const end = at + Number(chunk.total_compressed_size)
  while (at < end) {
    const reader = { view, offset: at }
    const h = parquetHeader(reader)
    out.push(h.type === 'DICTIONARY_PAGE' ? `dict:${h.dictionary_page_header!.encoding}` : `${h.type}:${h.data_page_header?.encoding}`)
    at = reader.offset + h.compressed_page_size
  }
  return out
}

describe('Firehose record format conversion (Hive JSON SerDe in, Parquet SerDe out)', () => {
  it('writes the Glue table\'s non-partition columns in Hive\'s Parquet shape: OPTIONAL, plain INT64 times, UTF8 strings, dictionary pages, v1 data pages, snappy, statistics', async () => {
    const records = Array.from({ length: 500 }, (_, i) => record(i))
    const { bytes, rows, errors } = convertRecords(records, TRADES)
    expect(errors).toEqual([])
    expect(rows).toBe(500)
    const meta = parquetMetadata(bytes!)
    expect(meta.created_by).toBe(FIREHOSE_CREATED_BY)
    const schema = parquetSchema(meta)
    expect(schema.element.name).toBe('hive_schema')
    const leaves = Object.fromEntries(schema.children.map((c) => [c.element.name, c.element]))
    // the table's columns, in its order: exchange and symbol are partitions of the key, not columns
    expect(Object.keys(leaves)).toEqual(TRADES.map((c) => c.name))
    expect(Object.keys(leaves)).not.toContain('exchange')
    for (const el of Object.values(leaves)) expect(el.repetition_type).toBe('OPTIONAL')
    expect(leaves.ts).toMatchObject({ type: 'INT64' })
    expect(leaves.ts.converted_type).toBeUndefined()
    expect(leaves.ts.logical_type).toBeUndefined()
    expect(leaves.trades.type).toBe('INT32')
    expect(leaves.side).toMatchObject({ type: 'BYTE_ARRAY', converted_type: 'UTF8' })
    const ts = meta.row_groups[0].columns.find((c) => c.meta_data!.path_in_schema[0] === 'ts')!.meta_data!
    expect(ts.codec).toBe('SNAPPY')
    expect(ts.statistics).toMatchObject({ null_count: 0n, min_value: BigInt(records[0].ts), max_value: BigInt(records[499].ts) })
    expect(pages(bytes!, 0, 'side')).toEqual(['dict:PLAIN_DICTIONARY', 'DATA_PAGE:PLAIN_DICTIONARY'])
    expect(pages(bytes!, 0, 'price')).toEqual(['dict:PLAIN_DICTIONARY', 'DATA_PAGE:PLAIN_DICTIONARY'])
  })

  it('cuts row groups at the block size and pages at the page size, and falls back to PLAIN pages once a dictionary outgrows its page, as parquet-mr does', async () => {
    const records = Array.from({ length: 6000 }, (_, i) => record(i))
    const serde = { ...PARQUET_SERDE, blockSizeBytes: 160_000, pageSizeBytes: 8_192 }
    const { bytes } = convertRecords(records, TRADES, serde)
    const meta = parquetMetadata(bytes!)
    expect(meta.row_groups.length).toBeGreaterThan(2)
    expect(meta.row_groups.reduce((s, g) => s + Number(g.num_rows), 0)).toBe(6000)
    // ids are all distinct: the dictionary fills its 8 KiB page, then the rest of the chunk is PLAIN
    const ids = pages(bytes!, 0, 'trade_id')
    expect(ids[0]).toBe('dict:PLAIN_DICTIONARY')
    expect(ids).toContain('DATA_PAGE:PLAIN_DICTIONARY')
    expect(ids.at(-1)).toBe('DATA_PAGE:PLAIN')
    // 50 prices a row group stay a dictionary through every page
    expect(new Set(pages(bytes!, 1, 'price').slice(1))).toEqual(new Set(['DATA_PAGE:PLAIN_DICTIONARY']))

    // four readers agree on every value: hyparquet, core's decoder, arrow-rs and DuckDB
    const expected = records.map(({ exchange: _e, symbol: _s, ...r }) => r)
    expect(await readParquet(bytes!)).toEqual(expected)
    expect(readWithArrowRs(bytes!)).toEqual(expected)
    expect(await readWithDuckDB(bytes!)).toEqual(expected)
    const ours = await readColumns(bytes!, [{ name: 'ts', as: 'micros' }, { name: 'trade_id', as: 'number' }, { name: 'price', as: 'number' }, { name: 'exchange', as: 'code', values: [] }, { name: 'side', as: 'flag', equals: 'buy' }], { fill: { exchange: 'binance' } })
    expect(Array.from(ours.values.ts)).toEqual(records.map((r) => r.ts))
    expect(Array.from(ours.values.trade_id)).toEqual(records.map((r) => r.trade_id))
    expect(Array.from(ours.values.price)).toEqual(records.map((r) => r.price))
    expect(new Set(ours.values.exchange)).toEqual(new Set([0]))
    expect(Array.from(ours.values.side)).toEqual(records.map((r) => (r.side === 'buy' ? 1 : 0)))
  })

  it('writes a Glue `timestamp` column as INT96, which every reader takes as the same instant', async () => {
    const columns: GlueColumn[] = [{ name: 'id', type: 'bigint' }, { name: 'at', type: 'timestamp' }]
    const records = [{ id: 1, at: '2026-11-24 15:00:01.000123' }, { id: 2, at: '1969-12-31 23:59:59.5' }, { id: 3 }, { id: 4, at: Date.parse('2026-11-24T16:00:00Z') }]
    const { bytes } = convertRecords(records, columns)
    const el = parquetSchema(parquetMetadata(bytes!)).children[1].element
    expect(el).toMatchObject({ name: 'at', type: 'INT96', repetition_type: 'OPTIONAL' })
    const micros = [Date.parse('2026-11-24T15:00:01Z') * 1000 + 123, -500_000, null, Date.parse('2026-11-24T16:00:00Z') * 1000]
    expect(readWithArrowRs(bytes!).map((r) => r.at)).toEqual(micros)
    expect((await readWithDuckDB(bytes!)).map((r) => r.at)).toEqual(micros)
    const ours = await readColumns(bytes!, [{ name: 'at', as: 'micros' }])
    expect(Array.from(ours.values.at)).toEqual(micros.filter((m) => m !== null))
    expect(ours.nulls).toBe(1)
  })

  it('reads a field missing from a record as null, and refuses a value that does not fit its column with the reason', () => {
    const good = record(1)
    const { bytes, rows, errors } = convertRecords([
      good, { ...good, qty: undefined }, { ...good, price: '65000.1' }, { ...good, trade_id: 1.5 }, { ...good, trades: 2 ** 31 }, 'not an object', { ...good, side: 7 }, { ...good, TS: 5, ts: undefined },
    ], TRADES)
    expect(rows).toBe(3)
    expect(errors.map((e) => [e.index, e.message])).toEqual([
      [2, expect.stringMatching(/price \(double\)/)], [3, expect.stringMatching(/trade_id \(bigint\)/)], [4, expect.stringMatching(/trades \(int\) out of range/)],
      [5, 'record is not a JSON object'], [6, expect.stringMatching(/side \(string\)/)],
    ])
    expect(bytes).toBeDefined()
  })
})
