/**
 * The candle job as the benchmark times it. `productionJob` is the job itself: the day's bronze
 * files put in an object store (memory, or the local file store) at the keys the lake holds them
 * under, then the candle function's handler (packages/functions/src/candles.ts) run on one real
 * S3 event per file, in hour order, as S3 would call it: the hour's bronze columns decoded, its
 * exact minute sums, gold files of all six timeframes and serving windows written, hour after
 * hour. The silver function's handler then runs on each candle state the candle job wrote (the
 * next link of the lake's chain), timed on its own. `candleJob`
 * is the bare pipeline the bench used to time (decode all files at once, core's kernel
 * `candlesOfColumns`, gold Parquet), kept to show what the production path costs on top. Run
 * directly (bundled, `TICKLAKE_CANDLE_JOB_CHILD=1 node job.mjs`) it takes one JSON job per stdin
 * line and prints its times, CPU and peak memory as JSON.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isMainThread } from 'node:worker_threads'
import { CANDLE_COLUMNS, TIMEFRAMES, type Candle, type Timeframe } from '../packages/core/src/market/index'
import { writeTable } from '../packages/core/src/lake/parquet/index'
import { readTradeColumns, type TradeColumns } from '../packages/core/src/lake/trades/index'
import { bronzeTradesPrefix, goldCandleFileKey } from '../packages/core/src/lake/layout/index'
import type { ObjectStore } from '../packages/core/src/ports/index'
import * as candles from '../packages/core/src/lake/candles/index'
import { createCandlesHandler } from '../packages/functions/src/candles'
import { createSilverHandler } from '../packages/functions/src/silver'
import { fileStore, memoryStore, s3Event } from '../packages/local/src/store/index'

export interface Window { exchange: string; symbol: string; from: number; until: number }
/** Core's columnar kernel: trade columns to candles of every timeframe. */
export const kernel = { name: 'core candlesOfColumns', run: (cols: TradeColumns, w: Window) => candles.candlesOfColumns(cols, w) }

/** Gold files of a day, at the lake's keys and written as the candle job writes them (core's `goldCandleFileKey`, `writeTable`). */
export function goldFiles(byTf: Record<Timeframe, Candle[]>, w: Window): { key: string; bytes: Uint8Array }[] {
  const files = new Map<string, Candle[]>()
  for (const tf of Object.keys(TIMEFRAMES) as Timeframe[]) {
    for (const c of byTf[tf]) {
      const key = goldCandleFileKey(w.exchange, w.symbol, tf, c.open_time)
      files.set(key, [...(files.get(key) ?? []), c])
    }
  }
  return [...files].map(([key, list]) => ({ key, bytes: writeTable(CANDLE_COLUMNS, list) }))
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
export async function productionJob(files: { hour: string; bytes: Uint8Array }[], w: Window, kind: StoreKind = 'memory', root?: string, withSilver = true) {
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
  // the next link: the silver function on each hour's candle state, as its S3 event would run it
  const silver = createSilverHandler({ store })
  const states = withSilver ? await store.list('state/candles/') : []
  const silverCpu = process.cpuUsage()
  const s0 = performance.now()
  let silverTrades = 0
  for (const st of states) for (const r of await silver(s3Event('bench', st.key, st.size, st.etag))) silverTrades += r.trades ?? 0
  const silverMs = performance.now() - s0
  const su = process.cpuUsage(silverCpu)
  return { store, totalMs, cpuMs: (u.user + u.system) / 1000, trades, duplicates, invocations: events.length, silverMs, silverCpuMs: (su.user + su.system) / 1000, silverTrades }
}

/** The bronze files of `inDir` (`hour=HH.parquet`), with their hours. */
export function hourFiles(inDir: string) {
  return readdirSync(inDir).filter((f) => /^hour=\d\d\.parquet$/.test(f)).sort().map((f) => ({ hour: f.slice(5, 7), bytes: new Uint8Array(readFileSync(join(inDir, f))) }))
}

/**
 * `hourFiles`, read once per folder by a job process: run after run, the day's 72 MB are not read
 * and allocated again just before the timed part (a function is sent one object per event).
 */
const readOnce = new Map<string, ReturnType<typeof hourFiles>>()
const dayFiles = (inDir: string) => readOnce.get(inDir) ?? readOnce.set(inDir, hourFiles(inDir)).get(inDir)!

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
export async function timedProductionJob(inDir: string, outDir: string, w: Window, kind: StoreKind, withSilver = false) {
  const root = join(outDir, `lake-${Date.now()}-${Math.random().toString(36).slice(2)}`)
  const r = await productionJob(dayFiles(inDir), w, kind, root, withSilver)
  const gold = await goldCounts(r.store, w)
  if (kind === 'file') rmSync(root, { recursive: true, force: true })
  return { totalMs: r.totalMs, cpuMs: r.cpuMs, trades: r.trades, duplicates: r.duplicates, invocations: r.invocations, gold, silverMs: r.silverMs, silverCpuMs: r.silverCpuMs, silverTrades: r.silverTrades, maxRssKb: peakRssKb() }
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
  // one JSON job per stdin line ({ inDir, outDir, window, threads, production?, silver? }), one JSON result per stdout line
  const { createInterface } = await import('node:readline')
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue
    const { inDir, outDir, window, threads, production, silver } = JSON.parse(line)
    console.log(JSON.stringify(production ? await timedProductionJob(inDir, outDir, window, production, silver) : await timedJob(inDir, outDir, window, threads)))
  }
  process.exit(0)
}
