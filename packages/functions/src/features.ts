/**
 * Features function: triggered by each new 1m gold candle object (the candle job's, for the candle
 * indicators) and each silver manifest the silver job commits (it names the hour's silver parts
 * once they are all written; a part's own event would not wait for that), as core's
 * `LAKE_TRIGGERS` route them; recomputes that hour's per-trade features and candle indicators with
 * core's `runFeatures`. Candles never merge silver: on a gold object, the hour's silver may still
 * lack that object's trades, and the manifest's own event runs the features again once it holds
 * them. Silver trade objects are taken as triggers too.
 */
import type { S3Event } from 'aws-lambda'
import { runFeatures } from '@ticklake/core/lake/features'
import { hourOfKey, hourOfSilverManifest, hoursOfEvent, partitionsOfKey } from '@ticklake/core/lake/layout'
import type { ObjectStore } from '@ticklake/core/ports'
import { lakeEntry } from './lake-entry'

/** Hours named by an event's keys (URL-encoded as S3 sends them), each once; candles of other timeframes are ignored. */
export const featureHoursOf = (event: S3Event) => hoursOfEvent(event, (key) => hourOfSilverManifest(key) ?? ((partitionsOfKey(key).tf ?? '1m') === '1m' ? hourOfKey(key) : undefined))

/** The handler for a given store: one `runFeatures` per hour, in turn; input skipped for a reason is logged. */
export const createFeaturesHandler = (deps: { store: ObjectStore; log?: (line: string) => void }) => async (event: S3Event) => {
  const results = []
  for (const h of featureHoursOf(event)) {
    const r = await runFeatures({ store: deps.store, ...h })
    for (const w of r.warnings) (deps.log ?? console.warn)(`features ${h.exchange}/${h.symbol}/${h.dt}/${h.hour}: ${w}`)
    results.push({ ...h, rows: r.rows, pendingTargets: r.pendingTargets, candleRows: r.candleRows, refreshed: r.refreshed, warnings: r.warnings })
  }
  return results
}

/** AWS entry point: the bucket named by the environment. */
export const handler = lakeEntry((store) => createFeaturesHandler({ store }))
