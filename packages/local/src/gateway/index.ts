/**
 * The local API Gateway WebSocket emulator. It accepts WebSocket clients on a path of an existing
 * HTTP server, turns their lifecycle and frames into real API Gateway WebSocket events
 * (`$connect`, `$disconnect`, and routes selected by `$request.body.action`, else `$default`) for
 * the real handlers, and serves the management API (`POST/GET/DELETE /@connections/{id}`) that
 * handlers call with `@aws-sdk/client-apigatewaymanagementapi`. Slow clients lose frames instead
 * of growing memory; a failing handler never takes the gateway down.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda'
import { WebSocketServer, type WebSocket } from 'ws'

export const defaults = {
  path: '/ws',
  stage: 'local',
  /** Client frames above this are refused (API Gateway's own limit is 128 KB). */
  maxFrameBytes: 32 * 1024,
  /** A client whose unsent bytes exceed this loses frames until it catches up. */
  maxBufferedBytes: 4 * 1024 * 1024,
  pingIntervalMs: 30_000,
  maxPostBytes: 128 * 1024,
}

export type WsHandler = (event: APIGatewayProxyWebsocketEventV2) => Promise<{ statusCode: number; body?: string } | void>
export interface GatewayRoutes { $connect?: WsHandler; $disconnect?: WsHandler; $default?: WsHandler; [action: string]: WsHandler | undefined }

export interface GatewayOptions extends Partial<typeof defaults> { routes: GatewayRoutes; log?: (line: string) => void }

interface Conn { id: string; ws: WebSocket; connectedAt: number; sourceIp: string; lastActiveAt: number; alive: boolean; dropped: number }

export interface Gateway {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean
  handleManagement(req: IncomingMessage, res: ServerResponse): Promise<boolean>
  connections(): number
  stats(): { connections: number; dropped: number; handlerErrors: number }
  close(): Promise<void>
}

/** An API Gateway-like connection id: 12 random bytes, base64. */
const connectionId = () => randomBytes(12).toString('base64')

