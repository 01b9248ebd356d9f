/**
 * `npm run bench`: Ticklake's benchmarks, each next to a peer measured in the same run.
 * Flags: --json (machine-readable), --only NAME[,NAME] (sections: ingest, candles, soak, api,
 * features, queries, silver, parquet, books, start, scale), --soak SECONDS (default 60; 0 skips), --rate N (default 5000), --trades N
 * (candles, features and parquet: trades in the day, default 2,000,000), --runs N (candles: runs per timing, best kept,
 * default 5), --scale SECONDS (scale: 2 exchanges x --scale-symbols N symbols, default 50, at --scale-rate trades/s
 * each, default 500, for SECONDS, default 60; 0 skips), --start MINUTES (start: the default
 * `ticklake start` in its own process for MINUTES, its RSS and CPU over time; default 0, skipped:
 * the figure is after an hour, `--only start --start 60`).
 */
import { parseArgs } from 'node:util'
import { parseBench, soak, type Row } from './ingest'

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false }, only: { type: 'string' }, soak: { type: 'string', default: '60' }, rate: { type: 'string', default: '5000' },
    trades: { type: 'string', default: '2000000' }, runs: { type: 'string', default: '5' },
    scale: { type: 'string', default: '60' }, 'scale-symbols': { type: 'string', default: '50' }, 'scale-rate': { type: 'string', default: '500' },
    start: { type: 'string', default: '0' },
  },
})
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

/** The sections, in order; each returns its rows. A new benchmark adds itself here. */
export const sections: { name: string; run: () => Row[] | Promise<Row[]> }[] = [
  { name: 'ingest', run: () => parseBench() },
  { name: 'candles', run: async () => (await import('./candles')).candlesBench({ trades: Number(values.trades), runs: Number(values.runs) }) },
  { name: 'soak', run: () => (Number(values.soak) > 0 ? soak(Number(values.soak), Number(values.rate)) : []) },
  { name: 'api', run: async () => (await import('./api')).apiBench() },
  { name: 'features', run: async () => (await import('./features')).featuresBench(Number(values.trades)) },
  { name: 'queries', run: async () => (await import('./queries')).queriesBench() },
  { name: 'silver', run: async () => (await import('./silver')).silverBench() },
  { name: 'parquet', run: async () => (await import('./parquet')).parquetBench({ trades: Number(values.trades) }) },
  { name: 'books', run: async () => (await import('./books')).booksBench() },
  { name: 'start', run: async () => (Number(values.start) > 0 ? (await import('./start')).startBench({ minutes: Number(values.start) }) : []) },
  { name: 'scale', run: async () => (Number(values.scale) > 0 ? (await import('./scale')).scaleBench({ seconds: Number(values.scale), symbols: Number(values['scale-symbols']), ratePerExchange: Number(values['scale-rate']) }) : []) },
]

const only = values.only?.split(',')
const unknown = only?.filter((n) => !sections.some((s) => s.name === n))
if (unknown?.length) throw new Error(`unknown bench section ${unknown.join(', ')}; sections: ${sections.map((s) => s.name).join(', ')}`)
const rows: Row[] = []
for (const s of sections) if (!only || only.includes(s.name)) rows.push(...(await s.run()))
if (values.json) console.log(JSON.stringify(Object.fromEntries(rows.map((r) => [r.name, r.value])), null, 1))
else {
  const w = Math.max(...rows.map((r) => r.name.length))
  for (const r of rows) console.log(`${r.name.padEnd(w)}  ${String(r.value).padStart(12)} ${r.unit.padEnd(9)} ${r.note ?? ''}`)
}
process.exit(0)
