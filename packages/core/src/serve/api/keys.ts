/**
 * API keys for `POST /api/ingest`, and a token-bucket rate limit per key. A key reads
 * `tlk_<id>_<secret>`: the id finds its record, the secret is checked against a salted SHA-256
 * (a per-key random salt; keys are 256-bit random, so a fast hash is enough) with a constant-time
 * compare. Only records (id, name, salt, hash) are stored, never a key: locally in
 * `<data>/state/api-keys.json` (written by `ticklake keys add NAME`, which prints the key once),
 * in AWS in the SST Secret `ApiKeys` whose value is the same JSON document (or its `keys` array),
 * handed to the function as `TICKLAKE_API_KEYS` (`sst secret set ApiKeys "$(cat .ticklake/state/api-keys.json)"`).
 * Each key is bound to the exchange names it may write (`exchanges`), never a built-in venue's or
 * a simulated source's (`reservedExchange`), so no key can touch an exchange's own candles.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { ObjectStore } from '../../ports/index'
import { reservedExchange } from '../../market/index'

export const defaults = {
  /** The key file in the object store (locally `<data>/state/api-keys.json`). */
  storeKey: 'state/api-keys.json',
  /** How long a loaded key file is trusted before it is read again. */
  reloadMs: 5_000,
  /** Requests per second per key, and the burst a key may spend at once. */
  rate: { perSecond: 5, burst: 20 },
}

export interface ApiKeyRecord {
  id: string; name: string; salt: string; hash: string; created_at: string
  /** Exchange names the key may write under (none in a record from before keys were bound: such a key writes nothing). */
  exchanges?: string[]
}
export interface ApiKeyFile { version: 1; keys: ApiKeyRecord[] }

/** Where key records are found (a file locally, a secret in AWS). */
export interface ApiKeyStore { find(id: string): Promise<ApiKeyRecord | undefined> }

const KEY = /^tlk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/
const hashOf = (salt: string, secret: string) => createHash('sha256').update(salt).update(secret).digest('hex')

/** An exchange name a key may be bound to: as `POST /api/ingest` takes names, and not reserved. */
const EXCHANGE_NAME = /^[a-z][a-z0-9-]{0,30}$/

/** Why a key cannot be bound to these exchange names, or undefined when it can. */
export function exchangesProblem(exchanges: readonly string[]): string | undefined {
  if (!exchanges.length) return 'a key is bound to the exchange names it may write: name at least one (--exchange myfeed)'
  const bad = exchanges.find((x) => !EXCHANGE_NAME.test(x))
  if (bad !== undefined) return `exchange ${JSON.stringify(bad.slice(0, 40))} is not lowercase letters, digits or '-', starting with a letter (at most 31)`
  const reserved = exchanges.find(reservedExchange)
  if (reserved) return `exchange ${reserved} is reserved for Ticklake's own sources (built-in venues and their simulated twins): choose another name`
  return undefined
}

/**
 * The exchange names a key may write under: those of its record, less any reserved name (a
 * record edited by hand can never grant a built-in venue's).
 */
export const writableExchanges = (record: ApiKeyRecord): string[] => (record.exchanges ?? []).filter((x) => typeof x === 'string' && !reservedExchange(x))

/**
 * A new key and its record, bound to `exchanges`; the key itself is shown once and never stored.
 * @example const { key, record } = newApiKey('my-feed', ['myfeed']) // key: tlk_1a2b3c4d5e6f_...
 */
export function newApiKey(name: string, exchanges: readonly string[], now = Date.now()): { key: string; record: ApiKeyRecord } {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new Error('a key name is 1 to 64 letters, digits, dots, dashes or underscores')
  const problem = exchangesProblem(exchanges)
  if (problem) throw new Error(problem)
  const id = randomBytes(6).toString('hex')
  const secret = randomBytes(32).toString('base64url')
  const salt = randomBytes(16).toString('hex')
  return { key: `tlk_${id}_${secret}`, record: { id, name, salt, hash: hashOf(salt, secret), created_at: new Date(now).toISOString(), exchanges: [...new Set(exchanges)] } }
}

