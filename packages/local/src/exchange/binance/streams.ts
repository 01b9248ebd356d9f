/**
 * The fake Binance's WebSocket streams: combined streams (`/stream?streams=`, frames wrapped in
 * `{stream, data}`) and raw ones (`/ws/<stream>`, bare payloads) of `<symbol>@aggTrade` and
 * `@bookTicker`, live SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS, a ping every `pingIntervalMs`
 * (a connection silent past `pongTimeoutMs` is dropped) and the close at `maxConnectionMs`, as
 * Binance does. Each tick's new trades go out as aggTrade frames through the stream faults. It
 * holds Binance spot's connection limits ("WebSocket Limits", spot API docs): at most `maxStreams`
 * (1024) streams a connection (a longer URL is refused with HTTP 400, a SUBSCRIBE past it answered
 * with an error: Binance does not document its answer), at most `maxMessagesPerSec` (5) incoming
 * messages a second (text, ping and unsolicited pong frames; past it the connection is closed with 1008, as
 * Binance does), and at most `maxConnectionsPer5Min` (300) connection attempts in 5 minutes
 * (refused with HTTP 429). `stats` counts what it refused.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer } from 'ws'
import { dec8, marketOf, units8, type AggTrade } from '../generator'
import { binanceFrameFaults, type Faults } from '../faults'
import type { Book } from './book'

export interface StreamsOptions {
  books: Map<string, Book>
  /** Generates a book's trades up to a time; returns the new ones. */
  advance: (b: Book, until: number) => AggTrade[]
  pingIntervalMs: number
  pongTimeoutMs: number
  maxConnectionMs: number
  /** The faults in force (stream faults, `stallUntil`) and the fake's seeded draw. */
  faults: Faults
  chance: () => number
  now: () => number
  /** Called at each new connection (a replay's clock starts with the first). */
  onConnection: () => void
  /** Streams a connection may listen to. */
  maxStreams: number
  /** Incoming messages (text, ping, pong) a connection may send in a second. */
  maxMessagesPerSec: number
  /** Connection attempts allowed in any 5 minutes (one IP: loopback). */
  maxConnectionsPer5Min: number
}

/** What the streams refused, and the most streams one connection listened to. */
export interface StreamStats { connections: number; refusedConnections: number; refusedStreams: number; closedForRate: number; mostStreams: number }

/**
 * The WebSocket side of the fake Binance: `tick` generates and pushes, `upgrade` takes a connection.
 * @example const streams = binanceStreams(o); server.on('upgrade', streams.upgrade); setInterval(streams.tick, 100)
 */
