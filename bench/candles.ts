/**
 * Candle benchmarks (issue 4, points 9-10). One day of trades of one symbol (2,000,000 by default,
 * fixed seed) is written as hourly bronze files two ways: (a) as ticklake's own writer writes
 * rows (`writeParquet`: every column of the trade schema, REQUIRED, TIMESTAMP_MICROS, snappy, data
 * page v1), as older local lakes hold them, and (b) as AWS Firehose writes them for the stacks'
 * Glue table, the shape every lake has now (the local emulator's `bronzeTradesFile`: the table's
 * non-partition columns only, OPTIONAL, plain INT64 times, dictionaries with parquet-mr's PLAIN
 * fallback, snappy, data page v1).
 * For each, the candle job is the production code path: the files laid out as the lake holds them
 * (`bronze/trades/exchange=/symbol=/dt=/hour=HH/`, in a memory object store), and the candle
 * function's handler run on one real S3 event per hour file, each recomputing its hour (the six
 * columns candles need decoded from bronze, on two threads where there are two cores, exact minute
 * sums, gold files of all six timeframes and serving windows); bundled and run by plain node in a
 * child process, as a function runs it. The silver function, the next link of the lake's chain,
 * runs after it on each hour's candle state and is reported on its own. It is timed next to
 * DuckDB computing the same 1m candles from the same files (1 and 2 threads), taking turns run
 * after run so both meet the same load on a shared machine; the best run of each counts. Also:
 * the bare pipeline the bench used to time (all files decoded at once, kernel, gold written; 1 and
 * 2 threads), the production job on the local file store, decode-only and kernel-only times, CPU
 * times, the job's peak memory in a fresh process, and the candle function's bundle size and cold
 * import time.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { TRADE_COLUMNS, type Trade } from '../packages/core/src/market/index'
import { readParquet, writeParquet } from '../packages/core/src/lake/parquet/index'
import { readTradeColumns } from '../packages/core/src/lake/trades/index'
import { bronzeTradesFile } from '../packages/local/src/firehose/convert'
import { defaults as candleDefaults } from '../packages/core/src/lake/candles/index'
import { rng } from '../packages/core/test/synthetic'
import { candleJob, kernel, productionJob, hourFiles, type Window } from './candles-job'
import type { Row } from './ingest'

export const defaults = {
  trades: 2_000_000,
  seed: 42,
  day: '2026-11-24',
  runs: 5,
  /** Untimed runs of the production job and of DuckDB before the timed ones. */
  warmup: 3,
  /** Pause before each timed run. */
  settleMs: 250,
}

const root = join(import.meta.dirname, '..')


/**
 * The day's trades hour by hour: ts spread over the day, price a random walk in cents around
 * 80,000 kept within 60,000-100,000, qty with 5-8 decimals, trade ids consecutive.
 */
export function* tradeHours(n: number, seed: number, day: string): Generator<{ hour: number; trades: Trade[] }> {
  const rnd = rng(seed) // core's seeded PRNG: every run benches the same day
  const dayUs = Date.parse(`${day}T00:00:00Z`) * 1000
  const spanUs = 86_400_000_000
  let cents = 8_000_000
  let id = 3_000_000_000
  let hour: Trade[] = []
  let h = 0
  for (let i = 0; i < n; i++) {
    const ts = dayUs + Math.floor(((i + rnd()) * spanUs) / n)
    const th = Math.floor((ts - dayUs) / 3_600_000_000)
    if (th !== h) { yield { hour: h, trades: hour }; hour = []; h = th }
    cents += Math.round((rnd() - 0.5) * 200)
    if (cents < 6_000_000 || cents > 10_000_000) cents = 8_000_000
    const decimals = 5 + Math.floor(rnd() * 4)
    const scale = 10 ** decimals
    const qty = Math.max(1, Math.round(-Math.log(1 - rnd()) * 0.05 * scale)) / scale
    const count = rnd() < 0.3 ? 1 + Math.floor(rnd() * 5) : 1
    hour.push({
      exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: 2_000_000_000 + i, first_trade_id: id, last_trade_id: id + count - 1,
      ts, price: cents / 100, qty, side: rnd() < 0.5 ? 'buy' : 'sell', trades: count, ingest_ts: ts + 40_000 + Math.floor(rnd() * 20_000), source: 'ws',
    })
    id += count
  }
  yield { hour: h, trades: hour }
}

