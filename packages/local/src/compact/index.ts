/**
 * Bronze compaction and retention for the local lake. Firehose (and its emulator, every second)
 * writes many small bronze objects an hour; once an hour is closed and silver holds every one of
 * them, `compactBronze` rewrites them as one (or a few) object(s) of the same Firehose shape
 * (`bronzeTradesFile`), every trade once (deduplicated as silver deduplicates), and deletes the
 * originals. Each step leaves a readable, complete lake, so a crash anywhere loses nothing: the
 * compacted object is written first (the hour then holds every trade twice, which the candle and
 * silver jobs deduplicate), then silver's manifest and the candle job's hour state are made to name
 * it instead of the originals (each a conditional write; a state changed meanwhile is left alone,
 * and the job that reads it recomputes the hour from what is there, to the same sums), and only
 * then are the originals deleted. A run after a crash compacts the hour again, leftovers included.
 * With `keepBronzeMs` it also deletes the compacted bronze of hours older than that (gold and
 * silver stay). It also compacts each closed hour's silver parts into one (`compactSilver`). The local cloud runs it on a timer (`compactEvery`); `ticklake start --keep-bronze 7d` sets the retention.
 */
import { randomBytes } from 'node:crypto'
import { bronzeTradesPrefix, candleStateKey, silverManifestKey } from '@ticklake/core/lake/layout'
import { versionOf, type HourState } from '@ticklake/core/lake/candles'
import { compactSilver, dedupeOrder, mergeSilver, pickRows, readManifest, rowsOf, type SilverManifest } from '@ticklake/core/lake/silver'
import { readTradeTable } from '@ticklake/core/lake/trades'
import { byText } from '@ticklake/core/market'
import { readJson, updateObject, type ObjectStore } from '@ticklake/core/ports'
import { bronzeTradesFile } from '../firehose/convert'

export const defaults = {
  /**
   * An hour is closed this long after its end: Firehose holds records for up to 15 minutes (its
   * longest buffer interval) before it writes them.
   */
  closedAfterMs: 20 * 60_000,
  /** Hours with fewer bronze objects than this are left as they are. */
  minObjects: 2,
  /**
   * Most trades in one compacted object. Encoding in Firehose's shape is synchronous (about 30,000
   * trades a second here, on a loaded machine), so parts stay small enough for the live path that
   * shares the local cloud's event loop, which gets a turn between them.
   */
  maxRows: 100_000,
  /** How often the local cloud compacts (and applies the retention). */
  everyMs: 10 * 60_000,
  /** When the local cloud compacts first: a minute after it starts, once its first ingest run settled. */
  firstAfterMs: 60_000,
  /** Conditional-write retries when a job wrote a manifest or state meanwhile. */
  writeRetries: 5,
}

/** Names of the objects compaction writes (in the hour's folder, `.parquet` as every bronze object). */
export const COMPACTED_PREFIX = 'ticklake-compacted-'

/** Steps of one hour's compaction, in order (a test hook may throw at one to play a crash there). */
export type CompactStep = 'written' | 'silver' | 'candles' | 'deleted'

export interface CompactOptions {
  /** Epoch ms: hours that ended `closedAfterMs` before it are compacted. */
  now: number
  /** Deletes the compacted bronze of hours that ended longer ago than this (ms); none when absent. */
  keepBronzeMs?: number
  settings?: Partial<typeof defaults>
  /** Called after each step of an hour (tests throw here to play a crash). */
  onStep?: (step: CompactStep, hour: string) => void | Promise<void>
  log?: (line: string) => void
}

export interface CompactResult {
  /** Closed hours looked at. */
  hours: number
  /** Hours compacted, objects they held, objects written for them. */
  compacted: number; removed: number; written: number
  /** Hours left as they are, with why (silver not caught up, rows with nulls, ...). */
  skipped: { hour: string; reason: string }[]
  /** Hours whose compaction failed part way (the lake stays complete), with the error. */
  failed: { hour: string; error: string }[]
  /** Compacted objects deleted by the retention. */
  expired: number
}

interface Hour { exchange: string; symbol: string; dt: string; hour: string; folder: string; end: number }

/** The hours of bronze trades in the lake, from one listing: folder, partitions, end (ms) and object keys. */
async function bronzeHours(store: ObjectStore) {
  const hours = new Map<string, Hour & { keys: string[] }>()
  for (const o of await store.list('bronze/trades/')) {
    if (!o.key.endsWith('.parquet')) continue
    const m = /^bronze\/trades\/exchange=([^/]+)\/symbol=([^/]+)\/dt=(\d{4}-\d\d-\d\d)\/hour=(\d\d)\/[^/]+$/.exec(o.key)
    if (!m) continue
    const folder = bronzeTradesPrefix(m[1], m[2], m[3], m[4])
    let h = hours.get(folder)
    if (!h) hours.set(folder, (h = { exchange: m[1], symbol: m[2], dt: m[3], hour: m[4], folder, end: Date.parse(`${m[3]}T${m[4]}:00:00Z`) + 3_600_000, keys: [] }))
    h.keys.push(o.key)
  }
  return [...hours.values()].sort((a, b) => byText(a.folder, b.folder))
}