export function binanceStreams(o: StreamsOptions) {
  // Long by design: the fake's subscribers live in this closure; its parts are the small named functions inside.
  const { books, advance, faults, chance, now } = o
  const faulty = binanceFrameFaults({ faults, chance, now })
  /** Open sockets and their streams; `raw` sockets (`/ws...`) get bare payloads instead of `{stream, data}`. */
  const subs = new Map<WebSocket, { streams: Set<string>; raw: boolean }>()
  const stats: StreamStats = { connections: 0, refusedConnections: 0, refusedStreams: 0, closedForRate: 0, mostStreams: 0 }
  /** Times of the connection attempts of the last 5 minutes. */
  const attempts: number[] = []

  /** Generates trades up to now and pushes them to subscribers. */
  function tick() {
    const t = now()
    for (const [native, b] of books) {
      const fresh = advance(b, t)
      if (fresh.length) { publish(native, b.stream, fresh, t); publishBook(native, b.symbol, fresh.at(-1)!) }
    }
  }
  /** The spot `bookTicker` after a batch: one tick either side of the last price. */
  let updateId = 400_000_000
  function publishBook(native: string, symbol: string, last: AggTrade) {
    const stream = `${native.toLowerCase()}@bookTicker`
    let frame: string | undefined
    for (const [ws, sub] of subs) {
      if (!sub.streams.has(stream) || ws.readyState !== WebSocket.OPEN || now() < faults.stallUntil) continue
      if (!frame) {
        const tick = units8(marketOf(symbol).tickSize)
        const p = units8(last.p)
        const qty = () => dec8(BigInt(Math.max(1, Math.round(chance() * 5e7))))
        frame = JSON.stringify({ u: ++updateId, s: native, b: dec8(p - tick), B: qty(), a: dec8(p + tick), A: qty() })
      }
      ws.send(sub.raw ? frame : `{"stream":"${stream}","data":${frame}}`)
    }
  }
  function publish(native: string, stream: string, fresh: AggTrade[], E: number) {
    let frames: string[] | undefined
    for (const [ws, sub] of subs) {
      if (!sub.streams.has(stream) || ws.readyState !== WebSocket.OPEN) continue
      frames ??= faulty(fresh.map((x) => JSON.stringify({ e: 'aggTrade', E, s: native, a: x.a, p: x.p, q: x.q, f: x.f, l: x.l, T: x.T, m: x.m, M: x.M })))
      for (const data of frames) ws.send(sub.raw ? data : `{"stream":"${stream}","data":${data}}`)
    }
  }
  const wss = new WebSocketServer({ noServer: true })
  const valid = (s: unknown): s is string => typeof s === 'string' && /^[a-z0-9]+@(aggTrade|bookTicker)$/.test(s) && books.has(s.split('@')[0].toUpperCase())

  /** Answers a live method frame: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS. */
  function onMethod(ws: WebSocket, text: string) {
    let msg: { method?: unknown; params?: unknown; id?: unknown }
    try { msg = JSON.parse(text) } catch { return ws.send(JSON.stringify({ error: { code: 3, msg: 'Invalid JSON: expected value at line 1 column 1' } })) }
    const id = msg?.id ?? null
    const err = (code: number, m: string) => ws.send(JSON.stringify({ error: { code, msg: m }, id }))
    const set = subs.get(ws)!.streams
    const params = msg?.params
    switch (msg?.method) {
      case 'SUBSCRIBE':
      case 'UNSUBSCRIBE':
        if (!Array.isArray(params) || !params.every(valid)) return err(2, 'Invalid request: unknown variable')
        if (msg.method === 'SUBSCRIBE' && new Set([...set, ...params]).size > o.maxStreams) { stats.refusedStreams++; return err(2, `Invalid request: a connection listens to at most ${o.maxStreams} streams`) }
        for (const p of params) { if (msg.method === 'SUBSCRIBE') set.add(p); else set.delete(p) }
        stats.mostStreams = Math.max(stats.mostStreams, set.size)
        return ws.send(JSON.stringify({ result: null, id }))
      case 'LIST_SUBSCRIPTIONS': return ws.send(JSON.stringify({ result: [...set], id }))
      default: return err(2, 'Invalid request: unknown variable')
    }
  }

  /** Registers a socket: pings every `pingIntervalMs`, drops it after `pongTimeoutMs` without a pong or at `maxConnectionMs`. */
  function onSocket(ws: WebSocket, streams: string[], raw: boolean) {
    o.onConnection()
    stats.connections++
    subs.set(ws, { streams: new Set(streams.filter(valid)), raw })
    stats.mostStreams = Math.max(stats.mostStreams, subs.get(ws)!.streams.size)
    let lastPong = Date.now()
    // incoming messages of the current second: past the limit the connection is closed
    const second = { at: 0, count: 0 }
    const incoming = () => {
      const t = Math.floor(Date.now() / 1000)
      if (second.at !== t) Object.assign(second, { at: t, count: 0 })
      if (++second.count <= o.maxMessagesPerSec || ws.readyState !== WebSocket.OPEN) return true
      stats.closedForRate++
      ws.close(1008, 'Too many requests')
      return false
    }
    // a pong answering the server's ping is not counted (Binance pings every 20 s; a test's fast pings must not trip the limit)
    let owed = 0
    ws.on('ping', incoming)
    ws.on('pong', () => { lastPong = Date.now(); if (owed > 0) owed--; else incoming() })
    const pinger = setInterval(() => {
      if (Date.now() - lastPong > o.pongTimeoutMs) return ws.terminate()
      owed++
      ws.ping(String(now()))
    }, o.pingIntervalMs)
    const expiry = setTimeout(() => ws.close(1000, 'connection lifetime exceeded'), Math.min(o.maxConnectionMs, 2 ** 31 - 1))
    ws.on('close', () => { clearInterval(pinger); clearTimeout(expiry); subs.delete(ws) })
    ws.on('message', (data) => { if (incoming()) onMethod(ws, data.toString()) })
  }

  /** Takes an upgrade request: `/stream?streams=` or `/ws/<stream>`, 404 otherwise. */
  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    const u = new URL(req.url ?? '/', 'http://x')
    const combined = u.pathname === '/stream'
    const raw = u.pathname === '/ws' || u.pathname.startsWith('/ws/')
    if (!combined && !raw) { socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'); return }
    const streams = (combined ? u.searchParams.get('streams') ?? '' : u.pathname.slice(4)).split('/').filter(Boolean)
    const t = Date.now()
    while (attempts.length && attempts[0] <= t - 300_000) attempts.shift()
    attempts.push(t)
    if (attempts.length > o.maxConnectionsPer5Min) { stats.refusedConnections++; socket.end('HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n'); return }
    if (streams.length > o.maxStreams) { stats.refusedStreams++; socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'); return }
    wss.handleUpgrade(req, socket, head, (ws) => onSocket(ws, streams, raw))
  }

  return {
    tick, upgrade,
    /** What the streams refused so far. */
    stats: () => ({ ...stats }),
    /** Closes every stream connection abruptly (code 1006 at the client). */
    dropConnections() { for (const ws of subs.keys()) ws.terminate() },
    async close() {
      for (const ws of subs.keys()) ws.terminate()
      await new Promise((r) => wss.close(r))
    },
  }
}