/** The two bronze layouts of the day under a cached folder: `ours/` and `firehose/`, one file per hour. */
export async function bronze(n: number, seed: number, day: string) {
  const dir = join(tmpdir(), `ticklake-bench-candles-${n}-${seed}-${day}-v2`)
  const ours = join(dir, 'ours')
  const firehose = join(dir, 'firehose')
  if (existsSync(join(dir, 'done'))) return { ours, firehose, cached: true }
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(ours, { recursive: true })
  mkdirSync(firehose, { recursive: true })
  for (const { hour, trades } of tradeHours(n, seed, day)) {
    const name = `hour=${String(hour).padStart(2, '0')}.parquet`
    writeFileSync(join(ours, name), writeParquet(TRADE_COLUMNS, trades))
    writeFileSync(join(firehose, name), bronzeTradesFile(trades))
  }
  writeFileSync(join(dir, 'done'), '')
  return { ours, firehose, cached: false }
}

export const filesIn = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.parquet')).sort().map((f) => join(dir, f))
const sizeOf = (dir: string) => filesIn(dir).reduce((s, f) => s + statSync(f).size, 0)

/** Best wall time of `runs`, with the CPU time (all threads of this process) of that run. */
async function best<T>(runs: number, fn: () => Promise<T>) {
  let min = Infinity
  let cpu = 0
  let last: T | undefined
  for (let i = 0; i < runs; i++) {
    const c = process.cpuUsage()
    const t = performance.now()
    last = await fn()
    const ms = performance.now() - t
    const u = process.cpuUsage(c)
    if (ms < min) { min = ms; cpu = (u.user + u.system) / 1000 }
  }
  return { ms: min, cpu, last: last! }
}

/** DuckDB's 1m candles of the files: open/close by trade id, sums, counts (`ts` a TIMESTAMP in ours, Firehose's plain bigint µs in the other). */
const duckSql = (files: string[], plainTimes: boolean) => `
  SELECT ${plainTimes ? 'ts' : 'epoch_us(ts)'} // 60000000 AS minute,
    arg_min(price, trade_id) AS open, max(price) AS high, min(price) AS low, arg_max(price, trade_id) AS close,
    sum(qty) AS volume, sum(price * qty) AS quote_volume, sum(trades) AS trades,
    sum(CASE WHEN side = 'buy' THEN qty ELSE 0 END) AS taker_buy_volume,
    sum(CASE WHEN side = 'buy' THEN price * qty ELSE 0 END) AS taker_buy_quote_volume,
    min(first_trade_id) AS first_trade_id, max(last_trade_id) AS last_trade_id
  FROM read_parquet([${files.map((f) => `'${f}'`).join(', ')}])
  GROUP BY 1 ORDER BY 1`

/** A DuckDB in this process, timing the 1m candles query with a given number of threads. */
async function duckdb(files: string[], plainTimes = false) {
  const { DuckDBInstance } = await import('@duckdb/node-api')
  const instance = await DuckDBInstance.create(':memory:')
  const duck = await instance.connect()
  const sql = duckSql(files, plainTimes)
  return {
    async time(threads: number) {
      await duck.run(`SET threads = ${threads}`)
      const r = await best(1, async () => (await duck.runAndReadAll(sql)).getRows())
      return { ms: r.ms, cpu: r.cpu }
    },
    rows: async () => (await duck.runAndReadAll(sql)).getRows(),
    close: () => duck.closeSync(),
  }
}

/** 1m candles of ticklake and DuckDB agree: same minutes, OHLC and counts, volumes to 1e-9. */
function agree(ours: { open_time: number; open: number; high: number; low: number; close: number; trades: number; volume: number }[], duck: unknown[][]) {
  const traded = ours.filter((c) => c.trades > 0)
  if (traded.length !== duck.length) return false
  return traded.every((c, i) => {
    const [minute, open, high, low, close, volume, , trades] = duck[i].map(Number)
    return minute * 60_000 === c.open_time && open === c.open && high === c.high && low === c.low && close === c.close && trades === c.trades && Math.abs(volume - c.volume) <= 1e-9 * Math.max(1, volume)
  })
}

/** Bundles `entry` for node20 ESM, minified, every dependency inside. */
async function bundle(entry: string, outfile: string, minify = true) {
  await build({
    entryPoints: [entry], outfile, bundle: true, minify, platform: 'node', format: 'esm', target: 'node20', logLevel: 'silent',
    external: ['@duckdb/node-api'],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  })
  return statSync(outfile).size
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** Time to import a bundle in a fresh node process (median of runs), and the whole process's wall time. */
function coldImport(file: string, runs: number) {
  const imports: number[] = []
  const walls: number[] = []
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `const t = performance.now(); await import(${JSON.stringify(`file://${file}`)}); process.stdout.write(String(performance.now() - t))`], { encoding: 'utf8', env: { ...process.env, TICKLAKE_BUCKET: 'bench' } })
    walls.push(performance.now() - t)
    if (r.status !== 0) throw new Error(`importing ${file} failed: ${r.stderr}`)
    imports.push(Number(r.stdout))
  }
  return { importMs: median(imports), wallMs: median(walls) }
}

