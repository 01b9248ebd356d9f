/**
 * The local cloud routes its file store's S3 events, and the archive import runs its lake jobs, by
 * core's LAKE_TRIGGERS (as stacks/pipeline.ts declares the bucket notifications: stacks/pipeline.test.ts),
 * a trigger's queue included: the lake handlers are replaced by recorders, so each test sees which
 * job an event reached and how (an S3 event, or a batch from the function's queue).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { S3Event } from 'aws-lambda'
import type { SQSEvent } from 'aws-lambda'
import { LAKE_TRIGGERS, LAKE_OUTPUTS, bronzeTradesPrefix, lakeChain, queueOf, type LakeFunction } from '@ticklake/core/lake/layout'

const ran: { fn: LakeFunction; key: string; via?: 'sqs' }[] = []
const invocations: { fn: LakeFunction; records: number }[] = []
const keyOf = (r: S3Event['Records'][number]) => decodeURIComponent(r.s3.object.key.replace(/\+/g, ' '))
const recorder = (fn: LakeFunction) => () => async (e: S3Event | SQSEvent) => {
  invocations.push({ fn, records: e.Records.length })
  for (const r of e.Records) {
    if ('body' in r) for (const s of (JSON.parse(r.body) as S3Event).Records) ran.push({ fn, key: keyOf(s), via: 'sqs' })
    else ran.push({ fn, key: keyOf(r) })
  }
  return 'body' in (e.Records[0] ?? {}) ? { batchItemFailures: [] } : []
}
vi.mock('@ticklake/functions/candles', async (original) => ({ ...(await original<object>()), createCandlesHandler: recorder('candles') }))
vi.mock('@ticklake/functions/silver', async (original) => ({ ...(await original<object>()), createSilverHandler: recorder('silver') }))
vi.mock('@ticklake/functions/features', async (original) => ({ ...(await original<object>()), createFeaturesHandler: recorder('features') }))
const routes: import('../store/index').Notification[] = []
vi.mock('../store/index', async (original) => {
  const m = await original<typeof import('../store/index')>()
  return { ...m, fileStore: (...args: Parameters<typeof m.fileStore>) => { const s = m.fileStore(...args); const notify = s.notify.bind(s); s.notify = (n) => { routes.push(n); notify(n) }; return s } }
})
const mappings: import('../queue/index').MappingOptions[] = []
vi.mock('../queue/index', async (original) => {
  const m = await original<typeof import('../queue/index')>()
  return { ...m, eventSourceMapping: (...args: Parameters<typeof m.eventSourceMapping>) => { mappings.push(args[1]); return m.eventSourceMapping(...args) } }
})
const { startLake } = await import('./lake')
const { buildCandles } = await import('../import/index')
const { memoryStore, s3Event } = await import('../store/index')

const cleanups: (() => unknown)[] = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); ran.length = 0; routes.length = 0; invocations.length = 0; mappings.length = 0 })

const hour = { exchange: 'binance', symbol: 'BTC-USDT', dt: '2026-11-24', hour: '15' }
/** An object of the hour under each trigger: what the jobs before it write, or a bronze object. */
const sampleKey = (t: (typeof LAKE_TRIGGERS)[number]) =>
  [bronzeTradesPrefix(hour.exchange, hour.symbol, hour.dt, hour.hour) + 'x.parquet', ...Object.values(LAKE_OUTPUTS).flatMap((out) => out(hour))].find((k) => k.startsWith(t.prefix) && k.endsWith(t.suffix))!

async function lakeOn(features: boolean, { featuresWindowMs }: { featuresWindowMs?: number } = { featuresWindowMs: 0 }) {
  const dir = mkdtempSync(join(tmpdir(), 'ticklake-triggers-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const lake = await startLake({ dataDir: dir, features, featuresWindowMs, compactEveryMs: 0 }, async () => {}, () => {})
  cleanups.push(() => lake.close())
  return lake
}

describe('the local cloud\'s lake routes', () => {
  it('are LAKE_TRIGGERS, each running the job the table names', async () => {
    const lake = await lakeOn(true)
    expect(routes.map((r) => [r.prefix, r.suffix])).toEqual(LAKE_TRIGGERS.map((t) => [t.prefix, t.suffix]))
    for (const [i, t] of LAKE_TRIGGERS.entries()) {
      ran.length = 0
      const key = sampleKey(t)
      await routes[i].handler(s3Event('ticklake-local', key, 1, 'etag'))
      await lake.idle()
      expect(ran, t.name).toEqual([{ fn: t.fn, key, ...(t.queue && { via: 'sqs' }) }])
    }
  })

  it('send a queued trigger\'s events through one queue per function, with the table\'s batch size, receives and window', async () => {
    await lakeOn(true, {})
    const fns = [...new Set(LAKE_TRIGGERS.filter((t) => t.queue).map((t) => t.fn))]
    expect(fns.length).toBeGreaterThan(0)
    expect(mappings.map((m) => ({ queue: m.queue, size: m.size, maxReceiveCount: m.maxReceiveCount, windowMs: m.windowMs }))).toEqual(
      fns.map((fn) => ({ queue: `ticklake-${fn}`, size: queueOf(fn)!.size, maxReceiveCount: queueOf(fn)!.maxReceiveCount, windowMs: queueOf(fn)!.windowSeconds * 1000 })),
    )
  })

  it('deliver the features events of a window as one batch, the window set by the lake\'s option', async () => {
    const lake = await lakeOn(true, { featuresWindowMs: 300 })
    expect(mappings.find((m) => m.queue === 'ticklake-features')?.windowMs).toBe(300)
    const onFeatures = routes.filter((r) => LAKE_TRIGGERS.some((t) => t.fn === 'features' && t.prefix === r.prefix))
    const keys = LAKE_TRIGGERS.filter((t) => t.fn === 'features').map(sampleKey)
    for (let i = 0; i < 5; i++) for (const [j, r] of onFeatures.entries()) await r.handler(s3Event('ticklake-local', keys[j], 1, 'etag'))
    await lake.idle()
    expect(invocations).toEqual([{ fn: 'features', records: 5 * keys.length }])
  })

  it('leave the feature job\'s triggers out when features are off', async () => {
    await lakeOn(false)
    expect(routes.map((r) => r.prefix)).toEqual(LAKE_TRIGGERS.filter((t) => t.fn !== 'features').map((t) => t.prefix))
  })
})

describe('the import\'s lake jobs', () => {
  it('run in lakeChain\'s order for each hour, oldest first, the feature job left out', async () => {
    const keys = ['16', '15'].map((h) => bronzeTradesPrefix('binance', 'BTC-USDT', '2026-11-24', h) + `archive-x-${h}.parquet`)
    expect(await buildCandles(memoryStore(), keys)).toBe(2)
    expect(ran).toEqual([...keys].reverse().flatMap((k) => lakeChain(k).filter((r) => r.fn !== 'features')))
    expect(ran.map((r) => r.fn)).toEqual(['candles', 'silver', 'candles', 'silver'])
  })
})
