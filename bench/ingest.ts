/**
 * Ingest benchmarks. (1) Parse throughput: Binance aggTrade frames parsed and normalized per
 * second on one core, next to plain JSON.parse of the same frames (the peer). (2) Soak: the whole
 * local pipeline (ingest, Firehose emulator, lake, candle job) fed by the fake exchange in another
 * process at a given rate, sampling this process's memory. Prints a table, or JSON with --json.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseFrame, resolverFor } from '../packages/core/src/sources/binance/index'
import { generator } from '../packages/local/src/exchange/index'

export interface Row { name: string; value: number; unit: string; note?: string }

function frames(n: number) {
  const out: string[] = []
  const gen = generator('BTC-USDT', 1, 0, 1000)
  const trades: any[] = []
  gen(n, trades) // 1000 trades per second of generator time: n ms gives about n trades
  for (const x of trades.slice(0, n)) out.push(`{"stream":"btcusdt@aggTrade","data":${JSON.stringify({ e: 'aggTrade', E: x.T + 3, s: 'BTCUSDT', a: x.a, p: x.p, q: x.q, f: x.f, l: x.l, T: x.T, m: x.m, M: x.M })}}`)
  return out
}

function best(runs: number, fn: () => void) {
  let min = Infinity
  for (let i = 0; i < runs; i++) { const t = performance.now(); fn(); min = Math.min(min, performance.now() - t) }
  return min
}

export function parseBench(n = 300_000): Row[] {
  const input = frames(n)
  const ctx = { exchange: 'binance' as const, resolve: resolverFor(['BTC-USDT']), ingestTs: 0, source: 'ws' as const }
  let sink = 0
  const ours = best(5, () => { for (const f of input) if (parseFrame(f, ctx).kind === 'trade') sink++ })
  const peer = best(5, () => { for (const f of input) sink += JSON.parse(f).data.a & 1 })
  return [
    { name: 'ingest_parse_frames_per_s', value: Math.round(input.length / (ours / 1000)), unit: 'frames/s', note: 'parseFrame: JSON, validation, normalization, one core' },
    { name: 'json_parse_frames_per_s', value: Math.round(input.length / (peer / 1000)), unit: 'frames/s', note: 'peer: JSON.parse only' },
    { name: 'parse_vs_json_ratio', value: Number((ours / peer).toFixed(2)), unit: 'x', note: `time ratio over ${input.length} frames (${sink > 0 ? 'checked' : ''})` },
  ]
}

export async function soak(seconds: number, rate: number): Promise<Row[]> {
  const fake = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fake-exchange.ts'), String(rate), '0'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const urls = await new Promise<{ restUrl: string; wsUrl: string }>((resolve) => fake.stdout!.once('data', (d) => resolve(JSON.parse(String(d)))))
  const dir = mkdtempSync(join(tmpdir(), 'ticklake-soak-'))
  const { startCloud } = await import('../packages/local/src/cloud/index')
  const cloud = await startCloud({ source: 'binance', ...urls, symbols: ['BTC-USDT'], port: 0, dataDir: dir, backfillMs: 0, log: () => {} })
  const lastId = async () => (await (await fetch(`${urls.restUrl}/api/v3/aggTrades?symbol=BTCUSDT&limit=1`)).json())[0].a as number
  const id0 = await lastId()
  const samples: number[] = []
  const heap: number[] = []
  const buffers: number[] = []
  const timer = setInterval(() => { const m = process.memoryUsage(); samples.push(m.rss); heap.push(m.heapUsed); buffers.push(m.arrayBuffers) }, 1000)
  const cpu0 = process.cpuUsage()
  await new Promise((r) => setTimeout(r, seconds * 1000))
  clearInterval(timer)
  const cpu = process.cpuUsage(cpu0)
  const generated = (await lastId()) - id0
  const health = await (await fetch(`${cloud.url}api/health`)).json()
  await cloud.close()
  fake.kill('SIGTERM')
  rmSync(dir, { recursive: true, force: true })
  const mb = (b: number) => Math.round(b / 1e6)
  return [
    { name: 'soak_rate_target', value: rate, unit: 'trades/s', note: `${seconds} s, one symbol` },
    { name: 'soak_trades_generated', value: generated, unit: 'trades', note: `${Math.round(generated / seconds)} /s published by the fake exchange` },
    { name: 'soak_records_written', value: health.firehose.written, unit: 'records', note: `${Math.round(health.firehose.written / seconds)} /s reached the lake (${(health.firehose.written / generated * 100).toFixed(1)}%)` },
    { name: 'soak_rss_peak_mb', value: mb(Math.max(...samples)), unit: 'MB' },
    { name: 'soak_rss_last_mb', value: mb(samples.at(-1)!), unit: 'MB' },
    { name: 'soak_heap_peak_mb', value: mb(Math.max(...heap)), unit: 'MB' },
    { name: 'soak_buffers_peak_mb', value: mb(Math.max(...buffers)), unit: 'MB', note: 'ArrayBuffers and Buffers (Parquet files, frames)' },
    { name: 'soak_cpu_share', value: Number(((cpu.user + cpu.system) / 1e6 / seconds).toFixed(2)), unit: 'cores', note: 'ingest + Firehose emulator + candle job' },
  ]
}
