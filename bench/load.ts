/**
 * `npm run load`: the realtime load test, on loopback only and bounded in clients and time. The
 * fake exchange (its own process) streams `--rate` trades a second of BTC-USDT into a real
 * `ticklake start` child process (real ingest, Firehose emulator, lake, candle, silver and features
 * jobs, WebSocket gateway: what a user runs); `--clients` WebSocket subscribers (other processes)
 * each hold `trades:sim-binance:BTC-USDT` and `candles:sim-binance:BTC-USDT:1m` for `--seconds`. Reports the
 * share of trades delivered to every subscriber, p50/p99 latency from a trade's receipt by ingest
 * (`ingest_time`) to a subscriber's receipt, partial candle updates per second, whether every
 * subscriber got every final candle, and how long `/api/health` took meanwhile. With
 * `--misbehaving N` a second window follows on the same server with N more clients that misbehave
 * (half re-subscribe to 18 channels at the gateway's allowed rate, half never read), and both
 * windows are printed. `--target inproc` runs `startCloud` in this process instead (`--fanout`
 * then picks its poster). Flags: --clients 1000 --rate 1000 --seconds 30 --procs 2 --misbehaving 30
 * --target start|inproc --fanout direct|sdk --features on|off --json.
 * When `--seconds` is under a minute, each window is placed so that a minute closes inside it.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { FIREHOSE_BUFFERING } from '../packages/core/src/aws/glue'
import { readCheckpoint } from '../packages/core/src/sources/checkpoint/index'
import { fileStore } from '../packages/local/src/store/index'
import { cpuSecondsOf, startTicklake } from './child'

export const defaults = {
  clients: 1000, rate: 1000, seconds: 30,
  /** Processes the subscribers are spread over. */
  procs: 2,
  /** `start`: a `ticklake start` child process; `inproc`: `startCloud` in this process. */
  target: 'start' as 'start' | 'inproc',
  /** With `inproc`: `direct`, the gateway's in-process poster; `sdk`, the management API over HTTP with the real SDK client. */
  fanout: 'direct' as 'direct' | 'sdk',
  /** Misbehaving clients of the second window (0: no second window): half re-subscribe at the allowed rate, half never read. */
  misbehaving: 0,
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
  /** Whether ingest had checkpointed the window's last trade when its delivery was counted (else what is missing was late, not lost). */
  windowIngested: boolean
  tradeDeliveryRatio: number
  clientsWithAllTrades: number
  /** Per trade, on every 10th subscriber (`sampledClients`); the others check delivery by each message's id range. */
  latencyMs: { samples: number; p50: number; p90: number; p99: number; max: number }
  sampledClients: number
  /** The subscribers' processes' own event-loop delay over the window (worst process): what of the latency is theirs. */
  clientLoopMs: { p99: number; max: number }
  /** Trade messages whose ids were not consecutive, seen by the sampled subscribers (0, or the range check over-counts). */
  holes: number
  partialUpdatesPerClientPerS: number
  finalsExpected: number[]
  finalDeliveryRatio: number
  clientsWithAllFinals: number
  errors: number
  serverCpuCores: number
  /** CPU of the subscribers' processes over the window and the drain. */
  clientsCpuCores: number
  /** `GET /api/health` asked every 500 ms through the window: answer times. */
  healthMs: { samples: number; p50: number; max: number }
  /** Misbehaving clients connected through this window, and how many the gateway had dropped by its end. */
  misbehaving: number
  misbehavingOpen: number
  /** The server's own event-loop delay over its last 10 s window, as `/api/health` reports it (p50, p99, max). */
  serverEventLoopMs?: { p50: number; p99: number; max: number }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Runs one load test (two windows with `misbehaving`) and resolves with the figures of each window. */
