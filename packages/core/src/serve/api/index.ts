/**
 * The HTTP API's logic, independent of where it runs: a Hono app (`@hono/zod-openapi`) serving the
 * routes that `./openapi.ts` defines, whose zod schemas validate and parse each query and generate
 * `/api/openapi.json`. Queries go through the `QueryEngine` port (Athena or DuckDB) with bound
 * parameters, behind a TTL cache per query type; `POST /api/ingest` takes trades from API-key
 * holders into the delivery stream. The Lambda handler (`@ticklake/functions/api`) and the local
 * cloud both call `createApi(...).handle`, which hands one request to the app. What Hono does not
 * say the way this API does is kept here, small: a URL of malformed percent-encoding is a 400
 * (Hono would read it as is), a query's shape (unknown, repeated, overlong parameters) is checked
 * before its values, 405 with `Allow` for a known path, and `preflight` answers an upload from its
 * headers before its body is read (the local server asks it; in Lambda the body is already read).
 */
import { OpenAPIHono, type RouteConfig } from '@hono/zod-openapi'
import type { Context, MiddlewareHandler } from 'hono'
import { byText, isSimulated, isSymbol } from '../../market/index'
import {
  QueryInputError, QueryLimitError, candlesQuery, exchangesOf, exchangeStatusOf, featuresQuery, lastTradesQuery, latestQuery,
  statisticsOf, statisticsQuery, symbolSpanQuery, maxSpanMs, type FeatureKind, type QueryEngine, type Row,
} from '../query/index'
import { listQuality, stallOpen } from '../../lake/quality/index'
import type { Clock, ObjectStore, RecordStream } from '../../ports/index'
import { ttlCache, type TtlCache } from './cache'
import { tokenBuckets, verifyApiKey, writableExchanges, type ApiKeyRecord, type ApiKeyStore } from './keys'
import { batchOf, ingestTrades, refusedExchanges, defaults as ingestDefaults, utf8Length } from './ingest'
import { DEFS, ROUTES, openApi, defaults as docDefaults } from './openapi'

export { ttlCache } from './cache'
export { addApiKey, listApiKeys, jsonKeyStore, objectKeyStore, newApiKey, verifyApiKey, tokenBuckets, exchangesProblem, writableExchanges, type ApiKeyStore, type ApiKeyRecord } from './keys'
export { openApi, parseTime, ROUTES } from './openapi'

export const defaults = {
  ...docDefaults,
  /** Window of the ingest rate in `/api/status`. */
  rateWindowMs: 5 * 60_000,
  /** How far back `/api/status` looks for a source's last trade. */
  statusLookbackMs: 24 * 3_600_000,
  /** Bytes of a JSON answer (more: 413; about 20,000 1m candles); the Lambda handler sets its 6 MB response limit. */
  maxAnswerBytes: 8 * 1024 * 1024,
}

/** True when every `%` of a URL part starts a sequence that decodes (UTF-8 included). */
const wellEncoded = (part: string) => { try { decodeURIComponent(part); return true } catch { return false } }

/** A request as both API Gateway and the local server can give it. */
export interface ApiRequest { method: string; path: string; rawQuery?: string; headers?: Record<string, string | undefined>; body?: string }
export interface ApiResponse { status: number; headers: Record<string, string>; body: string }

export interface ApiDeps {
  engine: QueryEngine
  /** The lake: quality records, DLQ and gold freshness for `/api/status`. */
  store: ObjectStore
  /** The trades delivery stream for `POST /api/ingest` (absent: ingest answers 503). */
  stream?: RecordStream
  keys?: ApiKeyStore
  clock?: Clock
  cache?: TtlCache
  /** Requests per second and burst per API key. */
  rate?: { perSecond: number; burst: number }
  /** Extra fields of `/api/health` (the local cloud adds its source, symbols, connections...). */
  health?: () => Record<string, unknown> | Promise<Record<string, unknown>>
  exchange?: string
  /** One line per request: method, path, status, time, key name. Never a key. */
  log?: (line: string) => void
  /** Bytes of a JSON answer (default `defaults.maxAnswerBytes`): a larger one is answered 413. */
  maxAnswerBytes?: number
}

