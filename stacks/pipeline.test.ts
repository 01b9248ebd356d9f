/**
 * The bucket notifications stacks/pipeline.ts declares are core's LAKE_TRIGGERS, each invoking the
 * function the table names, directly or through the function's queue with the table's batching:
 * the test evaluates the stack with stand-ins for SST's globals (each component keeps its id and
 * arguments, a queue its subscriptions) and reads the one `notify` call it makes.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest'
import { LAKE_TRIGGERS } from '../packages/core/src/lake/layout'

/** An SST or Pulumi component: its id and arguments, an ARN and a name made of its id. */
class Component {
  arn: string
  name: string
  constructor(readonly id: string, readonly args: Record<string, any> = {}) { this.arn = `arn:${id}`; this.name = id }
  get properties() { return this.args.properties }
}
/** An SST queue: a component that records its subscriptions. */
class Queue extends Component {
  subscriptions: { subscriber: string; args: Record<string, any> }[] = []
  subscribe(subscriber: string, args: Record<string, any>) { this.subscriptions.push({ subscriber, args }) }
}
const queues: Queue[] = []
const notify = vi.fn()
vi.mock('./lake', () => ({ lake: { bucket: { name: 'Lake', notify }, trades: new Component('Trades'), quotes: new Component('Quotes') } }))
vi.mock('./realtime', () => ({ realtime: { connections: new Component('Connections'), ws: { managementEndpoint: 'https://ws' } } }))

let functions: Component[] = []
beforeAll(async () => {
  const g = globalThis as Record<string, unknown>
  const made = (id: string, args?: Record<string, any>) => { const c = new Component(id, args); functions.push(c); return c }
  g.sst = { Linkable: Component, Secret: Component, aws: { Cron: Component, Queue: class extends Queue { constructor(id: string, args?: Record<string, any>) { super(id, args); queues.push(this) } }, Function: class { constructor(id: string, args: Record<string, any>) { return made(id, args) } } } }
  g.aws = { lambda: { FunctionEventInvokeConfig: Component } }
  functions = []
  await import('./pipeline')
})

describe('the lake functions\' bucket notifications', () => {
  it('are LAKE_TRIGGERS, in one notify call, each invoking the handler of the function the table names', () => {
    expect(notify).toHaveBeenCalledTimes(1)
    const { notifications } = notify.mock.calls[0][0] as { notifications: { name: string; function?: string; queue?: Queue; events: string[]; filterPrefix: string; filterSuffix: string }[] }
    const handlerOf = (arn: string) => functions.find((f) => f.arn === arn)?.args.handler
    // a queue's subscriber, with the batching it was given
    const viaQueue = (q: Queue) => q.subscriptions.map((s) => ({ handler: handlerOf(s.subscriber), batch: s.args.batch, retry: q.args.dlq.retry }))
    expect(notifications.map((n) => ({ name: n.name, prefix: n.filterPrefix, suffix: n.filterSuffix, events: n.events, ...(n.queue ? { queue: viaQueue(n.queue) } : { handler: handlerOf(n.function!) }) }))).toEqual(
      LAKE_TRIGGERS.map((t) => ({
        name: t.name, prefix: t.prefix, suffix: t.suffix, events: ['s3:ObjectCreated:*'],
        ...(t.queue
          ? { queue: [{ handler: `packages/functions/src/${t.fn}.handler`, batch: { size: t.queue.size, window: `${t.queue.windowSeconds} seconds`, partialResponses: true }, retry: t.queue.maxReceiveCount }] }
          : { handler: `packages/functions/src/${t.fn}.handler` }),
      })),
    )
  })

  it('give a queued function one queue for all its triggers, hiding a batch six times the function\'s timeout (and the window), dead-lettered to LakeFailures', () => {
    const { notifications } = notify.mock.calls[0][0] as { notifications: { queue?: Queue }[] }
    const used = [...new Set(notifications.map((n) => n.queue).filter(Boolean))] as Queue[]
    expect(used.length).toBe(new Set(LAKE_TRIGGERS.filter((t) => t.queue).map((t) => t.fn)).size)
    for (const q of used) {
      const fn = functions.find((f) => f.arn === q.subscriptions[0].subscriber)!
      const seconds = (d: string) => Number(d.split(' ')[0])
      expect(seconds(q.args.visibilityTimeout)).toBeGreaterThanOrEqual(6 * seconds(fn.args.timeout) + seconds(q.subscriptions[0].args.batch.window))
      expect(q.args.dlq.queue).toBe(queues.find((x) => x.id === 'LakeFailures')!.arn)
      expect(fn.args.permissions.flatMap((p: { actions: string[]; resources: string[] }) => (p.resources.includes(q.arn) ? p.actions : []))).toEqual(expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility']))
    }
  })
})