/** The key's record when `key` is a valid key of `keys`, else undefined (never says why). */
export async function verifyApiKey(keys: ApiKeyStore, key: unknown): Promise<ApiKeyRecord | undefined> {
  const m = typeof key === 'string' ? KEY.exec(key) : null
  if (!m) return undefined
  const record = await keys.find(m[1])
  if (!record) return undefined
  const a = Buffer.from(hashOf(record.salt, m[2]), 'hex')
  const b = Buffer.from(record.hash, 'hex')
  return a.length === b.length && timingSafeEqual(a, b) ? record : undefined
}

/** The key file's records: `{ "version": 1, "keys": [...] }`, or a bare array of records. */
function parseFile(text: string | undefined): ApiKeyFile {
  if (!text?.trim()) return { version: 1, keys: [] }
  let doc: any
  try { doc = JSON.parse(text) } catch { throw new Error('API key records are not valid JSON') } // (the parser's message would quote the text)
  const keys = Array.isArray(doc) ? doc : doc?.keys
  if (!Array.isArray(keys)) throw new Error('API key records: expected {"keys": [...]} or an array')
  return { version: 1, keys: keys.filter((k: any) => k && typeof k.id === 'string' && typeof k.salt === 'string' && typeof k.hash === 'string') }
}

/**
 * Key records from a JSON document: the AWS secret given as `TICKLAKE_API_KEYS` (the SST Secret
 * `ApiKeys`, default `[]`). A malformed secret fails ingest requests, not the function.
 */
export function jsonKeyStore(json: string | undefined): ApiKeyStore {
  let byId: Map<string, ApiKeyRecord> | undefined
  return { find: async (id) => (byId ??= new Map(parseFile(json).keys.map((k) => [k.id, k]))).get(id) }
}

/** Key records from the object store's key file, re-read at most every `reloadMs`. */
export function objectKeyStore(store: ObjectStore, key = defaults.storeKey, reloadMs = defaults.reloadMs): ApiKeyStore {
  let loaded: { at: number; byId: Map<string, ApiKeyRecord> } | undefined
  return {
    async find(id) {
      if (!loaded || Date.now() - loaded.at > reloadMs) {
        const body = await store.get(key)
        loaded = { at: Date.now(), byId: new Map(parseFile(body && new TextDecoder().decode(body)).keys.map((k) => [k.id, k])) }
      }
      return loaded.byId.get(id)
    },
  }
}

/** Adds a new key record, bound to `exchanges`, to the store's key file; returns the key (to print once). */
export async function addApiKey(store: ObjectStore, name: string, exchanges: readonly string[], key = defaults.storeKey): Promise<{ key: string; record: ApiKeyRecord }> {
  const body = await store.get(key)
  const doc = parseFile(body && new TextDecoder().decode(body))
  if (doc.keys.some((k) => k.name === name)) throw new Error(`a key named ${name} exists already`)
  const made = newApiKey(name, exchanges)
  doc.keys.push(made.record)
  await store.put(key, JSON.stringify(doc, null, 1) + '\n', { contentType: 'application/json' })
  return made
}

/** Key records (never keys) in the store's key file. */
export async function listApiKeys(store: ObjectStore, key = defaults.storeKey): Promise<ApiKeyRecord[]> {
  const body = await store.get(key)
  return parseFile(body && new TextDecoder().decode(body)).keys
}

/**
 * A token bucket per key id: `burst` tokens, refilled at `perSecond`; each request takes one.
 * @example const limit = tokenBuckets(); if (!limit.take('k1').ok) answer429()
 */
export function tokenBuckets(rate = defaults.rate, now: () => number = Date.now) {
  const buckets = new Map<string, { tokens: number; at: number }>()
  return {
    take(id: string, cost = 1): { ok: boolean; retryAfterMs: number } {
      const t = now()
      const b = buckets.get(id) ?? { tokens: rate.burst, at: t }
      b.tokens = Math.min(rate.burst, b.tokens + ((t - b.at) / 1000) * rate.perSecond)
      b.at = t
      buckets.set(id, b)
      if (b.tokens >= cost) { b.tokens -= cost; return { ok: true, retryAfterMs: 0 } }
      return { ok: false, retryAfterMs: Math.ceil(((cost - b.tokens) / rate.perSecond) * 1000) }
    },
  }
}
