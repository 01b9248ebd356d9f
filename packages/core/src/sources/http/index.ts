/**
 * One HTTP client for the sources' REST APIs (Binance, Coinbase, CoinGecko): a GET with a timeout
 * and the caller's abort signal (a run's deadline), the body read once as text and JSON, every
 * failure one `HttpError` (status, url, a snippet of the body, the wait the server asked for; status
 * 0 when no answer came), retries after `Retry-After` (delta-seconds or an HTTP date) or a jittered
 * exponential backoff, and gates that run before each try and learn from each answer: `pacer` (a
 * minimum gap between requests to one host, held after a 429, as Coinbase needs), `weightBudget`
 * (Binance's `X-MBX-USED-WEIGHT-1M`: pause before the minute's share is spent, refuse without
 * sending while a 429/418 wait runs) and `rateWindow` (at most N requests in any minute, as
 * CoinGecko counts). Each connector keeps what is its own: URLs, paging, the message that names a fix.
 *
 * Why no library: `ky` (retry with Retry-After, hooks, timeout, injected `fetch`) and `p-retry`
 * would each replace only the plain loop below. Most retries here are not per request: Binance's
 * live in ingest's backfill (halt rules, gap records) and in verify (re-paging from the last kline),
 * CoinGecko's in its poll loop (every try counted against the minute and the run's summary), so
 * only Coinbase's "ask again after a 429" fits a request-level retry; the weight budget and the
 * host pacing would be hand-written hooks all the same. undici interceptors need undici's
 * dispatcher, not the bare `fetch` the tests inject.
 */

export const defaults = {
  timeoutMs: 10_000,
  /** Tries after the first one that failed retryably (see `retryable`); 0: the caller decides. */
  retries: 0,
  /** First backoff when the server named no wait; doubles with each failure, with jitter. */
  backoffBaseMs: 500,
  backoffMaxMs: 60_000,
  /** Characters of an error answer's body kept on the `HttpError`. */
  snippetChars: 200,
}

/**
 * A request that failed: an error answer (`status`), a malformed one (the connector's own checks),
 * or none at all (`status` 0, `cause` the network error or timeout). `retryAfterMs` is the wait the
 * server asked for (or the connector's default for that status); `code` an API error code from the body.
 */
export class HttpError extends Error {
  readonly url?: string
  readonly body?: string
  readonly retryAfterMs?: number
  readonly code?: number
  constructor(readonly status: number, message: string, detail: { url?: string; body?: string; retryAfterMs?: number; code?: number; cause?: unknown } = {}) {
    super(message, detail.cause === undefined ? undefined : { cause: detail.cause })
    this.url = detail.url
    this.body = detail.body
    this.retryAfterMs = detail.retryAfterMs
    this.code = detail.code
  }
}

/** Why no answer came (`ECONNREFUSED`, a timeout's message), when `e` is an `HttpError` for a request that got none; undefined otherwise. */
export function unreachable(e: unknown): string | undefined {
  if (!(e instanceof HttpError) || e.status !== 0 || e.cause === undefined) return undefined
  const c = e.cause as any
  return c?.cause?.code ?? c?.cause?.message ?? c?.message ?? String(c)
}

/** `Retry-After` in ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null | undefined, nowMs: number): number | undefined {
  if (header == null || header.trim() === '') return undefined
  const s = header.trim()
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000)
  const at = Date.parse(s)
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs)
}

/** Exponential backoff for the `failures`-th failure in a row (1, 2, ...): half fixed, half random, capped. */
export function backoffMs(failures: number, baseMs: number, maxMs: number, random: () => number = Math.random) {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1))
  return Math.round(ceiling / 2 + (random() * ceiling) / 2)
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function pause(ms: number, signal?: AbortSignal) {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const stop = () => { clearTimeout(t); reject(signal!.reason) }
    const t = setTimeout(() => { signal?.removeEventListener('abort', stop); resolve() }, ms)
    signal?.addEventListener('abort', stop, { once: true })
  })
}

