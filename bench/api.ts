/**
 * HTTP API benchmark: `GET /api/candles` for one UTC day of 1m candles (1440, written to a
 * temporary lake as the candle job writes them) over real HTTP on loopback, through the local
 * HTTP-event adapter, the middy handler, core's validation and cache, and DuckDB. Reports the cold
 * answer, p50/p99 warm (served from the TTL cache; target p99 < 50 ms) and uncached (DuckDB every
 * time), next to DuckDB answering the same statement in-process (the peer).
 */
import { Agent, createServer, get as httpGet } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { candlesQuery } from '../packages/core/src/serve/query/index'
import { ttlCache } from '../packages/core/src/serve/api/cache'
import { fileStore } from '../packages/local/src/store/index'
import { localApiHandler, serveHttpEvent } from '../packages/local/src/api/index'
import { writeDayOfCandles } from '../packages/local/test/fixture'
import type { Row } from './ingest'

const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] }
const ms = (x: number) => Number(x.toFixed(2))

async function timed(n: number, fn: () => Promise<unknown>) {
  const out: number[] = []
  for (let i = 0; i < n; i++) { const t = performance.now(); await fn(); out.push(performance.now() - t) }
  return out
}

/** Rows of the API benchmark; `requests` per timing. */
export async function apiBench(o: { requests?: number } = {}): Promise<Row[]> {
  const n = o.requests ?? 300
  const dir = mkdtempSync(join(tmpdir(), 'ticklake-api-bench-'))
  const store = fileStore(dir)
  await writeDayOfCandles(store, { exchange: 'binance', symbol: 'BTC-USDT', day: '2026-11-24' })
  const path = '/api/candles?exchange=binance&symbol=BTC-USDT&tf=1m&from=2026-11-24T00:00:00Z&to=2026-11-25T00:00:00Z'
  const run = async (ttl: number) => {
    const api = await localApiHandler({ dataDir: dir, store, cache: ttlCache({ ttlMs: { candles: ttl } }) })
    const server = createServer((req, res) => { void serveHttpEvent(api.handler, req, res) })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`
    let bytes = 0
    let count = 0
    // a keep-alive client that keeps the body as bytes: the client's own cost stays out of the figure
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    let text = ''
    let body = Buffer.alloc(0)
    const get = () => new Promise<void>((resolve, reject) => {
      httpGet(url, { agent }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => { body = Buffer.concat(chunks); resolve() })
      }).on('error', reject)
    })
    const cold = (await timed(1, get))[0]
    text = body.toString('utf8')
    bytes = text.length
    count = JSON.parse(text).count
    await timed(20, get) // warm-up of the HTTP path and the JIT
    const cpu0 = process.cpuUsage()
    const times = await timed(n, get)
    const cpu = process.cpuUsage(cpu0)
    const cpuMs = (cpu.user + cpu.system) / 1000 / n
    const st = candlesQuery({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', from: Date.parse('2026-11-24T00:00:00Z'), to: Date.parse('2026-11-25T00:00:00Z') })
    const peer = await timed(Math.min(n, 100), () => api.engine.query(st))
    agent.destroy()
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
    api.close()
    return { cold, times, peer, bytes, count, cpuMs }
  }
  try {
    const warm = await run(5 * 60_000)
    const uncached = await run(0)
    if (warm.count !== 1440 || uncached.count !== 1440) throw new Error(`expected 1440 candles, got ${warm.count} / ${uncached.count}`)
    return [
      { name: 'api_candles_day_cold_ms', value: ms(warm.cold), unit: 'ms', note: 'first request: DuckDB over 24 hour files, 1440 candles' },
      { name: 'api_candles_day_warm_p50_ms', value: ms(pct(warm.times, 50)), unit: 'ms', note: `${n} requests over HTTP, served from the TTL cache (${Math.round(warm.bytes / 1024)} KB JSON)` },
      { name: 'api_candles_day_warm_p99_ms', value: ms(pct(warm.times, 99)), unit: 'ms', note: `target < 50 ms (load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores)` },
      { name: 'api_candles_day_warm_cpu_ms', value: ms(warm.cpuMs), unit: 'ms', note: 'CPU per warm request, server and client together (independent of other load)' },
      { name: 'api_candles_day_uncached_p50_ms', value: ms(pct(uncached.times, 50)), unit: 'ms', note: 'cache off: DuckDB on every request' },
      { name: 'api_candles_day_uncached_p99_ms', value: ms(pct(uncached.times, 99)), unit: 'ms' },
      { name: 'duckdb_candles_day_p50_ms', value: ms(pct(uncached.peer, 50)), unit: 'ms', note: 'peer: the same statement in-process, no HTTP or JSON' },
      { name: 'duckdb_candles_day_p99_ms', value: ms(pct(uncached.peer, 99)), unit: 'ms' },
    ]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
