/**
 * CoinGecko: price snapshots from the public `simple/price` endpoint, polled within its rate limit
 * and written to `bronze/prices/source=coingecko/coin=<id>/dt=YYYY-MM-DD/` as Parquet, one row per
 * coin and vs_currency. `parseSimplePrice` validates an answer and reports every problem as a string,
 * never a throw; `pollPrices` paces requests by a sliding one-minute window, honours `Retry-After`,
 * retries network trouble with jittered backoff and names the fix when a retry cannot help. Requests,
 * `Retry-After`, backoff and the window go through the sources' HTTP client (`../http`).
 */
/*
 * The API, as CoinGecko documents it and clients observed it:
 * - `GET /api/v3/simple/price?ids=bitcoin&vs_currencies=usd,brl&include_market_cap=true&include_24hr_vol=true&include_24hr_change=true&include_last_updated_at=true`
 *   answers an object keyed by coin id: `{"bitcoin":{"usd":67187.33,"usd_market_cap":..,"usd_24h_vol":..,"usd_24h_change":..,
 *   "brl":..,"brl_market_cap":..,"brl_24h_vol":..,"brl_24h_change":..,"last_updated_at":1711356300}}`, `last_updated_at`
 *   in epoch seconds once per coin (https://docs.coingecko.com/reference/simple-price; the same shape in many clients' fixtures);
 * - `usd_24h_change` is `null` when the price is stale (same page);
 * - an unknown coin id is left out of a 200 answer (`{}`), it is no error
 *   (https://github.com/man-c/pycoingecko/issues/27, https://github.com/vfat-io/vfat-tools/issues/93);
 * - the Demo (free) plan allows about 30 calls a minute, varying with traffic, and every request counts
 *   against the minute, failed ones too (https://rate-limits.apis.io/rate-limits/coingecko/coingecko-rate-limits/);
 *   the current docs say 100 a minute with a Demo key, and IP-based limits shared with everyone on the IP
 *   without one (https://docs.coingecko.com/docs/errors-and-rate-limits). The default here is the
 *   conservative 30, and the poller counts every request it sends;
 * - a Demo key goes in the `x-cg-demo-api-key` header (or the `x_cg_demo_api_key` parameter) on
 *   api.coingecko.com, a Pro key in `x-cg-pro-api-key` on pro-api.coingecko.com; error codes 10010/10011
 *   mean key and host do not match (https://docs.coingecko.com/demo/reference/authentication, errors page above);
 * - a 429 carries `Retry-After` in seconds (119 seen) and `{"status":{"error_code":429,"error_message":"You've exceeded the Rate Limit..."}}`
 *   (https://github.com/nimblehq/jetpack-compose-crypto/pull/45), sometimes a Cloudflare HTML page instead
 *   (https://github.com/Philipinho/CoinGecko-Java/pull/32);
 * - `simple/price` is cached about 60 s for Demo/keyless (CoinGecko's OpenAPI description, as in the
 *   coingecko-openapi-client package) and 20 s on paid plans since January 2025
 *   (https://docs.coingecko.com/changelog/improved-update-frequency-for-selected-pro-api-endpoints), so
 *   polling faster than every 30 s mostly reads the same snapshot.
 */
import { setTimeout as delay } from 'node:timers/promises'
import { pricesKey } from '../../lake/layout/index'
import type { Column } from '../../market/index'
import { writeParquet } from '../../lake/parquet/index'
import type { ObjectStore } from '../../ports/index'
import { backoffMs, HttpError, rateWindow, request, retryable } from '../http/index'

export const defaults = {
  /** Demo / keyless host; a Pro key needs https://pro-api.coingecko.com. */
  baseUrl: 'https://api.coingecko.com',
  /** Time between successful polls (the Demo cache refreshes about every 60 s). */
  intervalMs: 30_000,
  /** Requests of any outcome allowed in any 60 s window (the Demo plan's documented floor). */
  callsPerMinute: 30,
  requestTimeoutMs: 10_000,
  /** Tries after a network error, timeout or 5xx before the poll is given up until the next interval. */
  maxRetries: 3,
  /** First backoff (429 without Retry-After, network errors); doubles with each failure, with jitter. */
  backoffBaseMs: 2_000,
  /** Largest exponential backoff. A `Retry-After` is honoured as sent, even when longer. */
  backoffMaxMs: 120_000,
}

