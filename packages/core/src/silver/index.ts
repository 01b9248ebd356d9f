/**
 * Silver trades: one Parquet file per (exchange, symbol, hour) holding every trade once, sorted by
 * trade id, so readers never see Firehose's many small files or its duplicates. Built
 * incrementally: a manifest names the bronze files already merged, and each run reads only the
 * new ones. Deduplication works on individual trade ids (`first_trade_id..last_trade_id`): a
 * record whose range is already covered is a duplicate, so aggTrades and individual trades of one
 * symbol can meet without counting twice.
 */
import { TRADE_COLUMNS, type Trade } from '../market/index'
import { bronzeTradesPrefix, silverManifestKey, silverTradesKey } from '../lake/index'
import { readParquet, writeParquet } from '../parquet/index'
import { PreconditionFailed, type ObjectStore } from '../ports/index'

export const defaults = { writeRetries: 5 }

interface Manifest { silver_etag: string; bronze: string[] }

/**
 * Trades with every individual trade id once, ordered by first trade id (for one exchange, the
 * order of the trades). Where ranges overlap the wider record, then the earlier one, wins.
 * @example dedupe([a, a, b]) // [a, b]
 */
export function dedupe(trades: Trade[]): Trade[] {
  const sorted = [...trades].sort((x, y) => x.first_trade_id - y.first_trade_id || y.last_trade_id - x.last_trade_id || x.trade_id - y.trade_id)
  const out: Trade[] = []
  let covered = -Infinity
  for (const t of sorted) {
    if (t.last_trade_id <= covered) continue
    out.push(t)
    covered = t.last_trade_id
  }
  return out
}

export interface SilverResult { trades: Trade[]; bronzeFiles: number; newFiles: number; duplicates: number; key: string }

async function readJson<T>(store: ObjectStore, key: string): Promise<T | undefined> {
  const b = await store.get(key)
  return b ? JSON.parse(new TextDecoder().decode(b)) : undefined
}

async function readTrades(store: ObjectStore, keys: string[]) {
  const out: Trade[] = []
  for (const k of keys) {
    const b = await store.get(k)
    if (b) for (const t of await readParquet<Trade>(b)) out.push(t)
  }
  return out
}

/**
 * Merges the bronze files of one hour that silver does not hold yet into silver, and returns the
 * hour's trades. Safe under repeated and concurrent runs: the write is conditional on the silver
 * file read, and a manifest that does not match that file is ignored (all bronze is reread).
 */
export async function updateSilver(store: ObjectStore, exchange: string, symbol: string, dt: string, hour: string): Promise<SilverResult> {
  const key = silverTradesKey(exchange, symbol, dt, hour)
  const manifestKey = silverManifestKey(exchange, symbol, dt, hour)
  for (let attempt = 0; ; attempt++) {
    const [head, manifest, listing] = await Promise.all([store.head(key), readJson<Manifest>(store, manifestKey), store.list(bronzeTradesPrefix(exchange, symbol, dt, hour))])
    const bronze = listing.map((o) => o.key).filter((k) => k.endsWith('.parquet'))
    const trusted = head && manifest?.silver_etag === head.etag
    const known = new Set(trusted ? manifest!.bronze : [])
    const fresh = bronze.filter((k) => !known.has(k))
    const base = trusted ? await readTrades(store, [key]) : []
    if (trusted && fresh.length === 0) return { trades: base, bronzeFiles: bronze.length, newFiles: 0, duplicates: 0, key }
    const incoming = await readTrades(store, fresh)
    const trades = dedupe(base.concat(incoming))
    try {
      const { etag } = await store.put(key, writeParquet(TRADE_COLUMNS, trades), head ? { ifMatch: head.etag } : { ifNoneMatch: '*' })
      await store.put(manifestKey, JSON.stringify({ silver_etag: etag, bronze: [...known, ...fresh] } satisfies Manifest), { contentType: 'application/json' })
      return { trades, bronzeFiles: bronze.length, newFiles: fresh.length, duplicates: base.length + incoming.length - trades.length, key }
    } catch (e) {
      if (!(e instanceof PreconditionFailed) || attempt >= defaults.writeRetries) throw e
    }
  }
}
