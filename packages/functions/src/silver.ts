/**
 * Silver function: triggered by each hour's candle state the candle job writes (an S3 event on
 * `state/candles/`, written whenever that job's view of the hour is newer: more trades, or a later
 * completeness horizon), merges the hour's new
 * bronze files into silver with core's `mergeSilver`. Its silver object then triggers the features
 * function. Candles never wait for silver: they read bronze themselves.
 */
import type { S3Event } from 'aws-lambda'
import { hourOfCandleState, hoursOfEvent } from '@ticklake/core/lake/layout'
import { mergeSilver } from '@ticklake/core/lake/silver'
import type { ObjectStore } from '@ticklake/core/ports'
import { lakeEntry } from './lake-entry'

/** Hours named by an event's candle state keys (URL-encoded as S3 sends them), each once; other keys are ignored. */
export const silverHoursOf = (event: S3Event) => hoursOfEvent(event, hourOfCandleState)

/** The handler for a given store: one `mergeSilver` per hour, in turn. */
export const createSilverHandler = (deps: { store: ObjectStore }) => async (event: S3Event) => {
  const results = []
  for (const h of silverHoursOf(event)) results.push({ ...h, ...(await mergeSilver(deps.store, h.exchange, h.symbol, h.dt, h.hour)) })
  return results
}

/** AWS entry point: the bucket named by the environment. */
export const handler = lakeEntry((store) => createSilverHandler({ store }))