/** What a route's handler gets: the adapters, the request's time, the cache and the key (ingest). */
interface Ctx { deps: ApiDeps; now: number; cache: TtlCache; keyName?: string; key?: ApiKeyRecord; text?: string }
type Env = { Bindings: { ctx: Ctx } }

/** The cache TTL type of a history query: minutes once its range is over, seconds while open. */
const historyTtl = (input: { to?: number }, now: number) => (input.to !== undefined && input.to <= now ? undefined : 'recent')

const stripRn = (rows: Row[]) => rows.map(({ rn, ...r }) => r)


const iso = (ms?: number) => (ms === undefined ? null : new Date(ms).toISOString())

/**
 * The (exchange, symbol) pairs the lake holds, from small listings rather than a table scan: the
 * candle job's serving windows (`serving/<exchange>/<symbol>/<tf>.json`) and ingest's checkpoints
 * (`state/checkpoints/<exchange>/<symbol>.json`).
 */
export async function lakeSymbols(store: ObjectStore): Promise<{ exchange: string; symbol: string }[]> {
  const seen = new Map<string, { exchange: string; symbol: string }>()
  const [serving, checkpoints] = await Promise.all([store.list('serving/'), store.list('state/checkpoints/')])
  for (const o of [...serving, ...checkpoints]) {
    const parts = o.key.replace(/^state\//, '').split('/')
    const exchange = parts[1]
    const symbol = parts[2]?.replace(/\.json$/, '')
    if (exchange && /^[a-z][a-z0-9-]{0,30}$/.test(exchange) && isSymbol(symbol)) seen.set(`${exchange}/${symbol}`, { exchange, symbol })
  }
  return [...seen.values()].sort((a, b) => byText(a.exchange, b.exchange) || byText(a.symbol, b.symbol))
}

async function status(c: Ctx) {
  const { engine, store } = c.deps
  const [symbols, quality, dlq, errors, gold, corrupt] = await Promise.all([lakeSymbols(store), listQuality(store), store.list('dlq/'), store.list('errors/'), store.list('gold/candles/'), store.list('quality/corrupt/')])
  const stalls = quality.stalls.filter((x) => stallOpen(x, c.now))
  const sources = []
  // the per-symbol queries all in flight at once (each an Athena round trip in AWS)
  const results = await Promise.all(symbols.map((s) => Promise.all([
    engine.query(lastTradesQuery({ ...s, since: c.now - defaults.rateWindowMs })),
    engine.query(lastTradesQuery({ ...s, since: c.now - defaults.statusLookbackMs })),
  ])))
  for (const [i, s] of symbols.entries()) {
    const [recent, day] = results[i]
    const recentBy = new Map(recent.map((r) => [String(r.source), Number(r.records)]))
    const gaps = { found: 0, filled: 0, deferred: 0, unfillable: 0 }
    for (const g of quality.gaps) if (g.exchange === s.exchange && g.symbol === s.symbol) { gaps.found++; gaps[g.kind]++ }
    for (const r of day) {
      sources.push({
        exchange: s.exchange, symbol: s.symbol, source: String(r.source),
        last_trade_time: String(r.last_trade_time), last_ingest_time: String(r.last_ingest_time),
        lag_ms: Math.max(0, c.now - Date.parse(String(r.last_trade_time))),
        ingest_rate_per_s: Number(((recentBy.get(String(r.source)) ?? 0) / (defaults.rateWindowMs / 1000)).toFixed(3)),
        records_24h: Number(r.records), gaps,
        simulated: isSimulated(s.exchange), stalled: stalls.some((x) => x.exchange === s.exchange && x.symbol === s.symbol),
      })
    }
  }
  const bySource: Record<string, number> = {}
  for (const o of dlq) { const src = o.key.split('/')[1] ?? '?'; bySource[src] = (bySource[src] ?? 0) + 1 }
  const newest = gold.reduce<typeof gold[number] | undefined>((a, o) => (!a || o.lastModified > a.lastModified ? o : a), undefined)
  return {
    time: new Date(c.now).toISOString(), sources,
    stalls: stalls.map((x) => ({ exchange: x.exchange, symbol: x.symbol, since: new Date(x.since).toISOString(), detected_at: new Date(x.detected_at).toISOString(), reason: x.reason, fetched: x.fetched })),
    dlq: { files: dlq.length, by_source: bySource, conversion_errors: errors.length },
    lake: { newest_gold_key: newest?.key ?? null, newest_gold_time: newest ? new Date(newest.lastModified).toISOString() : null, freshness_ms: newest ? Math.max(0, c.now - newest.lastModified) : null, corrupt_files: corrupt.length },
    exchanges: exchangeStatusOf({ now: c.now, symbols, sources, stalls, gold }),
  }
}


const RAW = Symbol('raw')
const answerCap = (c: Ctx) => c.deps.maxAnswerBytes ?? defaults.maxAnswerBytes
/** A body serialized once (kept so by the cache); over the answer cap, a 413 that says what to do. */
function raw(c: Ctx, body: unknown) {
  const text = JSON.stringify(body)
  const cap = answerCap(c)
  if (utf8Length(text) > cap) throw new QueryLimitError(`the answer is over ${cap} bytes: narrow from/to or lower limit`, 413)
  return { [RAW]: text }
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }
/**
 * A JSON response (a body `raw` serialized is sent as it is). Its text goes to `handle` beside the
 * Response rather than through its byte stream, which would encode and decode a large answer again.
 */
function send(c: Context<Env>, status: number, body: any, headers: Record<string, string> = {}) {
  c.env.ctx.text = body?.[RAW] ?? JSON.stringify(body)
  return c.body(null, status as 200, { ...JSON_HEADERS, ...headers })
}

const header = (req: Pick<ApiRequest, 'headers'>, name: string) => Object.entries(req.headers ?? {}).find(([k]) => k.toLowerCase() === name)?.[1]
const KEY_REFUSED: { status: number; body: object; headers?: Record<string, string> } = { status: 401, body: { error: 'missing or invalid API key: send it in the x-api-key header' }, headers: { 'www-authenticate': 'ApiKey header="x-api-key"' } }

/** What a request says of its body before it is read: 415 unless JSON, 413 over the limit in bytes. */
function bodyProblem(type: string | undefined, bytes: number | undefined): typeof KEY_REFUSED | undefined {
  if (type !== undefined && !/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) return { status: 415, body: { error: `content-type must be application/json (got ${JSON.stringify(type.slice(0, 60))})` } }
  if (bytes !== undefined && bytes > ingestDefaults.maxBodyBytes) return { status: 413, body: { error: `body is over ${ingestDefaults.maxBodyBytes} bytes` } }
  return undefined
}

const BODY_ROUTES = new Set(Object.values(DEFS).filter((d) => d.request?.body).map((d) => `${d.method.toUpperCase()} ${d.path}`))
const PATHS = new Map<string, string[]>()
for (const d of Object.values(DEFS)) PATHS.set(d.path, [...(PATHS.get(d.path) ?? []), d.method.toUpperCase()])
/** A path without its trailing slashes. */
const pathOf = (path: string) => (path.length > 1 ? path.replace(/\/+$/, '') : path)

/**
 * What can be answered from a request's method, path and headers alone, before its body is read
 * (the local server asks this first): 401 for a route that needs an API key and has none valid,
 * 415 for a body that is not JSON, 413 for a `content-length` over the limit. Undefined when the
 * body should be read and the request handled in full.
 * @example const early = await preflight(deps, { method: 'POST', path: '/api/ingest', headers }); if (early) return early
 */
export async function preflight(deps: Pick<ApiDeps, 'keys'>, req: Omit<ApiRequest, 'body'>): Promise<ApiResponse | undefined> {
  if (!BODY_ROUTES.has(`${req.method.toUpperCase()} ${pathOf(req.path)}`)) return undefined
  const early = !(deps.keys && (await verifyApiKey(deps.keys, header(req, 'x-api-key')))) ? KEY_REFUSED
    : bodyProblem(header(req, 'content-type'), /^\d{1,15}$/.test(header(req, 'content-length') ?? '') ? Number(header(req, 'content-length')) : undefined)
  return early && { status: early.status, headers: { ...JSON_HEADERS, ...early.headers }, body: JSON.stringify(early.body) }
}

/**
 * A query's shape before its values (zod's part): at most `maxQueryChars`, then in the query's
 * order known names only (an empty name too is unknown), each once, none over `maxParamChars`.
 */
const queryShape = (path: string, names: string[]): MiddlewareHandler => async (c, next) => {
  const rawQuery = new URL(c.req.url).search.slice(1)
  if (rawQuery.length > defaults.maxQueryChars) throw new QueryInputError(`query string is over ${defaults.maxQueryChars} characters`)
  const known = new Set(names)
  const seen = new Set<string>()
  for (const [k, v] of new URLSearchParams(rawQuery)) {
    if (!known.has(k)) throw new QueryInputError(`unknown parameter ${JSON.stringify(k.slice(0, 40))}: ${path} takes ${names.join(', ') || 'none'}`)
    if (seen.has(k)) throw new QueryInputError(`${k} is given more than once`)
    if (v.length > defaults.maxParamChars) throw new QueryInputError(`${k} is over ${defaults.maxParamChars} characters`)
    seen.add(k)
  }
  await next()
}

/**
 * The API for given adapters.
 * @example const api = createApi({ engine, store }); const res = await api.handle({ method: 'GET', path: '/api/candles', rawQuery: 'symbol=BTC-USDT' })
 */
export function createApi(deps: ApiDeps) {
  // Long by design: the Hono app and its routes over the adapters in this closure; each route is a few lines.
  const cache = deps.cache ?? ttlCache()
  const limiter = tokenBuckets(deps.rate)
  const clock = deps.clock ?? { now: () => Date.now() }
  const log = deps.log ?? (() => {})

  const app = new OpenAPIHono<Env>({
    // the first problem of a query, in the order of its parameters, is the 400's message
    defaultHook: (result, c) => { if (!result.success) return send(c, 400, { error: result.error.issues[0].message }) },
    getPath: (req) => pathOf(new URL(req.url).pathname),
  })
  app.onError((e: any, c) => {
    if (e instanceof QueryInputError) return send(c, 400, { error: e.message })
    if (e instanceof QueryLimitError) return send(c, e.status, { error: e.message }, e.status === 503 ? { 'retry-after': '1' } : {})
    log(`api error ${c.req.method} ${c.req.path}: ${String(e?.message ?? e).slice(0, 300)}`)
    return send(c, 500, { error: 'internal error' })
  })
  app.notFound((c) => send(c, 404, { error: `no such route ${JSON.stringify(c.req.path.slice(0, 80))}: see /api/openapi.json` }))

  /** The API key of a route that needs one (401 without), its token bucket (429), then its body: JSON (415), at most its bytes (413). */
  const keyed: MiddlewareHandler<Env> = async (c, next) => {
    const record = deps.keys ? await verifyApiKey(deps.keys, c.req.header('x-api-key')) : undefined
    if (!record) return send(c, KEY_REFUSED.status, KEY_REFUSED.body, KEY_REFUSED.headers)
    Object.assign(c.env.ctx, { keyName: record.name, key: record })
    const take = limiter.take(record.id)
    if (!take.ok) return send(c, 429, { error: 'rate limited: too many requests for this key' }, { 'retry-after': String(Math.ceil(take.retryAfterMs / 1000)) })
    const early = bodyProblem(c.req.header('content-type'), utf8Length(await c.req.text()))
    return early ? send(c, early.status, early.body) : next()
  }

  /** Registers a route of `DEFS` with its handler: its query's shape checked, then (zod) its values. */
  function serve<R extends RouteConfig>(def: R, run: (ctx: Ctx, q: any, c: Context<Env>) => Promise<unknown>) {
    const names = Object.keys((def.request?.query as { shape?: object } | undefined)?.shape ?? {})
    const middleware = [...(def.security ? [keyed] : []), queryShape(def.path, names)]
    app.openapi({ ...def, middleware }, (async (c: Context<Env>) => {
      const q = { ...(def.request?.query ? (c.req.valid as any)('query') : {}) }
      if (names.includes('exchange')) q.exchange ??= deps.exchange ?? defaults.exchange
      const out: any = await run(c.env.ctx, q, c)
      return out instanceof Response ? out : send(c, 200, out)
    }) as any)
  }


  serve(DEFS.health, async (c) => ({ ok: true, time: new Date(c.now).toISOString(), ...(await c.deps.health?.()) }))
  serve(DEFS.symbols, (c) => c.cache.get('symbols', {}, async () => {
    // one query per symbol (Athena's tables need the symbol named), all in flight at once
    const spans = await Promise.all((await lakeSymbols(c.deps.store)).map(async (s) => ({ s, span: (await c.deps.engine.query(symbolSpanQuery(s)))[0] })))
    const symbols = spans.filter(({ span }) => span && Number(span.candles) > 0)
      .map(({ s, span }) => ({ ...s, first_candle: String(span.first_candle), last_candle: String(span.last_candle), candles: Number(span.candles) }))
    return { symbols, exchanges: exchangesOf(symbols) }
  }))
  serve(DEFS.candles, async (c, q) => {
    const st = candlesQuery({ exchange: q.exchange, symbol: q.symbol, tf: q.tf, from: q.from, to: q.to, limit: q.limit, maxBytes: answerCap(c) })
    // the cache keeps the serialized answer: a warm request costs no query and no JSON.stringify
    return c.cache.get('candles', q, async () => {
      const candles = await c.deps.engine.query(st)
      return raw(c, { exchange: q.exchange, symbol: q.symbol, tf: q.tf, from: iso(q.from), to: iso(q.to), count: candles.length, candles })
    }, historyTtl(q, c.now))
  })
  serve(DEFS.latest, async (c, q) => {
    const rows = await c.cache.get('latest', q, () => c.deps.engine.query(latestQuery({ exchange: q.exchange, symbol: q.symbol, now: c.now })))
    const trade = rows[0] ?? null
    return { exchange: q.exchange, symbol: q.symbol, trade, age_ms: trade ? Math.max(0, c.now - Date.parse(String(trade.ts))) : null }
  })
  serve(DEFS.statistics, async (c, q) => {
    // the window starts at a minute (whole 1m candles) so that one cache entry serves that minute
    const from = Math.floor(c.now / 60_000) * 60_000 - Math.round(q.hours * 3_600_000)
    const rows = await c.cache.get('statistics', { ...q, from }, () => c.deps.engine.query(statisticsQuery({ exchange: q.exchange, symbol: q.symbol, from })))
    return statisticsOf(rows[0], { exchange: q.exchange, symbol: q.symbol, hours: q.hours, from, now: c.now })
  })
  serve(DEFS.features, async (c, q) => {
    // per-trade features are read a day at most: without to, the day from from; without from, the last day
    const span = maxSpanMs({ kind: q.kind })
    const trades = q.kind === 'trades'
    const to = trades && q.from !== undefined && q.to === undefined ? q.from + span : q.to
    const since = trades && q.from === undefined ? Math.floor((c.now - span) / 60_000) * 60_000 : undefined // a minute's requests share an entry
    const st = featuresQuery({ kind: q.kind as FeatureKind, exchange: q.exchange, symbol: q.symbol, from: q.from, to, limit: q.limit, since, maxBytes: answerCap(c) })
    return c.cache.get('features', { ...q, to, since }, async () => {
      const rows = stripRn(await c.deps.engine.query(st))
      return raw(c, { kind: q.kind, exchange: q.exchange, symbol: q.symbol, count: rows.length, rows })
    }, historyTtl(q, c.now))
  })
  serve(DEFS.status, (c) => c.cache.get('status', {}, () => status(c)))
  serve(DEFS.cacheStats, async (c) => c.cache.stats())
  serve(DEFS.openapi, async () => openApi())
  serve(DEFS.ingest, async (c, _q, hc) => {
    if (!c.deps.stream) return send(hc, 503, { error: 'ingest is not configured here (no delivery stream)' })
    const batch = batchOf(await hc.req.text())
    if ('error' in batch) return send(hc, batch.error.startsWith('body is over') ? 413 : 400, { error: batch.error })
    // the key writes its own exchange names only: a batch naming any other is refused whole
    const refused = c.key ? refusedExchanges(batch.records, writableExchanges(c.key), c.key.name) : []
    if (refused.length) return send(hc, 403, { error: `this key may not write ${refused.length} record(s) of this batch (their exchange is not one of the key's): nothing was written`, rejected: refused })
    return ingestTrades(c.deps.stream, batch.records, c.now * 1000)
  })
  // a known path asked with another method: OPTIONS lists the methods, anything else is 405
  for (const [path, methods] of PATHS) {
    app.all(path, (c) => (c.req.method === 'OPTIONS'
      ? c.body(null, 204, { allow: [...methods, 'OPTIONS'].join(', ') })
      : send(c, 405, { error: `${path} answers ${methods.join(', ')}` }, { allow: methods.join(', ') })))
  }

  return {
    cache,
    /** Answers one request; bad input is a 400 saying what was wrong, a failure a 500 (logged). */
    async handle(req: ApiRequest): Promise<ApiResponse> {
      const t0 = performance.now()
      const ctx: Ctx = { deps, now: clock.now(), cache }
      const rawQuery = req.rawQuery ?? ''
      let res: Response
      if (!wellEncoded(req.path) || !wellEncoded(rawQuery)) res = new Response(JSON.stringify({ error: 'the request URL is not valid percent-encoding' }), { status: 400, headers: JSON_HEADERS })
      else res = await app.fetch(fetchRequestOf(req), { ctx })
      const headers: Record<string, string> = {}
      res.headers.forEach((v, k) => { headers[k] = v })
      const out = { status: res.status, headers, body: ctx.text ?? await res.text() }
      // writes and refusals are logged (the key's name, never the key); answered reads are not
      if (req.method.toUpperCase() !== 'GET' || out.status >= 400) log(`api ${req.method} ${req.path} ${out.status} ${(performance.now() - t0).toFixed(1)}ms${ctx.keyName ? ` key=${ctx.keyName}` : ''}`)
      return out
    },
  }
}

export type Api = ReturnType<typeof createApi>

/** Headers a fetch `Request` takes: hop-by-hop and length headers are the transport's, and a value it refuses is left out. */
const SKIP = new Set(['content-length', 'transfer-encoding', 'connection', 'host', 'keep-alive', 'upgrade'])

/** The fetch `Request` of an API request (a body only where the method may carry one; HEAD is answered as GET, with its body). */
function fetchRequestOf(req: ApiRequest): Request {
  const headers = new Headers()
  for (const [k, v] of Object.entries(req.headers ?? {})) if (v !== undefined && !SKIP.has(k.toLowerCase())) try { headers.append(k, v) } catch { /* not a legal header value */ }
  const method = req.method.toUpperCase() === 'HEAD' ? 'GET' : req.method.toUpperCase()
  const url = `http://api${req.path.startsWith('/') ? '' : '/'}${req.path}${req.rawQuery ? `?${req.rawQuery}` : ''}`
  // bytes, not a string: a string body would bring a content-type (text/plain) the request did not send
  return new Request(url, { method, headers, body: method === 'GET' ? undefined : new TextEncoder().encode(req.body ?? '') })
}
