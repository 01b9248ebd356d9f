/**
 * The SQS stand-in: a standard queue and the Lambda event source mapping that polls it, in memory,
 * for a lake function whose trigger names a queue (`LakeTrigger.queue` in core's layout). What S3
 * would send the queue is `send`'s body (an S3 event, JSON); the mapping gathers messages for up to
 * `windowMs` from the first of a batch, or until `size` of them, and invokes the function once with
 * them as an SQS event (the record shape of "Using Lambda with Amazon SQS"). The function's answer
 * is read as a partial batch response (`ReportBatchItemFailures`): the messages it names, or all of
 * them if it throws or names a message not in the batch, are received again after `visibilityMs`;
 * one received `maxReceiveCount` times that fails again goes to `deadLetter` (the redrive policy).
 * One batch runs at a time (Lambda scales pollers out; here one function shares the lake's thread).
 * `close` delivers what waits at once, retries included, instead of dropping it.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { SQSEvent, SQSRecord } from 'aws-lambda'

export const defaults = {
  region: 'us-east-1',
  /**
   * How long a failed message stays hidden before it is received again. AWS recommends at least six
   * times the function's timeout (stacks/pipeline.ts: 12 minutes and the window); here a minute, so
   * a failed hour is retried within a run one watches.
   */
  visibilityMs: 60_000,
}

export interface MappingOptions {
  /** The queue's name, in the records' `eventSourceARN`. */
  queue: string
  /** The batching window (`MaximumBatchingWindowInSeconds`), counted from a batch's first message. */
  windowMs: number
  /** Most messages an invocation gets (`BatchSize`). */
  size: number
  /** Receives of a message before a failure dead-letters it (the redrive policy's `maxReceiveCount`). */
  maxReceiveCount: number
  visibilityMs?: number
  /** Where a message goes after its last failed receive (the dead-letter queue), with why. */
  deadLetter: (record: SQSRecord, reason: string) => void
  log?: (line: string) => void
}

/** A message as Lambda gets it from a standard queue: one of an SQS event's `Records`. */
export function sqsRecord(body: string, o: { queue: string; region?: string; sentMs?: number }): SQSRecord {
  const region = o.region ?? defaults.region
  const sent = String(o.sentMs ?? Date.now())
  return {
    messageId: randomUUID(),
    receiptHandle: randomBytes(48).toString('base64'),
    body,
    attributes: { ApproximateReceiveCount: '0', SentTimestamp: sent, SenderId: 'AIDAIENQZJOLO23YVJ4VO', ApproximateFirstReceiveTimestamp: sent },
    messageAttributes: {},
    md5OfBody: createHash('md5').update(body).digest('hex'),
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:${region}:000000000000:${o.queue}`,
    awsRegion: region,
  }
}

/** An SQS event of `bodies`, each a new message (tests build the function's input with it). */
export const sqsEvent = (bodies: string[], queue = 'ticklake-test'): SQSEvent => ({ Records: bodies.map((b) => sqsRecord(b, { queue })) })

/**
 * The ids of a batch to receive again, from the function's answer: none for no answer or an empty
 * `batchItemFailures`, all for an answer naming a message the batch lacks (Lambda's rule: the whole
 * batch failed).
 */
export function failedIds(answer: unknown, batch: SQSRecord[]): Set<string> {
  const failures = (answer as { batchItemFailures?: { itemIdentifier?: unknown }[] } | null | undefined)?.batchItemFailures ?? []
  const ids = new Set(batch.map((r) => r.messageId))
  const named = failures.map((f) => f?.itemIdentifier)
  return named.every((id): id is string => typeof id === 'string' && ids.has(id)) ? new Set(named as string[]) : ids
}

interface Held { record: SQSRecord; receives: number; visibleAt: number; timer?: NodeJS.Timeout }

/** A queue and its event source mapping invoking `invoke`; `send` is what S3's notification does. */
export function eventSourceMapping(invoke: (event: SQSEvent) => Promise<unknown>, o: MappingOptions) {
  const log = o.log ?? (() => {})
  const visible: Held[] = []
  const hidden = new Set<Held>()
  const stats = { sent: 0, invocations: 0, received: 0, failed: 0, deadLettered: 0 }
  let running: Promise<void> | undefined
  let window: NodeJS.Timeout | undefined
  let closing = false

  // invoke once the batch's window is over (from its first message) or it is full; closing waits for nothing
  const schedule = () => {
    clearTimeout(window)
    window = undefined
    if (running || !visible.length) return
    const due = closing || visible.length >= o.size ? 0 : visible[0].visibleAt + o.windowMs - Date.now()
    if (due > 0) window = setTimeout(schedule, due).unref()
    else running = deliver().finally(() => { running = undefined; schedule() })
  }
  const receive = (m: Held, now: number): SQSRecord => {
    m.receives++
    const attributes = { ...m.record.attributes, ApproximateReceiveCount: String(m.receives), ...(m.receives === 1 && { ApproximateFirstReceiveTimestamp: String(now) }) }
    return (m.record = { ...m.record, receiptHandle: randomBytes(48).toString('base64'), attributes })
  }
  const deliver = async () => {
    const batch = visible.splice(0, o.size)
    const now = Date.now()
    const event: SQSEvent = { Records: batch.map((m) => receive(m, now)) }
    stats.invocations++
    stats.received += batch.length
    const failed = await invoke(event).then(
      (answer) => failedIds(answer, event.Records),
      (e) => { log(`${o.queue}: the invocation failed, its ${batch.length} message(s) to be received again: ${e?.message ?? e}`); return new Set(batch.map((m) => m.record.messageId)) },
    )
    for (const m of batch) if (failed.has(m.record.messageId)) retry(m)
  }
  const retry = (m: Held) => {
    stats.failed++
    if (m.receives >= o.maxReceiveCount) {
      stats.deadLettered++
      o.deadLetter(m.record, `failed ${m.receives} receive(s) of ${o.maxReceiveCount}`)
      return
    }
    hidden.add(m)
    const show = () => { clearTimeout(m.timer); hidden.delete(m); m.visibleAt = Date.now(); visible.push(m); schedule() }
    if (closing) show()
    else m.timer = setTimeout(show, o.visibilityMs ?? defaults.visibilityMs).unref()
  }

  return {
    /** Sends one message (S3's notification of one event). */
    send(body: string) {
      stats.sent++
      visible.push({ record: sqsRecord(body, { queue: o.queue }), receives: 0, visibleAt: Date.now() })
      if (visible.length === 1 || visible.length >= o.size || closing) schedule()
    },
    stats: () => ({ ...stats, waiting: visible.length + hidden.size }),
    /** Resolves once no message waits (for its window or its visibility timeout) and no batch runs. */
    async idle() { while (running || visible.length || hidden.size) await (running ?? new Promise((r) => setTimeout(r, 20))) },
    /** Delivers whatever waits now, failed messages too (each up to its last receive), and every message sent after. */
    async close() {
      closing = true
      for (const m of [...hidden]) { clearTimeout(m.timer); hidden.delete(m); m.visibleAt = Date.now(); visible.push(m) }
      schedule()
      await this.idle()
    },
  }
}

export type EventSourceMapping = ReturnType<typeof eventSourceMapping>