type ChildRun = Awaited<ReturnType<typeof import('./candles-job').timedJob>>
type ProductionRun = Awaited<ReturnType<typeof import('./candles-job').timedProductionJob>>

/** A fresh node process running the bundled job (as a function runs it), taking jobs one at a time. */
function jobProcess(job: string) {
  const child = spawn(process.execPath, [job], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, TICKLAKE_CANDLE_JOB_CHILD: '1' } })
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  return {
    async run(inDir: string, outDir: string, window: Window, threads: number): Promise<ChildRun> {
      child.stdin!.write(JSON.stringify({ inDir, outDir, window, threads }) + '\n')
      const next = await lines.next()
      if (next.done) throw new Error('candle job process ended early')
      return JSON.parse(next.value)
    },
    /** The production job (the candle handler on one S3 event per hour file) on a memory or file store. */
    async production(inDir: string, outDir: string, window: Window, store: 'memory' | 'file', silver = false): Promise<ProductionRun> {
      child.stdin!.write(JSON.stringify({ inDir, outDir, window, production: store, silver }) + '\n')
      const next = await lines.next()
      if (next.done) throw new Error('candle job process ended early')
      return JSON.parse(next.value)
    },
    close: () => child.stdin!.end(),
  }
}

/** Peak resident memory of a bare node process, for scale. */
function bareRssKb() {
  const r = spawnSync(process.execPath, ['-e', "process.stdout.write(/VmHWM:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))?.[1] ?? String(process.resourceUsage().maxRSS))"], { encoding: 'utf8' })
  return Number(r.stdout)
}

