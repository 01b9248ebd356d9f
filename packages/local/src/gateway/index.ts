/**
 * The local API Gateway WebSocket emulator. It accepts WebSocket clients on a path of an existing
 * HTTP server, turns their lifecycle and frames into real API Gateway WebSocket events
 * (`$connect`, `$disconnect`, and routes selected by `$request.body.action`, else `$default`) for
 * the real handlers, and serves the management API (`POST/GET/DELETE /@connections/{id}`) that
 * handlers call with `@aws-sdk/client-apigatewaymanagementapi`.
 *
 * Like API Gateway: a `$connect` answering non-2xx refuses the upgrade; a handler that throws
 * makes the client receive `{"message":"Internal server error",...}`; a binary frame closes the
 * connection with 1003; a management call not signed (SigV4) with the gateway's own credentials gets 403. Beyond it, for a laptop: frames over
 * `maxFrameBytes` get an error frame and reach no handler, a client sending more than `ratePerSec`
 * frames a second (after a `burst`) gets `rate_limited` error frames and, past `maxStrikes` refused
 * frames in `strikeWindowMs`, is closed with 1008; a client flooding frames faster than its handlers
 * finish is throttled, a client that does not keep up with its frames (over its send budget) is dropped instead of growing memory, and dead clients are
 * found by ping and disconnected. Nothing a client does takes the gateway down. `poster()` posts
 * in-process (the local fan-out of thousands of frames a second), `handleManagement` over HTTP.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda'
import { WebSocketServer, type RawData, type WebSocket } from 'ws'
import type { ConnectionPoster } from '@ticklake/core/ports'
import { sigv4Problem, type Credentials } from './sigv4'

export const defaults = {
  /** The path clients connect to. */
  path: '/ws',
  /** The stage named in events (`requestContext.stage`) and accepted as a management path prefix. */
  stage: 'local',
  /** Client frames above this get an error frame and reach no handler (API Gateway's own limit is 128 KB). */
  maxFrameBytes: 32 * 1024,
  /** Frames above this close the connection with 1009, as `ws` does. */
  maxPayloadBytes: 1024 * 1024,
  /**
   * Send budget of a connection: a client whose unsent bytes would pass this does not keep up and
   * is dropped (closed, its posts answered 410 Gone), instead of frames queueing for it. API
   * Gateway refuses posts to a client whose buffer is full (PostToConnection: 429
   * LimitExceededException, "the WebSocket client side buffer is full"); it does not document
   * what then becomes of the connection.
   */
  maxBufferedBytes: 4 * 1024 * 1024,
  /** Handler invocations running at once for one connection; frames beyond are refused. */
  maxInFlight: 32,
  /** Server ping period; a client that has not answered the previous ping is dropped. */
  pingIntervalMs: 30_000,
  /** Largest management POST (API Gateway's PostToConnection limit). */
  maxPostBytes: 128 * 1024,
  /** Frames a client may send per second on average, and in one burst. */
  ratePerSec: 20,
  burst: 40,
  /** Refused frames (rate limited or over-size) a client may send within `strikeWindowMs` before it is closed (1008). */
  maxStrikes: 50,
  strikeWindowMs: 10_000,
  /**
   * The only credentials the management API answers: a call's SigV4 signature is checked with
   * them. The default is the dummy pair the SDK clients use for a loopback endpoint
   * (`core/src/aws/config.ts`); `ticklake start` makes a random pair per run.
   */
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' } as Credentials,
}

export type WsResult = { statusCode: number; body?: string } | void
export type WsHandler = (event: APIGatewayProxyWebsocketEventV2) => Promise<WsResult>
export interface GatewayRoutes { $connect?: WsHandler; $disconnect?: WsHandler; $default?: WsHandler; [action: string]: WsHandler | undefined }

export interface GatewayOptions extends Partial<typeof defaults> { routes: GatewayRoutes; log?: (msg: string) => void }

export interface GatewayStats {
  connections: number
  /** Clients dropped because they did not keep up (their send budget was spent). */
  dropped: number
  /** Frames refused because their client had `maxInFlight` invocations running. */
  throttled: number
  /** Frames over `maxFrameBytes`. */
  oversize: number
  /** Frames refused because their client sent over `ratePerSec`. */
  rateLimited: number
  /** Connections closed for abuse (1008). */
  abusive: number
  handlerErrors: number
}