/** What a request passes through: `before` each try (wait, or throw to refuse), `after` each answer (`error` set for an error answer). */
export interface Gate {
  before?(key: string, signal?: AbortSignal): Promise<void> | void
  after?(key: string, res: Response, error?: HttpError): void
}

/** Waits for a free slot `gapMs` after the previous request to the same key; a 429's wait holds the key for every caller. */
export function pacer() {
  const next = new Map<string, number>()
  const after: Gate['after'] = (key, _res, error) => {
    if (error?.retryAfterMs) next.set(key, Math.max(next.get(key) ?? 0, Date.now() + error.retryAfterMs))
  }
  return {
    /** Records 429 holds only: the caller paces itself. */
    after,
    /** A gate keeping `gapMs` between requests to one key (all callers share the slots), honouring holds. */
    every(gapMs: number): Gate {
      return {
        async before(key, signal) {
          signal?.throwIfAborted()
          const t = Date.now()
          const at = Math.max(t, next.get(key) ?? 0)
          next.set(key, at + gapMs)
          if (at > t) await pause(at - t, signal)
        },
        after,
      }
    },
  }
}

/** What a server last said of a key's request weight: used this minute, and after a 429/418 when requests may resume. */
export interface WeightState { usedWeight: number; until: number; status?: number; minute?: number }

/** Ms to wait before the next request once `share` of this minute's `limit` is used; 0 when it may go. */
export function weightWaitMs(b: { usedWeight: number; minute?: number }, now: number, limit: number, share: number) {
  const minute = Math.floor(now / 60_000)
  if (b.minute !== minute || b.usedWeight < limit * share) return 0
  return (minute + 1) * 60_000 - now + 50
}

/**
 * A gate for a per-minute request weight the server reports in `header` (Binance's
 * `X-MBX-USED-WEIGHT-1M`): once `share` of `limit(key)` is used, requests wait for the next minute
 * (told to `onPause`); after a 429 or 418 with a wait, requests are refused without sending until
 * it ends, so retries cannot turn a 429 into a ban. `state` is by key (a REST base).
 */
export function weightBudget(o: { name: string; header: string; limit: (key: string) => number; share: () => number; onPause?: (key: string, usedWeight: number, waitMs: number) => void }) {
  const state = new Map<string, WeightState>()
  const of = (key: string) => { const b = state.get(key) ?? { usedWeight: 0, until: 0 }; state.set(key, b); return b }
  return {
    state,
    async before(key: string, signal?: AbortSignal) {
      const b = of(key)
      if (Date.now() < b.until) throw new HttpError(b.status ?? 429, `${o.name} asked to wait (HTTP ${b.status}); ${Math.ceil((b.until - Date.now()) / 1000)} s left`, { retryAfterMs: b.until - Date.now() })
      const wait = weightWaitMs(b, Date.now(), o.limit(key), o.share())
      if (wait > 0) { o.onPause?.(key, b.usedWeight, wait); await pause(wait, signal) }
    },
    after(key: string, res: Response, error?: HttpError) {
      const b = of(key)
      const used = res.headers.get(o.header)
      if (used !== null && Number.isFinite(Number(used))) Object.assign(b, { usedWeight: Number(used), minute: Math.floor(Date.now() / 60_000) })
      if (error?.retryAfterMs && (error.status === 429 || error.status === 418)) Object.assign(b, { until: Date.now() + error.retryAfterMs, status: error.status })
    },
  } satisfies Gate & { state: Map<string, WeightState> }
}

/** A sliding window of request times, so that no `windowMs` holds more than `limit` requests. */
export function rateWindow(limit: number, windowMs = 60_000) {
  const times: number[] = []
  const expire = (now: number) => { while (times.length && times[0] <= now - windowMs) times.shift() }
  return {
    /** How long to wait before the next request may go out (0: now). */
    waitMs(now: number) { expire(now); return times.length < limit ? 0 : times[0] + windowMs - now },
    record(now: number) { times.push(now) },
    count(now: number) { expire(now); return times.length },
  }
}