/** Rows of the candle section; `trades` sets the day's size. */
export async function candlesBench(options: Partial<typeof defaults> = {}): Promise<Row[]> {
  // Long: the section's rows measured one after another; each block is one row.
  const o = { ...defaults, ...options }
  const from = Date.parse(`${o.day}T00:00:00Z`)
  const w: Window = { exchange: 'binance', symbol: 'BTC-USDT', from, until: from + 86_400_000 }
  const t0 = performance.now()
  const dirs = await bronze(o.trades, o.seed, o.day)
  const prepMs = performance.now() - t0
  const work = mkdtempSync(join(tmpdir(), 'ticklake-bench-candles-'))
  const cores = candleDefaults.decodeThreads
  const rows: Row[] = []
  try {
    const job = join(work, 'job.mjs')
    await bundle(join(import.meta.dirname, 'candles-job.ts'), job, false)
    const ratios: number[] = []
    const ratios1: number[] = []
    const cpuRatios: number[] = []
    const pipelineRatios: number[] = []
    for (const variant of ['ours', 'firehose'] as const) {
      const dir = dirs[variant]
      const paths = filesIn(dir)
      const bytes = paths.map((f) => new Uint8Array(readFileSync(f)))
      const gold = join(work, `gold-${variant}`)
      // ticklake and DuckDB take turns, run after run, so both meet the same load on a shared machine
      // the production job alone in its process, as in a function's container; the bare pipeline in another
      const proc = jobProcess(job), pipe = jobProcess(job)
      const duck = await duckdb(paths, variant === 'firehose')
      const prod: ProductionRun[] = [], one: ChildRun[] = [], two: ChildRun[] = [], d1: { ms: number; cpu: number }[] = [], d2: { ms: number; cpu: number }[] = []
      // each run starts on a quiet machine: the one before it (DuckDB's threads, a child's GC) has settled
      const settle = () => new Promise((r) => setTimeout(r, o.settleMs))
      // warm-up runs first, untimed: a function's container that has taken a few events, and DuckDB with its caches
      for (let r = 0; r < o.warmup; r++) { await proc.production(dir, gold, w, 'memory'); await duck.time(2) }
      for (let r = 0; r < o.runs; r++) {
        await settle(); prod.push(await proc.production(dir, gold, w, 'memory'))
        await settle(); d1.push(await duck.time(1))
        await settle(); one.push(await pipe.run(dir, gold, w, 1))
        await settle(); two.push(await pipe.run(dir, gold, w, 2))
        await settle(); d2.push(await duck.time(2))
      }
      pipe.close()
      const onDisk = await proc.production(dir, gold, w, 'file')
      // then the silver function on the candle states of one more run (after the timed runs: its garbage is its own)
      const withSilver = await proc.production(dir, gold, w, 'memory', true)
      proc.close()
      const rows1 = await duck.rows()
      duck.close()
      const fastest = <T extends { totalMs?: number; ms?: number }>(xs: T[]) => xs.reduce((a, b) => ((b.totalMs ?? b.ms!) < (a.totalMs ?? a.ms!) ? b : a))
      const [p1, j1, j2, duck1, duck2] = [fastest(prod), fastest(one), fastest(two), fastest(d1), fastest(d2)]
      const cpuBest = Math.min(...prod.map((x) => x.cpuMs)), duckCpu = Math.min(...d1.map((x) => x.cpu))
      const decode = await best(o.runs, () => readTradeColumns(bytes))
      const { columns } = decode.last
      const kern = await best(o.runs, async () => kernel.run(columns, w))
      const check = await candleJob(bytes, w)
      // the production job's own 1m gold files, checked against DuckDB's candles
      const lake = (await productionJob(hourFiles(dir), w)).store
      const gold1m: { open_time: number; open: number; high: number; low: number; close: number; trades: number; volume: number }[] = []
      for (const f of await lake.list(`gold/candles/exchange=${w.exchange}/symbol=${w.symbol}/tf=1m/`)) gold1m.push(...await readParquet<any>((await lake.get(f.key))!))
      const ok = agree(gold1m, rows1) && agree(check.byTf['1m'], rows1)
      const all6 = Object.values(p1.gold).every((n) => n > 0)
      ratios.push(p1.totalMs / Math.min(duck1.ms, duck2.ms))
      ratios1.push(p1.totalMs / duck1.ms)
      cpuRatios.push(cpuBest / duckCpu)
      pipelineRatios.push(Math.min(j1.totalMs, j2.totalMs) / Math.min(duck1.ms, duck2.ms))
      const what = variant === 'ours' ? 'as ticklake\'s writeParquet writes rows (REQUIRED, TIMESTAMP_MICROS, snappy, page v1; older local lakes)' : 'as AWS Firehose writes them for the Glue table (no exchange/symbol columns, OPTIONAL, plain INT64 times, dictionaries, snappy, page v1)'
      const fb = check.fallbacks.length ? `; ${check.fallbacks.length} file(s) fell back to hyparquet` : ''
      rows.push(
        { name: `candles_job_ms_${variant}`, value: round(p1.totalMs), unit: 'ms', note: `production job: ${p1.trades} trades, ${paths.length} hourly files (${(sizeOf(dir) / 1e6).toFixed(1)} MB) ${what} in a memory store at the lake's keys; the candle handler on ${p1.invocations} S3 events (one per file): bronze columns decoded on ${cores} thread(s), exact minute sums, ${all6 ? 'gold files of all six timeframes' : 'GOLD FILES MISSING for some timeframe'} (${Object.entries(p1.gold).map(([tf, n]) => `${tf} ${n}`).join(', ')}) and serving windows; fresh node, bundled (CPU ${round(p1.cpuMs)} ms; best CPU of ${o.runs} runs ${round(cpuBest)} ms)` },
        { name: `silver_job_ms_${variant}`, value: round(withSilver.silverMs), unit: 'ms', note: `after one more candle run, the silver handler on each of the ${withSilver.invocations} candle states it wrote: every column of the hour's bronze decoded, deduplicated and written as silver (${withSilver.silverTrades === withSilver.trades ? `${withSilver.silverTrades} trades, as the candles counted` : `${withSilver.silverTrades} TRADES, NOT the candles' ${withSilver.trades}`}; CPU ${round(withSilver.silverCpuMs)} ms), one run; not on the candles' path` },
        { name: `candles_job_file_store_ms_${variant}`, value: round(onDisk.totalMs), unit: 'ms', note: `the same job on the local file store (packages/local/src/store, files in tmp), one run, CPU ${round(onDisk.cpuMs)} ms` },
        { name: `candles_pipeline_ms_${variant}`, value: round(j1.totalMs), unit: 'ms', note: `bare pipeline the bench used to time (not the production path): all files decoded at once, ${j1.kernel}, six timeframes, gold written, no silver, state or serving; one thread (CPU ${round(j1.cpuMs)} ms; decode ${round(j1.decodeMs)}, kernel ${round(j1.kernelMs)}, gold ${round(j1.writeMs)} ms)${fb}` },
        { name: `candles_pipeline_ms_2_threads_${variant}`, value: round(j2.totalMs), unit: 'ms', note: `the bare pipeline decoding on ${j2.threads} threads (decode ${round(j2.decodeMs)} ms)` },
        { name: `candles_decode_ms_${variant}`, value: round(decode.ms), unit: 'ms', note: `decode only, one thread (in the bench process): bytes in memory to TradeColumns; 2 threads in the job: ${round(j2.decodeMs)} ms` },
        { name: `candles_kernel_ms_${variant}`, value: round(kern.ms), unit: 'ms', note: `kernel only: TradeColumns to six timeframes (${kernel.name})` },
        { name: `duckdb_1m_ms_2_threads_${variant}`, value: round(duck2.ms), unit: 'ms', note: `peer: DuckDB 1m candles over the same files, CPU ${round(duck2.cpu)} ms${ok ? '; 1m candles agree with ticklake' : '; 1m CANDLES DIFFER'}` },
        { name: `duckdb_1m_ms_1_thread_${variant}`, value: round(duck1.ms), unit: 'ms', note: `peer: DuckDB, one thread, CPU ${round(duck1.cpu)} ms` },
        { name: `candles_vs_duckdb_ratio_${variant}`, value: round(p1.totalMs / Math.min(duck1.ms, duck2.ms)), unit: 'x', note: `production job / best DuckDB of 1 or 2 threads (1 thread: ${round(p1.totalMs / duck1.ms)}; CPU ${round(cpuBest / duckCpu)}); the bare pipeline: ${round(Math.min(j1.totalMs, j2.totalMs) / Math.min(duck1.ms, duck2.ms))}` },
      )
    }
    const memProc = jobProcess(job)
    const mem = await memProc.production(dirs.firehose, join(work, 'gold-mem'), w, 'memory')
    memProc.close()
    const memSilverProc = jobProcess(job)
    const memSilver = await memSilverProc.production(dirs.firehose, join(work, 'gold-mem-silver'), w, 'memory', true)
    memSilverProc.close()
    const fn = join(work, 'fn', 'candles.mjs')
    const size = await bundle(join(root, 'packages/functions/src/candles.ts'), fn)
    const cold = coldImport(fn, 5)
    rows.unshift(
      { name: 'candles_vs_duckdb_ratio', value: round(ratios[1]), unit: 'x', note: `production candle job (handler on one S3 event per hour file, decoding on ${cores} thread(s)) / DuckDB at its best of 1 or 2 threads, best of ${o.runs} runs each after ${o.warmup} warm-up runs, on bronze as AWS Firehose writes it (the lake's shape; ticklake's own shape: ${round(ratios[0])}; target <= 2.0, aim < 1.0)` },
      { name: 'candles_vs_duckdb_ratio_1_thread', value: round(Math.max(...ratios1)), unit: 'x', note: 'the same against DuckDB on one thread' },
      { name: 'candles_vs_duckdb_cpu_ratio', value: round(Math.max(...cpuRatios)), unit: 'x', note: 'CPU time of the production job (all its threads) / of DuckDB on one thread, best of each (steadier than wall time on a busy machine)' },
      { name: 'candles_pipeline_vs_duckdb_ratio', value: round(Math.max(...pipelineRatios)), unit: 'x', note: 'the bare pipeline (decode + kernel + gold, no silver/state/serving; what this ratio measured before) / best DuckDB' },
    )
    rows.push(
      { name: 'candles_job_peak_rss_mb', value: round(mem.maxRssKb / 1024), unit: 'MB', note: `fresh node, one production job (24 candle handler invocations in one process; the memory store holds bronze and gold), Firehose layout, ${mem.trades} trades in ${round(mem.totalMs)} ms (bare node: ${round(bareRssKb() / 1024)} MB)` },
      { name: 'silver_job_peak_rss_mb', value: round(memSilver.maxRssKb / 1024), unit: 'MB', note: `fresh node, the same followed by the 24 silver handler invocations (the store then holds silver too), silver in ${round(memSilver.silverMs)} ms` },
      { name: 'candles_fn_bundle_kb', value: round(size / 1024), unit: 'KB', note: `packages/functions/src/candles.ts, esbuild minified node20 ESM, all deps inside (${round(gzipSync(readFileSync(fn)).length / 1024)} KB gzipped)` },
      { name: 'candles_fn_cold_import_ms', value: round(cold.importMs), unit: 'ms', note: `import() in a fresh node, median of 5 (process wall ${round(cold.wallMs)} ms)` },
      { name: 'candles_bench_setup_ms', value: Math.round(prepMs), unit: 'ms', note: dirs.cached ? 'bronze files reused from the cache in tmp' : 'generating and writing the bronze files' },
    )
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  return rows
}

const round = (x: number) => Math.round(x * 100) / 100
