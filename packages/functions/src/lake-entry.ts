/**
 * The AWS entry point the lake functions (candles, silver, features) share: a middy handler of S3
 * events (or, for a function behind a queue, SQS batches of them) that makes the function's handler once per container, over the bucket `TICKLAKE_BUCKET`
 * names (one store and one S3 client per container, and whatever the handler keeps between runs).
 * The S3 client loads with the first event: the local cloud imports the functions' modules for their
 * handlers and never loads it.
 */
import middy from '@middy/core'
import type { S3Event } from 'aws-lambda'
import type { ObjectStore } from '@ticklake/core/ports'

/** `create`'s handler on the bucket of the environment, made at the first event (an S3 event, or a batch of them from a queue: `E`). */
export function lakeEntry<R, E = S3Event>(create: (store: ObjectStore) => (event: E) => Promise<R>) {
  let run: Promise<(event: E) => Promise<R>> | undefined
  return middy<E>().handler(async (event: E) => {
    const bucket = process.env.TICKLAKE_BUCKET
    if (!bucket) throw new Error('TICKLAKE_BUCKET must be set')
    run ??= import('@ticklake/core/aws/s3').then(({ s3Store }) => create(s3Store(bucket)))
    return (await run)(event)
  })
}
