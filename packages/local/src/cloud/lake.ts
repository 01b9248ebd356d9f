/**
 * The local cloud's lake path: the Firehose emulator writing bronze into the filesystem lake, and
 * the bucket notifications that chain the real candle, silver and features handlers on it (as
 * stacks/pipeline.ts wires them in AWS; the features handler behind its SQS queue and batching
 * window, `../queue`). `startLake` runs it on the calling thread; `startLakeThread`
 * runs the same code in a worker thread, so its Parquet work (conversion, whole-hour recomputes,
 * features) never holds the event loop of the live path (ingest, gateway, fan-out, HTTP API), as
 * in AWS, where these are functions of their own. Final candles the candle job announces come back
 * to the caller's `publish`.
 */
import { Worker, type MessagePort } from 'node:worker_threads'
import { readlinkSync } from 'node:fs'
import { setPriority } from 'node:os'
import { join } from 'node:path'
import type { S3Event } from 'aws-lambda'
import type { ServerMessage } from '@ticklake/core/serve/realtime'
import { LAKE_TRIGGERS, queueOf, type LakeFunction } from '@ticklake/core/lake/layout'
import { createCandlesHandler, hoursOf } from '@ticklake/functions/candles'
import { createFeaturesHandler, featureHoursOf } from '@ticklake/functions/features'
import { createSilverHandler, silverHoursOf } from '@ticklake/functions/silver'
import { fileStore } from '../store/index'
import { compactEvery } from '../compact/index'
import { mallocTrim, returnMemory, v8Collect } from '../memory/index'
import { startFirehose, type FirehoseEmulator } from '../firehose/index'
import { eventSourceMapping, type EventSourceMapping } from '../queue/index'

export interface LakeOptions {
  dataDir: string
  firehoseBufferMs?: number
  /** `false` leaves the features job out. */
  features?: boolean
  /**
   * The batching window of the features queue (default core's `defaults.featuresQueue`, 30 s, as
   * in AWS): features are at most about this late. Tests that wait for features set a small one.
   */
  featuresWindowMs?: number
  /** How long a failed message of a queue stays hidden before it is received again (`../queue`'s default: a minute). */
  queueVisibilityMs?: number
  /**
   * How often the bronze of closed hours is compacted (`../compact`), 0 for never, and what is kept:
   * on the lake's thread and store, as it rewrites the objects and states the lake jobs write.
   */
  compactEveryMs?: number
  keepBronzeMs?: number
}

export type FirehoseStats = ReturnType<FirehoseEmulator['stats']>

export interface Lake {
  /** The trades delivery stream and the emulator's endpoint (for the SDK clients). */
  streamName: string
  endpoint: string
  stats(): Promise<FirehoseStats>
  /** Resolves once no lake job is running or waiting. */
  idle(): Promise<void>
  close(): Promise<void>
}

type Publish = (channel: string, message: ServerMessage) => Promise<unknown>

/** The lake path on this thread. */
export async function startLake(o: LakeOptions, publish: Publish, log: (line: string) => void): Promise<Lake> {
  const store = fileStore(o.dataDir)
  const firehose = await startFirehose(store, { bufferMs: o.firehoseBufferMs, log, spoolDir: join(o.dataDir, '.firehose') })
  // Each bronze object triggers the candle handler; the hour's candle state it writes, the silver
  // handler; each 1m gold candle object and each silver manifest (the silver job's commit of an hour), the features handler (LAKE_TRIGGERS).
  // Direct events for an hour that is being recomputed are folded into one rerun (the handlers
  // recompute whole hours anyway); a function whose triggers name a queue gets its events in batches.
  const handlers: Record<LakeFunction, (event: any) => Promise<unknown>> = {
    candles: createCandlesHandler({ store, publish }),
    silver: createSilverHandler({ store }),
    features: createFeaturesHandler({ store, log }),
  }
  const hoursOfFn: Record<LakeFunction, (e: S3Event) => { exchange: string; symbol: string; dt: string; hour: string }[]> = { candles: hoursOf, silver: silverHoursOf, features: featureHoursOf }
  const busy = new Map<string, S3Event | null>()
  const folded = (name: LakeFunction, run: (event: S3Event) => Promise<unknown>) => (event: S3Event) => {
    const key = name + ':' + hoursOfFn[name](event).map((h) => `${h.exchange}/${h.symbol}/${h.dt}/${h.hour}`).join(',')
    if (busy.has(key)) { busy.set(key, event); return }
    busy.set(key, null)
    void (async () => {
      for (let next: S3Event | null = event; next; next = busy.get(key) ?? null) {
        busy.set(key, null)
        await run(next).catch((e) => log(`${name} handler failed: ${e.message}`))
      }
      busy.delete(key)
    })()
  }
  // S3 sends a queue one message per event; the event source mapping invokes the handler with batches
  const queues: EventSourceMapping[] = []
  const queued = (fn: LakeFunction) => {
    const q = queueOf(fn)!
    const mapping = eventSourceMapping(handlers[fn], {
      queue: `ticklake-${fn}`, size: q.size, maxReceiveCount: q.maxReceiveCount, visibilityMs: o.queueVisibilityMs, log,
      windowMs: (fn === 'features' ? o.featuresWindowMs : undefined) ?? q.windowSeconds * 1000,
      // the dead-letter queue of a failed lake job, as a log line (as a direct job's failure is)
      deadLetter: (r, why) => log(`${fn} handler failed: message ${r.messageId} dead-lettered, ${why}: ${r.body}`),
    })
    queues.push(mapping)
    return (event: S3Event) => { for (const r of event.Records) mapping.send(JSON.stringify({ Records: [r] })) }
  }
  // the routes are core's LAKE_TRIGGERS, as stacks/pipeline.ts declares the bucket notifications in AWS
  const routes = new Map<LakeFunction, (event: S3Event) => void>()
  const route = (fn: LakeFunction) => routes.get(fn) ?? routes.set(fn, queueOf(fn) ? queued(fn) : folded(fn, handlers[fn])).get(fn)!
  for (const t of LAKE_TRIGGERS) if (t.fn !== 'features' || o.features !== false) store.notify({ prefix: t.prefix, suffix: t.suffix, handler: route(t.fn) })
  const compaction = o.compactEveryMs ? compactEvery(store, { keepBronzeMs: o.keepBronzeMs, settings: { everyMs: o.compactEveryMs }, log }) : undefined
  const idle = async () => {
    for (;;) {
      while (busy.size) await new Promise((r) => setTimeout(r, 50))
      await Promise.all(queues.map((q) => q.idle()))
      if (!busy.size) return // a batch's run may have set off direct jobs, and they further events
    }
  }
  return {
    streamName: firehose.streamName, endpoint: firehose.endpoint,
    stats: async () => firehose.stats(),
    idle,
    async close() {
      await compaction?.stop()
      await firehose.close()
      // the batches waiting for their window are delivered now, not dropped
      await Promise.all(queues.map((q) => q.close()))
      await idle()
    },
  }
}

