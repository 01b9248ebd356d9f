// A `ticklake start` in its own process, as `npm start` runs it, for the benches that measure the
// product (load, scale): its CPU and RSS are read from /proc, apart from the bench's own work
// (fakes, subscribers, checks).
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
// @ts-expect-error: a plain .mjs module of the bin folder, without types
import { pipelineCommand } from '../packages/local/bin/runtime.mjs'

/** `ticklake start` with `args`, on a free port, run as `npm start` runs it (its bundle, its allocator settings); resolves once it serves the page. */
export async function startTicklake(args: string[], log: (l: string) => void): Promise<{ child: ChildProcess; url: string; port: number }> {
  const run = await pipelineCommand(['start', '--port', '0', ...args], { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' })
  if (run.fallback) log(run.fallback)
  const child = spawn(run.file, run.args, { stdio: ['ignore', 'pipe', 'pipe'], env: run.env })
  child.stderr!.on('data', (d) => log(`ticklake: ${String(d).trim()}`))
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`ticklake start did not serve within 60 s:\n${out}`)), 60_000)
    child.stdout!.on('data', (d) => {
      out += d
      const m = /page:\s+(http:\/\/\S+)/.exec(out)
      if (m) { clearTimeout(timer); resolve(m[1]) }
    })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`ticklake start exited with ${code}:\n${out}`)) })
  })
  child.stdout!.resume()
  return { child, url, port: Number(new URL(url).port) }
}

/** Stops a `ticklake start` as Ctrl+C does (it flushes its records and checkpoints) and waits for it to exit. */
export async function stopTicklake(child: ChildProcess, timeoutMs = 60_000) {
  if (child.exitCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGINT')
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  await exited
  clearTimeout(timer)
}

/** CPU seconds a process has used so far (user + system, from /proc). */
export function cpuSecondsOf(pid: number) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(f[11]) + Number(f[12])) / 100
  } catch { return Number.NaN }
}

/** Resident memory of a process now, in MB (from /proc). */
export function rssMbOf(pid: number) {
  try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024 } catch { return Number.NaN }
}

/** Slope of `ys` over `xs` by least squares (RSS growth over a run's samples). */
export function slope(xs: number[], ys: number[]) {
  const n = xs.length
  if (n < 2) return 0
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) { num += (xs[i] - mx) * (ys[i] - my); den += (xs[i] - mx) ** 2 }
  return den ? num / den : 0
}
