/**
 * `npm run load`: the realtime load test, on loopback only and bounded in clients and time. The
 * fake exchange (its own process) streams `--rate` trades a second of BTC-USDT into the local cloud
 * (`startCloud`: real ingest, Firehose emulator, lake, candle job, WebSocket gateway); `--clients`
 * WebSocket subscribers (another process) each hold `trades:sim-binance:BTC-USDT` and
 * `candles:sim-binance:BTC-USDT:1m` for `--seconds`. Reports the share of trades delivered to every
 * subscriber, p50/p99 latency from a trade's receipt by ingest (`ingest_time`) to a subscriber's
 * receipt, partial candle updates per second, and whether every subscriber got every final candle.
 * Flags: --clients 1000 --rate 1000 --seconds 30 --procs 2 (subscriber processes) --fanout direct|sdk --features on|off --json.
 * When `--seconds` is under a minute, the run waits so that a minute closes inside it.
 */
import { fork, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

export const defaults = {
  clients: 1000, rate: 1000, seconds: 30,
  /** Processes the subscribers are spread over. */
  procs: 2,
  /** `direct`: the gateway's in-process poster; `sdk`: the management API over HTTP with the real SDK client. */
  fanout: 'direct' as 'direct' | 'sdk',
  /** Run the features job too (it shares the local cloud's event loop with the live path). */
  features: true,
  /** For windows of 15-59 s, wait so that a minute closes inside the window. */
  alignMinute: true,
  log: (_line: string) => {},
}

export interface LoadResult {
  clients: number
  connected: number
  seconds: number
  rate: number
  fanout: string
  features: boolean
  tradesGenerated: number
  tradeDeliveryRatio: number
  clientsWithAllTrades: number
  latencyMs: { samples: number; p50: number; p90: number; p99: number; max: number }
  partialUpdatesPerClientPerS: number
  finalsExpected: number[]
  finalDeliveryRatio: number
  clientsWithAllFinals: number
  errors: number
  serverCpuCores: number
  /** CPU of the subscribers' processes over the window and the drain. */
  clientsCpuCores: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Runs one load test and resolves with its figures. */
export async function loadTest(options: Partial<typeof defaults> = {}): Promise<LoadResult> {
  const o = { ...defaults, ...options }
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const fake = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fake-exchange.ts'), String(o.rate), '0'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const procs = Array.from({ length: Math.max(1, Math.min(o.procs, o.clients)) }, () => fork(join(import.meta.dirname, 'load-clients.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  const dir = mkdtempSync(join(tmpdir(), 'ticklake-load-'))
  let cloud: Awaited<ReturnType<typeof import('../packages/local/src/cloud/index').startCloud>> | undefined
  const askOne = <T>(p: (typeof procs)[number], msg: object) => new Promise<T>((resolve) => { p.once('message', (m) => resolve(m as T)); p.send(msg) })
  const ask = <T>(msg: object | ((i: number) => object)) => Promise.all(procs.map((p, i) => askOne<T>(p, typeof msg === 'function' ? msg(i) : msg)))
  try {
    await Promise.all(procs.map((p) => new Promise((r) => p.once('message', r))))
    const urls = await new Promise<{ restUrl: string; wsUrl: string }>((resolve) => fake.stdout!.once('data', (d) => resolve(JSON.parse(String(d)))))
    const { startCloud } = await import('../packages/local/src/cloud/index')
    cloud = await startCloud({ source: 'sim', ...urls, symbols: ['BTC-USDT'], port: 0, dataDir: dir, backfillMs: 0, firehoseBufferMs: 500, ingestBudgetMs: 10 * 60_000, fanout: o.fanout, features: o.features, log: () => {} })
    const lastId = async () => (await (await fetch(`${urls.restUrl}/api/v3/aggTrades?symbol=BTCUSDT&limit=1`)).json())[0]?.a as number ?? 0

    const channels = ['trades:sim-binance:BTC-USDT', 'candles:sim-binance:BTC-USDT:1m']
    const t0 = Date.now()
    const share = (i: number) => Math.floor(o.clients / procs.length) + (i < o.clients % procs.length ? 1 : 0)
    const connected = (await ask<{ connected: number }>((i) => ({ cmd: 'connect', url: `ws://127.0.0.1:${cloud!.port}/ws`, clients: share(i), channels }))).reduce((a, r) => a + r.connected, 0)
    o.log(`${connected} of ${o.clients} subscribers connected in ${Date.now() - t0} ms`)
    await sleep(1_000)
    if (o.alignMinute && o.seconds >= 15 && o.seconds < 60) {
      const wait = (60_000 - (Date.now() % 60_000)) - (o.seconds * 1000 - 8_000)
      if (wait > 0) { o.log(`waiting ${Math.round(wait / 1000)} s so that a minute closes inside the window`); await sleep(wait) }
    }
    // The window: trades the exchange publishes from now on must reach every subscriber.
    const firstId = (await lastId()) + 1
    await ask({ cmd: 'measure', firstId, capacity: Math.ceil(o.rate * o.seconds * 4 + 10_000) })
    const from = Date.now()
    const cpu0 = process.cpuUsage()
    await sleep(o.seconds * 1000)
    const to = Date.now()
    const cpu = process.cpuUsage(cpu0)
    const last = await lastId()
    await ask({ cmd: 'stop', lastId: last })
    // Finals expected: every minute that closed inside the window. The lake path announces each once
    // the candle job has made it final in the serving window; give it up to 30 s, then 2 s to arrive.
    const expected: number[] = []
    for (let t = Math.ceil(from / 60_000) * 60_000; t < to; t += 60_000) expected.push(t - 60_000)
    const finalInLake = async () => {
      const serving = await fetch(`${cloud!.url}serving/sim-binance/BTC-USDT/1m.json`).then((res) => res.json()).catch(() => ({ candles: [] }))
      return expected.every((t) => (serving.candles ?? []).some((c: any) => c.open_time === t && c.final))
    }
    for (const end = Date.now() + 30_000; expected.length && Date.now() < end && !(await finalInLake());) await sleep(250)
    await sleep(expected.length ? 2_000 : 3_000) // the last trades (and finals) are on their way
    const r = merge(await ask<any>({ cmd: 'report', from, to, lastId: last }))
    const finalsGot = (r.finals as number[][]).map((f) => expected.filter((t) => f.includes(t)).length)
    return {
      clients: o.clients, connected, seconds: o.seconds, rate: o.rate, fanout: o.fanout, features: o.features,
      tradesGenerated: r.tradesExpected,
      tradeDeliveryRatio: r.tradesReceived / Math.max(1, r.tradesExpected * r.clients),
      clientsWithAllTrades: r.clientsWithAllTrades,
      latencyMs: r.latency,
      partialUpdatesPerClientPerS: Math.round((r.partials / Math.max(1, r.clients) / ((to - from) / 1000)) * 100) / 100,
      finalsExpected: expected,
      finalDeliveryRatio: expected.length ? finalsGot.reduce((a, b) => a + b, 0) / (expected.length * r.clients) : NaN,
      clientsWithAllFinals: finalsGot.filter((n) => n === expected.length).length,
      errors: r.errors,
      serverCpuCores: Math.round(((cpu.user + cpu.system) / 1000 / (to - from)) * 100) / 100,
      clientsCpuCores: Math.round((r.cpuSeconds / ((to - from) / 1000 + 3)) * 100) / 100,
    }
  } finally {
    for (const p of procs) p.send({ cmd: 'exit' })
    await cloud?.close().catch(() => {})
    fake.kill('SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Sums the subscriber processes' reports; latency quantiles from the merged histogram. */
function merge(parts: any[]) {
  const hist = new Float64Array(parts[0].hist.length)
  for (const p of parts) p.hist.forEach((n: number, i: number) => { hist[i] += n })
  const samples = hist.reduce((a, b) => a + b, 0)
  const quantile = (q: number) => {
    const want = Math.max(1, Math.ceil(samples * q))
    let n = 0
    for (let ms = 0; ms < hist.length; ms++) { n += hist[ms]; if (n >= want) return ms }
    return NaN
  }
  const sum = (k: string) => parts.reduce((a, p) => a + p[k], 0)
  return {
    clients: sum('clients'), tradesExpected: parts[0].tradesExpected, tradesReceived: sum('tradesReceived'), clientsWithAllTrades: sum('clientsWithAllTrades'),
    latency: { samples, p50: quantile(0.5), p90: quantile(0.9), p99: quantile(0.99), max: quantile(1) },
    finals: parts.flatMap((p) => p.finals), partials: sum('partials'), errors: sum('errors'), cpuSeconds: sum('cpuSeconds'),
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { clients: { type: 'string', default: '1000' }, rate: { type: 'string', default: '1000' }, seconds: { type: 'string', default: '30' }, procs: { type: 'string', default: '2' }, fanout: { type: 'string', default: 'direct' }, features: { type: 'string', default: 'on' }, json: { type: 'boolean', default: false } } })
  const bound = (name: string, v: number, max: number) => { if (!(v > 0 && v <= max)) { console.error(`--${name} must be between 1 and ${max}`); process.exit(2) } return v }
  const r = await loadTest({
    clients: bound('clients', Number(values.clients), 5_000), rate: bound('rate', Number(values.rate), 10_000), seconds: bound('seconds', Number(values.seconds), 300), procs: bound('procs', Number(values.procs), 8),
    fanout: values.fanout === 'sdk' ? 'sdk' : 'direct', features: values.features !== 'off', log: (l) => console.error(l),
  })
  if (values.json) console.log(JSON.stringify(r, null, 1))
  else {
    const pct = (x: number) => (Number.isNaN(x) ? 'n/a' : `${(x * 100).toFixed(2)}%`)
    console.log([
      `subscribers        ${r.connected}/${r.clients} (fan-out: ${r.fanout}, features job ${r.features ? 'on' : 'off'}), ${r.seconds} s at ${r.rate} trades/s`,
      `trades             ${r.tradesGenerated} generated; delivered ${pct(r.tradeDeliveryRatio)} (${r.clientsWithAllTrades} subscribers got every one)`,
      `latency            p50 ${r.latencyMs.p50} ms, p90 ${r.latencyMs.p90} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms (${r.latencyMs.samples} samples, ingest receipt -> subscriber)`,
      `partial candles    ${r.partialUpdatesPerClientPerS} updates/s per subscriber (bound: 4)`,
      `final candles      ${r.finalsExpected.length} closed in the window; delivered ${pct(r.finalDeliveryRatio)} (${r.clientsWithAllFinals} subscribers got every one)`,
      `errors             ${r.errors}; CPU: server process ${r.serverCpuCores} cores, subscribers' processes ${r.clientsCpuCores} cores`,
    ].join('\n'))
  }
  process.exit(0)
}
