/**
 * The candle job's per-process cache (`CandleCache`): shortcuts past reading, parsing and encoding
 * again what this process read or wrote at the same version. Every entry is keyed by an ETag or by
 * the very object it was made from, so a stale entry is never used.
 */
import type { Candle } from '../../market/index'
import type { ServingWindow } from '../layout/index'
import type { HourState } from './state'

/**
 * What the candle job keeps from one run to the next in one process, for one store: the hour
 * states it read or wrote (by key, with the ETag they were listed or written at, so a state listed
 * at the same ETag is not read and parsed again), what it last wrote at each gold and serving key
 * (a file whose rows are unchanged is not encoded again, a window it wrote is not read back), each
 * state's sums as limbs, each candle's JSON and the bytes of each serving window it made. Every
 * entry is only a shortcut: a key whose ETag differs (another run wrote it) is read. Made once per
 * process and store by whoever builds the job's deps (`createCandlesHandler`: once per Lambda
 * container, once per local lake), and passed to every run (`HourJob.cache`); a run without one
 * starts from an empty cache, as a new process would.
 */
export interface CandleCache {
  states: Map<string, { etag: string; state: HourState }>
  written: Map<string, Written>
  limbs: WeakMap<HourState, Float64Array | null>
  json: WeakMap<Candle, Uint8Array>
  layouts: WeakMap<ServingWindow, Layout>
}

/** An empty `CandleCache`. */
export const candleCache = (): CandleCache => ({ states: new Map(), written: new Map(), limbs: new WeakMap(), json: new WeakMap(), layouts: new WeakMap() })

/** Entries each of the cache's maps by key holds at most: past it, it starts over. */
export const CACHED_KEYS = 4096

/** The states the cache holds (where the store lists ETags), emptied when full. */
export const knownStates = (cache: CandleCache) => {
  if (cache.states.size >= CACHED_KEYS) cache.states.clear()
  return cache.states
}

/**
 * What this process last wrote at a key, by the ETag the store gave it: a gold file whose rows
 * are unchanged is not encoded again, and a serving window this process wrote is not read and
 * parsed again. Only ever a shortcut: a key whose ETag differs (another run wrote) is read.
 */
export interface Written { etag: string; rows?: Candle[]; window?: ServingWindow }
export const remember = (cache: CandleCache, key: string, entry: Written) => {
  // copies of gold rows: the candles themselves are the caller's (returned, published)
  if (entry.rows) entry = { ...entry, rows: entry.rows.map((c) => ({ ...c })) }
  if (cache.written.size >= CACHED_KEYS) cache.written.clear()
  cache.written.set(key, entry)
}

/** Where each candle's JSON lies in the bytes made for a window: runs of its candles are copied from there whole. */
export interface Layout { bytes: Uint8Array; start: Uint32Array; end: Uint32Array; index: Map<Candle, number> }
