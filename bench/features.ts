/**
 * Features benchmark (issue 4, point 10). One day of trades of one symbol (2,000,000 by default,
 * fixed seed) is written as the lake holds it before the features job runs: silver trades per hour
 * (hyparquet-writer, as the candle job writes them), bronze quotes (one per 4 trades, OPTIONAL
 * columns as Firehose writes them) and 1m gold candles. Then, in a child process (plain node, the
 * job bundled), the features job runs hour by hour over a filesystem lake as the S3 events would
 * drive it, and reports its time and peak memory. Also: the per-trade kernel alone over the day
 * in memory, and the features function's bundle size and cold import time.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { CANDLE_COLUMNS, QUOTE_COLUMNS, TRADE_COLUMNS, type Trade } from '../packages/core/src/market/index'
import { writeParquet } from '../packages/core/src/lake/parquet/index'
import { bronzeQuotesPrefix, bronzeTradesPrefix, goldCandlesKey } from '../packages/core/src/lake/layout/index'
import { updateSilverTable } from '../packages/core/src/lake/silver/index'
import { FEATURE_COLUMNS, LOOKBACK, tradeFeatures, type TradeSeries } from '../packages/core/src/lake/features/index'
import { candlesOf, quotesFor, trades as tape } from '../packages/core/test/synthetic'
import { fileStore } from '../packages/local/src/store/index'
import type { Row } from './ingest'

export const defaults = { trades: 2_000_000, seed: 42, day: '2026-11-24', exchange: 'binance', symbol: 'BTC-USDT', quoteEvery: 4 }

const root = join(import.meta.dirname, '..')
const round = (x: number) => Math.round(x * 10) / 10

/** The child: runs the features job for the day's 24 hours in turn over the lake in `dir`. */
const CHILD = `
import { runFeatures } from '../packages/core/src/lake/features/index'
import { fileStore } from '../packages/local/src/store/index'
const [dir, dt, exchange, symbol] = process.argv.slice(2)
const store = fileStore(dir)
let peak = 0
const sample = () => { peak = Math.max(peak, process.memoryUsage().rss) }
const timer = setInterval(sample, 10)
const t = performance.now(), cpu = process.cpuUsage()
let rows = 0, candleRows = 0
const ms = { read: 0, compute: 0, encode: 0, write: 0, candles: 0 }
for (let h = 0; h < 24; h++) {
  const r = await runFeatures({ store, exchange, symbol, dt, hour: String(h).padStart(2, '0') })
  rows += r.rows; candleRows += r.candleRows
  for (const k in ms) ms[k] += r.ms[k]
  sample()
}
const totalMs = performance.now() - t, c = process.cpuUsage(cpu)
clearInterval(timer)
console.log(JSON.stringify({ totalMs, cpuMs: (c.user + c.system) / 1000, rows, candleRows, peakRss: peak, ms }))
`

async function bundle(outfile: string, entry: { file: string } | { source: string }, minify = true) {
  await build({
    ...('file' in entry ? { entryPoints: [entry.file] } : { stdin: { contents: entry.source, resolveDir: import.meta.dirname, loader: 'ts' as const } }),
    outfile, bundle: true, minify, platform: 'node', format: 'esm', target: 'node20', logLevel: 'silent', external: ['@duckdb/node-api'],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  })
  return statSync(outfile).size
}

function coldImportMs(file: string, runs = 5) {
  const ms: number[] = []
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `const t = performance.now(); await import(${JSON.stringify(`file://${file}`)}); process.stdout.write(String(performance.now() - t))`], { encoding: 'utf8', env: { ...process.env, TICKLAKE_BUCKET: 'bench' } })
    if (r.status !== 0) throw new Error(`importing ${file} failed: ${r.stderr}`)
    ms.push(Number(r.stdout))
  }
  return ms.sort((a, b) => a - b)[Math.floor(runs / 2)]
}

/** Writes the day into a filesystem lake; returns the trades as columns (for the kernel timing). */
export async function writeDay(dir: string, n: number, o: typeof defaults): Promise<TradeSeries> {
  const store = fileStore(dir)
  const day = Date.parse(`${o.day}T00:00:00Z`)
  const all: TradeSeries = { length: n, tradeId: new Float64Array(n), ts: new Float64Array(n), price: new Float64Array(n), qty: new Float64Array(n), buy: new Uint8Array(n) }
  let price = 80_000, id = 3_000_000_000, at = 0
  for (let h = 0; h < 24; h++) {
    const count = Math.floor(((h + 1) * n) / 24) - Math.floor((h * n) / 24)
    const start = day + h * 3_600_000
    const hour: Trade[] = tape({ n: count, start, spanMs: 3_600_000, seed: o.seed + h, price, firstId: id, symbol: o.symbol })
    price = hour.at(-1)?.price ?? price
    id += count
    const p = { dt: o.day, hour: String(h).padStart(2, '0') }
    // silver as the candle job writes it: a bronze file, merged by the production silver step
    await store.put(`${bronzeTradesPrefix(o.exchange, o.symbol, p.dt, p.hour)}trades-${p.hour}.parquet`, writeParquet(TRADE_COLUMNS, hour))
    await updateSilverTable(store, o.exchange, o.symbol, p.dt, p.hour)
    await store.put(`${bronzeQuotesPrefix(o.exchange, o.symbol, p.dt, p.hour)}quotes-${p.hour}.parquet`, writeParquet(QUOTE_COLUMNS, quotesFor(hour, o.quoteEvery, o.seed + 100 + h), { nullable: true }))
    await store.put(goldCandlesKey(o.exchange, o.symbol, '1m', p.dt, p.hour), writeParquet(CANDLE_COLUMNS, candlesOf(hour, start, start + 3_600_000)))
    for (const t of hour) { all.tradeId[at] = t.trade_id; all.ts[at] = t.ts; all.price[at] = t.price; all.qty[at] = t.qty; all.buy[at] = t.side === 'buy' ? 1 : 0; at++ }
  }
  return all
}

