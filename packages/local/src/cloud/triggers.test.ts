/**
 * The local cloud routes its file store's S3 events, and the archive import runs its lake jobs, by
 * core's LAKE_TRIGGERS (as stacks/pipeline.ts declares the bucket notifications: stacks/pipeline.test.ts):
 * the lake handlers are replaced by recorders, so each test sees which job an event reached.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { S3Event } from 'aws-lambda'
import { LAKE_TRIGGERS, LAKE_OUTPUTS, bronzeTradesPrefix, lakeChain, type LakeFunction } from '@ticklake/core/lake/layout'

const ran: { fn: LakeFunction; key: string }[] = []
const recorder = (fn: LakeFunction) => () => async (e: S3Event) => { for (const r of e.Records) ran.push({ fn, key: decodeURIComponent(r.s3.object.key.replace(/\+/g, ' ')) }); return [] }
vi.mock('@ticklake/functions/candles', async (original) => ({ ...(await original<object>()), createCandlesHandler: recorder('candles') }))
vi.mock('@ticklake/functions/silver', async (original) => ({ ...(await original<object>()), createSilverHandler: recorder('silver') }))
vi.mock('@ticklake/functions/features', async (original) => ({ ...(await original<object>()), createFeaturesHandler: recorder('features') }))
const routes: import('../store/index').Notification[] = []
vi.mock('../store/index', async (original) => {
  const m = await original<typeof import('../store/index')>()
  return { ...m, fileStore: (...args: Parameters<typeof m.fileStore>) => { const s = m.fileStore(...args); const notify = s.notify.bind(s); s.notify = (n) => { routes.push(n); notify(n) }; return s } }
})
const { startLake } = await import('./lake')
const { buildCandles } = await import('../import/index')
const { memoryStore, s3Event } = await import('../store/index')

const cleanups: (() => unknown)[] = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); ran.length = 0; routes.length = 0 })

const hour = { exchange: 'binance', symbol: 'BTC-USDT', dt: '2026-11-24', hour: '15' }
/** An object of the hour under each trigger: what the jobs before it write, or a bronze object. */
const sampleKey = (t: (typeof LAKE_TRIGGERS)[number]) =>
  [bronzeTradesPrefix(hour.exchange, hour.symbol, hour.dt, hour.hour) + 'x.parquet', ...Object.values(LAKE_OUTPUTS).flatMap((out) => out(hour))].find((k) => k.startsWith(t.prefix) && k.endsWith(t.suffix))!

async function lakeOn(features: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'ticklake-triggers-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const lake = await startLake({ dataDir: dir, features, featuresEveryMs: 0, compactEveryMs: 0 }, async () => {}, () => {})
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
      expect(ran, t.name).toEqual([{ fn: t.fn, key }])
    }
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