export interface RequestOptions {
  fetch?: typeof fetch
  headers?: Record<string, string>
  /** Ends a gate's wait, a backoff and the request in flight; the call then rejects with its reason. */
  signal?: AbortSignal
  /** Per try (default 10 s). */
  timeoutMs?: number
  /** Who answers, for messages: `Binance`. */
  name?: string
  /** The message of an error answer (default `<name> answered HTTP <status> for <url>`); `body` is the JSON, or the text when it is none. */
  explain?: (status: number, body: unknown, url: string) => string
  /** The wait an error answer asks for, from its status and `Retry-After` (ms, undefined when absent). Default: the `Retry-After`. */
  waitFor?: (status: number, retryAfterMs: number | undefined) => number | undefined
  /** The API error code in an error answer's JSON. */
  codeOf?: (body: any) => number | undefined
  gate?: Gate
  /** The gate's key (default: the URL's origin). */
  key?: string
  /** Tries after a first that failed with `retryIf` true (default 0), after its `retryAfterMs` or a backoff. */
  retries?: number
  retryIf?: (e: HttpError) => boolean
  backoffBaseMs?: number
  backoffMaxMs?: number
  random?: () => number
  now?: () => number
}

/** A successful answer: its text, and its JSON (undefined when the text is none). */
export interface Answer { status: number; headers: Headers; text: string; json: unknown }

/** Worth asking again: no answer, a timeout, a 429 or server trouble. Other 4xx need a fix, not a retry. */
export const retryable = (e: HttpError) => e.status === 0 || e.status === 408 || e.status === 429 || e.status >= 500

/**
 * GETs `url` through the gate, with a timeout, retrying as `retries` and `retryIf` say. Resolves
 * with the answer when it is a 2xx; throws an `HttpError` otherwise, or the signal's reason once it aborts.
 * @example const { json } = await request(url, { name: 'Binance', signal, gate: weights, key: base })
 */
export async function request(url: string, o: RequestOptions = {}): Promise<Answer> {
  for (let attempt = 1; ; attempt++) {
    try { return await once(url, o) } catch (e) {
      if (!(e instanceof HttpError) || attempt > (o.retries ?? defaults.retries) || !(o.retryIf ?? retryable)(e) || o.signal?.aborted) throw e
      await pause(e.retryAfterMs ?? backoffMs(attempt, o.backoffBaseMs ?? defaults.backoffBaseMs, o.backoffMaxMs ?? defaults.backoffMaxMs, o.random), o.signal)
    }
  }
}

/** One try of `request`. */
async function once(url: string, o: RequestOptions): Promise<Answer> {
  const key = o.key ?? new URL(url).origin
  const name = o.name ?? new URL(url).host
  await o.gate?.before?.(key, o.signal)
  o.signal?.throwIfAborted()
  const timeoutMs = o.timeoutMs ?? defaults.timeoutMs
  const timeout = AbortSignal.timeout(timeoutMs)
  let res: Response
  try {
    res = await (o.fetch ?? fetch)(url, { headers: o.headers, signal: o.signal ? AbortSignal.any([o.signal, timeout]) : timeout })
  } catch (e) {
    if (o.signal?.aborted) throw o.signal.reason
    const why = timeout.aborted ? `timed out after ${timeoutMs} ms` : (e as any)?.cause?.code ?? (e as Error)?.message ?? String(e)
    throw new HttpError(0, `${name} request failed (${why}) for ${url}`, { url, cause: e })
  }
  const text = await res.text().catch(() => '')
  let json: unknown
  try { json = JSON.parse(text) } catch { /* an HTML error page or nothing: `text` has it */ }
  if (res.ok) { o.gate?.after?.(key, res); return { status: res.status, headers: res.headers, text, json } }
  const body = json !== undefined ? json : text
  const header = retryAfterMs(res.headers.get('retry-after'), (o.now ?? Date.now)())
  const error = new HttpError(res.status, o.explain ? o.explain(res.status, body, url) : `${name} answered HTTP ${res.status} for ${url}`, {
    url, body: text.slice(0, defaults.snippetChars), retryAfterMs: o.waitFor ? o.waitFor(res.status, header) : header, code: o.codeOf?.(json),
  })
  o.gate?.after?.(key, res, error)
  throw error
}
