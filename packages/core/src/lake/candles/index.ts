/**
 * Candles of the lake path, in every timeframe (1m 5m 15m 1h 4h 1d), exact to the exchange's
 * klines. The hour job reads an hour's bronze files straight into the columns candles need (only
 * those: see `readHourTrades`), orders them by trade id and counts every individual trade once,
 * computes the hour's exact 1m sums with the columnar kernel (`./kernel`) and keeps them as the hour's
 * state (`state/candles/...`, written only over an older view: fewer individual trades, or as many
 * with an earlier completeness horizon). Gold files and serving windows are then derived from the
 * day's states alone, coarser timeframes rolled up from the exact minute sums, and written over
 * the version seen before the states were read, so racing, repeated or late runs all converge on
 * the same files. Minutes without trades are flat at the previous close, across hour and day
 * boundaries; a candle is final once every minute of it is: it closes before the horizon and
 * opens after the first traded minute of the symbol's history in the lake (that minute may hold only
 * part of its trades), or a completeness record (`./complete`: an imported archive day) holds it. A
 * bronze row the kernel cannot take (outside `TRADE_LIMITS`, not finite, ids that are no range)
 * and an object that cannot be read are left out and written to `dlq/candles/` with the reason:
 * one bad record never blocks an hour. This file is the hour job; the bronze read is `./bronze`, the
 * hour states `./state`, gold and serving `./derive` (bytes: `./serving`), finished candles
 * `./finish`, the per-process cache `./cache`, the move of old gold keys `./move`.
 */
import type { Candle, Timeframe, Trade } from '../../market/index'
import { TIMEFRAMES } from '../../market/index'
import { bronzeTradesPrefix, candleStatePrefix, candleStateKey, goldCandleFileKey, partitionOf } from '../layout/index'
import type { ObjectInfo, ObjectStore } from '../../ports/index'
import { readCheckpoint } from '../../sources/checkpoint/index'
import { pickRows } from '../dedupe/index'
import { bronzeObjects, hourMinutes, readTrades, versionOf } from './bronze'
import { candleCache, type CandleCache } from './cache'
import { readCompleteSpan } from './complete'
import { defaults } from './defaults'
import { deriveDay } from './derive'
import { aggregateMinutes, mergeAggregates, rescale, ALL_TIMEFRAMES, type Aggregates, type TradeColumns } from './kernel'
import { candlesOf, columnsOf, flatCandle } from './finish'
import { stateAt, stateOf, statesAggregates, writeHourState } from './state'

export * from './kernel'
export * from './finish'
export * from './complete'
export { defaults } from './defaults'
export { candleCache, type CandleCache } from './cache'
export { dayAggregates, writeHourState, type HourState } from './state'
export { dayCandles, deriveDay, type DayPlan } from './derive'
export { servingJson } from './serving'
export { moveOldCandleFiles, type CandleFileMoves } from './move'
export { HOUR_COLUMNS, hourMinutes, readHourTrades, versionOf } from './bronze'

const MINUTE = TIMEFRAMES['1m']
const HOUR = TIMEFRAMES['1h']
const DAY = TIMEFRAMES['1d']
/** An empty 1m candle for the minute that holds `tsMs`, ready for `addTrade`. */
export function emptyCandle(exchange: string, symbol: string, tsMs: number): Candle {
  return { ...flatCandle(exchange, symbol, '1m', Math.floor(tsMs / MINUTE) * MINUTE, 0), first_trade_id: Infinity }
}

export interface MinuteOptions {
  exchange: string
  symbol: string
  /** First minute to emit (ms); minutes before the first trade are flat only with `prevClose`. */
  from: number
  /** End of the range (ms, exclusive): minutes after the last trade up to here are flat. */
  until: number
  prevClose?: number
}

/** 1m candles over `[from, until)` from deduplicated trade rows in trade-id order (the kernel on rows). */
export function candles1m(trades: Trade[], o: MinuteOptions): Candle[] {
  return candlesOf(aggregateMinutes(columnsOf(trades), o.from, o.until), o)
}

/**
 * The rows of `t` whose time falls in `[from, until)` (ms), `t` itself when all do (as they
 * should), with the latest of their times (µs; -Infinity for none): one pass in the usual case.
 */