export async function loadTest(options: Partial<typeof defaults> = {}): Promise<LoadResult[]> {
  // Long: one load test read top to bottom (start, two windows, figures, stop); splitting it would scatter the timeline.
  const o = { ...defaults, ...options }
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const fake = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fake-exchange.ts'), String(o.rate), '0'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const forkClients = () => fork(join(import.meta.dirname, 'load-clients.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const procs = Array.from({ length: Math.max(1, Math.min(o.procs, o.clients)) }, forkClients)
  const rogue: ChildProcess | undefined = o.misbehaving > 0 ? forkClients() : undefined
  const dir = mkdtempSync(join(tmpdir(), 'ticklake-load-'))
  let cloud: { close(): Promise<void> } | undefined
  let child: ChildProcess | undefined
  const askOne = <T>(p: ChildProcess, msg: object) => new Promise<T>((resolve) => { p.once('message', (m) => resolve(m as T)); p.send(msg) })
  const ask = <T>(msg: object | ((i: number) => object)) => Promise.all(procs.map((p, i) => askOne<T>(p, typeof msg === 'function' ? msg(i) : msg)))
  try {
    await Promise.all([...procs, ...(rogue ? [rogue] : [])].map((p) => new Promise((r) => p.once('message', r))))
    const urls = await new Promise<{ restUrl: string; wsUrl: string }>((resolve) => fake.stdout!.once('data', (d) => resolve(JSON.parse(String(d)))))
    let port: number, base: string, serverCpu: () => number
    if (o.target === 'start') {
      const c = await startTicklake(['--source', 'sim', '--rest-url', urls.restUrl, '--ws-url', urls.wsUrl, '--symbols', 'BTC-USDT', '--data', dir, '--backfill', '0', '--coins', 'none'], o.log)
      child = c.child
      port = c.port
      base = c.url
      serverCpu = () => cpuSecondsOf(c.child.pid!)
    } else {
      const { startCloud } = await import('../packages/local/src/cloud/index')
      const local = await startCloud({ source: 'sim', ...urls, symbols: ['BTC-USDT'], port: 0, dataDir: dir, backfillMs: 0, firehoseBufferMs: 500, ingestBudgetMs: 10 * 60_000, fanout: o.fanout, features: o.features, log: () => {} })
      cloud = local
      port = local.port
      base = local.url
      serverCpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }
    }
    // the minute the server's first trade falls in is its symbol's first traded minute: trades
    // before it are missing (no backfill), so that candle is never final, and only later minutes
    // are expected. Taken once the server serves (its stream opens within a few seconds of that),
    // not before it starts: a start across a minute's end made the bench wait for a final that
    // could never come.
    const firstFinal = Math.floor((Date.now() + 5_000) / 60_000) * 60_000 + 60_000
    const lastId = async () => (await (await fetch(`${urls.restUrl}/api/v3/aggTrades?symbol=BTCUSDT&limit=1`)).json())[0]?.a as number ?? 0
    const ws = `ws://127.0.0.1:${port}/ws`

    const channels = ['trades:sim-binance:BTC-USDT', 'candles:sim-binance:BTC-USDT:1m']
    const t0 = Date.now()
    const share = (i: number) => Math.floor(o.clients / procs.length) + (i < o.clients % procs.length ? 1 : 0)
    const connected = (await ask<{ connected: number }>((i) => ({ cmd: 'connect', url: ws, clients: share(i), channels }))).reduce((a, r) => a + r.connected, 0)
    o.log(`${connected} of ${o.clients} subscribers connected in ${Date.now() - t0} ms`)
    await sleep(5_000) // the connection storm's snapshots and the lake's first jobs settle

    /** One measured window: what every subscriber got of the trades published during it. */
    async function window(misbehaving: number, misbehavingOpen: () => Promise<number>): Promise<LoadResult> {
      if (o.alignMinute && o.seconds >= 15 && o.seconds < 60) {
        const wait = (60_000 - (Date.now() % 60_000)) - (o.seconds * 1000 - 8_000)
        if (wait > 0) { o.log(`waiting ${Math.round(wait / 1000)} s so that a minute closes inside the window`); await sleep(wait) }
      }
      // The window: trades the exchange publishes from now on must reach every subscriber. The
      // subscribers' processes start recording from `firstId`; trades they received before they
      // took that command are not recorded, so delivery is counted from the first id published
      // once every process has taken it (`fromId`).
      const firstId = (await lastId()) + 1
      await ask({ cmd: 'measure', firstId, capacity: Math.ceil(o.rate * o.seconds * 4 + 10_000) })
      const fromId = (await lastId()) + 1
      const from = Date.now()
      const cpu0 = serverCpu()
      const health: number[] = []
      const probe = setInterval(() => {
        const t = performance.now()
        void fetch(`${base}api/health`).then((r) => r.arrayBuffer()).then(() => health.push(performance.now() - t), () => health.push(Number.POSITIVE_INFINITY))
      }, 500)
      await sleep(o.seconds * 1000)
      clearInterval(probe)
      const loop = (await fetch(`${base}api/health`).then((r) => r.json()).catch(() => ({})))?.event_loop_ms
      const to = Date.now()
      const cpu = serverCpu() - cpu0
      const last = await lastId()
      await ask({ cmd: 'stop', lastId: last })
      // Finals expected: every minute that closed inside the window. The lake path announces each once
      // the candle job has made it final in the serving window; give it up to 2.5 Firehose buffer
      // intervals (Firehose may take 1.5 of them end to end), then 2 s to arrive.
      const expected: number[] = []
      for (let t = Math.ceil(from / 60_000) * 60_000; t < to; t += 60_000) if (t - 60_000 >= firstFinal) expected.push(t - 60_000)
      const finalInLake = async () => {
        const serving = await fetch(`${base}serving/sim-binance/BTC-USDT/1m.json`).then((res) => res.json()).catch(() => ({ candles: [] }))
        return expected.every((t) => (serving.candles ?? []).some((c: any) => c.open_time === t && c.final))
      }
      const lakeFrom = Date.now()
      for (const end = Date.now() + 2.5 * FIREHOSE_BUFFERING.intervalSeconds * 1000; expected.length && Date.now() < end && !(await finalInLake());) await sleep(250)
      if (expected.length) o.log(`the window's final candle was in the serving window ${Date.now() - lakeFrom} ms after the window ended${(await finalInLake()) ? '' : ' (not yet: gave up)'}`)
      await sleep(expected.length ? 2_000 : 3_000) // the last trades (and finals) are on their way
      // A loaded machine may take longer to hand over the window's last trades (an ingest run ending
      // there, the next one's start and bridge late): wait for them rather than count them lost, as
      // long as ingest has not checkpointed past the window (up to 60 s), then 5 s more for the
      // last broadcast. Trades ingest has taken and subscribers never got still count as lost.
      const delivered = async () => {
        const d = await ask<{ received: number; expected: number }>({ cmd: 'delivered', fromId, lastId: last })
        return d.reduce((a, x) => a + x.received, 0) >= d.reduce((a, x) => a + x.expected, 0)
      }
      const lake = fileStore(dir)
      const ingested = async () => ((await readCheckpoint(lake, 'sim-binance', 'BTC-USDT').catch(() => undefined))?.checkpoint.last_trade_id ?? -1) >= last
      let past: number | undefined
      for (const end = Date.now() + 60_000; Date.now() < end && !(await delivered());) {
        if (past === undefined && (await ingested())) past = Date.now()
        if (past !== undefined && Date.now() - past > 5_000) break
        await sleep(250)
      }
      const windowIngested = await ingested()
      if (!windowIngested) o.log(`ingest had not checkpointed the window's last trade ${last} when the window was counted`)
      const r = merge(await ask<any>({ cmd: 'report', from, to, fromId, lastId: last }))
      const finalsGot = (r.finals as number[][]).map((f) => expected.filter((t) => f.includes(t)).length)
      health.sort((a, b) => a - b)
      return {
        clients: o.clients, connected, seconds: o.seconds, rate: o.rate, fanout: o.target === 'start' ? 'ticklake start' : o.fanout, features: o.features,
        tradesGenerated: r.tradesExpected,
        windowIngested,
        tradeDeliveryRatio: r.tradesReceived / Math.max(1, r.tradesExpected * r.clients),
        clientsWithAllTrades: r.clientsWithAllTrades,
        latencyMs: r.latency, sampledClients: r.sampledClients, holes: r.holes, clientLoopMs: r.clientLoopMs,
        partialUpdatesPerClientPerS: Math.round((r.partials / Math.max(1, r.clients) / ((to - from) / 1000)) * 100) / 100,
        finalsExpected: expected,
        finalDeliveryRatio: expected.length ? finalsGot.reduce((a, b) => a + b, 0) / (expected.length * r.clients) : NaN,
        clientsWithAllFinals: finalsGot.filter((n) => n === expected.length).length,
        errors: r.errors,
        serverCpuCores: Math.round((cpu / ((to - from) / 1000)) * 100) / 100,
        clientsCpuCores: Math.round((r.cpuSeconds / ((to - from) / 1000 + 3)) * 100) / 100,
        healthMs: { samples: health.length, p50: Math.round(health[Math.floor(health.length / 2)] ?? NaN), max: Math.round(health.at(-1) ?? NaN) },
        misbehaving, misbehavingOpen: await misbehavingOpen(), serverEventLoopMs: loop,
      }
    }

    const results = [await window(0, async () => 0)]
    if (rogue) {
      const r = await askOne<{ connected: number }>(rogue, { cmd: 'misbehave', url: ws, clients: o.misbehaving })
      o.log(`${r.connected} misbehaving clients connected (half re-subscribing, half never reading)`)
      results.push(await window(r.connected, async () => (await askOne<{ open: number }>(rogue, { cmd: 'count' })).open))
    }
    return results
  } finally {
    for (const p of [...procs, ...(rogue ? [rogue] : [])]) p.send({ cmd: 'exit' })
    await cloud?.close().catch(() => {})
    if (child && child.exitCode === null) {
      child.kill('SIGTERM')
      await new Promise((r) => { child!.once('exit', r); setTimeout(r, 15_000).unref() })
    }
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
    clientLoopMs: { p99: Math.max(...parts.map((p) => p.loopMs.p99)), max: Math.max(...parts.map((p) => p.loopMs.max)) },
    finals: parts.flatMap((p) => p.finals), partials: sum('partials'), errors: sum('errors'), cpuSeconds: sum('cpuSeconds'), holes: sum('holes'), sampledClients: sum('sampledClients'),
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { clients: { type: 'string', default: '1000' }, rate: { type: 'string', default: '1000' }, seconds: { type: 'string', default: '30' }, procs: { type: 'string', default: '2' }, misbehaving: { type: 'string', default: '30' }, target: { type: 'string', default: 'start' }, fanout: { type: 'string', default: 'direct' }, features: { type: 'string', default: 'on' }, json: { type: 'boolean', default: false } } })
  const bound = (name: string, v: number, max: number, min = 1) => { if (!(v >= min && v <= max && Number.isInteger(v))) { console.error(`--${name} must be a whole number from ${min} to ${max}`); process.exit(2) } return v }
  const runs = await loadTest({
    clients: bound('clients', Number(values.clients), 5_000), rate: bound('rate', Number(values.rate), 10_000), seconds: bound('seconds', Number(values.seconds), 300), procs: bound('procs', Number(values.procs), 8),
    misbehaving: bound('misbehaving', Number(values.misbehaving), 500, 0), target: values.target === 'inproc' ? 'inproc' : 'start',
    fanout: values.fanout === 'sdk' ? 'sdk' : 'direct', features: values.features !== 'off', log: (l) => console.error(l),
  })
  if (values.json) console.log(JSON.stringify(runs, null, 1))
  else {
    const pct = (x: number) => (Number.isNaN(x) ? 'n/a' : `${(x * 100).toFixed(2)}%`)
    for (const r of runs) {
      console.log([
        r.misbehaving ? `\nwith ${r.misbehaving} misbehaving clients (half re-subscribing to 18 channels at 20 frames/s, half never reading; ${r.misbehavingOpen} still connected at the end)` : '\nwithout misbehaving clients',
        `subscribers        ${r.connected}/${r.clients} (${r.fanout}, features job ${r.features ? 'on' : 'off'}), ${r.seconds} s at ${r.rate} trades/s`,
        `trades             ${r.tradesGenerated} generated; delivered ${pct(r.tradeDeliveryRatio)} (${r.clientsWithAllTrades} subscribers got every one)`,
        `latency            p50 ${r.latencyMs.p50} ms, p90 ${r.latencyMs.p90} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms (${r.latencyMs.samples} samples on ${r.sampledClients} subscribers, ingest receipt -> subscriber); subscribers' event loop delay p99 ${r.clientLoopMs.p99} ms, max ${r.clientLoopMs.max} ms`,
        `partial candles    ${r.partialUpdatesPerClientPerS} updates/s per subscriber (bound: 4)`,
        `final candles      ${r.finalsExpected.length} closed in the window; delivered ${pct(r.finalDeliveryRatio)} (${r.clientsWithAllFinals} subscribers got every one)`,
        `/api/health        p50 ${r.healthMs.p50} ms, max ${r.healthMs.max} ms (${r.healthMs.samples} requests); server event loop delay p99 ${r.serverEventLoopMs?.p99 ?? 'n/a'} ms, max ${r.serverEventLoopMs?.max ?? 'n/a'} ms (last 10 s)`,
        `errors             ${r.errors}; id holes in messages ${r.holes}; CPU: server process ${r.serverCpuCores} cores, subscribers' processes ${r.clientsCpuCores} cores`,
      ].join('\n'))
    }
    if (runs.length === 2) console.log(`\np99 with misbehaving clients / without: ${(runs[1].latencyMs.p99 / Math.max(1, runs[0].latencyMs.p99)).toFixed(2)}x`)
  }
  process.exit(0)
}
