/**
 * Trade files of the lake (bronze as Firehose or ticklake writes them, silver) read and written
 * as columns, through the lake's Parquet codec (`../parquet`): the kernel's columns of any number
 * of files (`readTradeColumns`), every column of the trade schema as a table with its strings as
 * one-byte codes (`readTradeTable`), and such a table written back (`writeTradeTable`, silver).
 * The trade schema is `market`'s `TRADE_COLUMNS`; the codec knows no schema.
 */
import { TRADE_COLUMNS, type TradeColumns } from '../../market/index'
import { readColumns, writeColumns, type ColumnRequest, type ColumnSpec, type ReadOptions, type WriteColumnsOptions } from '../parquet/index'

export type { TradeColumns }

/** The trade columns the candle kernel needs, as `readColumns` requests. */
export const TRADE_COLUMN_REQUESTS: ColumnRequest[] = [
  { name: 'ts', as: 'micros' },
  { name: 'price', as: 'number' },
  { name: 'qty', as: 'number' },
  { name: 'side', as: 'flag', equals: 'buy' },
  { name: 'trades', as: 'number' },
  { name: 'first_trade_id', as: 'number' },
  { name: 'last_trade_id', as: 'number' },
  { name: 'trade_id', as: 'number' },
]

/**
 * Trade files (bronze or silver, any number) as one set of columns, in file order.
 * @example const { columns, nulls } = await readTradeColumns([bytesA, bytesB])
 */
export async function readTradeColumns(files: Uint8Array | Uint8Array[], options: Partial<ReadOptions> = {}) {
  const d = await readColumns(files, TRADE_COLUMN_REQUESTS, options)
  const v = d.values as Record<string, Float64Array>
  const columns: TradeColumns = {
    length: d.length, ts: v.ts, price: v.price, qty: v.qty, buy: d.values.side as Uint8Array,
    trades: v.trades, first_trade_id: v.first_trade_id, last_trade_id: v.last_trade_id, trade_id: v.trade_id,
  }
  return { columns, nulls: d.nulls, fallbacks: d.fallbacks, threads: d.threads }
}

/**
 * Every column of a trade file (TRADE_COLUMNS) as arrays: the kernel's columns plus `ingest_ts`,
 * and the string columns as one-byte codes into `strings` (`buy` is side's code: the list starts
 * `sell`, `buy`, so 1 means a taker buy, as the kernel reads it).
 */
export interface TradeTable extends TradeColumns {
  ingest_ts: Float64Array
  exchange: Uint8Array; symbol: Uint8Array; native_symbol: Uint8Array; source: Uint8Array
  strings: Record<TradeString, string[]>
}

export type TradeString = 'exchange' | 'symbol' | 'native_symbol' | 'side' | 'source'

/** Code lists to start a trade table with: side's first two fix the meaning of `buy`. */
export const tradeStrings = (): Record<TradeString, string[]> => ({ exchange: [], symbol: [], native_symbol: [], side: ['sell', 'buy'], source: [] })

/**
 * Trade files read whole (every column of TRADE_COLUMNS) as one table, in file order; the code
 * lists of `strings` (from `tradeStrings()`) grow with the strings met.
 * @example const { table } = await readTradeTable([silver, ...bronze])
 */
export async function readTradeTable(files: Uint8Array | Uint8Array[], options: Partial<ReadOptions> & { strings?: Record<TradeString, string[]> } = {}) {
  const strings = options.strings ?? tradeStrings()
  const code = (name: TradeString): ColumnRequest => ({ name, as: 'code', values: strings[name] })
  const requests: ColumnRequest[] = [
    ...TRADE_COLUMN_REQUESTS.filter((r) => r.name !== 'side'), { name: 'ingest_ts', as: 'micros' },
    code('side'), code('exchange'), code('symbol'), code('native_symbol'), code('source'),
  ]
  const d = await readColumns(files, requests, options)
  const v = d.values as Record<string, Float64Array>, b = d.values as Record<string, Uint8Array>
  const table: TradeTable = {
    length: d.length, ts: v.ts, price: v.price, qty: v.qty, buy: b.side, trades: v.trades,
    first_trade_id: v.first_trade_id, last_trade_id: v.last_trade_id, trade_id: v.trade_id, ingest_ts: v.ingest_ts,
    exchange: b.exchange, symbol: b.symbol, native_symbol: b.native_symbol, source: b.source, strings,
  }
  return { table, nulls: d.nulls, fallbacks: d.fallbacks, threads: d.threads }
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
