/**
 * Scale (issue 15): one local cloud ingesting two exchanges at once, the fake Binance and the fake
 * Coinbase, each with `symbols` symbols at a heavy-tailed mix of rates (Zipf: a few symbols carry
 * most trades, most trade rarely), for `seconds`. It reports the trades that reached the lake's
 * bronze against the fakes' ground truth over the same span, the lake lag p99 (age of the oldest
 * trade not yet checkpointed, sampled each second per symbol), the WebSocket latency p99 (trade
 * time to a subscriber's receipt), CPU cores, RSS peak and RSS growth per minute. Ticklake runs as
 * a user runs it, `ticklake start --source sim --config <file>` in its own process, and its CPU and
 * RSS are read from /proc: the fakes (the exchanges, elsewhere in real life) and the checks run in
 * this process and are reported apart, the subscribers in a process of their own
 * (`scale-subscriber.ts`), so that the fakes' event loop does not delay their receipts. `npm test` runs a short version
 * (`packages/local/src/cloud/scale.test.ts`), asserting delivery only.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fork } from 'node:child_process'
import { readCheckpoint } from '../packages/core/src/sources/checkpoint/index'
import { startFakeExchange } from '../packages/local/src/exchange/index'
import { startFakeCoinbase } from '../packages/local/src/exchange/coinbase'
import { fileStore } from '../packages/local/src/store/index'
import { duckdbEngine } from '../packages/local/src/duckdb/index'
import { cpuSecondsOf, rssMbOf, slope, startTicklake, stopTicklake } from './child'
import type { Row } from './ingest'

export const defaults = {
  symbols: 50,
  seconds: 60,
  /** Mean trades per second of each exchange, all its symbols together. */
  ratePerExchange: 500,
  /** Zipf exponent of the rates: symbol i trades at a rate in proportion to 1 / i^zipf. */
  zipf: 1.2,
  /**
   * History the fakes hold at start, backfilled over REST by the first ingest runs. Each symbol
   * backfills this much before the moment its turn comes (paced: Coinbase pages at 10 requests/s),
   * so it must cover that pacing for every trade from the start on to be due in the lake.
   */
  historyMs: 30_000,
  /**
   * Trades of the last moments before the end are not counted: ingest may not have them yet (at
   * 500 trades/s a Coinbase checkpoint trails its trades by up to 2-3 s at p99; a run ended by the
   * stop leaves its last batch to the next run).
   */
  tailMs: 5_000,
  /** Lag and latency are sampled after this much of the run: the first runs' backfill is no steady state. */
  warmupMs: 15_000,
  /** What ticklake start writes to stderr (the bench reads its stdout only for its URL). */
  log: (line: string) => console.error(line),
}

/**
 * `n` rates adding up to `total`, Zipf-distributed.
 * @example zipfRates(3, 11, 1) // [6, 3, 2]
 */
export function zipfRates(n: number, total: number, s: number): number[] {
  const w = Array.from({ length: n }, (_, i) => 1 / (i + 1) ** s)
  const sum = w.reduce((a, b) => a + b, 0)
  return w.map((x) => (total * x) / sum)
}

/** The p-th percentile (0-100) of `xs` (nearest rank); 0 for none. */
const percentile = (xs: number[], p: number) => { if (!xs.length) return 0; const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] }

export interface ScaleResult {
  /** Per exchange: trades in the counted span, in the fake's ground truth and in the lake's bronze (distinct ids). */
  exchanges: { exchange: string; symbols: number; truth: number; delivered: number; missing: string[] }[]
  lakeLagP99Ms: number
  wsLatencyP99Ms: number
  wsLatencyP50Ms: number
  wsLatencyP90Ms: number
  /** Share of messages whose newest trade reached the subscriber over a second after its time. */
  wsLateShare: number
  /** The newest trade's way in two legs: exchange time to ingest's receipt, and ingest's receipt to the subscriber. */
  toIngestMs: { p50: number; p99: number }
  fromIngestMs: { p50: number; p99: number }
  /** Event loop delay p99: ticklake's main thread (the worst 10 s), and this process's (the fakes). */
  serverLoopP99Ms: number
  benchLoopP99Ms: number
  wsMessages: number
  /** CPU of the ticklake start process; `benchCores`: this process's (fakes, subscribers, checks). */
  cores: number
  benchCores: number
  rssPeakMb: number
  rssGrowthMbPerMin: number
  seconds: number
}