/** One coin's price in one currency at one poll. Times are epoch MICROseconds. */
export interface PriceSnapshot {
  source: 'coingecko'
  coin: string
  currency: string
  price: number
  market_cap: number
  volume_24h: number
  change_24h_pct: number
  /** False when CoinGecko sent null or nothing for market_cap, volume_24h, change_24h_pct or last_updated (they are 0 then). */
  complete: boolean
  last_updated: number
  ingest_ts: number
}

/**
 * Missing numbers: a row without a usable price is skipped (and reported as a problem); a null or
 * absent market cap, volume, change or update time is written as 0 with `complete = false`, so no
 * NaN ever reaches the lake and `WHERE complete` selects the whole snapshots.
 */
export const PRICE_COLUMNS: Column<PriceSnapshot>[] = [
  { name: 'source', type: 'STRING', note: 'partition; coingecko' },
  { name: 'coin', type: 'STRING', note: 'partition; CoinGecko coin id (bitcoin, ethereum)' },
  { name: 'currency', type: 'STRING', note: 'vs_currency, lower case (usd, brl)' },
  { name: 'price', type: 'DOUBLE' },
  { name: 'market_cap', type: 'DOUBLE', note: '0 when absent (see complete)' },
  { name: 'volume_24h', type: 'DOUBLE', note: '0 when absent (see complete)' },
  { name: 'change_24h_pct', type: 'DOUBLE', note: 'percent; 0 when absent (null means a stale price: see complete)' },
  { name: 'complete', type: 'BOOLEAN', note: 'false when any of market_cap, volume_24h, change_24h_pct, last_updated was absent and written as 0' },
  { name: 'last_updated', type: 'TIMESTAMP_MICROS', note: "CoinGecko's last_updated_at; 0 when absent" },
  { name: 'ingest_ts', type: 'TIMESTAMP_MICROS', note: 'when ticklake received the answer' },
]

/** Suffixes CoinGecko appends to a currency for the optional fields, and the row field each fills. */
const FIELDS = [
  ['_market_cap', 'market_cap'],
  ['_24h_vol', 'volume_24h'],
  ['_24h_change', 'change_24h_pct'],
] as const

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)
const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v)
const lower = (list: string[]) => list.map((s) => s.trim().toLowerCase()).filter(Boolean)

/** The error CoinGecko put in a body (`{"error":...}` or `{"status":{"error_code","error_message"}}`), if any. */
export function errorOf(body: unknown): { code?: number; message: string } | undefined {
  if (!isObject(body)) return undefined
  if (typeof body.error === 'string') return { message: body.error }
  const s = body.status
  if (isObject(s) && (s.error_code !== undefined || s.error_message !== undefined)) {
    return { code: isNumber(s.error_code) ? s.error_code : undefined, message: String(s.error_message ?? `error ${s.error_code}`) }
  }
  return undefined
}

/** Every field of one coin's object that belongs to none of the requested currencies. */
function unexpectedFields(entry: Record<string, unknown>, currencies: string[]) {
  return Object.keys(entry).filter((k) => {
    if (k === 'last_updated_at') return false
    const base = FIELDS.reduce((b, [suffix]) => (b.endsWith(suffix) ? b.slice(0, -suffix.length) : b), k)
    return !currencies.includes(base)
  })
}

/** One row of `coin` in `currency`, or the reason there is none. */
function snapshotOf(coin: string, currency: string, entry: Record<string, unknown>, ingestTs: number): PriceSnapshot | string {
  if (!(currency in entry)) return `${coin}: no price in "${currency}" (is it in /simple/supported_vs_currencies?)`
  const price = entry[currency]
  if (!isNumber(price) || price <= 0) return `${coin}: price in "${currency}" is ${JSON.stringify(price)}, not a positive number`
  const row: PriceSnapshot = {
    source: 'coingecko', coin, currency, price, market_cap: 0, volume_24h: 0, change_24h_pct: 0, complete: true,
    last_updated: 0, ingest_ts: ingestTs,
  }
  for (const [suffix, field] of FIELDS) {
    const v = entry[currency + suffix]
    if (isNumber(v)) row[field] = v
    else row.complete = false
  }
  // epoch seconds whose microseconds stay an exact integer (before the year 2255); anything else is no time
  if (isNumber(entry.last_updated_at) && entry.last_updated_at > 0 && entry.last_updated_at < 9e9) row.last_updated = Math.round(entry.last_updated_at * 1_000_000)
  else row.complete = false
  return row
}

