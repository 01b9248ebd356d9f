import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { ApiGatewayManagementApiClient, GetConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi'
import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda'
import { apigwPoster } from '@ticklake/core/aws/apigw'
import { broadcast } from '@ticklake/core/serve/realtime/server'
import type { ObjectStore } from '@ticklake/core/ports'
import { createRealtimeHandlers } from '@ticklake/functions/realtime'
import { memoryConnectionStore } from '../connections/index'
import { memoryStore } from '../store/index'
import { createGateway, requestTime, type Gateway, type GatewayOptions } from './index'

const BTC = 'candles:binance:BTC-USDT:1m'
const candle = { open_time: 1, close: 5 }

/** A store holding one serving window. */
async function objects(): Promise<ObjectStore> {
  const store = memoryStore()
  await store.put('serving/binance/BTC-USDT/1m.json', JSON.stringify({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', updated_at: 1, candles: [candle] }))
  return store
}

const cleanups: (() => Promise<unknown> | void)[] = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

/** A node:http server on a free port serving the gateway (upgrade and management API) and 404 for the rest. */
async function mount(opts: GatewayOptions) {
  const gateway: Gateway = createGateway(opts)
  const server: Server = createServer((req, res) => { void gateway.handleManagement(req, res).then((done) => { if (!done) { res.statusCode = 404; res.end() } }) })
  server.on('upgrade', (req, socket, head) => { if (!gateway.handleUpgrade(req, socket, head)) socket.destroy() })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  cleanups.push(async () => {
    await gateway.close()
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })
  return { gateway, server, port, url: `http://127.0.0.1:${port}` }
}

/** The local cloud's wiring: the real handlers, the memory connection store, the real SDK poster. */
async function cloud(opts: Partial<GatewayOptions> = {}) {
  const store = memoryConnectionStore()
  // The management endpoint is the server's own address, known once it listens.
  let poster: ReturnType<typeof apigwPoster> | undefined
  const h = createRealtimeHandlers({ store, poster: { post: (id, data) => poster!.post(id, data) }, objects: await objects() })
  const m = await mount({ routes: { $connect: h.connect, $disconnect: h.disconnect, subscribe: h.message, unsubscribe: h.message, ping: h.message, $default: h.message }, ...opts })
  poster = apigwPoster(m.url)
  return { ...m, store, poster }
}

/** A connected client with a queue of parsed frames and `next()` to await the next one. */
async function client(port: number, path = '/ws') {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`)
  cleanups.push(() => ws.terminate())
  const frames: any[] = []
  const waiters: ((m: any) => void)[] = []
  ws.on('message', (d) => { const m = JSON.parse(d.toString()); const w = waiters.shift(); if (w) w(m); else frames.push(m) })
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j) })
  const next = () => (frames.length ? Promise.resolve(frames.shift()) : new Promise<any>((r) => waiters.push(r)))
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)))
  return { ws, next, closed, frames, send: (s: string | Buffer) => ws.send(s) }
}

/** The HTTP status a refused upgrade answers with; -1 when the socket is dropped without one. */
const upgradeStatus = (port: number, path: string) => new Promise<number>((r) => {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`)
  ws.on('unexpected-response', (_req, res) => { r(res.statusCode!); res.resume(); ws.terminate() })
  ws.on('open', () => { r(101); ws.terminate() })
  ws.on('error', () => r(-1))
})

const until = async (ok: () => boolean | Promise<boolean>, ms = 2_000) => {
  const end = Date.now() + ms
  while (!(await ok())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('WebSocket gateway emulator with the real realtime handlers', () => {
  it('subscribes a client, sends the snapshot from the serving window, and delivers broadcasts through the real management API client', async () => {
    const { port, store, poster } = await cloud()
    const c = await client(port)
    c.send(JSON.stringify({ action: 'subscribe', channels: [BTC] }))
    expect(await c.next()).toEqual({ type: 'subscribed', channels: [BTC] })
    expect(await c.next()).toEqual({ type: 'snapshot', channel: BTC, candles: [candle] })
    const message = { type: 'candle' as const, channel: BTC, candle: candle as any, final: false }
    expect(await broadcast({ store, poster, channel: BTC, message })).toEqual({ sent: 1, gone: 0, failed: 0 })
    expect(await c.next()).toEqual(message)
  })

  it('answers hostile input with error codes and keeps serving a second client', async () => {
    const { port } = await cloud()
    const bad = await client(port)
    const good = await client(port)
    const cases: [string, string][] = [
      ['{nope', 'bad_json'], ['{"action":"dance"}', 'unknown_action'], ['{"action":"subscribe","channels":["candles:binance:BTC-USDT"]}', 'bad_channel'],
      [JSON.stringify({ action: 'subscribe', channels: Array.from({ length: 51 }, (_, i) => `trades:binance:C${i}-USDT`) }), 'too_many_subscriptions'],
      ['x'.repeat(40_000), 'too_large'], ['[]', 'bad_message'], ['{"action":"subscribe","channels":"all"}', 'bad_message'], ['', 'bad_json'],
    ]
    for (const [frame, code] of cases) {
      bad.send(frame)
      expect(await bad.next()).toMatchObject({ type: 'error', code })
    }
    good.send('{"action":"ping"}')
    expect(await good.next()).toMatchObject({ type: 'pong', time: expect.any(Number) })
    bad.send('{"action":"ping"}')
    expect(await bad.next()).toMatchObject({ type: 'pong' })
  })

  it('routes actions named after object built-ins to $default, answered unknown_action without a handler error or a stack trace', async () => {
    const logs: string[] = []
    const { port, gateway } = await cloud({ log: (l) => logs.push(l) })
    const c = await client(port)
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__']) {
      c.send(JSON.stringify({ action: name }))
      expect(await c.next()).toMatchObject({ type: 'error', code: 'unknown_action' })
    }
    c.send('{"action":"subscribe","channels":["candles:binance:BTC-USDT:constructor"]}')
    expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_channel' })
    expect(gateway.stats().handlerErrors).toBe(0)
    expect(logs.filter((l) => /handler failed|\bat /.test(l))).toEqual([])
  })

  it('closes a flooding client with 1008 after rate_limited error frames, and keeps serving another client meanwhile', async () => {
    const { port, gateway } = await cloud({ ratePerSec: 20, burst: 10, maxStrikes: 30 })
    const flood = await client(port)
    const good = await client(port)
    for (let i = 0; i < 200; i++) flood.send('{"action":"ping"}')
    good.send('{"action":"ping"}')
    expect(await good.next()).toMatchObject({ type: 'pong' })
    expect(await flood.closed).toBe(1008)
    const kinds = flood.frames.map((m) => m.type === 'error' ? m.code : m.type)
    expect(kinds.filter((k) => k === 'pong').length).toBeLessThanOrEqual(12) // the burst, and what the rate refilled
    expect(kinds.filter((k) => k === 'rate_limited')).toHaveLength(30)
    expect(gateway.stats()).toMatchObject({ abusive: 1, rateLimited: expect.any(Number) })
    good.send('{"action":"ping"}')
    expect(await good.next()).toMatchObject({ type: 'pong' })
    expect(gateway.connections()).toBe(1)
  })

  it('answers random hostile frames from a real client with error codes or valid answers, and stays up for others', async () => {
    const { port } = await cloud({ ratePerSec: 10_000, burst: 10_000 })
    const hostile = await client(port)
    const frames = fc.sample(fc.oneof(
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      fc.record({ action: fc.constantFrom('subscribe', 'unsubscribe', 'ping', '$connect', 'x'), channels: fc.array(fc.oneof(fc.string(), fc.constantFrom(BTC, 'trades:binance:ETH-USDT', 'ticker:binance:BTC-USDT:1m')), { maxLength: 60 }) }).map((v) => JSON.stringify(v)),
    ).filter((f) => f.length > 0), { numRuns: 300, seed: 42 })
    for (const f of frames) hostile.send(f)
    hostile.send('{"action":"ping"}')
    await until(() => hostile.frames.some((m) => m.type === 'pong'), 10_000)
    const codes = new Set(['bad_json', 'bad_message', 'unknown_action', 'bad_channel', 'too_many_subscriptions', 'too_large'])
    for (const m of hostile.frames) {
      if (m.type === 'error') expect(codes).toContain(m.code)
      else if (!m.type) expect(m.message).toBe('Too Many Requests') // over 32 handler invocations still running, as API Gateway answers
      else expect(['subscribed', 'unsubscribed', 'snapshot', 'pong']).toContain(m.type)
    }
    const other = await client(port)
    other.send('{"action":"ping"}')
    expect(await other.next()).toMatchObject({ type: 'pong' })
  })

  it('closes a client that keeps sending over-size frames, after error frames', async () => {
    const { port } = await cloud({ maxStrikes: 3 })
    const c = await client(port)
    for (let i = 0; i < 5; i++) c.send('x'.repeat(33 * 1024))
    expect(await c.closed).toBe(1008)
    expect(c.frames.map((m) => m.code)).toEqual(['too_large', 'too_large', 'too_large'])
  })

  it('drops a client that never reads once its send budget is spent, while every reading client keeps receiving every frame', async () => {
    const { port, store, gateway } = await cloud({ maxBufferedBytes: 512 * 1024 })
    const ch = 'trades:binance:BTC-USDT'
    const readers = await Promise.all(Array.from({ length: 10 }, () => client(port)))
    const stuck = await client(port)
    for (const c of [...readers, stuck]) { c.send(JSON.stringify({ action: 'subscribe', channels: [ch] })); await c.next(); await c.next() }
    ;(stuck.ws as any)._socket.pause()
    const poster = gateway.poster()
    const pad = 'p'.repeat(30_000)
    const totals = { sent: 0, gone: 0, failed: 0 }
    for (let i = 0; i < 200; i++) {
      const r = await broadcast({ store, poster, channel: ch, message: { type: 'trade', channel: ch, trades: [{ id: i, time: i, price: 1, qty: 1, side: 'buy', pad } as any] } })
      for (const k of ['sent', 'gone', 'failed'] as const) totals[k] += r[k]
      await new Promise((r) => setTimeout(r, 2)) // updates come spaced out, as the coalescer sends them
    }
    await until(() => readers.every((r) => r.frames.length === 200), 5_000)
    for (const r of readers) expect(r.frames.map((m) => m.trades[0].id)).toEqual(Array.from({ length: 200 }, (_, i) => i))
    // the stuck client was dropped once, answered Gone once, and was forgotten: no frame queued for it after
    expect(gateway.stats().dropped).toBe(1)
    expect(totals.gone).toBe(1)
    expect(totals.failed).toBe(0)
    expect(totals.sent).toBeLessThan(200 * 11)
    expect(await store.subscribers(ch)).toHaveLength(10)
    await until(() => gateway.connections() === 10)
  })

  it('does not drop a reading client for the burst of 50 full snapshots its subscribe brings (about 6 MB)', async () => {
    const full = (i: number) => ({ exchange: 'binance', symbol: 'BTC-USDT', tf: '1m', open_time: i * 60_000, close_time: i * 60_000 + 59_999, open: 97012.5, high: 97020.1, low: 97001, close: 97015.3, volume: 3.214, quote_volume: 311825.7, trades: 412, taker_buy_volume: 1.9, taker_buy_quote_volume: 184330.2, vwap: 97020.5, first_trade_id: 3301200 + i, last_trade_id: 3301611 + i, final: true })
    const window = JSON.stringify({ candles: Array.from({ length: 720 }, (_, i) => full(i)) })
    const objs = memoryStore()
    const channels = Array.from({ length: 50 }, (_, i) => `candles:binance:S${i}-USDT:1m`)
    for (let i = 0; i < 50; i++) await objs.put(`serving/binance/S${i}-USDT/1m.json`, window)
    const store = memoryConnectionStore()
    let gateway: Gateway | undefined
    const h = createRealtimeHandlers({ store, poster: { post: (id, data) => gateway!.poster().post(id, data) }, objects: objs })
    const m = await mount({ routes: { $connect: h.connect, $disconnect: h.disconnect, $default: h.message } })
    gateway = m.gateway
    const c = await client(m.port)
    c.send(JSON.stringify({ action: 'subscribe', channels }))
    expect(await c.next()).toMatchObject({ type: 'subscribed' })
    let bytes = 0
    for (let i = 0; i < 50; i++) { const snap = await c.next(); expect(snap.type).toBe('snapshot'); bytes += JSON.stringify(snap).length }
    expect(bytes).toBeGreaterThan(5_000_000)
    expect(m.gateway.stats().dropped).toBe(0)
  })

  it("answers 'gone' for an unknown connection, and broadcast forgets connections that are gone", async () => {
    const { port, store, poster } = await cloud()
    expect(await poster.post('bm9uZQ==', 'x')).toBe('gone')
    await store.add('ghost', 0)
    await store.subscribe('ghost', ['trades:binance:BTC-USDT'])
    const c = await client(port)
    c.send(JSON.stringify({ action: 'subscribe', channels: ['trades:binance:BTC-USDT'] }))
    await c.next()
    expect(await broadcast({ store, poster, channel: 'trades:binance:BTC-USDT', message: { type: 'pong', time: 1 } })).toEqual({ sent: 1, gone: 1, failed: 0 })
    expect(await store.subscribers('trades:binance:BTC-USDT')).toHaveLength(1)
    expect(await store.channelsOf('ghost')).toEqual([])
  })

  it('runs $disconnect when a client goes, removing it and its subscriptions from the store', async () => {
    const { port, store, gateway } = await cloud()
    const c = await client(port)
    c.send(JSON.stringify({ action: 'subscribe', channels: ['trades:binance:ETH-USDT'] }))
    await c.next()
    expect(await store.subscribers('trades:binance:ETH-USDT')).toHaveLength(1)
    c.ws.close()
    await until(async () => (await store.subscribers('trades:binance:ETH-USDT')).length === 0)
    expect(gateway.connections()).toBe(0)
    expect((store as ReturnType<typeof memoryConnectionStore>).size()).toBe(0)
  })

  it('tells the real SDK client about a connection (GetConnection) and closes it on DeleteConnection', async () => {
    const { port, url, store } = await cloud()
    const c = await client(port)
    // The connection id is only known server-side: find it through a subscription.
    c.send(JSON.stringify({ action: 'subscribe', channels: ['stats:binance:BTC-USDT'] }))
    await c.next()
    const [id] = await store.subscribers('stats:binance:BTC-USDT')
    expect(id).toMatch(/^[A-Za-z0-9+/]{14}[A-Za-z0-9+/=]{2}$/)
    const sdk = new ApiGatewayManagementApiClient({ region: 'us-east-1', endpoint: url, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } })
    const info = await sdk.send(new GetConnectionCommand({ ConnectionId: id }))
    expect(info.ConnectedAt).toBeInstanceOf(Date)
    expect(info.LastActiveAt).toBeInstanceOf(Date)
    expect(info.Identity?.SourceIp).toBe('127.0.0.1')
    expect(await apigwPoster(url).deleteConnection(id)).toBe('ok')
    expect(await c.closed).toBe(1000)
    await until(async () => (await store.subscribers('stats:binance:BTC-USDT')).length === 0)
  })
})

describe('WebSocket gateway emulator', () => {
  const ok = async () => ({ statusCode: 200 })

  it("selects the route by the body's action like API Gateway, with $default for the rest", async () => {
    const seen: string[] = []
    const record = async (e: APIGatewayProxyWebsocketEventV2) => { seen.push(`${e.requestContext.routeKey}:${e.requestContext.eventType}`); return { statusCode: 200 } }
    const { port } = await mount({ routes: { $connect: record, ping: record, $default: record } })
    const c = await client(port)
    c.send('{"action":"ping"}'); c.send('{"action":"subscribe"}'); c.send('not json'); c.send('{"action":"$connect"}'); c.send('{"action":7}')
    await until(() => seen.length === 6)
    expect(seen).toEqual(['$connect:CONNECT', 'ping:MESSAGE', '$default:MESSAGE', '$default:MESSAGE', '$default:MESSAGE', '$default:MESSAGE'])
  })

  it('hands handlers events shaped like API Gateway WebSocket events', async () => {
    const events: APIGatewayProxyWebsocketEventV2[] = []
    const record = async (e: APIGatewayProxyWebsocketEventV2) => { events.push(e); return { statusCode: 200 } }
    const { port } = await mount({ routes: { $connect: record, $disconnect: record, $default: record }, stage: 'dev' })
    const c = await client(port, '/ws?token=abc')
    c.send('{"action":"ping"}')
    await until(() => events.length === 2)
    c.ws.close(1000)
    await until(() => events.length === 3)
    const [connect, message, disconnect] = events as any[]
    const id = connect.requestContext.connectionId
    expect(connect).toMatchObject({
      isBase64Encoded: false,
      queryStringParameters: { token: 'abc' },
      headers: { Host: `127.0.0.1:${port}`, 'Sec-Websocket-Version': '13' },
      multiValueHeaders: { Host: [`127.0.0.1:${port}`] },
      requestContext: {
        routeKey: '$connect', eventType: 'CONNECT', messageDirection: 'IN', stage: 'dev', domainName: `127.0.0.1:${port}`,
        identity: { sourceIp: '127.0.0.1' }, connectedAt: expect.any(Number), requestTimeEpoch: expect.any(Number),
        requestId: expect.any(String), extendedRequestId: expect.any(String), apiId: expect.any(String),
      },
    })
    expect(connect.requestContext.requestTime).toMatch(/^\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000$/)
    expect(message).toMatchObject({ body: '{"action":"ping"}', isBase64Encoded: false, requestContext: { routeKey: '$default', eventType: 'MESSAGE', connectionId: id, messageId: expect.any(String), connectedAt: connect.requestContext.connectedAt } })
    expect(disconnect).toMatchObject({ requestContext: { routeKey: '$disconnect', eventType: 'DISCONNECT', connectionId: id, disconnectStatusCode: 1000 } })
    expect(requestTime(Date.UTC(2026, 10, 4, 5, 6, 7))).toBe('04/Nov/2026:05:06:07 +0000')
  })

  it('refuses the upgrade when $connect answers non-2xx or throws, and takes no other path', async () => {
    const { port } = await mount({ routes: { $connect: async () => ({ statusCode: 401 }) } })
    expect(await upgradeStatus(port, '/ws')).toBe(401)
    expect(await upgradeStatus(port, '/elsewhere')).toBe(-1)
    const { port: p2 } = await mount({ routes: { $connect: async () => { throw new Error('boom') } } })
    expect(await upgradeStatus(p2, '/ws')).toBe(500)
  })

  it('answers a throwing handler with API Gateway\'s "Internal server error" and goes on serving', async () => {
    const lines: string[] = []
    const { port } = await mount({ routes: { boom: async () => { throw new Error('kaput') }, $default: async () => ({ statusCode: 200 }) }, log: (l) => lines.push(l) })
    const c = await client(port)
    c.send('{"action":"boom"}')
    expect(await c.next()).toEqual({ message: 'Internal server error', connectionId: expect.any(String), requestId: expect.any(String) })
    expect(lines.join('\n')).toContain('kaput')
    const other = await client(port)
    other.send('{"action":"boom"}')
    expect(await other.next()).toMatchObject({ message: 'Internal server error' })
  })

  it('answers Forbidden when no route matches and there is no $default', async () => {
    const { port } = await mount({ routes: { ping: ok } })
    const c = await client(port)
    c.send('{"action":"other"}')
    expect(await c.next()).toMatchObject({ message: 'Forbidden' })
  })

  it('closes a connection that sends a binary frame with 1003, as API Gateway does', async () => {
    const { port, gateway } = await mount({ routes: { $default: ok } })
    const c = await client(port)
    c.send(Buffer.from([1, 2, 3]))
    expect(await c.closed).toBe(1003)
    await until(() => gateway.connections() === 0)
  })

  it('answers over-size frames with an error frame without routing them', async () => {
    let routed = 0
    const { port, gateway } = await mount({ routes: { $default: async () => { routed++; return { statusCode: 200 } } }, maxFrameBytes: 100 })
    const c = await client(port)
    c.send('{"action":"x","pad":"' + 'y'.repeat(200) + '"}')
    expect(await c.next()).toMatchObject({ type: 'error', code: 'too_large' })
    expect(routed).toBe(0)
    expect(gateway.stats().oversize).toBe(1)
  })

  it('throttles a client that floods frames faster than its handlers finish', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => { release = r })
    const { port, gateway } = await mount({ routes: { $default: async () => { await gate; return { statusCode: 200 } } }, maxInFlight: 2 })
    const c = await client(port)
    for (let i = 0; i < 5; i++) c.send('{}')
    for (let i = 0; i < 3; i++) expect(await c.next()).toMatchObject({ message: 'Too Many Requests' })
    expect(gateway.stats().throttled).toBe(3)
    release()
  })

  it('answers Gone to management posts for a client that does not read, once it is dropped, instead of buffering without bound', async () => {
    const ids: string[] = []
    const { port, url, gateway } = await mount({ routes: { $connect: async (e) => { ids.push(e.requestContext.connectionId); return { statusCode: 200 } } }, maxBufferedBytes: 256 * 1024 })
    const c = await client(port)
    ;(c.ws as any)._socket.pause()
    const poster = apigwPoster(url)
    const frame = 'z'.repeat(100 * 1024)
    const answers: string[] = []
    for (let i = 0; i < 500 && !answers.includes('gone'); i++) answers.push(await poster.post(ids[0], frame))
    expect(answers.at(-1)).toBe('gone')
    expect(answers.slice(0, -1).every((a) => a === 'ok')).toBe(true)
    expect(gateway.stats().dropped).toBe(1)
    await until(() => gateway.connections() === 0) // cut: a close frame would wait behind what it did not read
  })

  it('drops a client that stops answering pings, running $disconnect', async () => {
    const gone: string[] = []
    const { port, gateway } = await mount({ routes: { $disconnect: async (e) => { gone.push(e.requestContext.connectionId); return { statusCode: 200 } } }, pingIntervalMs: 30 })
    const c = await client(port)
    ;(c.ws as any)._socket.pause()
    await until(() => gone.length === 1)
    expect(gateway.connections()).toBe(0)
  })

  it('answers only management calls signed with its own credentials, and Gone for unknown connections', async () => {
    const { url } = await mount({ routes: {} })
    const unsigned = await fetch(`${url}/@connections/abc`, { method: 'POST', body: 'hi' })
    expect(unsigned.status).toBe(403)
    expect(unsigned.headers.get('x-amzn-errortype')).toBe('ForbiddenException')
    // a header that only looks like a signature is not one
    const forged = await fetch(`${url}/@connections/abc`, { method: 'POST', headers: { authorization: 'AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=' + '0'.repeat(64) }, body: 'hi' })
    expect(forged.status).toBe(403)
    const other = new ApiGatewayManagementApiClient({ region: 'us-east-1', endpoint: url, credentials: { accessKeyId: 'local', secretAccessKey: 'not-the-secret' }, maxAttempts: 1 })
    await expect(other.send(new GetConnectionCommand({ ConnectionId: 'abc' }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } })
    expect(await apigwPoster(`${url}/local`).post('abc', 'hi')).toBe('gone')
    expect((await fetch(`${url}/other`)).status).toBe(404)
  })

  it('answers 400 to a management path of malformed percent-encoding', async () => {
    const { url } = await mount({ routes: {} })
    const res = await fetch(`${url}/@connections/%E0%A4%A`, { method: 'DELETE', headers: { authorization: 'AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=' + '0'.repeat(64) } })
    expect(res.status).toBe(400)
  })

  it('closes every connection on close, running their $disconnect first', async () => {
    const gone: string[] = []
    const { port, gateway } = await mount({ routes: { $disconnect: async (e) => { await new Promise((r) => setTimeout(r, 20)); gone.push(e.requestContext.connectionId); return { statusCode: 200 } } } })
    await client(port)
    await client(port)
    await gateway.close()
    expect(gone).toHaveLength(2)
    expect(gateway.connections()).toBe(0)
  })
})

describe('the gateway\'s broadcast', () => {
  it('delivers one message to every connection intact, whatever its length (each frame length encoding of RFC 6455), and in order', async () => {
    const ids: string[] = []
    const m = await mount({ routes: { $connect: async (e) => { ids.push(e.requestContext.connectionId!); return { statusCode: 200 } } } })
    const a = await client(m.port)
    const b = await client(m.port)
    const texts = [0, 1, 125, 126, 127, 65_535, 65_536, 70_000].map((n, i) => JSON.stringify({ i, pad: 'x'.repeat(Math.max(0, n - 20)) }))
    for (const t of texts) expect(m.gateway.poster().postMany!(ids, t)).toEqual(['ok', 'ok'])
    for (const c of [a, b]) for (let i = 0; i < texts.length; i++) expect(JSON.stringify(await c.next())).toBe(texts[i])
  })
})