type ToWorker = { id: number; op: 'stats' | 'idle' | 'close' }
type FromWorker =
  | { type: 'ready'; streamName: string; endpoint: string }
  | { type: 'failed'; error: string }
  | { type: 'publish'; channel: string; message: ServerMessage }
  | { type: 'log'; line: string }
  | { type: 'reply'; id: number; value?: unknown }

/** The nice value of the lake thread: below the live path's, so a Parquet conversion never takes a core from fan-out. */
export const LAKE_NICE = 10

/**
 * Lowers the calling thread's scheduling priority to `nice` (Linux: `setpriority` on the thread's
 * own id, read from /proc/thread-self; threads it starts inherit it). In AWS the lake jobs are
 * functions of their own and never compete with the live path for a core; on one machine the
 * kernel now serves the live path first when both want the CPU, and the lake thread still takes
 * every idle cycle. Returns the thread id, or undefined where this cannot be done (not Linux).
 */
export function lowerThreadPriority(nice = LAKE_NICE): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').at(-1))
    if (!Number.isInteger(tid) || tid <= 0) return undefined
    setPriority(tid, nice)
    return tid
  } catch { return undefined }
}

/** The worker's side: runs `startLake` and answers the main thread. Called by `lake-thread.ts`. */
export async function runLakeWorker(port: MessagePort, o: LakeOptions) {
  const send = (m: FromWorker) => port.postMessage(m)
  lowerThreadPriority()
  // the jobs pass tens of MB of buffers through a small heap (V8 alone would hold them dead for
  // minutes), and the process's arenas keep what was freed: both given back from here, off the live path
  const stopReturning = returnMemory({}, v8Collect(), await mallocTrim())
  let lake: Lake
  try {
    lake = await startLake(o, async (channel, message) => send({ type: 'publish', channel, message }), (line) => send({ type: 'log', line }))
  } catch (e: any) {
    send({ type: 'failed', error: String(e?.stack ?? e) })
    return
  }
  port.on('message', (m: ToWorker) => {
    void (async () => {
      const value = m.op === 'stats' ? await lake.stats() : m.op === 'idle' ? await lake.idle() : await lake.close()
      send({ type: 'reply', id: m.id, value })
      if (m.op === 'close') { stopReturning(); port.close() }
    })()
  })
  send({ type: 'ready', streamName: lake.streamName, endpoint: lake.endpoint })
}

/**
 * The lake path in a worker thread (`lake-worker.mjs`: lake-thread.ts, through tsx from the
 * sources, bundled in the bundle `npm start` runs):
 * the same code as `startLake`, over its own file store instance on the same folder (the two
 * threads write disjoint prefixes: the worker bronze, state/candles, silver, gold and serving
 * windows; the main thread checkpoints, live.json, gaps and the DLQ).
 */
export async function startLakeThread(o: LakeOptions, publish: Publish, log: (line: string) => void): Promise<Lake> {
  const worker = new Worker(new URL('./lake-worker.mjs', import.meta.url), { workerData: o })
  const waiting = new Map<number, (value: any) => void>()
  let next = 0
  const call = <T>(op: ToWorker['op']) => new Promise<T>((resolve) => { waiting.set(++next, resolve); worker.postMessage({ id: next, op } satisfies ToWorker) })
  const ready = new Promise<{ streamName: string; endpoint: string }>((resolve, reject) => {
    worker.once('error', reject)
    worker.once('exit', (code) => reject(new Error(`the lake thread exited with ${code}`)))
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'ready') resolve(m)
      else if (m.type === 'failed') reject(new Error(`the lake thread could not start: ${m.error}`))
      else if (m.type === 'publish') void publish(m.channel, m.message).catch((e) => log(`live publish failed: ${e?.message ?? e}`))
      else if (m.type === 'log') log(m.line)
      else if (m.type === 'reply') { waiting.get(m.id)?.(m.value); waiting.delete(m.id) }
    })
  })
  const started = await ready.catch(async (e) => { await worker.terminate(); throw e })
  worker.on('error', (e) => log(`lake thread failed: ${e.message}`))
  return {
    ...started,
    stats: () => call<FirehoseStats>('stats'),
    idle: () => call<void>('idle'),
    async close() {
      await call<void>('close')
      await worker.terminate()
    },
  }
}