/**
 * Rows of a `simple/price` answer (a JSON string or the parsed value) for every requested coin and
 * currency, and a problem string for each thing wrong: bad JSON, an error body, a coin or currency
 * missing or unexpected, a price that is no positive number. Never throws. `ingestTs` is epoch µs.
 * @example parseSimplePrice('{"bitcoin":{"usd":67187.33}}', ['bitcoin'], ['usd'], Date.now() * 1000).rows[0].price === 67187.33
 */
export function parseSimplePrice(json: unknown, coins: string[], currencies: string[], ingestTs: number): { rows: PriceSnapshot[]; problems: string[] } {
  const rows: PriceSnapshot[] = []
  const problems: string[] = []
  let body = json
  if (typeof json === 'string') {
    try { body = JSON.parse(json) } catch { return { rows, problems: ['answer is not valid JSON'] } }
  }
  const err = errorOf(body)
  if (err) return { rows, problems: [`CoinGecko answered an error${err.code ? ` (${err.code})` : ''}: ${err.message}`] }
  if (!isObject(body)) return { rows, problems: ['answer is not a JSON object keyed by coin id'] }
  const wantCoins = lower(coins)
  const wantCurrencies = lower(currencies)
  for (const coin of Object.keys(body)) if (!wantCoins.includes(coin)) problems.push(`unexpected coin "${coin}" in the answer`)
  for (const coin of wantCoins) {
    const entry = body[coin]
    if (entry === undefined) { problems.push(`coin "${coin}" is missing from the answer (is it an id of /coins/list?)`); continue }
    if (!isObject(entry)) { problems.push(`coin "${coin}" is ${JSON.stringify(entry)}, not an object`); continue }
    for (const k of unexpectedFields(entry, wantCurrencies)) problems.push(`${coin}: unexpected field "${k}"`)
    for (const currency of wantCurrencies) {
      const r = snapshotOf(coin, currency, entry, ingestTs)
      if (typeof r === 'string') problems.push(r)
      else rows.push(r)
    }
  }
  return { rows, problems }
}

/**
 * The `simple/price` URL for `coins` in `currencies` with every optional field. `baseUrl` is the host
 * (a trailing `/api/v3` is accepted too); the key goes in a header, never in the URL.
 */
export function simplePriceUrl(baseUrl: string, coins: string[], currencies: string[]) {
  const root = baseUrl.replace(/\/+$/, '').replace(/\/api\/v3$/, '')
  const list = (xs: string[]) => lower(xs).map(encodeURIComponent).join(',')
  return `${root}/api/v3/simple/price?ids=${list(coins)}&vs_currencies=${list(currencies)}`
    + '&include_market_cap=true&include_24hr_vol=true&include_24hr_change=true&include_last_updated_at=true'
}

/** The header a key goes in: the Pro header on pro-api.coingecko.com, the Demo header elsewhere. */
export const apiKeyHeader = (baseUrl: string) => (/\/\/pro-api\./.test(baseUrl) ? 'x-cg-pro-api-key' : 'x-cg-demo-api-key')

/** A message for an error answer that names the fix. */
export function explain(status: number, body: unknown, url: string): string {
  const err = errorOf(body)
  const said = err ? `: ${err.message}` : ''
  const where = url.replace(/([?&]x_cg_(demo|pro)_api_key=)[^&]*/, '$1…')
  if (status === 429) return `CoinGecko rate limit reached (HTTP 429${said}): poll less often (callsPerMinute, intervalMs) or use an API key`
  if (err?.code === 10010) return `CoinGecko refused the key (10010${said}): a Pro key needs baseUrl https://pro-api.coingecko.com`
  if (err?.code === 10011) return `CoinGecko refused the key (10011${said}): a Demo key needs baseUrl https://api.coingecko.com`
  if (status === 401) return `CoinGecko wants a valid API key (HTTP 401${said}): set a Demo key (x-cg-demo-api-key) or check the one given`
  if (status === 403) return `CoinGecko blocks this client (HTTP 403${said}): keyless access from cloud IPs is often refused; use a Demo API key`
  if (status === 400 || status === 404 || status === 422) return `CoinGecko refused the request (HTTP ${status}${said}) for ${where}: check the coin ids (/coins/list) and vs_currencies (/simple/supported_vs_currencies)`
  return `CoinGecko answered HTTP ${status}${said} for ${where}`
}

/** Sleeps `ms`, or less if `signal` aborts. */
const sleep = (ms: number, signal?: AbortSignal) => delay(Math.max(0, ms), undefined, { signal }).catch(() => {})