/**
 * Rewrites `key`'s JSON with `change` over the version read, retrying when a job wrote it meanwhile;
 * `change` returns undefined to leave it as it is. Returns whether it wrote.
 */
async function updateJson<T>(store: ObjectStore, key: string, change: (value: T) => T | undefined, retries: number): Promise<boolean> {
  const { result } = await updateObject(store, key, async (head) => {
    const cur = head && await readJson<T>(store, key)
    const next = cur && change(cur)
    return next ? { body: JSON.stringify(next), result: true } : { result: false }
  }, { retries, contentType: 'application/json' })
  return result
}

/** Why the hour cannot be compacted now, or undefined when silver and the candle job count every object of it. */
async function notReady(store: ObjectStore, h: Hour, keys: string[], now: number): Promise<string | undefined> {
  // silver's own job merges what it lacks (an object a crashed compaction left, say); nothing when it holds all
  await mergeSilver(store, h.exchange, h.symbol, h.dt, h.hour, { now: () => now })
  const { manifest, etag } = await readManifest(store, h)
  if (!etag) return 'silver does not hold this hour yet'
  const held = new Set(manifest.bronze)
  if (!keys.every((k) => held.has(k))) return 'silver does not hold every bronze object of the hour yet'
  const state = await readJson<HourState>(store, candleStateKey(h.exchange, h.symbol, h.dt, h.hour))
  if (!state) return 'the candle job has not counted this hour yet'
  return undefined
}

/**
 * Compacts one closed hour whose objects silver holds: returns the objects written, or why it left
 * the hour alone. See the module comment for the order of the steps.
 */
async function compactHour(store: ObjectStore, h: Hour, keys: string[], o: typeof defaults, now: number, onStep: CompactOptions['onStep']): Promise<{ written: string[] } | { skipped: string }> {
  const why = await notReady(store, h, keys, now)
  if (why) return { skipped: why }
  const before = new Map((await store.list(h.folder)).map((x) => [x.key, versionOf(x, h.folder)]))
  const files = await Promise.all(keys.map((k) => store.get(k)))
  if (files.some((f) => !f)) return { skipped: 'an object went away while it was read (another compaction?)' }
  const { table, nulls } = await readTradeTable(files as Uint8Array[], { fill: { exchange: h.exchange, symbol: h.symbol } })
  // a row with a null field is left out of silver and the candles; kept in bronze, where nothing else holds it
  if (nulls > 0) return { skipped: `${nulls} row(s) with a null field, which a compacted object would lose` }
  const kept = dedupeOrder(table)
  const n = kept ? kept.length : table.length
  if (n === 0) return { skipped: 'no trades in its objects' }
  const stamp = new Date(h.end - 3_600_000).toISOString().slice(0, 13).replace('T', '-')
  const id = randomBytes(6).toString('hex')
  const written: string[] = []
  for (let from = 0, part = 0; from < n; from += o.maxRows, part++) {
    const rows = Uint32Array.from({ length: Math.min(o.maxRows, n - from) }, (_, i) => (kept ? kept[from + i] : from + i))
    const key = `${h.folder}${COMPACTED_PREFIX}${stamp}-${id}-${part}.parquet`
    await store.put(key, bronzeTradesFile(rowsOf(pickRows(table, rows))), { ifNoneMatch: '*', contentType: 'application/vnd.apache.parquet' })
    written.push(key)
    await new Promise((r) => setImmediate(r))
  }
  await onStep?.('written', h.folder)
  // silver holds every trade of the new objects (they are the ones it merged): its manifest names them instead
  const sources = new Set(keys)
  await updateJson<SilverManifest>(store, silverManifestKey(h.exchange, h.symbol, h.dt, h.hour), (m) => ({ ...m, bronze: [...m.bronze.filter((k) => !sources.has(k)), ...written] }), o.writeRetries)
  await onStep?.('silver', h.folder)
  // the candle job's state counts the same trades: it names the new objects (as its listing gives their versions) where it named every original
  const after = new Map((await store.list(h.folder)).map((x) => [x.key, versionOf(x, h.folder)]))
  const old = new Set(keys.map((k) => before.get(k)!))
  await updateJson<HourState>(store, candleStateKey(h.exchange, h.symbol, h.dt, h.hour), (s) => {
    if (!s.files || ![...old].every((v) => s.files!.includes(v)) || written.some((k) => !after.has(k))) return undefined
    const fresh = written.map((k) => after.get(k)!)
    return { ...s, files: [...s.files.filter((v) => !old.has(v) && !fresh.includes(v)), ...fresh] }
  }, o.writeRetries)
  await onStep?.('candles', h.folder)
  for (const k of keys) await store.delete(k)
  await onStep?.('deleted', h.folder)
  return { written }
}

