/**
 * How silver stores an hour: as parts, each a Parquet file of trades no other part holds, named by
 * the hour's manifest (`state/silver/<ex>/<sym>/<dt>/<HH>.json`), which also names the bronze
 * objects merged and, per part, the individual trade ids it covers (a few id ranges: the hour's id
 * index). A silver run then reads only the new bronze and the parts whose ids the new trades touch,
 * and writes one new part, whatever the hour already holds. The manifest is the commit: a part
 * counts once a conditional write of the manifest names it. Parts are written under the commit's
 * sequence number (`hour=HH-<epoch>-<seq>-<random>.parquet`), so a part no commit will ever name
 * (its run lost a race or crashed before the manifest) is told by its name and deleted by the next
 * run. This module is the storage; the job that dedupes and decides is `./index.ts`.
 */
import { silverHourPrefix, silverManifestKey, silverPartKey, silverTradesKey, type LakeHour } from '../layout/index'
import { readTradeColumns } from '../trades/index'
import { type ObjectStore } from '../../ports/index'

export const partDefaults = {
  /** Id ranges kept per part: more are joined across their smallest holes (the index then names ids a part lacks, never the reverse). */
  maxRanges: 32,
}

/** Individual trade ids, as sorted, disjoint, inclusive `[first, last]` ranges. */
export type IdRanges = [number, number][]

/** One part of an hour: its key, its rows, and the ids it covers (perhaps more). */
export interface SilverPart { key: string; rows: number; ids: IdRanges }

/** An hour's silver manifest. */
export interface SilverManifest {
  /** Drawn when the manifest is made: a part of another epoch belongs to no commit to come. */
  epoch: string
  /** Commits so far; a run writes its part under the number of the commit it will make. */
  seq: number
  /** Bronze objects merged into the parts. */
  bronze: string[]
  parts: SilverPart[]
}

/** The manifest before silver had parts: the one silver file's ETag and the bronze it holds. */
interface LegacyManifest { silver_etag: string; bronze: string[] }

const random = () => globalThis.crypto.randomUUID().replace(/-/g, '').slice(0, 8)

/**
 * The id ranges of rows `rows` of a trade table (every row without `rows`), adjacent ranges
 * joined, at most `max`.
 */
export function idRanges(t: { length: number; first_trade_id: ArrayLike<number>; last_trade_id: ArrayLike<number> }, max = partDefaults.maxRanges, rows?: ArrayLike<number>): IdRanges {
  const n = rows ? rows.length : t.length
  const pairs: IdRanges = new Array(n)
  let sorted = true
  for (let i = 0; i < n; i++) {
    const r = rows ? rows[i] : i
    pairs[i] = [t.first_trade_id[r], t.last_trade_id[r]]
    if (i && pairs[i][0] < pairs[i - 1][0]) sorted = false
  }
  if (!sorted) pairs.sort((a, b) => a[0] - b[0])
  const out: IdRanges = []
  for (const [a, b] of pairs) {
    const last = out[out.length - 1]
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b)
    else out.push([a, b])
  }
  while (out.length > max) {
    // join the two ranges with the smallest hole between them (rare: ids of one symbol are consecutive)
    let at = 0
    for (let i = 1; i < out.length - 1; i++) if (out[i + 1][0] - out[i][1] < out[at + 1][0] - out[at][1]) at = i
    out.splice(at, 2, [out[at][0], out[at + 1][1]])
  }
  return out
}

/** Whether two sets of id ranges share an id. */
export function overlaps(a: IdRanges, b: IdRanges): boolean {
  for (let i = 0, j = 0; i < a.length && j < b.length;) {
    if (a[i][1] < b[j][0]) i++
    else if (b[j][1] < a[i][0]) j++
    else return true
  }
  return false
}

/** The rows of a trade table whose ids meet `ids` (sorted ranges), in table order. */
export function rowsMeeting(t: { length: number; first_trade_id: ArrayLike<number>; last_trade_id: ArrayLike<number> }, ids: IdRanges): Uint32Array {
  const out: number[] = []
  for (let i = 0; i < t.length; i++) {
    // the first range not ending before the row starts
    let lo = 0, hi = ids.length
    while (lo < hi) { const mid = (lo + hi) >> 1; if (ids[mid][1] < t.first_trade_id[i]) lo = mid + 1; else hi = mid }
    if (lo < ids.length && ids[lo][0] <= t.last_trade_id[i]) out.push(i)
  }
  return Uint32Array.from(out)
}

/** The hour's manifest as read (with the ETag to commit over), undefined when there is none. */
export interface ReadManifest { manifest: SilverManifest; etag?: string }

