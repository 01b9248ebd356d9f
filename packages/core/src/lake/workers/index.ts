/**
 * Worker threads for the lake jobs' CPU work: a small pool of threads kept between calls (as a
 * warm function keeps them) and a table of named tasks they run. Typed arrays over shared memory
 * in a task's input reach the worker without a copy, so a job can split a column decode or a sum
 * between threads. A task is a function defined with `defineTask` at the top level of the module
 * that owns it: a worker runs the code it was started from (the whole bundle, where the code is
 * bundled), so a task's name means something to it only if its definition runs on import there
 * too; a worker that does not know a task imports the module named in the definition before it
 * gives up. Where workers cannot start (TypeScript run through a loader a worker does not get)
 * nothing runs on them and every caller does its work itself; one failed start is not tried again.
 *
 * Module state: the task table, and the pool (started workers, each one's queue of jobs, the ones
 * that stopped, its idle timer: a pool idle for `defaults.idleMs` is stopped, and what stops with it); nothing else.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'

/** A started worker, as callers hold it. */
export type WorkerPort = Pick<Worker, 'postMessage' | 'on' | 'once' | 'off' | 'ref' | 'unref' | 'terminate'>

export const defaults = {
  /**
   * A pool with no job for this long is stopped, and started afresh by the next caller: an idle
   * worker holds its own V8 heap and a copy of the bundle's code (about 12 MB here), which a
   * long-running pipeline that decoded a backfill once would otherwise keep for good. A warm
   * function is likewise reclaimed when idle.
   */
  idleMs: 60_000,
}

interface TaskJob { task: string; module?: string; input: unknown }
interface TaskDone { ran: boolean; result?: unknown; error?: string }

const tasks = new Map<string, { run: (input: any) => unknown; module?: string }>()

/**
 * Defines a task workers may run (`runTask`, `onWorker`): call it at the top level of the module
 * that holds `run`, passing that module's `import.meta.url`, so that a worker knows it too.
 * @example defineTask('candles.minutes', (x) => aggregateMinutesAt(x.cols, x.from, x.until, x.dp, x.dq), import.meta.url)
 */
export function defineTask<I, O>(name: string, run: (input: I) => O, module?: string) {
  tasks.set(name, { run, module })
}

const pool = {
  /** The workers being started or started; undefined once one stopped (the pool starts afresh). */
  started: undefined as Promise<WorkerPort[]> | undefined,
  /** What `started` resolved to last, for callers that post at once (`onWorker`). */
  live: [] as WorkerPort[],
  /** Each worker's last job: a job waits for the ones before it. */
  queues: new WeakMap<WorkerPort, Promise<unknown>>(),
  /** Workers that stopped: a job queued behind one that was running is refused, not left waiting. */
  exited: new WeakSet<WorkerPort>(),
  /**
   * Set when a worker could not start (this runtime cannot load the module in a thread): none is
   * tried again, as each try costs a thread's start (tens of ms of CPU) for nothing.
   */
  unavailable: false,
  /** Jobs posted and not answered yet, the timer that stops an idle pool, and what else goes with it (`onPoolStop`). */
  busy: 0,
  idleTimer: undefined as ReturnType<typeof setTimeout> | undefined,
  onStop: [] as (() => void)[],
}

/** Runs `f` whenever an idle pool is stopped: for what callers keep only while the workers run (shared buffers). */
export function onPoolStop(f: () => void) { pool.onStop.push(f) }

/** Stops the pool `defaults.idleMs` from now unless a job comes meanwhile (each job's end calls this again). */
function stopWhenIdle() {
  clearTimeout(pool.idleTimer)
  pool.idleTimer = setTimeout(() => {
    pool.idleTimer = undefined
    if (pool.busy) return // the running job's end arms the timer again
    const workers = pool.live
    pool.live = []
    pool.started = undefined
    for (const w of workers) void w.terminate()
    for (const f of pool.onStop) f()
  }, defaults.idleMs)
  pool.idleTimer.unref?.()
}

/**
 * Up to `n` started workers (started now if fewer run), each serving the task table; none where
 * they cannot start. They do not keep the process alive while idle.
 */
