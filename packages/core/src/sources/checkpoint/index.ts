/**
 * Checkpoints: per (exchange, symbol), the last trade id accepted downstream, kept as JSON in the
 * object store. Ingest moves one only after its records were accepted by the stream, so a restart
 * backfills from it and never skips a trade; writes are conditional so two runs cannot interleave.
 */
import { checkpointKey } from '../../lake/layout/index'
import { PreconditionFailed, type ObjectStore } from '../../ports/index'

export interface Checkpoint { exchange: string; symbol: string; last_trade_id: number; ts: number; updated_at: number }

/** The checkpoint and its ETag, or undefined when this (exchange, symbol) has none yet. */
export async function readCheckpoint(store: ObjectStore, exchange: string, symbol: string) {
  const key = checkpointKey(exchange, symbol)
  const head = await store.head(key)
  if (!head) return undefined
  const bytes = await store.get(key)
  if (!bytes) return undefined
  return { checkpoint: JSON.parse(new TextDecoder().decode(bytes)) as Checkpoint, etag: head.etag }
}

/**
 * Writes a checkpoint over the version last seen (`etag`), refusing to move it backwards.
 * Returns the new ETag; throws PreconditionFailed when another writer moved it meanwhile. A caller
 * that knows the trade id stored under `etag` (it read or wrote that version: `stored`) gets one
 * conditional PUT instead of a read and a PUT.
 * @example etag = await writeCheckpoint(store, cp, etag, lastWrittenId)
 */
export async function writeCheckpoint(store: ObjectStore, cp: Checkpoint, etag?: string, stored?: number) {
  const key = checkpointKey(cp.exchange, cp.symbol)
  if (etag !== undefined && stored !== undefined) {
    if (stored > cp.last_trade_id) return etag
    return (await store.put(key, JSON.stringify(cp), { ifMatch: etag, contentType: 'application/json' })).etag
  }
  const current = await readCheckpoint(store, cp.exchange, cp.symbol)
  if (current && current.etag !== etag) throw new PreconditionFailed(key)
  if (current && current.checkpoint.last_trade_id > cp.last_trade_id) return current.etag
  const res = await store.put(key, JSON.stringify(cp), current ? { ifMatch: current.etag, contentType: 'application/json' } : { ifNoneMatch: '*', contentType: 'application/json' })
  return res.etag
}
