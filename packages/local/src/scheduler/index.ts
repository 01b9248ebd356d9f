/**
 * The local scheduler: invokes a scheduled function the way EventBridge and Lambda do in AWS, with
 * a real `Scheduled Event` and a context whose remaining time is the invocation's budget. Like a
 * function with reserved concurrency 1, the next run starts when the last one ends.
 */
import { randomUUID } from 'node:crypto'
import type { Context, ScheduledEvent } from 'aws-lambda'

export const defaults = { budgetMs: 60_000, retryMs: 2_000, region: 'us-east-1' }

/** An EventBridge scheduled event for rule `name`. */
export function scheduledEvent(name: string, time = new Date(), region = defaults.region): ScheduledEvent {
  return {
    version: '0', id: randomUUID(), 'detail-type': 'Scheduled Event', source: 'aws.events', account: '000000000000',
    time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'), region, resources: [`arn:aws:events:${region}:000000000000:rule/${name}`], detail: {},
  }
}

/** A Lambda context whose deadline is `budgetMs` from now. */
export function lambdaContext(name: string, budgetMs: number): Context {
  const deadline = Date.now() + budgetMs
  return {
    callbackWaitsForEmptyEventLoop: false, functionName: name, functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${defaults.region}:000000000000:function:${name}`, memoryLimitInMB: '1024',
    awsRequestId: randomUUID(), logGroupName: `/aws/lambda/${name}`, logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {}, fail: () => {}, succeed: () => {},
  }
}

export interface Schedule { stop(): Promise<void>; runs(): number }

/** Runs `fn` back to back until stopped; a failed run is logged and retried after `retryMs`. */
export function schedule(name: string, fn: (event: ScheduledEvent, context: Context) => Promise<unknown>, o: Partial<typeof defaults> & { log?: (s: string) => void; onResult?: (r: unknown) => void } = {}): Schedule {
  const { budgetMs, retryMs } = { ...defaults, ...o }
  let stopped = false
  let runs = 0
  let wake = () => {}
  const loop = (async () => {
    while (!stopped) {
      runs++
      try {
        const result = await fn(scheduledEvent(name), lambdaContext(name, budgetMs))
        o.onResult?.(result)
        // a run that ends at once (its signal aborted, its budget spent) must not starve the event loop
        await new Promise((r) => setImmediate(r))
      } catch (e: any) {
        o.log?.(`${name} failed: ${e?.message ?? e}`)
        if (!stopped) await new Promise<void>((r) => { const t = setTimeout(r, retryMs); wake = () => { clearTimeout(t); r() } })
      }
    }
  })()
  return { runs: () => runs, async stop() { stopped = true; wake(); await loop } }
}
