/**
 * The candle job as the benchmark times it. `productionJob` is the job itself: the day's bronze
 * files put in an object store (memory, or the local file store) at the keys the lake holds them
 * under, then the candle function's handler (packages/functions/src/candles.ts) run on one real
 * S3 event per file, in hour order, as S3 would call it: silver merged, the hour's exact minute
 * sums, gold files of all six timeframes and serving windows written, hour after hour. `candleJob`
 * is the bare pipeline the bench used to time (decode all files at once, core's kernel
 * `candlesOfColumns`, gold Parquet), kept to show what the production path costs on top. Run
 * directly (bundled, `TICKLAKE_CANDLE_JOB_CHILD=1 node job.mjs`) it takes one JSON job per stdin
 * line and prints its times, CPU and peak memory as JSON.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isMainThread } from 'node:worker_threads'
import { CANDLE_COLUMNS, TIMEFRAMES, type Candle, type Timeframe } from '../packages/core/src/market/index'
import { readTradeColumns, writeParquet, type TradeColumns } from '../packages/core/src/parquet/index'
import { bronzeTradesPrefix } from '../packages/core/src/lake/index'
import type { ObjectStore } from '../packages/core/src/ports/index'
import * as candles from '../packages/core/src/candles/index'
import { createCandlesHandler } from '../packages/functions/src/candles'
import { fileStore, memoryStore, s3Event } from '../packages/local/src/store/index'

export interface Window { exchange: string; symbol: string; from: number; until: number }
type Kernel = (cols: TradeColumns, o: Window & { prevClose?: number }) => Record<Timeframe, Candle[]> | Candle[]

/** Core's kernel when it exists, else the plain loop below; `name` says which ran. */
export const kernel: { name: string; run: (cols: TradeColumns, w: Window) => Record<Timeframe, Candle[]> } = (() => {
  const core = (candles as any).candlesOfColumns as Kernel | undefined
  if (!core) return { name: 'bench loop (core has no candlesOfColumns yet)', run: simpleCandles }
  return { name: 'core candlesOfColumns', run: (cols, w) => byTimeframe(core(cols, w)) }
})()

function byTimeframe(r: Record<Timeframe, Candle[]> | Candle[]): Record<Timeframe, Candle[]> {
  if (!Array.isArray(r)) return r
  const out = Object.fromEntries(Object.keys(TIMEFRAMES).map((tf) => [tf, [] as Candle[]])) as Record<Timeframe, Candle[]>
  for (const c of r) out[c.tf].push(c)
  return out
}

/**
 * Candles of every timeframe from columns sorted by trade id, flat candles at the previous close
 * where a bucket has no trade. The stand-in until core's kernel lands; not Binance-exact.
 */
export function simpleCandles(c: TradeColumns, w: Window): Record<Timeframe, Candle[]> {
  const out = {} as Record<Timeframe, Candle[]>
  for (const [tf, ms] of Object.entries(TIMEFRAMES) as [Timeframe, number][]) {
    const n = Math.ceil((w.until - w.from) / ms)
    const o = new Float64Array(n), h = new Float64Array(n).fill(-Infinity), l = new Float64Array(n).fill(Infinity), cl = new Float64Array(n)
    const v = new Float64Array(n), qv = new Float64Array(n), cnt = new Float64Array(n), bv = new Float64Array(n), bqv = new Float64Array(n)
    const first = new Float64Array(n).fill(-1), last = new Float64Array(n)
    const bucketUs = ms * 1000
    const fromUs = w.from * 1000
    for (let i = 0; i < c.length; i++) {
      const b = Math.floor((c.ts[i] - fromUs) / bucketUs)
      if (b < 0 || b >= n) continue
      const p = c.price[i], q = c.qty[i]
      if (first[b] < 0) { o[b] = p; first[b] = c.first_trade_id[i] }
      if (p > h[b]) h[b] = p
      if (p < l[b]) l[b] = p
      cl[b] = p
      last[b] = c.last_trade_id[i]
      v[b] += q; qv[b] += p * q; cnt[b] += c.trades[i]
      if (c.buy[i]) { bv[b] += q; bqv[b] += p * q }
    }
    const list: Candle[] = []
    let prev = NaN
    for (let b = 0; b < n; b++) {
      const open_time = w.from + b * ms
      const base = { exchange: w.exchange, symbol: w.symbol, tf, open_time, close_time: open_time + ms - 1, final: true }
      if (first[b] < 0) { list.push({ ...base, open: prev, high: prev, low: prev, close: prev, volume: 0, quote_volume: 0, trades: 0, taker_buy_volume: 0, taker_buy_quote_volume: 0, vwap: prev, first_trade_id: -1, last_trade_id: -1 }); continue }
      prev = cl[b]
      list.push({ ...base, open: o[b], high: h[b], low: l[b], close: cl[b], volume: v[b], quote_volume: qv[b], trades: cnt[b], taker_buy_volume: bv[b], taker_buy_quote_volume: bqv[b], vwap: qv[b] / v[b], first_trade_id: first[b], last_trade_id: last[b] })
    }
    out[tf] = list
  }
  return out
}

