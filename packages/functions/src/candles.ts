/**
 * Candle function: triggered by each new bronze object (an S3 event); recomputes that hour with
 * core's `recomputeHour` (the hour's exact minute sums from bronze, gold and serving windows of
 * every timeframe; the hour state it writes then triggers the silver function) and announces the
 * candles that became final to live subscribers of each timeframe.
 */
import type { S3Event } from 'aws-lambda'
import { candleCache, recomputeHour, type CandleCache } from '@ticklake/core/lake/candles'
import { hoursOfEvent } from '@ticklake/core/lake/layout'
import { candleChannel, type ServerMessage } from '@ticklake/core/serve/realtime'
import { awsPublish } from './realtime'
import type { ObjectStore } from '@ticklake/core/ports'
import { lakeEntry } from './lake-entry'
import type { Candle, Timeframe } from '@ticklake/core/market'

export interface CandlesDeps {
  store: ObjectStore
  publish?: (channel: string, message: ServerMessage) => Promise<unknown>
  now?: () => number
  /** Final candles older than this are not announced, even when they just became final (a backfill's). */
  announceMs?: number
  /** What the job keeps between runs on `store` (core's `CandleCache`); made here, once per handler, when absent. */
  cache?: CandleCache
}

/** Hours named by an S3 event's keys (keys arrive URL-encoded), each once. */
export const hoursOf = (event: S3Event) => hoursOfEvent(event)

/** The handler for given adapters. */
export const createCandlesHandler = (deps: CandlesDeps) => {
  const cache = deps.cache ?? candleCache()
  return async (event: S3Event) => {
    const now = (deps.now ?? Date.now)()
    const results = []
    for (const h of hoursOf(event)) {
      const r = await recomputeHour({ store: deps.store, ...h, now, cache })
      for (const [tf, candles] of Object.entries(r.byTf) as [Timeframe, Candle[]][]) {
        const channel = candleChannel(h.exchange, h.symbol, tf)
        // only what became final in this run: a rerun of the hour (a duplicate event, a late file) announces nothing twice
        for (const candle of candles.filter((c) => c.final && c.close_time >= r.previousComplete && c.close_time > now - (deps.announceMs ?? 120_000))) {
          await deps.publish?.(channel, { type: 'candle', channel, candle, final: true })
        }
      }
      results.push({ ...h, trades: r.trades, duplicates: r.duplicates, nulls: r.nulls, invalid: r.invalid, unreadable: r.unreadable, files: r.files, candles: r.candles.length, stateWritten: r.stateWritten })
    }
    return results
  }
}

/** AWS entry point: the bucket named by the environment. */
// one store and one candle cache per container, as locally: the job remembers which files it wrote, and skips re-reading them
export const handler = lakeEntry((store) => createCandlesHandler({ store, publish: awsPublish() }))