/** Creates the gateway; mount it with `server.on('upgrade', …)` and in the request handler. */
export function createGateway(opts: GatewayOptions): Gateway {
  const o = { ...defaults, ...opts }
  const log = opts.log ?? (() => {})
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 })
  const conns = new Map<string, Conn>()
  const totals = { dropped: 0, handlerErrors: 0 }
  const apiId = randomBytes(5).toString('hex')

  function event(c: Conn, routeKey: string, eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT', host: string, body?: string): APIGatewayProxyWebsocketEventV2 {
    const now = Date.now()
    return {
      requestContext: {
        routeKey, messageId: eventType === 'MESSAGE' ? randomBytes(12).toString('base64') : undefined, eventType, extendedRequestId: randomUUID(),
        requestTime: new Date(now).toUTCString(), messageDirection: 'IN', stage: o.stage, connectedAt: c.connectedAt, requestTimeEpoch: now,
        identity: { sourceIp: c.sourceIp }, requestId: randomUUID(), domainName: host, connectionId: c.id, apiId,
      } as any,
      body, isBase64Encoded: false,
    } as APIGatewayProxyWebsocketEventV2
  }

  async function invoke(route: string, ev: APIGatewayProxyWebsocketEventV2) {
    const h = o.routes[route]
    if (!h) return { statusCode: 200 }
    try { return (await h(ev)) ?? { statusCode: 200 } } catch (e: any) {
      totals.handlerErrors++
      log(`gateway: ${route} handler failed: ${e?.message ?? e}`)
      return { statusCode: 500 }
    }
  }

  function sendTo(c: Conn, data: string | Buffer) {
    if (c.ws.bufferedAmount > o.maxBufferedBytes) { c.dropped++; totals.dropped++; return }
    c.ws.send(data)
  }

  /** API Gateway's route selection: `$request.body.action`, else `$default`. */
  function routeOf(body: string) {
    try {
      const action = JSON.parse(body)?.action
      if (typeof action === 'string' && action !== '$connect' && action !== '$disconnect' && o.routes[action]) return action
    } catch { /* not JSON: $default */ }
    return '$default'
  }

  const pinger = setInterval(() => {
    for (const c of conns.values()) {
      if (!c.alive) { c.ws.terminate(); continue }
      c.alive = false
      c.ws.ping()
    }
  }, o.pingIntervalMs)
  pinger.unref()

  return {
    handleUpgrade(req, socket, head) {
      if (new URL(req.url ?? '/', 'http://x').pathname !== o.path) return false
      const host = req.headers.host ?? 'localhost'
      const c: Conn = { id: connectionId(), ws: undefined as any, connectedAt: Date.now(), sourceIp: req.socket.remoteAddress ?? '127.0.0.1', lastActiveAt: Date.now(), alive: true, dropped: 0 }
      void invoke('$connect', event(c, '$connect', 'CONNECT', host)).then((r) => {
        if (r.statusCode >= 300) { socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n'); return }
        wss.handleUpgrade(req, socket, head, (ws) => {
          c.ws = ws
          conns.set(c.id, c)
          ws.on('pong', () => { c.alive = true })
          ws.on('message', (data, isBinary) => {
            c.lastActiveAt = Date.now()
            const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer).byteLength
            if (size > o.maxFrameBytes) {
              sendTo(c, JSON.stringify({ type: 'error', code: 'too_large', message: `frame of ${size} bytes is over the ${o.maxFrameBytes} byte limit` }))
              return
            }
            const body = isBinary ? Buffer.from(data as Buffer).toString('base64') : data.toString()
            const route = routeOf(body)
            void invoke(route, event(c, route, 'MESSAGE', host, body)).then((r) => {
              if (r.statusCode >= 500) sendTo(c, JSON.stringify({ message: 'Internal server error', connectionId: c.id, requestId: randomUUID() }))
            })
          })
          ws.on('close', () => {
            conns.delete(c.id)
            void invoke('$disconnect', event(c, '$disconnect', 'DISCONNECT', host))
          })
          ws.on('error', (e) => log(`gateway: connection ${c.id}: ${e.message}`))
        })
      })
      return true
    },

    async handleManagement(req, res) {
      const m = /^(?:\/[^/]+)?\/@connections\/([^/?]+)$/.exec(new URL(req.url ?? '/', 'http://x').pathname)
      if (!m) return false
      const id = decodeURIComponent(m[1])
      const c = conns.get(id)
      const reply = (status: number, body?: object) => {
        res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-requestid': randomUUID() })
        res.end(body ? JSON.stringify(body) : undefined)
      }
      const gone = () => reply(410, { message: null, __type: 'GoneException' })
      if (req.method === 'POST') {
        const chunks: Buffer[] = []
        let size = 0
        for await (const chunk of req) { size += chunk.length; if (size <= o.maxPostBytes) chunks.push(chunk) }
        if (size > o.maxPostBytes) return reply(413, { message: 'Request entity too large', __type: 'PayloadTooLargeException' }), true
        if (!c) return gone(), true
        sendTo(c, Buffer.concat(chunks).toString('utf8'))
        return reply(200), true
      }
      if (!c) return gone(), true
      if (req.method === 'GET') return reply(200, { ConnectedAt: new Date(c.connectedAt).toISOString(), LastActiveAt: new Date(c.lastActiveAt).toISOString(), Identity: { SourceIp: c.sourceIp } }), true
      if (req.method === 'DELETE') { c.ws.close(1000); return reply(204), true }
      return reply(405, { message: 'method not allowed' }), true
    },

    connections: () => conns.size,
    stats: () => ({ connections: conns.size, ...totals }),
    async close() {
      clearInterval(pinger)
      for (const c of conns.values()) c.ws.terminate()
      await new Promise((r) => wss.close(r))
    },
  }
}