/** Deletes the compacted objects of an hour that silver holds (the retention); returns how many. */
async function expireHour(store: ObjectStore, h: Hour, keys: string[]): Promise<number> {
  const compacted = keys.filter((k) => k.slice(h.folder.length).startsWith(COMPACTED_PREFIX))
  if (!compacted.length) return 0
  const { manifest, etag } = await readManifest(store, h)
  if (!etag) return 0
  const held = new Set(manifest.bronze)
  let n = 0
  for (const k of compacted) if (held.has(k)) { await store.delete(k); n++ }
  return n
}

/**
 * Compacts every closed hour of bronze trades whose objects silver holds, and with `keepBronzeMs`
 * deletes the compacted bronze of older hours. An hour that fails is named in `failed` and left
 * complete; the others go on.
 * @example await compactBronze(store, { now: Date.now(), keepBronzeMs: 7 * 86_400_000 }) // { compacted: 12, removed: 4310, written: 12, ... }
 */
export async function compactBronze(store: ObjectStore, opts: CompactOptions): Promise<CompactResult> {
  const o = { ...defaults, ...opts.settings }
  const out: CompactResult = { hours: 0, compacted: 0, removed: 0, written: 0, skipped: [], failed: [], expired: 0 }
  for (const h of await bronzeHours(store)) {
    if (h.end + o.closedAfterMs > opts.now) continue
    out.hours++
    try {
      let keys = h.keys
      // an hour already compacted into several parts (over maxRows) is left as it is
      if (keys.length >= o.minObjects && !keys.every((k) => k.slice(h.folder.length).startsWith(COMPACTED_PREFIX))) {
        const r = await compactHour(store, h, keys, o, opts.now, opts.onStep)
        if ('skipped' in r) out.skipped.push({ hour: h.folder, reason: r.skipped })
        else { out.compacted++; out.removed += keys.length; out.written += r.written.length; keys = r.written }
      }
      if (opts.keepBronzeMs !== undefined && h.end <= opts.now - opts.keepBronzeMs) out.expired += await expireHour(store, h, keys)
      // silver's parts of the closed hour become one (its job does it too, for the hour before each run's)
      await compactSilver(store, h.exchange, h.symbol, h.dt, h.hour)
    } catch (e: any) {
      out.failed.push({ hour: h.folder, error: e?.message ?? String(e) })
      opts.log?.(`compaction of ${h.folder} stopped (the lake stays complete; the next run tries again): ${e?.message ?? e}`)
    }
  }
  return out
}

/**
 * Runs `compactBronze` `firstAfterMs` after the call and then every `everyMs`, one run at a time,
 * until `stop`; each run that did something is logged in one line. `stop` waits for a run in progress.
 */
export function compactEvery(store: ObjectStore, opts: Omit<CompactOptions, 'now'> & { now?: () => number }) {
  const { everyMs, firstAfterMs } = { ...defaults, ...opts.settings }
  const now = opts.now ?? Date.now
  const log = opts.log ?? (() => {})
  let running: Promise<void> | undefined
  let stopped = false
  let runs = 0
  const tick = () => {
    if (stopped || running) return
    running = compactBronze(store, { ...opts, now: now() }).then((r) => {
      runs++
      if (r.compacted || r.expired || r.failed.length) log(`compacted ${r.compacted} bronze hour(s): ${r.removed} object(s) into ${r.written}${r.expired ? `; deleted ${r.expired} compacted object(s) past the retention` : ''}${r.failed.length ? `; ${r.failed.length} hour(s) failed` : ''}`)
    }, (e) => log(`compaction failed: ${e?.message ?? e}`)).finally(() => { running = undefined })
  }
  const timer = setInterval(tick, everyMs)
  const first = setTimeout(tick, firstAfterMs)
  timer.unref?.()
  first.unref?.()
  return {
    /** Runs finished so far. */
    runs: () => runs,
    /** Resolves once the run in progress (if any) is over. */
    idle: async () => { while (running) await running },
    async stop() { stopped = true; clearInterval(timer); clearTimeout(first); while (running) await running },
  }
}
