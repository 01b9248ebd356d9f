/**
 * Independent Parquet readers for tests: parquet-wasm (arrow-rs, the Rust implementation), DuckDB
 * and hyparquet, each reading a file's bytes into rows of plain values, so a test can hold the
 * lake's files (and core's own reader) to what other engines read from them. Values are normalized the same way for both:
 * 64-bit integers as numbers, timestamps (any unit, INT96 too) as epoch microseconds, nulls as null.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readParquet as wasmRead } from 'parquet-wasm/node'
import { tableFromIPC, Type, type Vector } from 'apache-arrow'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import { parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet'
import { readParquet } from '@ticklake/core/lake/parquet'

export type Row = Record<string, number | string | boolean | null>


/** The rows of a Parquet file as arrow-rs (parquet-wasm) reads them. */
export function readWithArrowRs(bytes: Uint8Array): Row[] {
  const table = tableFromIPC(wasmRead(bytes).intoIPCStream())
  const rows: Row[] = Array.from({ length: table.numRows }, () => ({}))
  for (const field of table.schema.fields) {
    const v = table.getChild(field.name) as Vector
    const ts = field.type.typeId === Type.Timestamp
    const perUnit = ts ? [1_000_000, 1000, 1, 0.001][(field.type as any).unit] : 1
    let i = 0
    for (const data of v.data) {
      const raw = data.values as ArrayLike<number | bigint>
      for (let k = 0; k < data.length; k++, i++) {
        if (!data.getValid(k)) { rows[i][field.name] = null; continue }
        if (ts) { rows[i][field.name] = Number(raw[data.offset + k]) * perUnit; continue }
        const x = v.get(i)
        rows[i][field.name] = typeof x === 'bigint' ? Number(x) : (x as Row[string])
      }
    }
  }
  return rows
}

let duck: Promise<DuckDBConnection> | undefined
const dir = mkdtempSync(join(tmpdir(), 'ticklake-readers-'))
process.once('exit', () => rmSync(dir, { recursive: true, force: true }))

/** The rows of a Parquet file as DuckDB reads them (its own Parquet reader), in file order. */
export async function readWithDuckDB(bytes: Uint8Array): Promise<Row[]> {
  duck ??= DuckDBInstance.create(':memory:').then((i) => i.connect())
  const c = await duck
  const file = join(dir, `f-${Math.random().toString(36).slice(2)}.parquet`)
  writeFileSync(file, bytes)
  const described = (await c.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${file}')`)).getRowObjects()
  // timestamps as epoch µs (INT96 and every unit), the rest as they are
  const select = described.map((d) => (/^TIMESTAMP/.test(String(d.column_type)) ? `epoch_us("${d.column_name}") AS "${d.column_name}"` : `"${d.column_name}"`)).join(', ')
  const rows = (await c.runAndReadAll(`SELECT ${select} FROM read_parquet('${file}', file_row_number = true) ORDER BY file_row_number`)).getRowObjects()
  rmSync(file, { force: true })
  return rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'file_row_number').map(([k, x]) => [k, typeof x === 'bigint' ? Number(x) : (x as Row[string])])))
}

const micros = { timestampFromMicroseconds: Number, timestampFromMilliseconds: (v: bigint) => Number(v) * 1000, timestampFromNanoseconds: (v: bigint) => Number(v / 1000n) }

/** The rows of a Parquet file as hyparquet reads them (`parquetReadObjects`), timestamps of every unit as epoch µs. */
export async function readWithHyparquet(bytes: Uint8Array): Promise<Row[]> {
  const rows = await parquetReadObjects({ file: bytes.slice().buffer, parsers: micros } as any)
  for (const r of rows) for (const k in r) if (typeof r[k] === 'bigint') r[k] = Number(r[k])
  return rows as Row[]
}

/** The rows of a Parquet file as core's `readParquet` (the rows view of the lake's decoder) reads them, timestamps of every unit as epoch µs. */
export async function readWithTicklake(bytes: Uint8Array): Promise<Row[]> {
  const millis = parquetSchema(parquetMetadata(bytes)).children
    .filter((c) => c.element.converted_type === 'TIMESTAMP_MILLIS' || (c.element.logical_type?.type === 'TIMESTAMP' && c.element.logical_type.unit === 'MILLIS'))
    .map((c) => c.element.name)
  const rows = await readParquet<Row>(bytes)
  for (const r of rows) for (const m of millis) if (typeof r[m] === 'number') r[m] = (r[m] as number) * 1000
  return rows
}

/**
 * The rows of a Parquet file once every reader agrees on every value (hyparquet, core's
 * `readParquet`, arrow-rs and DuckDB); the first disagreement throws, naming the reader, row and column.
 */
export async function rowsAllReadersAgreeOn(bytes: Uint8Array): Promise<Row[]> {
  const [ref, ours, arrow, duck] = [await readWithHyparquet(bytes), await readWithTicklake(bytes), readWithArrowRs(bytes), await readWithDuckDB(bytes)]
  for (const [name, rows] of [['readParquet', ours], ['arrow-rs', arrow], ['DuckDB', duck]] as const) {
    if (rows.length !== ref.length) throw new Error(`${name} reads ${rows.length} rows, hyparquet ${ref.length}`)
    rows.forEach((r, i) => {
      for (const k of new Set([...Object.keys(ref[i]), ...Object.keys(r)])) {
        const a = ref[i][k] ?? null, b = r[k] ?? null
        if (!Object.is(a, b)) throw new Error(`${name} row ${i} column ${k}: ${JSON.stringify(b)}, hyparquet ${JSON.stringify(a)}`)
      }
    })
  }
  return ref
}
