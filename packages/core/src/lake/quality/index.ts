/**
 * Data quality records: trade-id gaps (found, filled, deferred to the next run, or unfillable),
 * stream disconnects, stalls (a connected stream that stopped bringing trades while the exchange
 * went on trading, or a source that stopped answering), conflicting duplicates (records of the same
 * trade ids with other values, found by the silver job) and lake files a reader found corrupt (and
 * skipped), kept as small JSON objects under `quality/` so a flat minute can be told from an outage
 * and every hole and every record dropped for another is accounted for. `ticklake gaps` lists gaps,
 * disconnects and stalls; `/api/status` shows the stalls still open.
 */
import { createHash } from 'node:crypto'
import { partitionOf } from '../layout/index'
import type { ObjectStore } from '../../ports/index'

export type GapKind = 'filled' | 'deferred' | 'unfillable'

export interface Gap { exchange: string; symbol: string; kind: GapKind; from_id: number; to_id: number; detected_at: number; reason: string }
export interface Disconnect { exchange: string; symbols: string[]; disconnected_at: number; reconnected_at?: number; reason: string }
/**
 * A stall of one symbol's source: no trade since `since` (ms, the last one heard) though the
 * exchange had newer ones (or could not be asked), found at `detected_at`. `resumed_at` is set once
 * the stream brings trades again, `ended_at` (without `resumed_at`) when the run ended still stalled;
 * `fetched` counts the trades caught up over REST meanwhile. Open while neither is set.
 */
export interface Stall { exchange: string; symbol: string; since: number; detected_at: number; resumed_at?: number; ended_at?: number; reason: string; fetched: number }

/** `quality/gaps/exchange=binance/symbol=BTC-USDT/dt=2026-11-24/<ms>-<from>.json` */
export const gapKey = (g: Gap) => `quality/gaps/exchange=${g.exchange}/symbol=${g.symbol}/dt=${partitionOf(g.detected_at).dt}/${g.detected_at}-${g.from_id}-${g.kind}.json`
/** `quality/disconnects/exchange=binance/dt=2026-11-24/<ms>.json` */
export const disconnectKey = (d: Disconnect) => `quality/disconnects/exchange=${d.exchange}/dt=${partitionOf(d.disconnected_at).dt}/${d.disconnected_at}.json`

/** A lake file a reader could not read (truncated, not Parquet, bad metadata): skipped, kept in place for an operator. */
export interface CorruptFile { key: string; reason: string; detected_at: number; reader: string }

/** `quality/corrupt/<the file's key>.json`: one record a file, the latest finding. */
export const corruptKey = (c: Pick<CorruptFile, 'key'>) => `quality/corrupt/${c.key}.json`

/** `quality/stalls/exchange=binance/symbol=BTC-USDT/dt=2026-11-24/<since ms>.json` */
export const stallKey = (s: Stall) => `quality/stalls/exchange=${s.exchange}/symbol=${s.symbol}/dt=${partitionOf(s.since).dt}/${s.since}.json`

const json = (o: object) => JSON.stringify(o)

/** Records a corrupt lake file (its key, why, when, and which reader met it). */
export const recordCorrupt = (store: ObjectStore, c: CorruptFile) => store.put(corruptKey(c), json({ ...c, reason: c.reason.slice(0, 500) }), { contentType: 'application/json' })

/** Every corrupt-file record, by key. */
export const listCorrupt = (store: ObjectStore) => readAll<CorruptFile>(store, 'quality/corrupt/')

/** One side of a conflicting duplicate: the record's values. */
export interface DuplicateSide { trade_id: number; ts: number; price: number; qty: number; side: string; source: string }

/** Records of the same trade ids (`first_trade_id..last_trade_id`) with other values: which was kept, which dropped. */
export interface DuplicateConflict { first_trade_id: number; last_trade_id: number; kept: DuplicateSide; dropped: DuplicateSide }

/** The conflicting duplicates one silver run met in an hour. */
export interface Duplicates {
  exchange: string; symbol: string; dt: string; hour: string; detected_at: number
  /** How the kept record was chosen (`keptFirst` of core/lake/dedupe). */
  kept_by: string
  /** Conflicts met (all of them, though `conflicts` lists at most `defaults.maxConflictsListed`). */
  count: number
  conflicts: DuplicateConflict[]
}