/** File name of a poll's files: the compact UTC time of receipt, `20261124T153000123Z`. */
const fileName = (ms: number) => new Date(ms).toISOString().replace(/[-:.]/g, '')

export interface PollOptions {
  /** CoinGecko host (default https://api.coingecko.com; the fake's `url` locally). */
  baseUrl?: string
  /** Coin ids as in /coins/list: `bitcoin`, `ethereum`. */
  coins: string[]
  /** vs_currencies: `usd`, `brl`. */
  currencies: string[]
  /** Demo key (x-cg-demo-api-key), or a Pro key with a pro-api baseUrl. Keyless works with lower, shared limits. */
  apiKey?: string
  store: ObjectStore
  fetch?: typeof fetch
  now?: () => number
  /** Ends polling early (process shutdown). */
  signal?: AbortSignal
  /** Time between successful polls (default 30 s). */
  intervalMs?: number
  /** Time the poller may take, in ms. */
  budgetMs: number
  /** No poll before this time (epoch ms): when the last invocation's next poll was due. */
  startAt?: number
  /** Requests allowed in any 60 s, retries included (default 30). */
  callsPerMinute?: number
  log?: (line: string) => void
  /** Randomness of the backoff jitter (tests pin it). */
  random?: () => number
  settings?: Partial<typeof defaults>
}

export interface PollSummary {
  /** Successful polls, each written to the lake. */
  polls: number
  /** Rows written. */
  rows: number
  /** Failed requests (network, timeout, 5xx, other refusals) and failed writes. */
  errors: number
  /** Waits after a 429. */
  backoffs: number
  /** Requests sent, of any outcome. */
  requests: number
  /** Problems the parser reported (missing coins or currencies, bad fields). */
  problems: number
  /** Set when polling stopped before the budget for a reason a retry cannot fix (bad key, bad ids). */
  stopped?: string
  /** Epoch ms before which CoinGecko asked not to be called again (a Retry-After or backoff that outlasted the budget). */
  resumeAt?: number
  /** Epoch ms when the next poll is due, when that is after the budget: the next invocation starts there. */
  nextAt?: number
}

type Outcome =
  | { kind: 'ok'; body: unknown; at: number }
  | { kind: 'rate-limited'; waitMs?: number; message: string }
  | { kind: 'retry'; message: string }
  | { kind: 'fatal'; message: string }

/** One `simple/price` request, its outcome classified. Never throws. */
async function requestOnce(url: string, headers: Record<string, string>, fetchImpl: typeof fetch, timeoutMs: number, now: () => number, signal?: AbortSignal): Promise<Outcome> {
  try {
    const { json, text } = await request(url, { fetch: fetchImpl, headers, signal, timeoutMs, now, name: 'CoinGecko', explain })
    return { kind: 'ok', body: json !== undefined ? json : text, at: now() } // an HTML error page or garbage: the parser reports it
  } catch (e) {
    const message = (e as Error)?.message ?? String(e)
    if (!(e instanceof HttpError) || e.status === 0) return { kind: 'retry', message }
    if (e.status === 429) return { kind: 'rate-limited', waitMs: e.retryAfterMs, message }
    return { kind: retryable(e) ? 'retry' : 'fatal', message }
  }
}

/** Writes one poll's rows as one Parquet file per coin (the lake partitions by coin). Returns the keys. */
async function writePoll(store: ObjectStore, rows: PriceSnapshot[], at: number) {
  const byCoin = new Map<string, PriceSnapshot[]>()
  for (const r of rows) byCoin.set(r.coin, [...(byCoin.get(r.coin) ?? []), r])
  const keys: string[] = []
  for (const [coin, list] of byCoin) {
    const key = pricesKey(coin, at * 1000, fileName(at))
    await store.put(key, writeParquet(PRICE_COLUMNS, list), { contentType: 'application/vnd.apache.parquet' })
    keys.push(key)
  }
  return keys
}

/**
 * Polls `simple/price` for `budgetMs`: one request per `intervalMs`, never more than `callsPerMinute`
 * requests in any minute (retries included). A 429 waits its `Retry-After` (or an exponential,
 * jittered, capped backoff) and tries again; network errors, timeouts and 5xx are retried
 * `maxRetries` times with backoff, then the poll waits for the next interval; a refusal a retry
 * cannot fix (bad key, bad ids) stops polling with a message that names the fix. Each successful poll
 * is written as Parquet, one file per coin, under `pricesKey`. Returns when the budget ends, the
 * signal aborts, or no further request could go out within the budget (a long Retry-After, a used-up minute).
 * @example await pollPrices({ coins: ['bitcoin'], currencies: ['usd'], store, budgetMs: 55_000 })
 */
