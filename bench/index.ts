/**
 * `npm run bench`: Ticklake's benchmarks, each next to a peer measured in the same run.
 * Flags: --json (machine-readable), --soak SECONDS (default 60; 0 skips), --rate N (default 5000).
 */
import { parseArgs } from 'node:util'
import { parseBench, soak, type Row } from './ingest'

const { values } = parseArgs({ options: { json: { type: 'boolean', default: false }, soak: { type: 'string', default: '60' }, rate: { type: 'string', default: '5000' } } })
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
const rows: Row[] = [...parseBench()]
if (Number(values.soak) > 0) rows.push(...(await soak(Number(values.soak), Number(values.rate))))
if (values.json) console.log(JSON.stringify(Object.fromEntries(rows.map((r) => [r.name, r.value])), null, 1))
else {
  const w = Math.max(...rows.map((r) => r.name.length))
  for (const r of rows) console.log(`${r.name.padEnd(w)}  ${String(r.value).padStart(12)} ${r.unit.padEnd(9)} ${r.note ?? ''}`)
}
process.exit(0)