export const defaults = {
  /** Conflicts listed in one `quality/duplicates/` record (the count is always whole). */
  maxConflictsListed: 1000,
}

/**
 * `quality/duplicates/exchange=X/symbol=Y/dt=2026-11-24/hour=15-<hash of the conflicts>.json`: a
 * run that meets the same conflicts again writes the same key.
 */
export const duplicatesKey = (d: Duplicates) =>
  `quality/duplicates/exchange=${d.exchange}/symbol=${d.symbol}/dt=${d.dt}/hour=${d.hour}-${createHash('sha256').update(JSON.stringify(d.conflicts)).digest('hex').slice(0, 12)}.json`

/** Records the conflicting duplicates of one silver run. */
export const recordDuplicates = (store: ObjectStore, d: Duplicates) => store.put(duplicatesKey(d), json(d), { contentType: 'application/json' })

/** Records a gap. */
export const recordGap = (store: ObjectStore, g: Gap) => store.put(gapKey(g), json(g), { contentType: 'application/json' })

/** Records a disconnect (with `reconnected_at` once the stream is back). */
export const recordDisconnect = (store: ObjectStore, d: Disconnect) => store.put(disconnectKey(d), json(d), { contentType: 'application/json' })

/** Records a stall, or its end (the same key written again with `resumed_at` or `ended_at`). */
export const recordStall = (store: ObjectStore, s: Stall) => store.put(stallKey(s), json(s), { contentType: 'application/json' })

/**
 * True while a stall is open: neither resumed nor ended, and found within `staleMs` (a record a
 * killed process left open is not taken for a stall for ever).
 */
export const stallOpen = (s: Stall, now: number, staleMs = 15 * 60_000) => s.resumed_at === undefined && s.ended_at === undefined && now - s.detected_at < staleMs

async function readAll<T>(store: ObjectStore, prefix: string): Promise<T[]> {
  const out: T[] = []
  for (const o of await store.list(prefix)) {
    const b = await store.get(o.key)
    if (!b) continue
    try { out.push(JSON.parse(new TextDecoder().decode(b))) } catch { /* a corrupt record is skipped, the rest still listed */ }
  }
  return out
}

/** Every conflicting-duplicates record, oldest first, optionally for one exchange and symbol. */
export async function listDuplicates(store: ObjectStore, filter: { exchange?: string; symbol?: string } = {}) {
  const prefix = `quality/duplicates/${filter.exchange ? `exchange=${filter.exchange}/${filter.symbol ? `symbol=${filter.symbol}/` : ''}` : ''}`
  const out = (await readAll<Duplicates>(store, prefix)).filter((d) => !filter.symbol || d.symbol === filter.symbol)
  return out.sort((a, b) => a.detected_at - b.detected_at)
}

/** Every gap, disconnect and stall recorded, oldest first, optionally for one exchange and symbol. */
export async function listQuality(store: ObjectStore, filter: { exchange?: string; symbol?: string } = {}) {
  const gapPrefix = `quality/gaps/${filter.exchange ? `exchange=${filter.exchange}/${filter.symbol ? `symbol=${filter.symbol}/` : ''}` : ''}`
  const gaps = (await readAll<Gap>(store, gapPrefix)).filter((g) => !filter.symbol || g.symbol === filter.symbol)
  const disconnects = (await readAll<Disconnect>(store, `quality/disconnects/${filter.exchange ? `exchange=${filter.exchange}/` : ''}`))
    .filter((d) => !filter.symbol || d.symbols.includes(filter.symbol))
  const stallPrefix = `quality/stalls/${filter.exchange ? `exchange=${filter.exchange}/${filter.symbol ? `symbol=${filter.symbol}/` : ''}` : ''}`
  const stalls = (await readAll<Stall>(store, stallPrefix)).filter((s) => !filter.symbol || s.symbol === filter.symbol)
  gaps.sort((a, b) => a.detected_at - b.detected_at)
  disconnects.sort((a, b) => a.disconnected_at - b.disconnected_at)
  stalls.sort((a, b) => a.since - b.since)
  return { gaps, disconnects, stalls }
}
