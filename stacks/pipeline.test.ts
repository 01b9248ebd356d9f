/**
 * The bucket notifications stacks/pipeline.ts declares are core's LAKE_TRIGGERS, each invoking the
 * function the table names: the test evaluates the stack with stand-ins for SST's globals (each
 * component keeps its id and arguments) and reads the one `notify` call it makes.
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
const notify = vi.fn()
vi.mock('./lake', () => ({ lake: { bucket: { name: 'Lake', notify }, trades: new Component('Trades'), quotes: new Component('Quotes') } }))
vi.mock('./realtime', () => ({ realtime: { connections: new Component('Connections'), ws: { managementEndpoint: 'https://ws' } } }))

let functions: Component[] = []
beforeAll(async () => {
  const g = globalThis as Record<string, unknown>
  const made = (id: string, args?: Record<string, any>) => { const c = new Component(id, args); functions.push(c); return c }
  g.sst = { Linkable: Component, Secret: Component, aws: { Cron: Component, Queue: Component, Function: class { constructor(id: string, args: Record<string, any>) { return made(id, args) } } } }
  g.aws = { lambda: { FunctionEventInvokeConfig: Component } }
  functions = []
  await import('./pipeline')
})

describe('the lake functions\' bucket notifications', () => {
  it('are LAKE_TRIGGERS, in one notify call, each invoking the handler of the function the table names', () => {
    expect(notify).toHaveBeenCalledTimes(1)
    const { notifications } = notify.mock.calls[0][0] as { notifications: { name: string; function: string; events: string[]; filterPrefix: string; filterSuffix: string }[] }
    const handlerOf = (arn: string) => functions.find((f) => f.arn === arn)?.args.handler
    expect(notifications.map((n) => ({ name: n.name, handler: handlerOf(n.function), prefix: n.filterPrefix, suffix: n.filterSuffix, events: n.events }))).toEqual(
      LAKE_TRIGGERS.map((t) => ({ name: t.name, handler: `packages/functions/src/${t.fn}.handler`, prefix: t.prefix, suffix: t.suffix, events: ['s3:ObjectCreated:*'] })),
    )
  })
})
