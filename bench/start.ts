/**
 * The default `npm start` over time (issue 15: under 200 MB RSS after an hour): `ticklake start`
 * with no sources named, in its own process and lake folder, as `npm start` runs it (its bundle
 * and allocator settings, `packages/local/bin/runtime.mjs`; live exchanges where reachable, else each
 * one's simulated twin, and CoinGecko), for `minutes`. It samples the
 * process's RSS and CPU every `sampleMs` and reports RSS at the start of the second half and at
 * the end, the peak, the growth per hour (least squares over the second half) and the CPU cores.
 * Nothing connects to it: the figures are the pipeline's own, with no page open.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cpuSecondsOf, rssMbOf, slope, startTicklake, stopTicklake } from './child'
import type { Row } from './ingest'

export const defaults = { minutes: 60, sampleMs: 10_000, log: (line: string) => console.error(line) }

/** The `start` section of `npm run bench` (`--start MINUTES`; 0 skips it). */
export async function startBench(opts: Partial<typeof defaults> = {}): Promise<Row[]> {
  const o = { ...defaults, ...opts }
  const dir = mkdtempSync(join(tmpdir(), 'ticklake-start-'))
  const t = await startTicklake(['--data', dir], o.log)
  const pid = t.child.pid!
  const samples: { at: number; mb: number; cpu: number }[] = []
  const sample = () => samples.push({ at: Date.now(), mb: rssMbOf(pid), cpu: cpuSecondsOf(pid) })
  sample()
  const timer = setInterval(sample, o.sampleMs)
  await new Promise((r) => setTimeout(r, o.minutes * 60_000))
  clearInterval(timer)
  sample()
  const health = await fetch(`${t.url}api/health`).then((r) => r.json()).catch(() => undefined)
  await stopTicklake(t.child)
  rmSync(dir, { recursive: true, force: true })
  const half = samples.slice(Math.floor(samples.length / 2))
  const first = samples[0]
  const last = samples.at(-1)!
  const ran = (health?.sources ?? []).map((s: any) => `${s.exchange}${s.simulated ? ' (simulated)' : ''}`).join(', ')
  return [
    { name: 'start_rss_end_mb', value: Math.round(last.mb), unit: 'MB', note: `ticklake start after ${o.minutes} min (${ran || 'sources unknown'}); no page open` },
    { name: 'start_rss_half_mb', value: Math.round(half[0].mb), unit: 'MB', note: `at ${Math.round((half[0].at - first.at) / 60_000)} min` },
    { name: 'start_rss_peak_mb', value: Math.round(Math.max(...samples.map((s) => s.mb))), unit: 'MB' },
    { name: 'start_rss_growth_mb_per_h', value: Number((slope(half.map((s) => s.at), half.map((s) => s.mb)) * 3_600_000).toFixed(1)), unit: 'MB/h', note: 'least squares over the second half' },
    { name: 'start_cpu', value: Number(((last.cpu - first.cpu) / ((last.at - first.at) / 1000)).toFixed(3)), unit: 'cores', note: 'whole run, backfill of the first minute included' },
  ]
}