export async function pollPrices(opts: PollOptions): Promise<PollSummary> {
  // Long: one polling loop with its rate window, retries and budget in scope; the loop reads as one sequence.
  const s = { ...defaults, ...opts.settings }
  const baseUrl = opts.baseUrl ?? s.baseUrl
  const intervalMs = opts.intervalMs ?? s.intervalMs
  const callsPerMinute = Math.max(1, opts.callsPerMinute ?? s.callsPerMinute)
  const fetchImpl = opts.fetch ?? fetch
  const now = opts.now ?? Date.now
  const log = opts.log ?? (() => {})
  const random = opts.random ?? Math.random
  const { signal, store } = opts
  const url = simplePriceUrl(baseUrl, opts.coins, opts.currencies)
  const headers: Record<string, string> = { accept: 'application/json' }
  if (opts.apiKey) headers[apiKeyHeader(baseUrl)] = opts.apiKey
  const summary: PollSummary = { polls: 0, rows: 0, errors: 0, backoffs: 0, requests: 0, problems: 0 }
  if (intervalMs < 60_000 / callsPerMinute) log(`coingecko: interval ${intervalMs} ms is shorter than ${callsPerMinute} calls a minute allow; polls will pause when the minute is used up`)

  const deadline = now() + opts.budgetMs
  const window = rateWindow(callsPerMinute)
  let nextAt = Math.max(now(), opts.startAt ?? 0)
  let retries = 0
  let limited = 0
  let limitedUntil = 0
  /** Waits until `at` unless that is past the deadline; false when polling should end. */
  const waitUntil = async (at: number) => {
    if (at >= deadline) return false
    await sleep(at - now(), signal)
    return !signal?.aborted && now() < deadline
  }

  while (!signal?.aborted && now() < deadline) {
    if (!(await waitUntil(nextAt))) break
    const wait = window.waitMs(now())
    if (wait > 0) { if (!(await waitUntil(now() + wait))) break; continue }
    window.record(now())
    summary.requests++
    const out = await requestOnce(url, headers, fetchImpl, Math.min(s.requestTimeoutMs, Math.max(1, deadline - now())), now, signal)
    if (signal?.aborted || (out.kind === 'retry' && now() >= deadline)) break // cut short by the budget: no error of CoinGecko's
    if (out.kind === 'rate-limited') {
      summary.backoffs++
      limited++
      const pause = out.waitMs ?? backoffMs(limited, s.backoffBaseMs, s.backoffMaxMs, random)
      log(`${out.message}; waiting ${Math.round(pause)} ms${out.waitMs === undefined ? ' (no Retry-After: exponential backoff)' : ' (Retry-After)'}`)
      nextAt = now() + pause
      limitedUntil = nextAt
      continue
    }
    if (out.kind === 'retry') {
      summary.errors++
      retries++
      if (retries <= s.maxRetries) {
        const pause = backoffMs(retries, s.backoffBaseMs, s.backoffMaxMs, random)
        log(`${out.message}; retry ${retries}/${s.maxRetries} in ${pause} ms`)
        nextAt = now() + pause
      } else {
        log(`${out.message}; giving this poll up after ${s.maxRetries} retries, next one in ${intervalMs} ms`)
        retries = 0
        nextAt = now() + intervalMs
      }
      continue
    }
    if (out.kind === 'fatal') {
      summary.errors++
      summary.stopped = out.message
      log(`${out.message}; polling stopped`)
      break
    }
    retries = 0
    limited = 0
    nextAt = out.at + intervalMs
    const { rows, problems } = parseSimplePrice(out.body, opts.coins, opts.currencies, out.at * 1000)
    summary.problems += problems.length
    if (problems.length) log(`coingecko: ${problems.length} problem(s) in the answer: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '; …' : ''}`)
    if (!rows.length) { summary.errors++; continue }
    try {
      const keys = await writePoll(store, rows, out.at)
      summary.polls++
      summary.rows += rows.length
      log(`coingecko: ${rows.length} price(s) written to ${keys.join(', ')}`)
    } catch (e) {
      summary.errors++
      log(`coingecko: writing the poll failed (${(e as Error)?.message ?? e}); the next poll goes on`)
    }
  }
  if (limitedUntil > now()) summary.resumeAt = limitedUntil
  if (nextAt > now() && !summary.stopped) summary.nextAt = nextAt
  return summary
}