/** One truth trade: its id and exchange time (ms). */
interface Truth { id: number; T: number }

/** Runs the two fakes and the cloud for `o.seconds`; see the module comment for what is measured. */
export async function scaleRun(opts: Partial<typeof defaults> = {}): Promise<ScaleResult> {
  const o = { ...defaults, ...opts }
  const dir = mkdtempSync(join(tmpdir(), 'ticklake-scale-'))
  const binanceSymbols = Array.from({ length: o.symbols }, (_, i) => `S${i}-USDT`)
  const coinbaseSymbols = Array.from({ length: o.symbols }, (_, i) => `S${i}-USD`)
  const ratesOf = (symbols: string[]) => Object.fromEntries(zipfRates(symbols.length, o.ratePerExchange, o.zipf).map((r, i) => [symbols[i], r]))
  const binance = await startFakeExchange({ symbols: binanceSymbols, rates: ratesOf(binanceSymbols), seed: 11, historyMs: o.historyMs, bursts: true })
  const coinbase = await startFakeCoinbase({ symbols: coinbaseSymbols, rates: ratesOf(coinbaseSymbols), seed: 12, historyMs: o.historyMs, restRatePerSec: 1_000, restBurst: 1_000 })
  const truthOf = (exchange: string, symbol: string): readonly Truth[] => exchange === 'sim-binance'
    ? binance.aggTrades(symbol).map((t) => ({ id: t.a, T: t.T }))
    : coinbase.trades(symbol).map((t) => ({ id: t.trade_id, T: t.T }))
  // the two fakes as exchanges run elsewhere: ticklake start takes them as SIMULATED venues
  const config = join(dir, 'scale.config.json')
  const lake = join(dir, 'lake')
  writeFileSync(config, JSON.stringify({ exchanges: [
    { exchange: 'binance', restUrl: binance.restUrl, wsUrl: binance.wsUrl, symbols: binanceSymbols },
    { exchange: 'coinbase', restUrl: coinbase.restUrl, wsUrl: coinbase.wsUrl, symbols: coinbaseSymbols },
  ] }))
  const cloud = await startTicklake(['--source', 'sim', '--config', config, '--data', lake, '--backfill', `${o.historyMs / 1000}s`, '--coins', 'none'], o.log)
  const pid = cloud.child.pid!
  // ingest's first runs start now, each backfilling historyMs before its start: every trade from here on is due in the lake
  const t0 = Date.now()
  const all = [...binanceSymbols.map((s) => ['sim-binance', s] as const), ...coinbaseSymbols.map((s) => ['sim-coinbase', s] as const)]

  // subscribers, in a process of their own (bench/scale-subscriber.ts): one connection per exchange
  const subscribers = fork(join(import.meta.dirname, 'scale-subscriber.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const answer = <T>(cmd: string) => new Promise<T>((resolve, reject) => {
    const on = (m: any) => { if (m.cmd === cmd) { subscribers.off('message', on); resolve(m) } else if (m.cmd === 'failed') reject(new Error(`subscribers: ${m.error}`)) }
    subscribers.on('message', on)
    subscribers.once('exit', (code) => reject(new Error(`the subscribers' process exited with ${code}`)))
  })
  const connected = answer('connected')
  subscribers.send({ cmd: 'connect', url: cloud.url, exchanges: [['sim-binance', binanceSymbols], ['sim-coinbase', coinbaseSymbols]], from: t0 + o.warmupMs })
  await connected

  // each second: RSS, and per symbol the age of its oldest trade not yet checkpointed
  const store = fileStore(lake)
  const rss: { at: number; mb: number }[] = []
  const lags: number[] = []
  let sampling = false
  const sample = async () => {
    if (sampling) return
    sampling = true
    try {
      const now = Date.now()
      rss.push({ at: now, mb: rssMbOf(pid) })
      if (now - t0 < o.warmupMs) return
      await Promise.all(all.map(async ([ex, sym]) => {
        const cp = await readCheckpoint(store, ex, sym).catch(() => undefined)
        const truth = truthOf(ex, sym)
        const last = cp?.checkpoint.last_trade_id ?? -Infinity
        // the first trade after the checkpoint (ids ascend): binary search
        let lo = 0
        let hi = truth.length
        while (lo < hi) { const mid = (lo + hi) >> 1; if (truth[mid].id <= last) lo = mid + 1; else hi = mid }
        lags.push(lo < truth.length && truth[lo].T <= now ? now - truth[lo].T : 0)
      }))
    } finally { sampling = false }
  }
  const cpu0 = cpuSecondsOf(pid)
  const own0 = process.cpuUsage()
  const wall0 = Date.now()
  const timer = setInterval(() => void sample(), 1_000)
  // the event loops' delays: ticklake's main thread (its /api/health, over 10 s) and this process's (the fakes)
  const ownLoop = monitorEventLoopDelay({ resolution: 10 })
  ownLoop.enable()
  const serverLoopP99: number[] = []
  const loopTimer = setInterval(() => void fetch(`${cloud.url}api/health`).then((r) => r.json()).then((h) => { if (Date.now() - t0 >= o.warmupMs) serverLoopP99.push(h.event_loop_ms.p99) }).catch(() => {}), 10_000)
  await new Promise((r) => setTimeout(r, o.seconds * 1_000))
  clearInterval(timer)
  clearInterval(loopTimer)
  ownLoop.disable()
  const cpu = cpuSecondsOf(pid) - cpu0
  const own = process.cpuUsage(own0)
  const wallMs = Date.now() - wall0
  const until = Date.now() - o.tailMs
  // the last trades in flight reach the lake before the count
  await new Promise((r) => setTimeout(r, o.tailMs))
  const reported = answer<{ messages: number; latencies: number[]; toIngest: number[]; fromIngest: number[] }>('report')
  subscribers.send({ cmd: 'report' })
  const { messages: wsMessages, latencies, toIngest, fromIngest } = await reported
  await stopTicklake(cloud.child)
  await binance.close()
  await coinbase.close()

  const from = t0
  const db = await duckdbEngine(lake)
  const exchanges: ScaleResult['exchanges'] = []
  try {
    const rows = await db.query({ sql: 'SELECT exchange, symbol, count(DISTINCT trade_id) AS n, min(ts) AS first FROM bronze_trades WHERE ts >= ? AND ts < ? GROUP BY ALL', params: [from * 1_000, until * 1_000] }) // bronze ts: µs
    const got = new Map(rows.map((r) => [`${r.exchange} ${r.symbol}`, Number(r.n)]))
    const first = new Map(rows.map((r) => [`${r.exchange} ${r.symbol}`, Number(r.first) / 1_000]))
    for (const [ex, symbols] of [['sim-binance', binanceSymbols], ['sim-coinbase', coinbaseSymbols]] as const) {
      let truth = 0
      let delivered = 0
      const missing: string[] = []
      for (const sym of symbols) {
        const due = truthOf(ex, sym).filter((t) => t.T >= from && t.T < until)
        const want = due.length
        const have = got.get(`${ex} ${sym}`) ?? 0
        truth += want
        delivered += have
        // where the difference is: the lake's first counted trade against the first due, seconds after the start
        const at = (ms?: number) => (ms === undefined || Number.isNaN(ms) ? '—' : `+${((ms - from) / 1_000).toFixed(1)} s`)
        if (have !== want) missing.push(`${sym} ${have}/${want} (first due ${at(due[0]?.T)}, in lake ${at(first.get(`${ex} ${sym}`))})`)
      }
      exchanges.push({ exchange: ex, symbols: symbols.length, truth, delivered, missing })
    }
  } finally { db.close(); rmSync(dir, { recursive: true, force: true }) }
  const half = rss.slice(Math.floor(rss.length / 2))
  return {
    exchanges, seconds: o.seconds, wsMessages,
    lakeLagP99Ms: Math.round(percentile(lags, 99)),
    wsLatencyP99Ms: Math.round(percentile(latencies, 99)),
    wsLatencyP50Ms: Math.round(percentile(latencies, 50)),
    wsLatencyP90Ms: Math.round(percentile(latencies, 90)),
    wsLateShare: latencies.length ? latencies.filter((ms) => ms > 1_000).length / latencies.length : 0,
    toIngestMs: { p50: Math.round(percentile(toIngest, 50)), p99: Math.round(percentile(toIngest, 99)) },
    fromIngestMs: { p50: Math.round(percentile(fromIngest, 50)), p99: Math.round(percentile(fromIngest, 99)) },
    serverLoopP99Ms: serverLoopP99.length ? Math.max(...serverLoopP99) : Number.NaN,
    benchLoopP99Ms: Math.round(ownLoop.percentile(99) / 1e6),
    cores: Number((cpu * 1e3 / wallMs).toFixed(2)),
    benchCores: Number(((own.user + own.system) / 1e3 / wallMs).toFixed(2)),
    rssPeakMb: Math.round(Math.max(...rss.map((r) => r.mb))),
    rssGrowthMbPerMin: Number((slope(half.map((r) => r.at), half.map((r) => r.mb)) * 60_000).toFixed(1)),
  }
}

