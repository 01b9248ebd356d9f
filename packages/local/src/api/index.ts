/**
 * The local HTTP API: Node's HTTP requests turned into API Gateway HTTP API (payload v2) events
 * for the real handler of `@ticklake/functions/api`, and its results written back, so the local
 * cloud answers `/api/*` with the same code that runs in Lambda. `localApiHandler` wires that
 * handler to the local adapters: DuckDB over the lake, the file store, the Firehose emulator and
 * the key file `<data>/state/api-keys.json`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { randomUUID } from 'node:crypto'
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda'
import type { ApiDeps, ApiRequest, ApiResponse } from '@ticklake/core/serve/api'
import type { ObjectStore, RecordStream } from '@ticklake/core/ports'
import type { QueryEngine, Statement } from '@ticklake/core/serve/query'
import { recordCorrupt } from '@ticklake/core/lake/quality'
import { duckdbEngine, type DuckOptions } from '../duckdb/index'

export const defaults = {
  /** API Gateway's payload limit is 10 MB; ingest takes 1 MB, so more is refused before reading on. */
  maxBodyBytes: 2 * 1024 * 1024,
  timeoutMs: 30_000,
}

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>

/** An HTTP API v2 event of a request and its body, as API Gateway would deliver it. */
export function httpEventOf(req: IncomingMessage, body: string | undefined, now = Date.now()): APIGatewayProxyEventV2 {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const rawPath = q < 0 ? url : url.slice(0, q)
  const rawQueryString = q < 0 ? '' : url.slice(q + 1)
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v
  const query: Record<string, string> = {}
  try { for (const [k, v] of new URLSearchParams(rawQueryString)) query[k] = k in query ? `${query[k]},${v}` : v } catch { /* the handler says what is wrong */ }
  const method = (req.method ?? 'GET').toUpperCase()
  return {
    version: '2.0', routeKey: '$default', rawPath, rawQueryString, headers,
    queryStringParameters: Object.keys(query).length ? query : undefined,
    requestContext: {
      accountId: 'local', apiId: 'local', domainName: headers.host ?? 'localhost', domainPrefix: 'local', requestId: randomUUID(), routeKey: '$default', stage: '$default',
      time: new Date(now).toUTCString(), timeEpoch: now,
      http: { method, path: rawPath, protocol: `HTTP/${req.httpVersion}`, sourceIp: req.socket.remoteAddress ?? '127.0.0.1', userAgent: headers['user-agent'] ?? '' },
    },
    body, isBase64Encoded: false,
  }
}

function readBody(req: IncomingMessage, limit: number) {
  return new Promise<string | undefined>((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => { size += c.length; if (size > limit) { req.pause(); resolve(undefined) } else chunks.push(c) })
    req.on('end', () => resolve(size ? Buffer.concat(chunks).toString('utf8') : ''))
    req.on('error', reject)
  })
}

type Early = (req: Omit<ApiRequest, 'body'>) => Promise<ApiResponse | undefined>

/**
 * Serves one request with an HTTP API v2 handler. `early` answers from the method, path and
 * headers before the body is read (core's `preflight`: 401 without a valid key, 415, 413), so a
 * refused upload is never received.
 */
export async function serveHttpEvent(handler: Handler, req: IncomingMessage, res: ServerResponse, early?: Early) {
  if (early && req.method !== 'GET' && req.method !== 'HEAD') {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v
    const answer = await early({ method: req.method ?? 'GET', path: q < 0 ? url : url.slice(0, q), rawQuery: q < 0 ? '' : url.slice(q + 1), headers })
    if (answer) {
      // the body is not read: the connection closes after the answer instead of draining it
      res.writeHead(answer.status, { ...answer.headers, 'access-control-allow-origin': '*', connection: 'close' })
      res.end(answer.body)
      req.resume()
      return
    }
  }
  const body = await readBody(req, defaults.maxBodyBytes)
  if (body === undefined) {
    res.writeHead(413, { 'content-type': 'application/json', connection: 'close' })
    return res.end(JSON.stringify({ error: `body is over ${defaults.maxBodyBytes} bytes` }))
  }
  const started = Date.now()
  const context = { functionName: 'ticklake-api', awsRequestId: randomUUID(), getRemainingTimeInMillis: () => defaults.timeoutMs - (Date.now() - started) } as unknown as Context
  const out = await handler(httpEventOf(req, body || undefined), context)
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(out.headers ?? {})) headers[k.toLowerCase()] = String(v)
  res.writeHead(out.statusCode ?? 200, headers)
  res.end(req.method === 'HEAD' ? undefined : out.body ?? '')
}

/**
 * A query engine made on its first query: DuckDB, its library and its threads take about 50 MB of a
 * server nobody has queried yet (`ticklake start` with the page open reads the serving windows and
 * the WebSocket, not the engine). An engine that could not be made is tried again on the next query.
 */
export function lazyEngine(make: () => Promise<QueryEngine & { close(): void }>) {
  let made: Promise<QueryEngine & { close(): void }> | undefined
  let closed = false
  const engine = () => (made ??= make().catch((e) => { made = undefined; throw e }))
  return {
    query: async (st: Statement) => {
      if (closed) throw new Error('the query engine is closed')
      return (await engine()).query(st)
    },
    close: () => { closed = true; void made?.then((e) => e.close(), () => {}) },
  }
}

/**
 * The API handler over the local adapters, and its `preflight` for `serveHttpEvent`; `close()`
 * ends its DuckDB engine. A lake file DuckDB finds corrupt is recorded under `quality/corrupt/`
 * (and skipped by the engine). The API (Hono and zod) is loaded here, on first use, so that CLI
 * commands importing the local cloud for its defaults do not load it.
 */
export async function localApiHandler(o: { dataDir: string; store: ObjectStore; stream?: RecordStream; duckdb?: DuckOptions } & Partial<ApiDeps>) {
  const [{ createApiHandler }, { objectKeyStore, preflight }] = await Promise.all([import('@ticklake/functions/api'), import('@ticklake/core/serve/api')])
  const engine = lazyEngine(() => duckdbEngine(o.dataDir, {
    onCorrupt: (f) => recordCorrupt(o.store, { ...f, detected_at: Date.now(), reader: 'api (duckdb)' }).then(() => {}),
    ...o.duckdb,
  }))
  const keys = o.keys ?? objectKeyStore(o.store)
  const handler = createApiHandler({ ...o, keys, engine }) as unknown as Handler
  return { handler, engine, preflight: (req: Omit<ApiRequest, 'body'>) => preflight({ keys }, req), close: () => engine.close() }
}
