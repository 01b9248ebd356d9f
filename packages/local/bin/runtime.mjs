// How `npm start` runs the pipeline (start.mjs), and the benches that measure it as users run it
// (bench/child.ts): from a bundle of the TypeScript sources, with glibc's allocator told to give
// memory back, and with a small young generation (`v8Flags`).
//
// The bundle (esbuild, into packages/local/dist, about a second, rebuilt only when a source it was
// built from changed) replaces tsx at run time: no loader thread per JavaScript thread, no
// transformed sources and source maps held in memory, and worker threads that can load their
// modules (the lake thread, the Parquet decode pool). 220-246 MB resident against 296-317 MB for
// the same run through tsx (docs/ARCHITECTURE.md, "What ticklake start spends"). Only the native
// packages (DuckDB's, koffi), vite, esbuild and tsx stay outside it.
//
// The allocator settings: Node's threads each get a 64 MB malloc arena, and buffers freed there
// stay in the process: with two arenas, mmap for every block over 128 KB and trimming past 128 KB
// free, the pipeline keeps about 45 MB less. Elsewhere than glibc the variables mean nothing.
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const allocator = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' }

/**
 * V8's young generation at 2 MB semi-spaces instead of 16: each thread's heap commits up to three
 * of them, mostly garbage between scavenges. Measured on the default `npm start` from the bundle,
 * three runs side by side for 400 s: 237-246 MB after the first minutes against 255-279 MB with
 * the default, for 3% more CPU; 1 MB took 12% more CPU and no less memory.
 *
 * And the old generation collected once it grew by half since the last full collection
 * (`--heap-growing-percent=50`; V8 otherwise picks a factor of up to 4 by how fast its collections
 * are, and a 20 MB live heap then commits 35 MB or more). The default `npm start`, runs side by
 * side from 3 to 60 minutes: 154 MB on average against 166 MB, with no CPU cost found (0.098
 * cores against 0.104); under `npm run load` the server took the same CPU and latency (p99 109-116
 * ms against 104-111 ms in two runs each, taking turns on a quiet machine).
 */
export const v8Flags = ['--max-semi-space-size=2', '--heap-growing-percent=50']

const root = fileURLToPath(new URL('../../../', import.meta.url))
const dist = fileURLToPath(new URL('../dist/', import.meta.url))
const inputsFile = `${dist}inputs.json`
/** The bundle's entry: `node packages/local/dist/ticklake.mjs start` is `ticklake start`. */
export const bundleEntry = `${dist}ticklake.mjs`

/** True when the bundle exists and no file it was built from (or the lockfile) changed since. */
function fresh() {
  if (!existsSync(bundleEntry) || !existsSync(inputsFile)) return false
  try {
    const built = JSON.parse(readFileSync(inputsFile, 'utf8'))
    return Object.entries(built.inputs).every(([file, mtime]) => statSync(`${root}${file}`).mtimeMs === mtime)
  } catch { return false }
}

/**
 * Builds the bundle unless it is fresh; resolves with its entry. Throws when esbuild is missing or
 * the sources do not build (start.mjs then runs the sources through tsx).
 */
export async function bundle() {
  if (fresh()) return bundleEntry
  const { build } = await import('esbuild')
  const result = await build({
    absWorkingDir: root,
    entryPoints: { ticklake: 'packages/local/src/run.ts', 'lake-worker': 'packages/local/src/cloud/lake-thread.ts' },
    bundle: true, splitting: true, format: 'esm', platform: 'node', target: 'node20', outdir: dist,
    outExtension: { '.js': '.mjs' }, sourcemap: 'linked', metafile: true, logLevel: 'error',
    // the CommonJS packages bundled in (the AWS SDK) require Node's own modules
    banner: { js: "import { createRequire as __ticklakeRequire } from 'node:module'; const require = __ticklakeRequire(import.meta.url);" },
    plugins: [{ name: 'outside', setup: (b) => b.onResolve({ filter: /^(@duckdb\/|koffi$|vite$|esbuild$|tsx($|\/))/ }, () => ({ external: true })) }],
  })
  // files of earlier builds go after a day (a pipeline started before may still load its chunks)
  const made = new Set(Object.keys(result.metafile.outputs).map((f) => f.split('/').at(-1)))
  for (const f of readdirSync(dist)) if (!made.has(f) && f !== 'inputs.json' && statSync(`${dist}${f}`).mtimeMs < Date.now() - 86_400_000) rmSync(`${dist}${f}`)
  const inputs = { 'package-lock.json': statSync(`${root}package-lock.json`).mtimeMs }
  for (const file of Object.keys(result.metafile.inputs)) inputs[file] = statSync(`${root}${file}`).mtimeMs
  writeFileSync(inputsFile, JSON.stringify({ inputs }))
  return bundleEntry
}

/**
 * The command that runs `ticklake <args>` as `npm start` does: the bundle's entry (or, where it
 * cannot be built, the tsx command, with `fallback` saying why) and the environment.
 * @example const { file, args, env } = await pipelineCommand(['start', '--port', '0'])
 */
export async function pipelineCommand(args, env = process.env) {
  let entry
  let fallback
  try { entry = await bundle() } catch (e) {
    entry = fileURLToPath(new URL('./ticklake.mjs', import.meta.url))
    fallback = `could not bundle the sources (${String(e?.message ?? e).split('\n')[0]}): running them through tsx`
  }
  return { file: process.execPath, args: [...v8Flags, entry, ...args], env: { ...allocator, ...env }, fallback }
}
