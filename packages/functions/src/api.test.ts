/**
 * The HTTP API function as Lambda runs it: API Gateway HTTP API v2 events through middy, CORS and
 * the error handler, onto core's routes. (The routes over a real lake: @ticklake/local src/api.)
 */
import { describe, expect, it } from 'vitest'
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda'
import { awsApiDeps, createApiHandler, requestOf } from './api'

const event = (o: Partial<APIGatewayProxyEventV2> & { method?: string } = {}): APIGatewayProxyEventV2 => ({
  version: '2.0', routeKey: '$default', rawPath: '/api/health', rawQueryString: '', headers: {}, isBase64Encoded: false,
  requestContext: { http: { method: o.method ?? 'GET', path: o.rawPath ?? '/api/health', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' } } as any,
  ...o,
})
const context = { getRemainingTimeInMillis: () => 10_000 } as Context
const engine = { query: async () => [] }
const store = { get: async () => undefined, head: async () => undefined, put: async () => ({ etag: '' }), list: async () => [], delete: async () => {} }

describe('api function', () => {
  it('reads an HTTP API v2 event into core’s request, decoding a base64 body', () => {
    const r = requestOf(event({ method: 'POST', rawPath: '/api/ingest', rawQueryString: 'a=1', body: Buffer.from('[1]').toString('base64'), isBase64Encoded: true, headers: { 'x-api-key': 'k' } }))
    expect(r).toEqual({ method: 'POST', path: '/api/ingest', rawQuery: 'a=1', headers: { 'x-api-key': 'k' }, body: '[1]' })
  })

  it('answers with the route’s JSON and CORS headers, and 400 for bad input', async () => {
    const handler = createApiHandler({ engine, store })
    const ok = await handler(event({ headers: { origin: 'https://example.test' } }), context)
    expect(ok.statusCode).toBe(200)
    expect(JSON.parse(ok.body!)).toMatchObject({ ok: true })
    expect(ok.headers?.['Access-Control-Allow-Origin'] ?? ok.headers?.['access-control-allow-origin']).toBe('*')
    const bad = await handler(event({ rawPath: '/api/candles', rawQueryString: 'symbol=nope' }), context)
    expect(bad.statusCode).toBe(400)
    expect(JSON.parse(bad.body!).error).toMatch(/symbol must look like BTC-USDT/)
  })

  it('answers 500 with a JSON error, not a crash, when its adapters cannot be built', async () => {
    const handler = createApiHandler(() => awsApiDeps({}))
    const res = await handler(event(), context)
    expect(res.statusCode).toBe(500)
    expect(JSON.parse(res.body!)).toEqual({ error: 'internal error' })
  })
})
