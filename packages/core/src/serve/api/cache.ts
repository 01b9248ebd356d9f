/**
 * A TTL cache per query type for the HTTP API: each type (latest, candles, statistics, ...) has
 * its own time to live and its own hit and miss counts, which `/api/cache/stats` shows. Keys are
 * the validated, normalized input (so `?symbol=btc-usdt&tf=1m` and `?tf=1m&symbol=BTC-USDT` share
 * one entry); concurrent misses for one key share one computation. The answers kept are bounded
 * in bytes (their JSON's length) across every type: the least recently used go first (`lru-cache`
 * with `maxSize`), and an answer larger than `maxEntryBytes` is served but not kept.
 */
import { LRUCache } from 'lru-cache'

export const defaults = {
  /** Time to live per query type, in ms: latest trades seconds, history minutes. */
  ttlMs: {
    latest: 2_000,
    candles: 5 * 60_000,
    recent: 5_000,
    statistics: 30_000,
    symbols: 60_000,
    features: 5 * 60_000,
    status: 5_000,
  } as Record<string, number>,
  /** Bytes of the answers kept (their JSON's length), all types together. */
  maxBytes: 32 * 1024 * 1024,
  /** An answer larger than this is not kept. */
  maxEntryBytes: 8 * 1024 * 1024,
  /** Answers kept, all types together. */
  maxEntries: 5_000,
}

export interface TypeStats { hits: number; misses: number; hit_rate: number; entries: number; ttl_ms: number }

interface Entry { expires: number; value: unknown; bytes: number }

/** Sorted-key JSON of a plain object: the normalized cache key of an input. */
export function normalizedKey(input: Record<string, unknown>): string {
  return JSON.stringify(Object.keys(input).sort().filter((k) => input[k] !== undefined).map((k) => [k, input[k]]))
}

/** About the bytes a value takes: the length of its JSON, and of strings kept under symbol keys (a serialized answer). */
export function sizeOf(value: unknown): number {
  if (typeof value === 'string') return value.length
  let n = 0
  if (value && typeof value === 'object') for (const k of Object.getOwnPropertySymbols(value)) n += sizeOf((value as any)[k])
  return n + (JSON.stringify(value)?.length ?? 0)
}

/**
 * A cache of query results per type.
 * @example const rows = await cache.get('candles', { symbol: 'BTC-USDT' }, () => engine.query(st))
 */
export function ttlCache(options: { ttlMs?: Record<string, number>; maxBytes?: number; maxEntryBytes?: number; maxEntries?: number; now?: () => number } = {}) {
  const ttl = { ...defaults.ttlMs, ...options.ttlMs }
  const now = options.now ?? Date.now
  const maxBytes = options.maxBytes ?? defaults.maxBytes
  const kept = new LRUCache<string, Entry>({
    max: options.maxEntries ?? defaults.maxEntries, maxSize: maxBytes, maxEntrySize: Math.min(maxBytes, options.maxEntryBytes ?? defaults.maxEntryBytes),
    sizeCalculation: (e) => Math.max(1, e.bytes),
  })
  /** Computations in flight, shared by concurrent misses. */
  const pending = new Map<string, Promise<unknown>>()
  const counts = new Map<string, { hits: number; misses: number }>()

  const count = (type: string) => { let c = counts.get(type); if (!c) counts.set(type, (c = { hits: 0, misses: 0 })); return c }

  return {
    /** The cached value of `type` for `input`, or `compute()`'s, kept for the type's TTL (`ttlType` picks another TTL). */
    async get<T>(type: string, input: Record<string, unknown>, compute: () => Promise<T>, ttlType = type): Promise<T> {
      const key = `${type}\u0000${normalizedKey(input)}`
      const t = now()
      const hit = kept.get(key)
      if (hit && hit.expires > t) { count(type).hits++; return hit.value as T }
      const running = pending.get(key)
      if (running) { count(type).hits++; return running as Promise<T> }
      count(type).misses++
      if (hit) kept.delete(key)
      const value = compute()
      pending.set(key, value)
      try {
        const v = await value
        const life = ttl[ttlType] ?? 0
        if (life > 0) kept.set(key, { expires: t + life, value: v, bytes: sizeOf(v) }) // refused when over maxEntryBytes: a failure is never kept either
        return v
      } finally { pending.delete(key) }
    },
    /** Hits, misses, hit rate and entries per type, plus the total and the bytes kept. */
    stats() {
      const t = now()
      const entries = new Map<string, number>()
      for (const [k, e] of kept.entries()) if (e.expires > t) { const type = k.slice(0, k.indexOf('\u0000')); entries.set(type, (entries.get(type) ?? 0) + 1) }
      const types: Record<string, TypeStats> = {}
      let hits = 0
      let misses = 0
      for (const type of new Set([...Object.keys(ttl).filter((k) => k !== 'recent'), ...counts.keys()])) {
        const c = counts.get(type) ?? { hits: 0, misses: 0 }
        hits += c.hits; misses += c.misses
        types[type] = { hits: c.hits, misses: c.misses, hit_rate: rate(c.hits, c.misses), entries: entries.get(type) ?? 0, ttl_ms: ttl[type] ?? 0 }
      }
      return { types, total: { hits, misses, hit_rate: rate(hits, misses), bytes: kept.calculatedSize, max_bytes: maxBytes } }
    },
    clear() { kept.clear(); pending.clear(); counts.clear() },
  }
}

const rate = (hits: number, misses: number) => (hits + misses ? Number((hits / (hits + misses)).toFixed(4)) : 0)

export type TtlCache = ReturnType<typeof ttlCache>
