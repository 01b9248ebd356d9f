/**
 * Feature tables as the features job computes them (typed arrays by column name, NaN for null)
 * and as it writes them, through the lake's Parquet codec (`../parquet`): a table described by a
 * `FeatureColumn` list becomes the codec's column specs (strings dictionary-coded, NaN as null in
 * the nullable columns), written uncompressed (feature values are mostly incompressible doubles:
 * snappy saved about 5%) and without statistics. DuckDB, hyparquet and arrow-rs read the files (tested). `readFeatureTable`
 * reads named columns of such a file back the same way (tests, analysis).
 */
import { readColumns, writeColumns, type ColumnRequest, type ColumnSpec } from '../parquet/index'
import type { FeatureColumn } from './schema'

export const defaults = { rowGroupSize: 1_000_000 }

/** A column's values: numbers (NaN is null in nullable columns), or strings. */
export type ColumnData = Float64Array | Int32Array | Uint8Array | string[]
export type Table = Record<string, ColumnData>

/** One column of the table as the codec writes it; throws where the data does not fit the column. */
function specOf(c: FeatureColumn, data: ColumnData | undefined, rows: number): ColumnSpec {
  if (!data) throw new Error(`no data for column ${c.name}`)
  if (data.length !== rows) throw new Error(`column ${c.name} has ${data.length} values, expected ${rows}`)
  if (c.type === 'STRING') {
    const dict: string[] = [], index = new Map<string, number>()
    const codes = new Uint32Array(rows)
    let last: unknown, code = 0
    for (let i = 0; i < rows; i++) {
      if (i > 0 && data[i] === last) { codes[i] = code; continue } // feature tables repeat one string a column
      const v = String((last = data[i]))
      let k = index.get(v)
      if (k === undefined) index.set(v, (k = dict.push(v) - 1))
      codes[i] = code = k
    }
    return { name: c.name, type: 'STRING', codes: dict.length <= 255 ? Uint8Array.from(codes) : codes, dict, optional: c.nullable }
  }
  if (c.type === 'BOOLEAN') return { name: c.name, type: 'BOOLEAN', flags: data instanceof Uint8Array ? data : Uint8Array.from(data as ArrayLike<number>), optional: c.nullable }
  const values = data instanceof Float64Array ? data : Float64Array.from(data as ArrayLike<number>)
  let nulls: Uint8Array | undefined
  for (let i = 0; i < rows; i++) {
    if (values[i] === values[i]) continue
    if (!c.nullable) throw new Error(`column ${c.name} is not nullable but holds NaN`)
    ;(nulls ??= new Uint8Array(rows))[i] = 1
  }
  return { name: c.name, type: c.type, values, nulls, optional: c.nullable }
}

/**
 * Writes a table as one Parquet file: every column of `columns`, in order, from `table`. Numbers
 * are in the column's unit (timestamps in µs or ms); NaN is null in nullable columns.
 * @example writeFeatureTable(FEATURE_COLUMNS, table, rows) // Uint8Array, ready for ObjectStore.put
 */
export function writeFeatureTable(columns: FeatureColumn[], table: Table, rows: number, options: Partial<typeof defaults> = {}): Uint8Array {
  const o = { ...defaults, ...options }
  const specs = columns.map((c) => specOf(c, table[c.name], rows))
  // no statistics, as before: one row group a file, and they cost a tenth of the encoding
  return writeColumns(specs, rows, { codec: 'UNCOMPRESSED', rowGroupSize: o.rowGroupSize, statistics: false })
}

/**
 * Reads the named columns of a Parquet file through the lake's column reader, nulls kept: numbers
 * as Float64Arrays (INT64 and timestamps as numbers in the file's unit, null as NaN), strings as arrays.
 * @example const { rows, price } = await readFeatureTable(bytes, { price: 'number', exchange: 'string' })
 */
export async function readFeatureTable<K extends string>(bytes: Uint8Array, kinds: Record<K, 'number' | 'string'>): Promise<{ rows: number } & Record<K, any>> {
  const lists: Record<string, string[]> = {}
  const requests = Object.entries<'number' | 'string'>(kinds).map(([name, kind]): ColumnRequest => (kind === 'string' ? { name, as: 'code', values: (lists[name] = []) } : { name, as: 'number' }))
  const d = await readColumns(bytes, requests, { keepNulls: true })
  const out: Record<string, unknown> = { rows: d.length }
  for (const name of Object.keys(kinds)) out[name] = lists[name] ? Array.from(d.values[name], (k) => lists[name][k]) : d.values[name]
  return out as { rows: number } & Record<K, any>
}