/** The `scale` section of `npm run bench`. */
export async function scaleBench(opts: Partial<typeof defaults> = {}): Promise<Row[]> {
  const r = await scaleRun(opts)
  const o = { ...defaults, ...opts }
  return [
    ...r.exchanges.map((e) => ({ name: `scale_${e.exchange.replace(/-/g, '_')}_delivered`, value: e.delivered, unit: 'trades', note: `of ${e.truth} in the fake's ground truth (${e.truth ? ((e.delivered / e.truth) * 100).toFixed(2) : '—'}%), ${e.symbols} symbols${e.missing.length ? `; differs: ${e.missing.slice(0, 3).join(', ')}` : ''}` })),
    { name: 'scale_lake_lag_p99_ms', value: r.lakeLagP99Ms, unit: 'ms', note: `oldest trade not yet checkpointed, per symbol each second after ${o.warmupMs / 1000} s` },
    { name: 'scale_ws_latency_p99_ms', value: r.wsLatencyP99Ms, unit: 'ms', note: `a message's newest trade time to a subscriber after ${o.warmupMs / 1000} s: p50 ${r.wsLatencyP50Ms} ms, p90 ${r.wsLatencyP90Ms} ms, ${(r.wsLateShare * 100).toFixed(2)}% over 1 s (${r.wsMessages} messages in all); exchange to ingest p50 ${r.toIngestMs.p50} ms, p99 ${r.toIngestMs.p99} ms; ingest to subscriber p50 ${r.fromIngestMs.p50} ms, p99 ${r.fromIngestMs.p99} ms; event loop delay p99: ticklake ${r.serverLoopP99Ms} ms (worst 10 s), the fakes' process ${r.benchLoopP99Ms} ms` },
    { name: 'scale_cpu', value: r.cores, unit: 'cores', note: `the ticklake start process (ingest, Firehose emulator, lake thread, gateway); the fakes, subscribers and checks beside it: ${r.benchCores}` },
    { name: 'scale_rss_peak_mb', value: r.rssPeakMb, unit: 'MB', note: 'the ticklake start process' },
    { name: 'scale_rss_growth_mb_per_min', value: r.rssGrowthMbPerMin, unit: 'MB/min', note: 'least squares over the second half of the run' },
    { name: 'scale_config', value: 2 * o.symbols, unit: 'symbols', note: `2 exchanges x ${o.symbols}, ${o.ratePerExchange} trades/s each (Zipf ${o.zipf}), ${r.seconds} s` },
  ]
}
