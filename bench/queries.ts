/**
 * Query limits benchmark (`npm run bench -- --only queries`): the real local API server in its own
 * process over a lake of one day of 1m candles and a day of per-trade features (90 columns), hit by
 * the worst query mix for `seconds`: concurrent clients asking for a day of trade features at the
 * largest limit, the newest 100,000 of them, 100,000 1m candles, and ranges beyond the bounds
 * (`from=0&to=2100-01-01`), while one client asks light uncached questions (an hour of candles at
 * a new minute each time). Reports the server's RSS at rest, its peak during the mix and after
 * it, the p50/p99 of the light query while the heavy ones run, and the answers by status. The
 * server runs with the allocator settings and V8 flags `npm start` gives `ticklake start`.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, get as httpGet } from 'node:http'
import { fileStore } from '../packages/local/src/store/index'
import { writeDayOfCandles } from '../packages/local/test/fixture'
import { writeParquet } from '../packages/core/src/lake/parquet/index'
import { FEATURE_COLUMNS } from '../packages/core/src/lake/features/index'
import { goldTradeFeaturesKey } from '../packages/core/src/lake/layout/index'
import type { Row } from './ingest'
// @ts-expect-error: a plain .mjs module of the bin folder, without types
import { allocator, v8Flags } from '../packages/local/bin/runtime.mjs'

const DAY = '2026-11-24'
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0 }
const rssMb = (pid: number) => { try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024 } catch { return 0 } }
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A day of per-trade feature rows, `perHour` an hour, written as the features job writes them (one file an hour). */
async function writeTradeFeatures(dir: string, perHour: number) {
  const store = fileStore(dir)
  const start = Date.parse(`${DAY}T00:00:00Z`)
  for (let h = 0; h < 24; h++) {
    const rows = Array.from({ length: perHour }, (_, i) => {
      const ms = start + h * 3_600_000 + Math.floor((i * 3_600_000) / perHour)
      return Object.fromEntries(FEATURE_COLUMNS.map((c) => [c.name, c.name === 'exchange' ? 'binance' : c.name === 'symbol' ? 'BTC-USDT'
        : c.type === 'TIMESTAMP_MICROS' ? ms * 1000 : c.type === 'TIMESTAMP_MILLIS' ? ms : c.type === 'STRING' ? (i % 2 ? 'buy' : 'sell')
          : c.type === 'BOOLEAN' ? i % 2 === 0 : c.type === 'DOUBLE' ? Math.sin(i + h) * 1000 : i]))
    })
    await store.put(goldTradeFeaturesKey('binance', 'BTC-USDT', DAY, String(h).padStart(2, '0')), writeParquet(FEATURE_COLUMNS as any, rows))
  }
}

/** Rows of the query-limits benchmark. */
export async function queriesBench(o: { seconds?: number; perHour?: number; heavyClients?: number } = {}): Promise<Row[]> {
  const seconds = o.seconds ?? 30
  const perHour = o.perHour ?? 10_000
  const dir = mkdtempSync(join(tmpdir(), 'ticklake-queries-bench-'))
  await writeDayOfCandles(fileStore(dir), { exchange: 'binance', symbol: 'BTC-USDT', day: DAY })
  await writeTradeFeatures(dir, perHour)
  const child = spawn(process.execPath, [...v8Flags, '--import', 'tsx', join(import.meta.dirname, 'query-server.ts'), dir], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...allocator, ...process.env } })
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', (b: Buffer) => { const m = /port (\d+)/.exec(b.toString()); if (m) resolve(Number(m[1])) })
      child.on('exit', (code) => reject(new Error(`query server exited (${code})`)))
    })
    const agent = new Agent({ keepAlive: true, maxSockets: 16 })
    const statuses = new Map<string, number>()
    const ask = (path: string) => new Promise<number>((resolve, reject) => {
      httpGet({ host: '127.0.0.1', port, path, agent }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)) }).on('error', reject)
    })
    const light = (i: number) => `/api/candles?symbol=BTC-USDT&from=${new Date(Date.parse(`${DAY}T00:00:00Z`) + (i % 1380) * 60_000).toISOString()}&limit=60`
    for (let i = 0; i < 5; i++) await ask(light(1000 + i)) // warm
    await sleep(2_000)
    const baseline = rssMb(child.pid!)
    const HEAVY = [
      `/api/features?kind=trades&symbol=BTC-USDT&from=${DAY}T00:00:00Z&to=${DAY}T23:59:59Z&limit=100000`,
      '/api/features?kind=trades&symbol=BTC-USDT&limit=100000',
      '/api/features?kind=trades&symbol=BTC-USDT&from=0&to=2100-01-01&limit=100000',
      `/api/candles?symbol=BTC-USDT&from=${DAY}T00:00:00Z&limit=100000`,
      `/api/features?kind=trades&symbol=BTC-USDT&from=${DAY}T06:00:00Z&to=${DAY}T18:00:00Z&limit=50000`,
    ]
    let peak = baseline
    let running = true
    const sampler = (async () => { while (running) { peak = Math.max(peak, rssMb(child.pid!)); await sleep(50) } })()
    const end = Date.now() + seconds * 1000
    const heavy = Array.from({ length: o.heavyClients ?? 4 }, async (_, c) => {
      for (let i = c; Date.now() < end; i++) {
        // a different limit each time, so that the result cache does not answer for the engine
        const path = HEAVY[i % HEAVY.length].replace(/limit=(\d+)/, (_m, n) => `limit=${Number(n) - (i % 97)}`)
        const s = await ask(path)
        const k = `heavy_${s}`
        statuses.set(k, (statuses.get(k) ?? 0) + 1)
      }
    })
    const lightMs: number[] = []
    const lightRun = (async () => {
      await sleep(500)
      for (let i = 0; Date.now() < end; i++) {
        const t = performance.now()
        const s = await ask(light(i))
        lightMs.push(performance.now() - t)
        const k = `light_${s}`
        statuses.set(k, (statuses.get(k) ?? 0) + 1)
        await sleep(20)
      }
    })()
    await Promise.all([...heavy, lightRun])
    await sleep(10_000)
    running = false
    await sampler
    const after = rssMb(child.pid!)
    agent.destroy()
    const counts = [...statuses].sort().map(([k, v]) => `${k}: ${v}`).join(', ')
    return [
      { name: 'queries_rss_baseline_mb', value: Math.round(baseline), unit: 'MB', note: `local API server at rest (lake: a day of 1m candles, ${24 * perHour} trade-feature rows of ${FEATURE_COLUMNS.length} columns)` },
      { name: 'queries_rss_peak_mb', value: Math.round(peak), unit: 'MB', note: `during ${seconds} s of ${o.heavyClients ?? 4} clients of heavy queries; target < 400 MB` },
      { name: 'queries_rss_after_mb', value: Math.round(after), unit: 'MB', note: '10 s after the mix' },
      { name: 'queries_light_p50_ms', value: Number(pct(lightMs, 50).toFixed(1)), unit: 'ms', note: 'an uncached hour of 1m candles while the heavy queries run' },
      { name: 'queries_light_p99_ms', value: Number(pct(lightMs, 99).toFixed(1)), unit: 'ms', note: counts },
    ]
  } finally {
    child.kill()
    rmSync(dir, { recursive: true, force: true })
  }
}