/**
 * The hour's manifest, read after its ETag (so a commit over that ETag cannot pass a newer one).
 * A manifest from before parts whose silver file is still the one it names is taken as a manifest
 * of that one part (its ids read from the file); any other, or none, as an empty new manifest.
 */
export async function readManifest(store: ObjectStore, h: LakeHour, o = partDefaults): Promise<ReadManifest> {
  const key = silverManifestKey(h.exchange, h.symbol, h.dt, h.hour)
  const head = await store.head(key)
  const bytes = head && await store.get(key)
  const fresh = (): SilverManifest => ({ epoch: random(), seq: 0, bronze: [], parts: [] })
  if (!bytes) return { manifest: fresh() }
  const value = JSON.parse(new TextDecoder().decode(bytes)) as SilverManifest | LegacyManifest
  if ('parts' in value) return { manifest: value, etag: head.etag }
  const file = silverTradesKey(h.exchange, h.symbol, h.dt, h.hour)
  const [legacy, body] = await Promise.all([store.head(file), store.get(file)])
  if (legacy?.etag !== value.silver_etag || !body) return { manifest: fresh(), etag: head.etag }
  const { columns } = await readTradeColumns(body)
  return { manifest: { ...fresh(), bronze: value.bronze, parts: [{ key: file, rows: columns.length, ids: idRanges(columns, o.maxRanges) }] }, etag: head.etag }
}

/** The key of the part the commit after `m` will name. */
export const nextPartKey = (h: LakeHour, m: SilverManifest) =>
  silverPartKey(h.exchange, h.symbol, h.dt, h.hour, `${m.epoch}-${String(m.seq + 1).padStart(6, '0')}-${random()}`)

/**
 * Writes `next` as the hour's manifest, only over the version `etag` names (only where there is
 * none without it): throws `PreconditionFailed` when another run committed first.
 */
export async function commitManifest(store: ObjectStore, h: LakeHour, next: SilverManifest, etag: string | undefined) {
  const body = JSON.stringify(next)
  return store.put(silverManifestKey(h.exchange, h.symbol, h.dt, h.hour), body, etag ? { ifMatch: etag, contentType: 'application/json' } : { ifNoneMatch: '*', contentType: 'application/json' })
}

/**
 * Silver files of the hour (`keys`, as listed) that no commit will ever name, given the committed
 * manifest `m`: parts of another epoch or of a commit `m` is past, and the one-file silver of
 * before parts, each not named by `m`. A part of the next commit may be in flight: it stays.
 */
export function deadFiles(h: LakeHour, m: SilverManifest, keys: string[]): string[] {
  const prefix = silverHourPrefix(h.exchange, h.symbol, h.dt, h.hour)
  const named = new Set(m.parts.map((p) => p.key))
  return keys.filter((k) => {
    if (named.has(k) || !k.startsWith(prefix)) return false
    if (k === silverTradesKey(h.exchange, h.symbol, h.dt, h.hour)) return true
    const p = /^-([0-9a-f]+)-(\d+)-[0-9a-f]+\.parquet$/.exec(k.slice(prefix.length))
    return !!p && (p[1] !== m.epoch || Number(p[2]) <= m.seq)
  })
}

/** The parts' bytes in the manifest's order; undefined when one is gone (a compaction committed and deleted it: read the manifest again). */
export async function readParts(store: ObjectStore, parts: SilverPart[]): Promise<Uint8Array[] | undefined> {
  const files = await Promise.all(parts.map((p) => store.get(p.key)))
  return files.every((f) => f) ? files as Uint8Array[] : undefined
}

/**
 * The files of one silver hour as a reader takes them, with a version that changes whenever they
 * do (the manifest's ETag): the manifest's parts, or, for an hour silver has no manifest of, the
 * one-file silver of before parts. Undefined when silver holds nothing of the hour.
 */
export async function silverHourFiles(store: ObjectStore, h: LakeHour, retries = 5): Promise<{ version: string; files: Uint8Array[] } | undefined> {
  for (let attempt = 0; ; attempt++) {
    const { manifest, etag } = await readManifest(store, h)
    if (!etag) {
      const key = silverTradesKey(h.exchange, h.symbol, h.dt, h.hour)
      const head = await store.head(key)
      const bytes = head && await store.get(key)
      return bytes ? { version: head.etag, files: [bytes] } : undefined
    }
    if (!manifest.parts.length) return undefined
    // in id order (the index's first id), so that the files read as one are in order unless a late part filled a hole
    const files = await readParts(store, [...manifest.parts].sort((a, b) => (a.ids[0]?.[0] ?? 0) - (b.ids[0]?.[0] ?? 0)))
    if (files) return { version: etag, files }
    if (attempt >= retries) throw new Error(`silver ${h.exchange}/${h.symbol}/${h.dt}/${h.hour}: a part named by the manifest is missing`)
  }
}