/** Gold files of a day: 1m per hour, 5m to 4h per day, 1d per year (as DESIGN.md lays out). */
export function goldFiles(byTf: Record<Timeframe, Candle[]>, w: Window): { key: string; bytes: Uint8Array }[] {
  const dt = new Date(w.from).toISOString().slice(0, 10)
  const base = `gold/candles/exchange=${w.exchange}/symbol=${w.symbol}`
  const files: { key: string; bytes: Uint8Array }[] = []
  const hours = new Map<number, Candle[]>()
  for (const c of byTf['1m']) {
    const h = new Date(c.open_time).getUTCHours()
    if (!hours.has(h)) hours.set(h, [])
    hours.get(h)!.push(c)
  }
  for (const [h, list] of hours) files.push({ key: `${base}/tf=1m/dt=${dt}/hour=${String(h).padStart(2, '0')}.parquet`, bytes: writeParquet(CANDLE_COLUMNS, list) })
  for (const tf of ['5m', '15m', '1h', '4h'] as const) files.push({ key: `${base}/tf=${tf}/dt=${dt}.parquet`, bytes: writeParquet(CANDLE_COLUMNS, byTf[tf]) })
  files.push({ key: `${base}/tf=1d/year=${dt.slice(0, 4)}.parquet`, bytes: writeParquet(CANDLE_COLUMNS, byTf['1d']) })
  return files
}

/** Decode, kernel, encode: each step's milliseconds and what came out. */
export async function candleJob(files: Uint8Array[], w: Window, threads = 1) {
  const t0 = performance.now()
  const { columns, nulls, fallbacks, threads: used } = await readTradeColumns(files, { threads })
  const t1 = performance.now()
  const byTf = kernel.run(columns, w)
  const t2 = performance.now()
  const gold = goldFiles(byTf, w)
  const t3 = performance.now()
  return { decodeMs: t1 - t0, kernelMs: t2 - t1, writeMs: t3 - t2, trades: columns.length, nulls, fallbacks, threads: used, byTf, gold }
}

/** The job from files on disk to files on disk, as the child process runs it. */
export async function candleJobOnDisk(inDir: string, outDir: string, w: Window, threads = 1) {
  const t0 = performance.now()
  const files = readdirSync(inDir).filter((f) => f.endsWith('.parquet')).sort().map((f) => new Uint8Array(readFileSync(join(inDir, f))))
  const r = await candleJob(files, w, threads)
  for (const g of r.gold) {
    const path = join(outDir, g.key)
    mkdirSync(join(path, '..'), { recursive: true })
    writeFileSync(path, g.bytes)
  }
  return { ...r, totalMs: performance.now() - t0 }
}

export type StoreKind = 'memory' | 'file'

/**
 * The production candle job on a day of bronze files (`hour=HH.parquet` each): they are put into
 * a fresh store under `bronze/trades/exchange=/symbol=/dt=/hour=HH/` first (untimed: that is
 * Firehose's work), then the candle handler runs once per file on S3's event for it (timed).
 */
