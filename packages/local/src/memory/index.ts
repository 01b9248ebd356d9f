/**
 * Memory a thread's garbage holds outside V8's heap. V8 times its collections by its own heap, but
 * buffers (file reads, Parquet pages and encodings, DuckDB results) live outside it: a thread whose
 * heap is small and steady while tens of MB of buffers pass through it holds them dead until its
 * heap next fills, and glibc returns the memory only once they are freed. `v8Collect` is V8's full
 * collection, exposed at run time; `collectBuffers` runs it on a timer when the thread's buffers
 * grew past a bound since the last one (the lake thread's: about 13 MB of its 22 MB of buffers were
 * dead between jobs of the default `npm start`).
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

export const defaults = {
  /** How often the buffers are looked at. */
  everyMs: 10_000,
  /** Growth of the thread's buffers (V8's external memory) since the last collection that has V8 collect. */
  growthBytes: 8 * 1024 * 1024,
}

let fullGc: (() => void) | undefined
let gcTried = false

/**
 * V8's full collection, exposed at run time through `node:v8` (as `--expose-gc` would) on first
 * use; undefined where that fails. Blocks the calling thread for the collection (10-40 ms for heaps
 * of tens of MB): for threads off the live path, or moments it waits anyway.
 */
export function v8Collect(): (() => void) | undefined {
  if (!gcTried) {
    gcTried = true
    try { const gc = (setFlagsFromString('--expose-gc'), runInNewContext('gc')); if (typeof gc === 'function') fullGc = gc } catch { /* stays undefined */ }
  }
  return fullGc
}

/** The calling thread's memory outside V8's heap (its isolate's buffers and other external memory). */
export const externalBytes = () => getHeapStatistics().external_memory

/**
 * Has V8 collect every `everyMs` when this thread's external memory grew by `growthBytes` since the
 * last collection; the timer does not keep the process alive. Returns a stop function.
 * @example const stop = collectBuffers() // in the lake thread
 */
export function collectBuffers(opts: Partial<typeof defaults> = {}, gc = v8Collect(), measure = externalBytes): () => void {
  const o = { ...defaults, ...opts }
  if (!gc) return () => {}
  let after = measure()
  const timer = setInterval(() => {
    if (measure() - after < o.growthBytes) return
    gc()
    after = measure()
  }, o.everyMs)
  timer.unref?.()
  return () => clearInterval(timer)
}