export async function startWorkers(n: number): Promise<WorkerPort[]> {
  const have = (await pool.started) ?? []
  if (pool.unavailable || have.length >= n) return have.slice(0, n)
  pool.started = (async () => {
    const started = await Promise.all(Array.from({ length: n - have.length }, () => new Promise<WorkerPort | undefined>((resolve) => {
      // the worker loads this module (or the bundle holding it), which then serves (see the end)
      const w = new Worker(`import(${JSON.stringify(import.meta.url)})`, { eval: true, workerData: { ticklakeWorker: true } })
      w.unref()
      let ready = false
      const fail = () => { pool.unavailable = true; resolve(undefined); void w.terminate() }
      w.once('error', fail)
      w.once('message', (m) => { w.off('error', fail); w.on('error', () => {}); if (m !== 'ready') return fail(); ready = true; resolve(w) })
      // a pool with a worker that stopped after it served is started afresh next time; one that never started is not tried again
      w.once('exit', () => { pool.exited.add(w); if (ready) pool.started = undefined; else fail() })
    })))
    return [...have, ...started.filter((w): w is WorkerPort => !!w)]
  })()
  pool.live = await pool.started
  if (pool.live.length && !pool.busy) stopWhenIdle()
  return pool.live.slice(0, n)
}

/**
 * Runs task `name` on worker `w`, after its earlier jobs (at once when it has none: the caller
 * goes on meanwhile); rejects when the task throws there or the worker stops. `{ ran: false }`
 * where the worker does not know the task.
 */
export function runTask<T>(w: WorkerPort, name: string, input: unknown): Promise<{ ran: true; result: T } | { ran: false }> {
  const start = () => new Promise<TaskDone>((resolve, reject) => {
    const onExit = () => reject(new Error('worker stopped'))
    if (pool.exited.has(w)) return onExit()
    w.once('exit', onExit)
    w.once('message', (m: TaskDone) => { w.off('exit', onExit); w.unref(); if (m.error) reject(new Error(m.error)); else resolve(m) })
    w.ref() // keeps the process alive while the worker has work
    w.postMessage({ task: name, module: tasks.get(name)?.module, input } satisfies TaskJob)
  })
  const earlier = pool.queues.get(w)
  pool.busy++
  const run = earlier ? earlier.catch(() => {}).then(start) : start()
  pool.queues.set(w, run)
  const done = () => { if (--pool.busy === 0) stopWhenIdle(); if (pool.queues.get(w) === run) pool.queues.delete(w) }
  run.then(done, done)
  return run.then((r) => (r.ran ? { ran: true as const, result: r.result as T } : { ran: false as const }))
}

/**
 * Runs a task on a worker already started (by an earlier `startWorkers`), posted at once so that
 * it runs while the caller goes on: `{ ran: false }` where there is none, it lacks the task or the
 * task failed there (the caller then runs it itself).
 */
export function onWorker<T>(name: string, input: unknown): Promise<{ ran: true; result: T } | { ran: false }> {
  const w = pool.live.find((x) => !pool.exited.has(x))
  if (!w) return Promise.resolve({ ran: false })
  return runTask<T>(w, name, input).catch(() => ({ ran: false as const }))
}

/** A worker's side: runs each task it is sent, importing the module that defines it where it does not know it yet. */
function serve(port: NonNullable<typeof parentPort>) {
  port.on('message', async (job: TaskJob) => {
    try {
      if (!tasks.has(job.task) && job.module) await import(/* @vite-ignore */ job.module).catch(() => {})
      const task = tasks.get(job.task)
      port.postMessage(task ? { ran: true, result: await task.run(job.input) } satisfies TaskDone : { ran: false } satisfies TaskDone)
    } catch (e) { port.postMessage({ ran: false, error: (e as Error).message } satisfies TaskDone) }
  })
  port.postMessage('ready')
}

// in a worker of the pool (and only there), this module serves the task table
if (!isMainThread && parentPort && workerData?.ticklakeWorker === true) serve(parentPort)