export interface Gateway {
  /** Takes the upgrade if it is for the gateway's path; false (and the socket untouched) otherwise. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean
  /** Serves `/@connections/{id}` (optionally under `/{stage}`); false (and `res` untouched) for any other path. */
  handleManagement(req: IncomingMessage, res: ServerResponse): Promise<boolean>
  connections(): number
  /** Posts to a connection in-process, as the management API's POST does over HTTP. */
  poster(): ConnectionPoster
  stats(): GatewayStats
  /** Drops every client, waits for their `$disconnect` and any handler still running. */
  close(): Promise<void>
}

interface Conn {
  id: string
  ws: WebSocket
  host: string
  connectedAt: number
  sourceIp: string
  userAgent: string
  lastActiveAt: number
  alive: boolean
  inFlight: number
  dropped: number
  tokens: number
  refilledAt: number
  strikes: number
  strikesFrom: number
}

type EventType = 'CONNECT' | 'MESSAGE' | 'DISCONNECT'

/** An API Gateway-like id: 11 random bytes in base64, e.g. `L0SM9cOFvHcCIhw=`. */
const awsId = () => randomBytes(11).toString('base64')

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const pad = (n: number) => String(n).padStart(2, '0')
/** API Gateway's `requestTime`: `24/Nov/2026:15:04:05 +0000`. */
export const requestTime = (ms: number) => {
  const d = new Date(ms)
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`
}

/** The `headers` and `multiValueHeaders` of a `$connect` event, as API Gateway spells them. */
function headersOf(h: IncomingHttpHeaders) {
  const headers: Record<string, string> = {}
  const multiValueHeaders: Record<string, string[]> = {}
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue
    const name = k.replace(/(^|-)([a-z])/g, (_, dash, c) => dash + c.toUpperCase())
    const values = Array.isArray(v) ? v : [v]
    headers[name] = values.join(',')
    multiValueHeaders[name] = values
  }
  return { headers, multiValueHeaders }
}

/** Size of a received message in bytes. */
const sizeOf = (data: RawData) => (Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer).byteLength)

/** A text message as one final, unmasked WebSocket frame (RFC 6455, section 5.2), as a server sends it: made once per broadcast. */
export function textFrame(text: Buffer) {
  const n = text.length
  const head = Buffer.alloc(n < 126 ? 2 : n < 65536 ? 4 : 10)
  head[0] = 0x81 // FIN, text
  if (n < 126) head[1] = n
  else if (n < 65536) { head[1] = 126; head.writeUInt16BE(n, 2) } else { head[1] = 127; head.writeBigUInt64BE(BigInt(n), 2) }
  return { bytes: Buffer.concat([head, text]), text }
}

/**
 * Creates the gateway; mount it on a node:http server.
 * @example
 * const gateway = createGateway({ routes: { $connect: h.connect, $disconnect: h.disconnect, $default: h.message } })
 * server.on('upgrade', (req, socket, head) => { if (!gateway.handleUpgrade(req, socket, head)) socket.destroy() })
 * // and first thing in the request handler: if (await gateway.handleManagement(req, res)) return
 */
export function createGateway(opts: GatewayOptions): Gateway {
  // Long by design: the gateway's connections live in this closure; its parts are the small named functions inside.
  const o = { ...defaults, ...opts }
  const log = opts.log ?? (() => {})
  const wss = new WebSocketServer({ noServer: true, maxPayload: Math.max(o.maxPayloadBytes, o.maxFrameBytes) })
  const conns = new Map<string, Conn>()
  const totals = { dropped: 0, throttled: 0, oversize: 0, rateLimited: 0, abusive: 0, handlerErrors: 0 }
  const running = new Set<Promise<unknown>>()
  const apiId = randomBytes(5).toString('hex')
  let closed = false

  function event(c: Omit<Conn, 'ws'>, routeKey: string, eventType: EventType, extra: Partial<APIGatewayProxyWebsocketEventV2> & { headers?: object; multiValueHeaders?: object } = {}, context: object = {}): APIGatewayProxyWebsocketEventV2 {
    const now = Date.now()
    const requestContext = {
      routeKey, ...(eventType === 'MESSAGE' ? { messageId: awsId() } : {}), eventType, extendedRequestId: awsId(),
      requestTime: requestTime(now), messageDirection: 'IN' as const, stage: o.stage, connectedAt: c.connectedAt, requestTimeEpoch: now,
      identity: { userAgent: c.userAgent, sourceIp: c.sourceIp }, requestId: awsId(), domainName: c.host, connectionId: c.id, apiId, ...context,
    }
    return { ...extra, requestContext: requestContext as APIGatewayProxyWebsocketEventV2['requestContext'], isBase64Encoded: false }
  }

  /** The handler of a route: own routes only, so `constructor`, `toString` or `__proto__` name none. */
  const handlerOf = (route: string): WsHandler | undefined => {
    const h = Object.hasOwn(o.routes, route) ? o.routes[route] : undefined
    return typeof h === 'function' ? h : undefined
  }

  /** Runs a route's handler; a throw is logged and reported as a 500, never rethrown. */
  function invoke(route: string, ev: APIGatewayProxyWebsocketEventV2): Promise<{ statusCode: number; threw?: boolean }> {
    const h = handlerOf(route)
    if (!h) return Promise.resolve({ statusCode: 200 })
    const p = (async () => {
      try {
        const r = await h(ev)
        return { statusCode: r?.statusCode ?? 200 }
      } catch (e: any) {
        totals.handlerErrors++
        log(`gateway: ${route} handler failed for ${ev.requestContext.connectionId}: ${e?.stack ?? e}`)
        return { statusCode: 500, threw: true }
      }
    })()
    running.add(p)
    void p.finally(() => running.delete(p))
    return p
  }

  /**
   * Sends a frame unless the client is closed; a client whose unsent bytes would pass its send
   * budget is dropped at once (the socket is cut: a close frame would wait behind what it did not
   * read), and the frame answers `gone`.
   */
  function sendTo(c: Conn, data: string | Buffer, binary = typeof data !== 'string'): 'ok' | 'gone' {
    if (c.ws.readyState !== c.ws.OPEN) return 'gone'
    if (overBudget(c, typeof data === 'string' ? Buffer.byteLength(data) : data.length)) return 'gone'
    c.ws.send(data, { binary })
    return 'ok'
  }

  /** True, and the client dropped (the socket cut, the drop counted and logged), when `bytes` more would pass its send budget. */
  function overBudget(c: Conn, bytes: number) {
    if (c.ws.bufferedAmount + bytes <= o.maxBufferedBytes) return false
    c.dropped++
    totals.dropped++
    log(`gateway: dropping ${c.id}: over ${o.maxBufferedBytes} bytes not yet read (a client that does not keep up)`)
    c.ws.terminate()
    return true
  }

  /**
   * `sendTo` for a frame made once for every connection of a broadcast (`textFrame`): written to
   * the socket in one write, as ws would write it, unless ws holds frames of its own still to go
   * (then ws sends the text, after them). ws would frame the text again for each connection and
   * write header and text apart (about a fifth of a broadcast's time at 1,000 connections).
   */
  function sendFrame(c: Conn, frame: { bytes: Buffer; text: Buffer }): 'ok' | 'gone' {
    const socket = (c.ws as any)._socket as Duplex | undefined
    const sender = (c.ws as any)._sender as { _queue?: unknown[] } | undefined
    if (!socket || !sender || sender._queue?.length || c.ws.readyState !== c.ws.OPEN) return sendTo(c, frame.text, false)
    if (overBudget(c, frame.bytes.length)) return 'gone'
    socket.write(frame.bytes)
    return 'ok'
  }

  /** API Gateway's gateway responses, as a frame to the client. */
  const gatewayMessage = (c: Conn, message: string) => sendTo(c, JSON.stringify({ message, connectionId: c.id, requestId: awsId() }))

  /** API Gateway's route selection on `$request.body.action`, else `$default`. */
  function routeOf(body: string) {
    try {
      const action = JSON.parse(body)?.action
      if (typeof action === 'string' && !action.startsWith('$') && handlerOf(action)) return action
    } catch { /* not JSON: $default */ }
    return '$default'
  }

  /** Refuses a frame with an error frame; a client refused too often is closed as abusive. */
  function strike(c: Conn, code: string, message: string) {
    const now = Date.now()
    if (now - c.strikesFrom > o.strikeWindowMs) { c.strikes = 0; c.strikesFrom = now }
    if (++c.strikes > o.maxStrikes) {
      if (c.ws.readyState !== c.ws.OPEN) return
      totals.abusive++
      log(`gateway: closing ${c.id}: ${c.strikes} refused frames within ${o.strikeWindowMs} ms`)
      c.ws.close(1008, 'Policy Violation: too many refused frames')
      return
    }
    sendTo(c, JSON.stringify({ type: 'error', code, message }))
  }

  /** Takes one token from the client's bucket; false when it is empty. */
  function admit(c: Conn, now: number) {
    c.tokens = Math.min(o.burst, c.tokens + ((now - c.refilledAt) * o.ratePerSec) / 1000)
    c.refilledAt = now
    if (c.tokens < 1) return false
    c.tokens -= 1
    return true
  }

  function onFrame(c: Conn, data: RawData, isBinary: boolean) {
    const now = Date.now()
    c.lastActiveAt = now
    if (isBinary) { c.ws.close(1003, 'Binary frames are not supported'); return }
    const size = sizeOf(data)
    if (size > o.maxFrameBytes) {
      totals.oversize++
      strike(c, 'too_large', `frame of ${size} bytes is over the ${o.maxFrameBytes} byte limit`)
      return
    }
    if (!admit(c, now)) {
      totals.rateLimited++
      strike(c, 'rate_limited', `more than ${o.ratePerSec} frames a second (burst ${o.burst}): frame ignored`)
      return
    }
    if (c.inFlight >= o.maxInFlight) { totals.throttled++; gatewayMessage(c, 'Too Many Requests'); return }
    const body = data.toString()
    const route = routeOf(body)
    if (!handlerOf(route)) { gatewayMessage(c, 'Forbidden'); return }
    c.inFlight++
    void invoke(route, event(c, route, 'MESSAGE', { body })).then((r) => {
      c.inFlight--
      if (r.threw) gatewayMessage(c, 'Internal server error')
    })
  }

  function accept(c: Omit<Conn, 'ws'>, ws: WebSocket) {
    const conn: Conn = Object.assign(c, { ws })
    conns.set(conn.id, conn)
    ws.on('pong', () => { conn.alive = true })
    ws.on('message', (data, isBinary) => onFrame(conn, data, isBinary))
    ws.on('error', (e) => log(`gateway: connection ${conn.id}: ${e.message}`))
    ws.on('close', (code, reason) => {
      conns.delete(conn.id)
      void invoke('$disconnect', event(conn, '$disconnect', 'DISCONNECT', { headers: { Host: conn.host } }, { disconnectStatusCode: code, disconnectReason: reason.toString() }))
    })
  }

  /** Answers a refused upgrade with the status `$connect` returned. */
  function refuse(socket: Duplex, status: number) {
    if (socket.destroyed) return
    socket.end(`HTTP/1.1 ${status} ${status === 500 ? 'Internal Server Error' : 'Forbidden'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
  }

  const pinger = setInterval(() => {
    for (const c of conns.values()) {
      if (!c.alive) { log(`gateway: connection ${c.id} did not answer a ping; dropping it`); c.ws.terminate(); continue }
      c.alive = false
      c.ws.ping()
    }
  }, o.pingIntervalMs)
  pinger.unref()

  async function management(req: IncomingMessage, res: ServerResponse, rawId: string) {
    const reply = (status: number, body?: object, errorType?: string) => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-requestid': randomUUID(), ...(errorType ? { 'x-amzn-errortype': errorType } : {}) })
      res.end(body ? JSON.stringify(body) : undefined)
    }
    const gone = () => reply(410, { message: null }, 'GoneException')
    if (!/^AWS4-HMAC-SHA256 /.test(String(req.headers.authorization ?? ''))) {
      req.resume()
      return reply(403, { message: 'Missing Authentication Token' }, 'ForbiddenException')
    }
    let id: string
    try { id = decodeURIComponent(rawId) } catch {
      req.resume()
      return reply(400, { message: 'The connection id is not valid percent-encoding' }, 'BadRequestException')
    }
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of req) { size += chunk.length; if (size <= o.maxPostBytes) chunks.push(chunk) }
    if (size > o.maxPostBytes) return reply(413, { message: `Message too long, max size is ${o.maxPostBytes} bytes` }, 'PayloadTooLargeException')
    const body = Buffer.concat(chunks)
    // Only the local cloud's own credentials: the signature is checked, not just its presence.
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const problem = await sigv4Problem({ method: req.method ?? 'GET', host: req.headers.host ?? '', path: q < 0 ? url : url.slice(0, q), query: q < 0 ? '' : url.slice(q + 1), headers: req.headers, body }, o.credentials)
    if (problem) return reply(403, { message: problem }, 'ForbiddenException')
    const c = conns.get(id)
    if (req.method === 'POST') {
      if (!c || sendTo(c, body.toString('utf8')) === 'gone') return gone()
      return reply(200)
    }
    if (!c) return gone()
    if (req.method === 'GET') {
      return reply(200, { connectedAt: new Date(c.connectedAt).toISOString(), identity: { sourceIp: c.sourceIp, userAgent: c.userAgent }, lastActiveAt: new Date(c.lastActiveAt).toISOString() })
    }
    if (req.method === 'DELETE') { c.ws.close(1000, 'Goodbye'); return reply(204) }
    return reply(405, { message: `${req.method} is not allowed on /@connections/{id}` })
  }

  const managementPath = new RegExp(`^(?:/${o.stage.replace(/[^\w-]/g, '')})?/@connections/([^/]+)$`)

  return {
    handleUpgrade(req, socket, head) {
      if (new URL(req.url ?? '/', 'http://x').pathname !== o.path) return false
      if (closed) { refuse(socket, 500); return true }
      const now = Date.now()
      const c = {
        id: awsId(), host: req.headers.host ?? 'localhost', connectedAt: now, lastActiveAt: now, alive: true, inFlight: 0, dropped: 0,
        tokens: o.burst, refilledAt: now, strikes: 0, strikesFrom: now,
        sourceIp: req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1', userAgent: String(req.headers['user-agent'] ?? ''),
      }
      const query = Object.fromEntries(new URL(req.url ?? '/', 'http://x').searchParams)
      const ev = event(c, '$connect', 'CONNECT', { ...headersOf(req.headers), ...(Object.keys(query).length ? { queryStringParameters: query } : {}) })
      socket.on('error', (e) => log(`gateway: upgrade socket: ${e.message}`))
      void invoke('$connect', ev).then((r) => {
        if (r.statusCode < 200 || r.statusCode >= 300 || closed) return refuse(socket, r.statusCode >= 300 ? r.statusCode : 500)
        if (socket.destroyed || !socket.writable) {
          // The client left while $connect ran: what $connect registered is undone.
          void invoke('$disconnect', event(c, '$disconnect', 'DISCONNECT', { headers: { Host: c.host } }, { disconnectStatusCode: 1006, disconnectReason: '' }))
          return
        }
        wss.handleUpgrade(req, socket, head, (ws) => accept(c, ws))
      })
      return true
    },

    async handleManagement(req, res) {
      const m = managementPath.exec((req.url ?? '/').replace(/[?#].*$/, ''))
      if (!m) return false
      await management(req, res, m[1])
      return true
    },

    connections: () => conns.size,
    poster: () => {
      // A broadcast posts one string to many connections: it is encoded once, not once per client.
      let last: { data: string; bytes: Buffer } | undefined
      return {
        // A client dropped for not keeping up is gone (410), as is one that left.
        post: async (id, data) => {
          const c = conns.get(id)
          if (!c) return 'gone'
          if (last?.data !== data) last = { data, bytes: Buffer.from(data) }
          return sendTo(c, last.bytes, false) === 'gone' ? 'gone' : 'ok'
        },
        postMany: (ids, data) => {
          const frame = textFrame(Buffer.from(data))
          return ids.map((id) => { const c = conns.get(id); return c && sendFrame(c, frame) === 'ok' ? 'ok' : 'gone' })
        },
      }
    },
    stats: () => ({ connections: conns.size, ...totals }),

    async close() {
      closed = true
      clearInterval(pinger)
      for (const c of conns.values()) c.ws.terminate()
      await new Promise((r) => wss.close(r))
      // A terminated socket's 'close' (and so its $disconnect) comes on a later tick; a handler
      // that never settles is not waited for past the deadline.
      const deadline = Date.now() + 5_000
      while ((conns.size || running.size) && Date.now() < deadline) {
        await Promise.race([Promise.allSettled([...running]), new Promise((r) => setTimeout(r, 20))])
      }
    },
  }
}
