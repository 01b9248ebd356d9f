/**
 * The page's connection: one WebSocket to the server, subscribed to the channels the page holds
 * (`channels`, sent again on each open). It pings every `pingMs`, drops a socket silent for
 * `silentMs`, reconnects with backoff (0.5 s doubling to 15 s, with jitter); after
 * `pollAfterFailures` attempts in a row that never answered it calls `poll` every `pollMs` (the
 * HTTP side) until a WebSocket answers again.
 */
import type { ServerMessage } from '@ticklake/core/serve/realtime'

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'polling'

export interface ConnectionOptions {
  /** The WebSocket's address (`/api/health`'s `ws`), relative to the page. */
  url: () => string
  channels: () => string[]
  /** A parsed message; what it throws is reported with `status` and the message dropped. */
  onMessage: (m: ServerMessage) => void
  setState: (s: ConnectionState) => void
  status: (text: string) => void
  /** One round of polling. */
  poll: () => Promise<void>
  pingMs: number; silentMs: number; pollAfterFailures: number; pollMs: number
}

/** A connection that is not open yet: `connect` opens it, `keepAlive` starts the pings. */
export function createConnection(o: ConnectionOptions) {
  // Long by design: the socket, backoff and polling timer live in this closure; its parts are the small named functions inside.
  let ws: WebSocket | undefined
  let retry = 0
  let failures = 0
  let heard = 0
  let pollTimer: ReturnType<typeof setInterval> | undefined
  let polls = 0

  /** The next reconnect delay: 0.5 s doubling to 15 s, with jitter so a restarted server is not stampeded. */
  const backoff = () => Math.min(15_000, 500 * 2 ** retry++) * (0.8 + Math.random() * 0.4)

  /**
   * Forgets a socket (its late events are ignored) and plans the next connection. A socket that
   * never answered (refused, or closed at once by a proxy) is a failure: after `pollAfterFailures`
   * of them the page polls meanwhile.
   */
  function drop(socket: WebSocket, answered: boolean) {
    if (ws !== socket) return
    ws = undefined
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null
    socket.close()
    if (!answered) failures++
    if (failures >= o.pollAfterFailures) startPolling()
    else o.setState('reconnecting')
    setTimeout(connect, answered ? 250 : backoff())
  }

  function connect() {
    if (ws) return
    const url = new URL(o.url(), location.href)
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:'
    let socket: WebSocket
    try { socket = new WebSocket(url) } catch { failures++; startPolling(); setTimeout(connect, backoff()); return }
    ws = socket
    let answered = false
    socket.onopen = () => {
      heard = Date.now()
      socket.send(JSON.stringify({ action: 'subscribe', channels: o.channels() }))
    }
    socket.onmessage = (e) => {
      heard = Date.now()
      if (!answered) {
        // the server answers the subscribe: live from here on
        answered = true
        retry = 0
        failures = 0
        stopPolling()
        o.setState('live')
        o.status('')
      }
      let m: ServerMessage
      try { m = JSON.parse(e.data) } catch { o.status('bad message from the server: not JSON'); return }
      // a message of an unexpected shape is reported and dropped; the page goes on
      try { o.onMessage(m) } catch (err) { o.status(`bad ${String((m as { type?: unknown })?.type).slice(0, 20)} message from the server: ${(err as Error).message}`) }
    }
    socket.onclose = () => drop(socket, answered)
  }

  function startPolling() {
    o.setState('polling')
    if (pollTimer) return
    polls = 0
    void o.poll()
    pollTimer = setInterval(() => void o.poll(), o.pollMs)
  }

  function stopPolling() { if (pollTimer) clearInterval(pollTimer); pollTimer = undefined }

  return {
    connect,
    backoff,
    /** Starts the backoff over (the server answered). */
    resetBackoff: () => { retry = 0 },
    /** True while the page polls. */
    polling: () => !!pollTimer,
    /** The round of polling this is, from 0 at each start of polling. */
    nextPollRound: () => polls++,
    /** Sends `message` where a socket is open (a subscription change; the next open subscribes afresh anyway). */
    send: (message: unknown) => { if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message)) },
    /** Pings every `pingMs`; a socket silent for `silentMs` is dropped. */
    keepAlive: () => setInterval(() => {
      if (ws?.readyState !== WebSocket.OPEN) return
      if (Date.now() - heard > o.silentMs) return drop(ws, true)
      ws.send('{"action":"ping"}')
    }, o.pingMs),
  }
}
