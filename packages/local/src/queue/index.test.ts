import { createHash } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import type { SQSEvent, SQSRecord } from 'aws-lambda'
import { eventSourceMapping, failedIds, sqsEvent, type MappingOptions } from './index'

const open: { close(): Promise<void> }[] = []
afterEach(async () => { for (const m of open.splice(0)) await m.close() })

/** A mapping whose function records each batch and answers with `answer` (by default: all succeeded). */
function mapping(o: Partial<MappingOptions>, answer: (e: SQSEvent, n: number) => unknown = () => ({ batchItemFailures: [] })) {
  const batches: SQSRecord[][] = []
  const dead: { body: string; why: string; receives: string }[] = []
  const m = eventSourceMapping(async (e) => { batches.push(e.Records); return answer(e, batches.length) }, {
    queue: 'q', windowMs: 60_000, size: 10_000, maxReceiveCount: 3, visibilityMs: 10,
    deadLetter: (r, why) => dead.push({ body: r.body, why, receives: r.attributes.ApproximateReceiveCount }), ...o,
  })
  open.push(m)
  return { m, batches, dead, bodies: () => batches.map((b) => b.map((r) => r.body)) }
}

describe('the SQS event source mapping stand-in', () => {
  it('gathers the messages of a window, from the first of a batch, into one invocation', async () => {
    const { m, bodies } = mapping({ windowMs: 50 })
    for (let i = 0; i < 20; i++) m.send(String(i))
    expect(bodies()).toEqual([])
    await m.idle()
    expect(bodies()).toEqual([Array.from({ length: 20 }, (_, i) => String(i))])
  })

  it('invokes at once with a full batch, and close delivers the rest without waiting out the window', async () => {
    const { m, bodies } = mapping({ windowMs: 600_000, size: 3 })
    for (let i = 0; i < 7; i++) m.send(String(i))
    await new Promise((r) => setTimeout(r, 50))
    expect(bodies()).toEqual([['0', '1', '2'], ['3', '4', '5']])
    await m.close()
    expect(bodies()).toEqual([['0', '1', '2'], ['3', '4', '5'], ['6']])
  })

  it('gives the function SQS records: ids, receipt handles, the body\'s MD5, receive counts, the queue\'s ARN', async () => {
    const { m, batches } = mapping({ windowMs: 0 })
    m.send('{"Records":[]}')
    await m.idle()
    const [r] = batches[0]
    expect(r).toMatchObject({
      body: '{"Records":[]}', md5OfBody: createHash('md5').update('{"Records":[]}').digest('hex'), messageAttributes: {},
      eventSource: 'aws:sqs', eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:q', awsRegion: 'us-east-1',
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: expect.stringMatching(/^\d{13}$/), ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d{13}$/) },
    })
    expect(r.messageId).toMatch(/^[0-9a-f-]{36}$/)
    expect(r.receiptHandle.length).toBeGreaterThan(20)
  })

  it('receives again, after the visibility timeout, only the messages the function reported failed', async () => {
    const { m, batches, dead } = mapping({ windowMs: 30 }, (e, n) => ({ batchItemFailures: n === 1 ? e.Records.filter((r) => r.body === 'b').map((r) => ({ itemIdentifier: r.messageId })) : [] }))
    for (const b of ['a', 'b', 'c']) m.send(b)
    await m.idle()
    expect(batches.map((b) => b.map((r) => `${r.body}${r.attributes.ApproximateReceiveCount}`))).toEqual([['a1', 'b1', 'c1'], ['b2']])
    expect(batches[1][0].messageId).toBe(batches[0][1].messageId)
    expect(batches[1][0].receiptHandle).not.toBe(batches[0][1].receiptHandle)
    expect(dead).toEqual([])
  })

  it('dead-letters a message that failed its last receive, and keeps no other', async () => {
    const { m, batches, dead } = mapping({ windowMs: 0, maxReceiveCount: 3 }, (e) => ({ batchItemFailures: e.Records.filter((r) => r.body === 'poison').map((r) => ({ itemIdentifier: r.messageId })) }))
    m.send('poison')
    m.send('fine')
    await m.idle()
    expect(batches.flat().filter((r) => r.body === 'poison').map((r) => r.attributes.ApproximateReceiveCount)).toEqual(['1', '2', '3'])
    expect(batches.flat().filter((r) => r.body === 'fine')).toHaveLength(1)
    expect(dead).toEqual([{ body: 'poison', why: 'failed 3 receive(s) of 3', receives: '3' }])
    expect(m.stats()).toMatchObject({ sent: 2, deadLettered: 1, waiting: 0 })
  })

  it('returns the whole batch when the function throws', async () => {
    const { m, bodies } = mapping({ windowMs: 30, size: 2 }, (_e, n) => { if (n === 1) throw new Error('timed out'); return undefined })
    m.send('a')
    m.send('b')
    await m.idle()
    expect(bodies()).toEqual([['a', 'b'], ['a', 'b']])
  })

  it('reads an answer naming a message not in the batch as the whole batch failed, and no answer as success', () => {
    const batch = sqsEvent(['a', 'b']).Records
    expect([...failedIds({ batchItemFailures: [{ itemIdentifier: 'not-in-it' }] }, batch)]).toEqual(batch.map((r) => r.messageId))
    expect([...failedIds({ batchItemFailures: [{ itemIdentifier: '' }] }, batch)]).toEqual(batch.map((r) => r.messageId))
    expect([...failedIds({ batchItemFailures: [{ itemIdentifier: batch[1].messageId }] }, batch)]).toEqual([batch[1].messageId])
    for (const none of [undefined, null, {}, { batchItemFailures: [] }, { batchItemFailures: null }]) expect(failedIds(none, batch).size).toBe(0)
  })

  it('on close, receives at once the messages waiting for their visibility timeout, up to their last receive', async () => {
    const { m, bodies, dead } = mapping({ windowMs: 0, visibilityMs: 600_000, maxReceiveCount: 2 }, (e) => ({ batchItemFailures: e.Records.map((r) => ({ itemIdentifier: r.messageId })) }))
    m.send('x')
    await new Promise((r) => setTimeout(r, 50))
    expect(bodies()).toEqual([['x']])
    await m.close()
    expect(bodies()).toEqual([['x'], ['x']])
    expect(dead.map((d) => d.body)).toEqual(['x'])
  })
})
