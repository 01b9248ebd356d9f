/**
 * Features function: triggered by each new 1m gold candle object (the candle job's, for the candle
 * indicators) and each silver manifest the silver job commits (it names the hour's silver parts
 * once they are all written; a part's own event would not wait for that), as core's
 * `LAKE_TRIGGERS` route them; recomputes that hour's per-trade features and candle indicators with
 * core's `runFeatures`. Candles never merge silver: on a gold object, the hour's silver may still
 * lack that object's trades, and the manifest's own event runs the features again once it holds
 * them. Silver trade objects are taken as triggers too.
 *
 * In AWS the events come through the feature job's SQS queue (`defaults.featuresQueue` of core's
 * layout): a batch of messages, each an S3 event, whose hours run once each however many events
 * name them; `s3:TestEvent` and bodies that are no S3 event are skipped (logged), and the messages
 * of an hour whose run failed are returned in `batchItemFailures` (a partial batch response), to
 * be received again. A plain S3 event (the import, tests) runs its hours directly, as before.
 */
import type { S3Event, SQSBatchResponse, SQSEvent } from 'aws-lambda'
import { runFeatures } from '@ticklake/core/lake/features'
import { hourOfKey, hourOfSilverManifest, hoursOfEvent, hoursOfQueue, partitionsOfKey, type LakeHour } from '@ticklake/core/lake/layout'
import type { ObjectStore } from '@ticklake/core/ports'
import { lakeEntry } from './lake-entry'

/** The hour a trigger's key names: a silver manifest's or a 1m gold object's (candles of other timeframes: none). */
const featureHourOf = (key: string) => hourOfSilverManifest(key) ?? ((partitionsOfKey(key).tf ?? '1m') === '1m' ? hourOfKey(key) : undefined)

/** Hours named by an event's keys (URL-encoded as S3 sends them), each once; candles of other timeframes are ignored. */
export const featureHoursOf = (event: S3Event) => hoursOfEvent(event, featureHourOf)

const isQueueBatch = (event: S3Event | SQSEvent): event is SQSEvent => (event.Records?.[0] as { eventSource?: string } | undefined)?.eventSource === 'aws:sqs'

/** What one hour's run did. */
export type FeaturesRun = LakeHour & Pick<Awaited<ReturnType<typeof runFeatures>>, 'rows' | 'pendingTargets' | 'candleRows' | 'refreshed' | 'warnings'>

/** The handler: an S3 event gives each hour's run; a batch from the queue, the messages to receive again. */
export interface FeaturesHandler {
  (event: S3Event): Promise<FeaturesRun[]>
  (event: SQSEvent): Promise<SQSBatchResponse>
  (event: S3Event | SQSEvent): Promise<FeaturesRun[] | SQSBatchResponse>
}

/** The handler for a given store: one `runFeatures` per hour, in turn; input skipped for a reason is logged. */
export function createFeaturesHandler(deps: { store: ObjectStore; log?: (line: string) => void }): FeaturesHandler {
  const log = deps.log ?? console.warn
  const name = (h: LakeHour) => `features ${h.exchange}/${h.symbol}/${h.dt}/${h.hour}`
  const run = async (h: LakeHour): Promise<FeaturesRun> => {
    const r = await runFeatures({ store: deps.store, ...h })
    for (const w of r.warnings) log(`${name(h)}: ${w}`)
    return { ...h, rows: r.rows, pendingTargets: r.pendingTargets, candleRows: r.candleRows, refreshed: r.refreshed, warnings: r.warnings }
  }
  const direct = async (event: S3Event) => {
    const results = []
    for (const h of featureHoursOf(event)) results.push(await run(h))
    return results
  }
  const batch = async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const { hours, malformed } = hoursOfQueue(event, featureHourOf)
    for (const m of malformed) log(`features: message ${m.messageId} skipped, ${m.reason}: ${event.Records.find((r) => r.messageId === m.messageId)?.body.slice(0, 200)}`)
    const failed = new Set<string>()
    for (const { hour, messageIds } of hours) {
      await run(hour).catch((e) => {
        log(`${name(hour)} failed, its ${messageIds.length} message(s) to be received again: ${e?.message ?? e}`)
        for (const id of messageIds) failed.add(id)
      })
    }
    return { batchItemFailures: [...failed].map((itemIdentifier) => ({ itemIdentifier })) }
  }
  return ((event: S3Event | SQSEvent) => (isQueueBatch(event) ? batch(event) : direct(event))) as FeaturesHandler
}

/** AWS entry point: the bucket named by the environment; the events are the queue's batches. */
export const handler = lakeEntry((store): (event: S3Event | SQSEvent) => Promise<FeaturesRun[] | SQSBatchResponse> => createFeaturesHandler({ store }))
