/**
 * A TTL cache per query type for the HTTP API: each type (latest, candles, statistics, ...) has
 * its own time to live and its own hit and miss counts, which `/api/cache/stats` shows. Keys are
 * the validated, normalized input (so `?symbol=btc-usdt&tf=1m` and `?tf=1m&symbol=BTC-USDT` share
 * one entry); concurrent misses for one key share one computation; the oldest entries go first
 * when a type holds too many.
 */

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
  maxEntriesPerType: 500,
}

export interface TypeStats { hits: number; misses: number; hit_rate: number; entries: number; ttl_ms: number }

interface Entry { expires: number; value: Promise<unknown> }

/** Sorted-key JSON of a plain object: the normalized cache key of an input. */
export function normalizedKey(input: Record<string, unknown>): string {
  return JSON.stringify(Object.keys(input).sort().filter((k) => input[k] !== undefined).map((k) => [k, input[k]]))
}

/**
 * A cache of query results per type.
 * @example const rows = await cache.get('candles', { symbol: 'BTC-USDT' }, () => engine.query(st))
 */
export function ttlCache(options: { ttlMs?: Record<string, number>; maxEntriesPerType?: number; now?: () => number } = {}) {
  const ttl = { ...defaults.ttlMs, ...options.ttlMs }
  const max = options.maxEntriesPerType ?? defaults.maxEntriesPerType
  const now = options.now ?? Date.now
  const maps = new Map<string, Map<string, Entry>>()
  const counts = new Map<string, { hits: number; misses: number }>()

  const count = (type: string) => { let c = counts.get(type); if (!c) counts.set(type, (c = { hits: 0, misses: 0 })); return c }

  return {
    /** The cached value of `type` for `input`, or `compute()`'s, kept for the type's TTL (`ttlType` picks another TTL). */
    async get<T>(type: string, input: Record<string, unknown>, compute: () => Promise<T>, ttlType = type): Promise<T> {
      let map = maps.get(type)
      if (!map) maps.set(type, (map = new Map()))
      const key = normalizedKey(input)
      const t = now()
      const hit = map.get(key)
      if (hit && hit.expires > t) { count(type).hits++; return hit.value as Promise<T> }
      count(type).misses++
      if (hit) map.delete(key)
      const value = compute()
      map.set(key, { expires: t + (ttl[ttlType] ?? 0), value })
      value.catch(() => map!.get(key)?.value === value && map!.delete(key)) // a failure is never cached
      while (map.size > max) map.delete(map.keys().next().value!)
      return value
    },
    /** Hits, misses, hit rate and entries per type, plus the total. */
    stats() {
      const types: Record<string, TypeStats> = {}
      let hits = 0
      let misses = 0
      for (const type of new Set([...Object.keys(ttl).filter((k) => k !== 'recent'), ...counts.keys()])) {
        const c = counts.get(type) ?? { hits: 0, misses: 0 }
        hits += c.hits; misses += c.misses
        types[type] = { hits: c.hits, misses: c.misses, hit_rate: rate(c.hits, c.misses), entries: maps.get(type)?.size ?? 0, ttl_ms: ttl[type] ?? 0 }
      }
      return { types, total: { hits, misses, hit_rate: rate(hits, misses) } }
    },
    clear() { maps.clear(); counts.clear() },
  }
}

const rate = (hits: number, misses: number) => (hits + misses ? Number((hits / (hits + misses)).toFixed(4)) : 0)

export type TtlCache = ReturnType<typeof ttlCache>
