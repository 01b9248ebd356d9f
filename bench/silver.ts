/**
 * Silver benchmark (issue 15, point 4): a busy hour of `objects` bronze objects of `perObject`
 * trades each (Firehose's shape, each repeating the last `repeat` trades of the one before, as
 * at-least-once delivery does), the silver function's handler run on the candle state event after
 * each object lands, as S3 would call it, in a memory store. Prints the handler's time on the first
 * and on the last object of the hour, and on its slowest (an object whose run also merges parts).
 * "before" is the one-file silver of before parts, reproduced with the same core functions: each
 * object made the job read the hour's silver file and the new object, dedupe, and write the
 * whole hour again. Each timing is the best of `passes` (`beforePasses`) passes over the hour.
 */
import { writeTradeTable, readTradeTable } from '../packages/core/src/lake/trades/index'
import { bronzeTradesPrefix, candleStateKey, partitionOf } from '../packages/core/src/lake/layout/index'
import { dedupeOrder, defaults as silverDefaults, pickRows } from '../packages/core/src/lake/silver/index'
import type { ObjectStore } from '../packages/core/src/ports/index'
import type { Trade } from '../packages/core/src/market/index'
import { createSilverHandler } from '../packages/functions/src/silver'
import { bronzeTradesFile } from '../packages/local/src/firehose/convert'
import { memoryStore, s3Event } from '../packages/local/src/store/index'
import type { Row } from './ingest'

export const defaults = { objects: 64, perObject: 2_000, repeat: 20, passes: 15, beforePasses: 2, exchange: 'binance', symbol: 'BTC-USDT' }

/** The hour's bronze objects: consecutive trade ids, each object after the first repeating the end of the one before. */
function hourObjects(o: typeof defaults, start: number): Uint8Array[] {
  const n = o.objects * o.perObject
  const all: Trade[] = Array.from({ length: n }, (_, i) => ({
    exchange: o.exchange as Trade['exchange'], symbol: o.symbol, native_symbol: 'BTCUSDT', trade_id: 1_000_000 + i, first_trade_id: 3_000_000 + i, last_trade_id: 3_000_000 + i,
    ts: (start + Math.floor((i * 3_000_000) / n)) * 1000, price: 96_000 + ((i * 37) % 1000) / 100, qty: 0.001 * (1 + (i % 9)), side: i % 3 ? 'buy' : 'sell', trades: 1, ingest_ts: (start + i) * 1000, source: 'ws',
  }))
  return Array.from({ length: o.objects }, (_, k) => bronzeTradesFile(all.slice(Math.max(0, k * o.perObject - o.repeat), (k + 1) * o.perObject)))
}

/** The one-file job of before parts, for one new object: the hour's file and the object read, deduped, the hour written again. */
async function oneFileRun(store: ObjectStore, key: string, bronze: Uint8Array, fill: Record<string, string>) {
  const held = await store.get(key)
  const { table } = await readTradeTable(held ? [held, bronze] : [bronze], { fill })
  await store.put(key, writeTradeTable(pickRows(table, dedupeOrder(table)), undefined, { codec: 'UNCOMPRESSED', delta: false }))
}

/** Milliseconds of each object's run, for one pass over the hour. */
async function pass(files: Uint8Array[], o: typeof defaults, dt: string, hour: string, parts: boolean): Promise<number[]> {
  const store = memoryStore()
  const silver = createSilverHandler({ store })
  const state = candleStateKey(o.exchange, o.symbol, dt, hour)
  await store.put(state, '{}')
  const ms: number[] = []
  for (const [k, bytes] of files.entries()) {
    const key = `${bronzeTradesPrefix(o.exchange, o.symbol, dt, hour)}ticklake-trades-1-${String(k).padStart(4, '0')}.parquet`
    await store.put(key, bytes)
    const t = performance.now()
    if (parts) await silver(s3Event('bench', state, 2, '"x"'))
    else await oneFileRun(store, `bench/one-file/${dt}/${hour}.parquet`, bytes, { exchange: o.exchange, symbol: o.symbol })
    ms.push(performance.now() - t)
  }
  return ms
}

/** The silver section's rows. */
export async function silverBench(options: Partial<typeof defaults> = {}): Promise<Row[]> {
  const o = { ...defaults, ...options }
  // the current hour, so the job takes it as open (a closed hour is compacted whole on each run)
  const start = Math.floor(Date.now() / 3_600_000) * 3_600_000
  const { dt, hour } = partitionOf(start)
  const files = hourObjects(o, start)
  const best = (runs: number[][]) => runs[0].map((_, i) => Math.min(...runs.map((r) => r[i])))
  const after: number[][] = [], before: number[][] = []
  for (let p = 0; p < o.passes; p++) {
    after.push(await pass(files, o, dt, hour, true))
    if (p < o.beforePasses) before.push(await pass(files, o, dt, hour, false))
  }
  const a = best(after), b = before.length ? best(before) : [0]
  const round = (x: number) => Math.round(x * 10) / 10
  const what = `${o.objects} objects of ${o.perObject} trades (${o.repeat} repeated), memory store, best of ${o.passes} passes`
  const median = [...a].sort((x, y) => x - y)[a.length >> 1]
  return [
    { name: 'silver_first_object_ms', value: round(a[0]), unit: 'ms', note: `silver handler on the hour's first object: ${what}` },
    { name: 'silver_last_object_ms', value: round(a.at(-1)!), unit: 'ms', note: `... on its last (${round(a.at(-1)! / a[0])}x the first; target within 1.5x)` },
    { name: 'silver_median_object_ms', value: round(median), unit: 'ms', note: '... median over the hour\'s objects' },
    { name: 'silver_slowest_object_ms', value: round(Math.max(...a)), unit: 'ms', note: `... slowest (no run merges parts here: an open hour does past ${silverDefaults.maxParts} parts)` },
    { name: 'silver_before_first_object_ms', value: round(b[0]), unit: 'ms', note: `before parts (one file per hour, read and rewritten whole per object; best of ${o.beforePasses}): first object` },
    { name: 'silver_before_last_object_ms', value: round(b.at(-1)!), unit: 'ms', note: `... last object (${round(b.at(-1)! / b[0])}x the first)` },
  ]
}