export async function productionJob(files: { hour: string; bytes: Uint8Array }[], w: Window, kind: StoreKind = 'memory', root?: string) {
  const store: ObjectStore = kind === 'file' ? fileStore(root!) : memoryStore()
  const dt = new Date(w.from).toISOString().slice(0, 10)
  const events = []
  for (const f of files) {
    const key = `${bronzeTradesPrefix(w.exchange, w.symbol, dt, f.hour)}part-0000.parquet`
    const { etag } = await store.put(key, f.bytes)
    events.push(s3Event('bench', key, f.bytes.length, etag))
  }
  const handler = createCandlesHandler({ store, now: () => w.until + 3_600_000 })
  const cpu = process.cpuUsage()
  const t0 = performance.now()
  let trades = 0, duplicates = 0
  for (const e of events) for (const r of await handler(e)) { trades += r.trades; duplicates += r.duplicates }
  const totalMs = performance.now() - t0
  const u = process.cpuUsage(cpu)
  return { store, totalMs, cpuMs: (u.user + u.system) / 1000, trades, duplicates, invocations: events.length }
}

/** The bronze files of `inDir` (`hour=HH.parquet`), with their hours. */
export function hourFiles(inDir: string) {
  return readdirSync(inDir).filter((f) => /^hour=\d\d\.parquet$/.test(f)).sort().map((f) => ({ hour: f.slice(5, 7), bytes: new Uint8Array(readFileSync(join(inDir, f))) }))
}

/** The gold files of each timeframe that a job wrote to `store`. */
export async function goldCounts(store: ObjectStore, w: Window) {
  const out = {} as Record<Timeframe, number>
  for (const tf of Object.keys(TIMEFRAMES) as Timeframe[]) out[tf] = (await store.list(`gold/candles/exchange=${w.exchange}/symbol=${w.symbol}/tf=${tf}/`)).length
  return out
}

/**
 * This process's peak resident memory in KB: VmHWM on Linux (reset by exec, unlike getrusage's
 * maxrss, which a spawned child inherits from its parent), else maxRSS.
 */
export function peakRssKb() {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))
    if (m) return Number(m[1])
  } catch {}
  return process.resourceUsage().maxRSS
}

/** One timed production job, as the child process reports it (the file store lives under `outDir`). */
export async function timedProductionJob(inDir: string, outDir: string, w: Window, kind: StoreKind) {
  const root = join(outDir, `lake-${Date.now()}-${Math.random().toString(36).slice(2)}`)
  const r = await productionJob(hourFiles(inDir), w, kind, root)
  const gold = await goldCounts(r.store, w)
  if (kind === 'file') rmSync(root, { recursive: true, force: true })
  return { totalMs: r.totalMs, cpuMs: r.cpuMs, trades: r.trades, duplicates: r.duplicates, invocations: r.invocations, gold, maxRssKb: peakRssKb() }
}

/** One timed bare pipeline, as the child process reports it. */
export async function timedJob(inDir: string, outDir: string, w: Window, threads: number) {
  const cpu = process.cpuUsage()
  const r = await candleJobOnDisk(inDir, outDir, w, threads)
  const u = process.cpuUsage(cpu)
  // CPU of this thread and the workers
  return { totalMs: r.totalMs, cpuMs: (u.user + u.system) / 1000, decodeMs: r.decodeMs, kernelMs: r.kernelMs, writeMs: r.writeMs, trades: r.trades, threads: r.threads, fallbacks: r.fallbacks, kernel: kernel.name, maxRssKb: peakRssKb() }
}

const entry = process.argv[1] ?? ''
if (isMainThread && process.env.TICKLAKE_CANDLE_JOB_CHILD === '1' && /job\.mjs$/.test(entry)) {
  // one JSON job per stdin line ({ inDir, outDir, window, threads, production? }), one JSON result per stdout line
  const { createInterface } = await import('node:readline')
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue
    const { inDir, outDir, window, threads, production } = JSON.parse(line)
    console.log(JSON.stringify(production ? await timedProductionJob(inDir, outDir, window, production) : await timedJob(inDir, outDir, window, threads)))
  }
  process.exit(0)
}
