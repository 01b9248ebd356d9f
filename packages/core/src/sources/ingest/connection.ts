/**
 * The stream connection of one ingest run: opens the venue's WebSocket and sends its subscriptions,
 * hands every frame over parsed, checks a sequenced venue's per-connection numbers (a jump means
 * lost frames), and keeps the stream up: a connection silent for `staleMs` (no frame, no ping) is
 * replaced (watchdog), one is opened before the exchange's forced disconnect and overlaps the old
 * for `rotateOverlapMs` (rotation), a closed one is reopened with backoff and the time it was down
 * is recorded under `quality/`.
 */
import WebSocket from 'ws'
import type { Exchange, TradeSource } from '../../market/index'
import type { ObjectStore, Venue, VenueFrame } from '../../ports/index'
import { recordDisconnect } from '../../lake/quality/index'
import { sequenceTracker } from '../coinbase/index'
import type { IngestSettings, IngestSummary } from './index'
import type { StreamStatus } from './continuity'

export interface ConnectionOptions {
  exchange: Exchange
  venue: Venue
  symbols: string[]
  /** Where disconnects are recorded (`quality/`). */
  store: ObjectStore
  settings: Pick<IngestSettings, 'staleMs' | 'rotateAfterMs' | 'rotateOverlapMs' | 'reconnectMinMs' | 'reconnectMaxMs'>
  /** What stream trades are labelled. */
  source: TradeSource
  now: () => number
  log: (line: string) => void
  sum: Pick<IngestSummary, 'reconnects' | 'sequenceGaps'>
  /** Each frame, parsed (with `error` when it could not be). */
  onFrame(frame: VenueFrame, raw: string): void
  /** Frames were lost on the connection (a sequence jump); called before the frame after the loss. */
  onLostFrames(): void
}

/**
 * The run's stream connection; `open` starts it, `close` ends it for good. `connect` is long
 * because it is one socket's life: its watchdog, rotation and handlers close over that socket.
 * @example const c = streamConnection({ ...o, onFrame, onLostFrames }); c.open(); await c.opened
 */
export function streamConnection(o: ConnectionOptions) {
  const s = o.settings
  const { now, log, venue } = o
  let ws: WebSocket | undefined
  let stopped = false
  let delay = s.reconnectMinMs
  let down: { at: number; reason: string } | undefined
  const sockets = new Set<WebSocket>()
  const retired = new WeakSet<WebSocket>()
  let connected: () => void = () => {}
  const opened = new Promise<void>((r) => { connected = r })

  function connect(): WebSocket | undefined {
    if (stopped) return
    const socket = new WebSocket(venue.streamUrl())
    ws = socket
    const sequence = sequenceTracker({ first: 0 })
    let lastSeen = now()
    const alive = () => { lastSeen = now() }
    const watchdog = setInterval(() => {
      if (now() - lastSeen < s.staleMs) return
      log(`stream silent for ${s.staleMs} ms; replacing the connection`)
      socket.terminate()
    }, Math.min(s.staleMs, 5_000))
    const rotation = setTimeout(() => {
      if (stopped || ws !== socket) return
      log('rotating the stream connection before the exchange ends it')
      const next = connect()
      next?.once('open', () => setTimeout(() => { retired.add(socket); socket.close(1000) }, s.rotateOverlapMs))
    }, s.rotateAfterMs)
    socket.on('ping', alive)
    socket.on('open', () => {
      alive()
      for (const m of venue.subscribe()) socket.send(m)
      delay = s.reconnectMinMs
      connected()
      log(`stream open: ${o.symbols.join(', ')}`)
      if (down) {
        const d = { exchange: o.exchange, symbols: o.symbols, disconnected_at: down.at, reconnected_at: now(), reason: down.reason }
        down = undefined
        void recordDisconnect(o.store, d).catch((e) => log(`could not record a disconnect: ${e.message}`))
      }
    })
    socket.on('message', (data) => {
      alive()
      const raw = data.toString()
      const r = venue.parse(raw, now() * 1000, o.source)
      if (r.error === undefined && venue.sequenced && r.sequence !== undefined) {
        // Numbers count every frame of this connection from 0: a jump means frames were lost, and
        // with them perhaps the last trades before a quiet spell, which no later id would reveal.
        const c = sequence.check(r.sequence)
        if (c.gap) {
          o.sum.sequenceGaps++
          log(`stream lost frames ${c.expected}..${r.sequence - 1}; catching up over REST`)
          o.onLostFrames()
        }
      }
      o.onFrame(r, raw)
    })
    socket.on('error', (e) => log(`stream error: ${e.message}`))
    socket.on('close', (code, why) => {
      clearInterval(watchdog)
      clearTimeout(rotation)
      if (stopped || retired.has(socket) || ws !== socket) return
      down ??= { at: now(), reason: `closed with code ${code}${why.length ? `: ${why}` : ''}` }
      o.sum.reconnects++
      log(`stream closed (${code}); reconnecting in ${delay} ms (a gap, if any, is filled over REST)`)
      setTimeout(connect, delay)
      delay = Math.min(delay * 2, s.reconnectMaxMs)
    })
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    return socket
  }

  return {
    /** Opens the first connection. */
    open() { connect() },
    /** Resolves when a connection first opens. */
    opened,
    /** Open, or down since when and why. */
    status: (): StreamStatus => ({ open: ws?.readyState === WebSocket.OPEN, down }),
    /** Closes every connection; none is opened again. */
    close() {
      stopped = true
      for (const socket of sockets) socket.close()
    },
  }
}
