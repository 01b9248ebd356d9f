/**
 * The local cloud's lake path: the Firehose emulator writing bronze into the filesystem lake, and
 * the bucket notifications that chain the real candle, silver and features handlers on it (as
 * stacks/pipeline.ts wires them in AWS). `startLake` runs it on the calling thread; `startLakeThread`
 * runs the same code in a worker thread, so its Parquet work (conversion, whole-hour recomputes,
 * features) never holds the event loop of the live path (ingest, gateway, fan-out, HTTP API), as
 * in AWS, where these are functions of their own. Final candles the candle job announces come back
 * to the caller's `publish`.
 */
import { setTimeout as delay } from 'node:timers/promises'
import { Worker, type MessagePort } from 'node:worker_threads'
import { join } from 'node:path'
import type { S3Event } from 'aws-lambda'
import type { ServerMessage } from '@ticklake/core/serve/realtime'
import { LAKE_TRIGGERS, type LakeFunction } from '@ticklake/core/lake/layout'
import { createCandlesHandler, hoursOf } from '@ticklake/functions/candles'
import { createFeaturesHandler, featureHoursOf } from '@ticklake/functions/features'
import { createSilverHandler, silverHoursOf } from '@ticklake/functions/silver'
import { fileStore } from '../store/index'
import { compactEvery } from '../compact/index'
import { startFirehose, type FirehoseEmulator } from '../firehose/index'

export interface LakeOptions {
  dataDir: string
  firehoseBufferMs?: number
  /** `false` leaves the features job out. */
  features?: boolean
  /** Least time between two feature runs of one hour. */
  featuresEveryMs: number
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

/** Resolves after `ms`, or at once when `signal` aborts. */
const sleep = (ms: number, signal: AbortSignal) => delay(Math.max(0, ms), undefined, { signal }).catch(() => {})

/** The lake path on this thread. */
export async function startLake(o: LakeOptions, publish: Publish, log: (line: string) => void): Promise<Lake> {
  const store = fileStore(o.dataDir)
  const firehose = await startFirehose(store, { bufferMs: o.firehoseBufferMs, log, spoolDir: join(o.dataDir, '.firehose') })
  const abort = new AbortController()
  // Each bronze object triggers the candle handler; the hour's candle state it writes, the silver
  // handler; each 1m gold candle object and each silver manifest (the silver job's commit of an hour), the features handler (LAKE_TRIGGERS).
  // Events for an hour that is being recomputed are folded into one rerun (the handlers recompute
  // whole hours anyway).
  const candles = createCandlesHandler({ store, publish })
  const silver = createSilverHandler({ store })
  const features = createFeaturesHandler({ store, log })
  const busy = new Map<string, S3Event | null>()
  const folded = (name: string, run: (event: S3Event) => Promise<unknown>, everyMs = 0, hours: (e: S3Event) => { exchange: string; symbol: string; dt: string; hour: string }[] = hoursOf) => (event: S3Event) => {
    const key = name + ':' + hours(event).map((h) => `${h.exchange}/${h.symbol}/${h.dt}/${h.hour}`).join(',')
    if (busy.has(key)) { busy.set(key, event); return }
    busy.set(key, null)
    void (async () => {
      for (let next: S3Event | null = event; next; next = busy.get(key) ?? null) {
        busy.set(key, null)
        const started = Date.now()
        await run(next).catch((e) => log(`${name} handler failed: ${e.message}`))
        // events that came meanwhile wait out `everyMs` (not on shutdown), then run once for all of them
        if (busy.get(key) && everyMs > 0) await sleep(started + everyMs - Date.now(), abort.signal)
      }
      busy.delete(key)
    })()
  }
  // the routes are core's LAKE_TRIGGERS, as stacks/pipeline.ts declares the bucket notifications in AWS
  const onFeatures = folded('features', features, o.featuresEveryMs)
  const jobs: Record<LakeFunction, (event: S3Event) => void> = {
    candles: folded('candles', candles),
    silver: folded('silver', silver, 0, silverHoursOf),
    features: (e) => { if (featureHoursOf(e).length) onFeatures(e) }, // of gold, the 1m files only
  }
  for (const t of LAKE_TRIGGERS) if (t.fn !== 'features' || o.features !== false) store.notify({ prefix: t.prefix, suffix: t.suffix, handler: jobs[t.fn] })
  const compaction = o.compactEveryMs ? compactEvery(store, { keepBronzeMs: o.keepBronzeMs, settings: { everyMs: o.compactEveryMs }, log }) : undefined
  const idle = async () => { while (busy.size) await new Promise((r) => setTimeout(r, 50)) }
  return {
    streamName: firehose.streamName, endpoint: firehose.endpoint,
    stats: async () => firehose.stats(),
    idle,
    async close() {
      await compaction?.stop()
      await firehose.close()
      abort.abort()
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

/** The worker's side: runs `startLake` and answers the main thread. Called by `lake-worker.mjs`. */
export async function runLakeWorker(port: MessagePort, o: LakeOptions) {
  const send = (m: FromWorker) => port.postMessage(m)
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
      if (m.op === 'close') port.close()
    })()
  })
  send({ type: 'ready', streamName: lake.streamName, endpoint: lake.endpoint })
}

/**
 * The lake path in a worker thread (`lake-worker.mjs`, which loads this TypeScript through tsx):
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