const sizeOf = (dir: string): number => readdirSync(dir, { withFileTypes: true }).reduce((s, e) => s + (e.isDirectory() ? sizeOf(join(dir, e.name)) : statSync(join(dir, e.name)).size), 0)

/**
 * Rows of the features section for a day of `trades` trades.
 * @example await featuresBench(2_000_000)
 */
export async function featuresBench(trades = defaults.trades, options: Partial<typeof defaults> = {}): Promise<Row[]> {
  const o = { ...defaults, ...options }
  const work = mkdtempSync(join(tmpdir(), 'ticklake-features-bench-'))
  try {
    const lake = join(work, 'lake')
    const series = await writeDay(lake, trades, o)
    // The kernel alone, hour by hour as the job calls it: each hour with its lookback and horizon.
    let kernelRows = 0
    const cpu0 = process.cpuUsage()
    for (let h = 0, a = 0; h < 24; h++) {
      const b = Math.floor(((h + 1) * trades) / 24), lo = Math.max(0, a - LOOKBACK), hi = Math.min(trades, b + 50)
      const sub = { length: hi - lo, tradeId: series.tradeId.subarray(lo, hi), ts: series.ts.subarray(lo, hi), price: series.price.subarray(lo, hi), qty: series.qty.subarray(lo, hi), buy: series.buy.subarray(lo, hi) }
      kernelRows += tradeFeatures(sub, a - lo, b - lo, { exchange: o.exchange, symbol: o.symbol }).rows
      a = b
    }
    const kc = process.cpuUsage(cpu0), kernelMs = (kc.user + kc.system) / 1000

    const job = join(work, 'features-job.mjs')
    await bundle(job, { source: CHILD }, false)
    const r = spawnSync(process.execPath, [job, lake, o.day, o.exchange, o.symbol], { encoding: 'utf8', maxBuffer: 1 << 20 })
    if (r.status !== 0) throw new Error(`features job child failed: ${r.stderr}`)
    const child = JSON.parse(r.stdout.trim().split('\n').pop()!) as { totalMs: number; cpuMs: number; rows: number; candleRows: number; peakRss: number; ms: Record<string, number> }
    const base = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.memoryUsage().rss))'], { encoding: 'utf8' })
    const out = sizeOf(join(lake, 'gold', 'features', 'trades'))

    const fn = join(work, 'features-fn.mjs')
    const size = await bundle(fn, { file: join(root, 'packages/functions/src/features.ts') })
    const cold = coldImportMs(fn)
    return [
      { name: 'features_job_ms', value: Math.round(child.totalMs), unit: 'ms', note: `${trades} trades in 24 silver hours + quotes + 1m candles -> ${child.rows} feature rows x ${FEATURE_COLUMNS.length} columns and ${child.candleRows} indicator rows, filesystem lake, one process` },
      { name: 'features_job_kernel_ms', value: Math.round(child.ms.compute), unit: 'ms', note: `wall time of the per-trade kernel within the job; read+decode ${Math.round(child.ms.read)}, Parquet encode ${Math.round(child.ms.encode)}, writes ${Math.round(child.ms.write)}, candle indicators ${Math.round(child.ms.candles)} ms` },
      { name: 'features_job_cpu_ms', value: Math.round(child.cpuMs), unit: 'ms', note: 'CPU time of the same run (user + system; steadier than wall time on a shared machine)' },
      { name: 'features_job_trades_per_s', value: Math.round(trades / (child.totalMs / 1000)), unit: 'trades/s', note: 'read silver/quotes/candles, compute, write gold Parquet' },
      { name: 'features_job_peak_rss_mb', value: Math.round(child.peakRss / 1e6), unit: 'MB', note: `peak resident memory of the job's process, sampled every 10 ms (a bare node: ${Math.round(Number(base.stdout) / 1e6)} MB)` },
      { name: 'features_kernel_cpu_ms', value: Math.round(kernelMs), unit: 'ms', note: `tradeFeatures alone, hour by hour over the day in memory (${kernelRows} rows), CPU time, no I/O` },
      { name: 'features_gold_mb', value: Math.round(out / 1e6), unit: 'MB', note: `gold/features/trades for the day (${round(out / Math.max(1, child.rows))} bytes a row, uncompressed PLAIN)` },
      { name: 'features_fn_bundle_kb', value: round(size / 1024), unit: 'KB', note: `packages/functions/src/features.ts, esbuild minified node20 ESM, all deps inside (${round(gzipSync(readFileSync(fn)).length / 1024)} KB gzipped)` },
      { name: 'features_fn_cold_import_ms', value: round(cold), unit: 'ms', note: 'import() in a fresh node, median of 5' },
    ]
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await featuresBench(Number(process.argv[2] ?? defaults.trades))
  for (const r of rows) console.log(`${r.name.padEnd(28)} ${String(r.value).padStart(10)} ${r.unit.padEnd(9)} ${r.note ?? ''}`)
}
