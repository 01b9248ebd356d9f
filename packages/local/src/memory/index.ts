/**
 * Memory a process keeps after its garbage is gone. V8 times its collections by its own heap, but
 * buffers (file reads, Parquet pages and encodings, DuckDB results) live outside it: a thread whose
 * heap is small and steady while tens of MB of buffers pass through it holds them dead until its
 * heap next fills. And what they are freed into stays with the process: glibc gives a malloc
 * arena's free pages back only from its top, so one live block above a freed backfill keeps the
 * whole span resident (the default `npm start` kept 40-73 MB of arena after its first minute's
 * backfill). `v8Collect` is V8's full collection, exposed at run time; `mallocTrim` is glibc's
 * `malloc_trim`, which gives back the free pages anywhere in every arena; `returnMemory` runs both
 * on a timer, in a thread off the live path (the lake thread's).
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

export const defaults = {
  /** How often the buffers are looked at. */
  everyMs: 2_000,
  /** Growth of the thread's buffers (V8's external memory) since the last collection that has V8 collect. */
  growthBytes: 4 * 1024 * 1024,
  /** The arenas are trimmed after a collection, but not again within this long. */
  trimGapMs: 5_000,
  /** How often the arenas are trimmed at least. */
  trimEveryMs: 30_000,
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

let trim: ((pad: number) => number) | undefined
let trimTried = false

/**
 * glibc's `malloc_trim(0)` (gives the free pages inside every malloc arena back to the system;
 * 0.1-30 ms, holding each arena's lock in turn), through koffi, a maintained FFI library whose npm
 * package carries its prebuilt binaries. Undefined where there is no glibc or koffi cannot load.
 */
export async function mallocTrim(): Promise<(() => number) | undefined> {
  if (!trimTried) {
    trimTried = true
    try {
      if (process.platform === 'linux') {
        const koffi = (await import('koffi')).default
        trim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)') as (pad: number) => number
      }
    } catch { /* stays undefined: musl, another system, or no prebuilt binary */ }
  }
  return trim ? () => trim!(0) : undefined
}

/**
 * Every `everyMs`, has V8 collect when this thread's external memory grew by `growthBytes` since
 * the last collection, and trims malloc's arenas after a collection (not twice within
 * `trimGapMs`) and at least every `trimEveryMs`: what a process holds between two trims is the
 * most its arenas held since the last one. The timer does not keep the process alive. Returns a stop function.
 * @example const stop = returnMemory({}, v8Collect(), await mallocTrim()) // in the lake thread
 */
export function returnMemory(opts: Partial<typeof defaults> = {}, gc = v8Collect(), trimArenas?: () => unknown, measure = externalBytes): () => void {
  const o = { ...defaults, ...opts }
  let after = measure()
  let trimmed = Date.now()
  const timer = setInterval(() => {
    const collect = !!gc && measure() - after >= o.growthBytes
    if (collect) { gc!(); after = measure() }
    const since = Date.now() - trimmed
    if (trimArenas && ((collect && since >= o.trimGapMs) || since >= o.trimEveryMs)) { trimArenas(); trimmed = Date.now() }
  }, o.everyMs)
  timer.unref?.()
  return () => clearInterval(timer)
}