function withinHour(t: TradeColumns, from: number, until: number): { columns: TradeColumns; lastUs: number } {
  const lo = from * 1000, hi = until * 1000, ts = t.ts
  let outside = 0, lastUs = -Infinity
  for (let i = 0; i < t.length; i++) {
    const x = ts[i]
    if (x >= lo && x < hi) { if (x > lastUs) lastUs = x } else outside++
  }
  if (outside === 0) return { columns: t, lastUs }
  const rows = new Uint32Array(t.length - outside)
  for (let i = 0, k = 0; i < t.length; i++) if (ts[i] >= lo && ts[i] < hi) rows[k++] = i
  return { columns: pickRows(t, rows), lastUs }
}

export interface HourJob {
  store: ObjectStore; exchange: string; symbol: string; dt: string; hour: string; now: number; options?: Partial<typeof defaults>
  /** What earlier runs of this process on `store` left (`candleCache`); an empty one when absent. */
  cache?: CandleCache
}
export interface HourResult {
  trades: number; duplicates: number; files: number
  /** Bronze rows left out for a null field. */
  nulls: number
  /** Bronze rows (of the objects read in this run) the kernel cannot take: left out, written to `dlq/candles/` with their reasons. */
  invalid: number
  /** Bronze objects that could not be read at all: left out, named in `dlq/candles/`. */
  unreadable: number
  /** The hour's 1m candles. */
  candles: Candle[]
  /** Candles of every timeframe that were (re)written, from the job's hour on. */
  byTf: Record<Timeframe, Candle[]>
  /** Where the hour's 1m candles are. */
  key: string
  /** False when a newer view of the hour was already stored (this run's view was older). */
  stateWritten: boolean
  /**
   * The completeness horizon (ms) of the hour's view before this run (-Infinity for the first):
   * candles closing at or after it became final in this run, the ones to announce.
   */
  previousComplete: number
}

/** An hour's view: its exact minute sums, the last individual trade id covered and the latest trade time (ms). */
interface HourView { minutes: Aggregates; lastId: number; lastTs: number; records: number; duplicates: number; nulls: number; invalid: number; unreadable: number }

/**
 * The view of the bronze objects at `keys` alone; undefined when a trade in them is not after
 * `after` (the last trade id a view to be merged with has counted). Without objects: no minutes.
 */
async function viewOf(store: ObjectStore, keys: string[], hourStart: number, threads: number, after = -Infinity): Promise<HourView | undefined> {
  const bronze = await readTrades(store, keys, threads)
  const all = bronze.columns
  if (all.length && !(all.first_trade_id[0] > after)) return undefined
  const { columns, lastUs } = withinHour(all, hourStart, hourStart + HOUR)
  return {
    minutes: await hourMinutes(columns, hourStart, hourStart + HOUR, threads), lastTs: lastUs / 1000, records: columns.length, duplicates: bronze.duplicates, nulls: bronze.nulls, invalid: bronze.invalid, unreadable: bronze.unreadable,
    lastId: all.length ? all.last_trade_id[all.length - 1] : after,
  }
}

/**
 * The hour from the stored view and only the bronze objects added since, when every trade in
 * them comes after the view's last trade id (the usual case: Firehose delivers in order), so
 * an hour of many small objects is not decoded again on each one. Undefined otherwise: a view
 * without this bookkeeping, an object gone, or trades that belong among those counted.
 */
async function addedView(job: HourJob & { cache: CandleCache }, objects: ObjectInfo[], hourStart: number, threads: number): Promise<HourView | undefined> {
  const key = candleStateKey(job.exchange, job.symbol, job.dt, job.hour)
  const head = await job.store.head(key)
  const base = head && (await stateAt(job.store, key, head.etag, job.cache))
  if (!base?.files || base.lastId == null || base.lastTs == null) return undefined
  const folder = bronzeTradesPrefix(job.exchange, job.symbol, job.dt, job.hour)
  // every object counted is still there, unchanged (an object written again is read again, with all the others)
  const versions = new Set(objects.map((x) => versionOf(x, folder)))
  if (!base.files.every((f) => versions.has(f))) return undefined
  const counted = new Set(base.files)
  const added = objects.filter((x) => !counted.has(versionOf(x, folder))).map((x) => x.key)
  const old = statesAggregates([base], hourStart, HOUR / MINUTE, job.cache)
  const records = old.records.reduce((a, b) => a + b, 0)
  if (added.length === 0) return { minutes: old, lastId: base.lastId, lastTs: base.lastTs, records, duplicates: 0, nulls: 0, invalid: 0, unreadable: 0 }
  const fresh = await viewOf(job.store, added, hourStart, threads, base.lastId)
  if (!fresh) return undefined
  const dp = Math.max(old.dp, fresh.minutes.dp), dq = Math.max(old.dq, fresh.minutes.dq)
  return {
    ...fresh, minutes: mergeAggregates(rescale(old, dp, dq), rescale(fresh.minutes, dp, dq)), records: records + fresh.records, lastTs: Math.max(base.lastTs, fresh.lastTs),
  }
}


/**
 * Recomputes one hour from bronze: the hour's exact minute sums, then the day's gold files
 * (all timeframes) and serving windows.
 * @example await recomputeHour({ store, exchange: 'binance', symbol: 'BTC-USDT', dt: '2026-11-24', hour: '15', now: Date.now(), cache })
 */
export async function recomputeHour(hourJob: HourJob): Promise<HourResult> {
  const job = { ...hourJob, cache: hourJob.cache ?? candleCache() }
  const o = { ...defaults, ...job.options }
  const hourStart = Date.parse(`${job.dt}T${job.hour}:00:00Z`)
  const hourEnd = hourStart + HOUR
  const objects = await bronzeObjects(job.store, job.exchange, job.symbol, job.dt, job.hour)
  const keys = objects.map((x) => x.key)
  // the checkpoint and the day's completeness record are read while the hour decodes (two round trips on S3, not on its path)
  const reads = Promise.all([readCheckpoint(job.store, job.exchange, job.symbol), readCompleteSpan(job.store, job.exchange, job.symbol, job.dt)])
  reads.catch(() => {}) // awaited below; a failure then is the run's
  const view = (await addedView(job, objects, hourStart, o.decodeThreads)) ?? (await viewOf(job.store, keys, hourStart, o.decodeThreads))!
  const { minutes, lastTs } = view
  // Ingest has accepted every trade up to its checkpoint; allowing the delivery stream's buffer,
  // the lake holds them all up to `complete`. Minutes before it are final, and flat if empty.
  const [cp, record] = await reads
  const complete = Math.max(lastTs, Math.min(cp ? cp.checkpoint.ts / 1000 : -Infinity, job.now - o.finalAfterMs))
  // a completeness record of the day (an imported archive day) that holds this hour vouches for it, up to the hour's end
  const covered: [number, number] | undefined = record && record.from < hourEnd && record.until > hourStart ? [record.from, Math.min(record.until, hourEnd)] : undefined
  const folder = bronzeTradesPrefix(job.exchange, job.symbol, job.dt, job.hour)
  const state = stateOf(minutes, {
    exchange: job.exchange, symbol: job.symbol, dt: job.dt, hour: job.hour, complete: Number.isFinite(complete) ? complete : hourStart - 1, ...(covered ? { covered } : {}),
    // (an hour without trades keeps no last id or time: its next run reads it whole, which costs nothing)
    files: objects.map((x) => versionOf(x, folder)), lastId: Number.isFinite(view.lastId) ? view.lastId : undefined, lastTs: Number.isFinite(lastTs) ? lastTs : undefined,
  })
  const { state: stored, written, previous } = await writeHourState(job.store, state, o.writeRetries, job.cache)
  const derived = await deriveDay(job.store, job.exchange, job.symbol, job.dt, Number(job.hour), job.now, o, stored, job.cache)
  // the next day's first minutes may be flat at this day's last close: rewrite them if that day has begun
  const next = partitionOf(Date.parse(`${job.dt}T00:00:00Z`) + DAY).dt
  if (derived.until >= Date.parse(`${next}T00:00:00Z`) && (await job.store.list(candleStatePrefix(job.exchange, job.symbol, next))).length) {
    await deriveDay(job.store, job.exchange, job.symbol, next, 0, job.now, o, undefined, job.cache)
  }
  const byTf = {} as Record<Timeframe, Candle[]>
  for (const tf of ALL_TIMEFRAMES) byTf[tf] = derived.candles[tf].filter((c) => c.open_time + TIMEFRAMES[tf] > hourStart)
  const candles = derived.candles['1m'].filter((c) => c.open_time >= hourStart && c.open_time < hourEnd)
  return { trades: view.records, duplicates: view.duplicates, nulls: view.nulls, invalid: view.invalid, unreadable: view.unreadable, files: keys.length, candles, byTf, key: goldCandleFileKey(job.exchange, job.symbol, '1m', hourStart), stateWritten: written, previousComplete: previous?.complete ?? -Infinity }
}
