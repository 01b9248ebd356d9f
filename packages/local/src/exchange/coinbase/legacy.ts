/**
 * The fake Coinbase's legacy Exchange ws-feed (on `/ws-feed`): one `subscribe` with `channels`
 * (`matches`, `heartbeat`), `last_match` then `match` frames with a per-product `sequence` that
 * counts order events (so it jumps without any loss), and a `heartbeat` a second with the product's
 * `last_trade_id`, through the stream faults. Frames are keyed like the recordings'.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocket, type WebSocketServer } from 'ws'
import { feedFrameFaults, type Faults } from '../faults'
import { isoMicros, trim, type Book, type CoinbaseTrade } from './book'

export interface FeedOptions {
  books: Map<string, Book>
  symbols: string[]
  subscribeTimeoutMs: number
  /** The faults in force and the fake's seeded draw. */
  faults: Faults
  chance: () => number
  now: () => number
  /** Called at each `matches` subscription (a replay's clock starts with the first). */
  onTradeSubscription: () => void
}

/**
 * The ws-feed side of the fake Coinbase: `accept` takes a connection, `tick` pushes new trades as
 * matches, `heartbeat` sends each subscriber its heartbeats.
 * @example const feed = exchangeFeed(o); feed.accept(wss, req, socket, head); setInterval(feed.heartbeat, 1_000)
 */
export function exchangeFeed(o: FeedOptions) {
  const { books, chance, now } = o
  /** Frames with the stream faults applied (dropped, doubled, swapped), unless stalled. */
  const faulty = feedFrameFaults(o)
  // one subscribe with `channels`, per-product `sequence` counting order events
  interface Legacy { products: Set<string>; heartbeat: Set<string> }
  const legacy = new Map<WebSocket, Legacy>()
  const orderSeq = new Map(o.symbols.map((s, i) => [s, 3_000_000_000 + i * 1_000_000_000]))
  const uuid = () => [8, 4, 4, 4, 12].map((n) => Array.from({ length: n }, () => Math.floor(chance() * 16).toString(16)).join('')).join('-')
  /** A `match` (or `last_match`) frame, keyed as the recording's. */
  function matchFrame(type: string, p: string, t: CoinbaseTrade) {
    const seq = orderSeq.get(p)! + 1 + Math.floor(chance() * 4) // order events between matches: jumps without any loss
    orderSeq.set(p, seq)
    return JSON.stringify({ type, trade_id: t.trade_id, maker_order_id: uuid(), taker_order_id: uuid(), side: t.side, size: trim(t.size), price: trim(t.price), product_id: p, sequence: seq, time: t.time })
  }
  function onLegacy(ws: WebSocket, l: Legacy, text: string) {
    let msg: any
    try { msg = JSON.parse(text) } catch { return ws.send(JSON.stringify({ type: 'error', message: 'Failed to subscribe', reason: 'malformed JSON' })) }
    const products: unknown = msg?.product_ids
    const channels: unknown = msg?.channels
    if (msg?.type !== 'subscribe' || !Array.isArray(products) || !products.every((p) => books.has(p)) || !Array.isArray(channels) || !channels.every((c) => c === 'matches' || c === 'heartbeat')) {
      return ws.send(JSON.stringify({ type: 'error', message: 'Failed to subscribe', reason: 'subscribe to matches and heartbeat of listed products' }))
    }
    const frames: string[] = []
    if (channels.includes('matches')) o.onTradeSubscription()
    for (const p of products as string[]) {
      if (channels.includes('heartbeat')) l.heartbeat.add(p)
      if (!channels.includes('matches') || l.products.has(p)) continue
      l.products.add(p)
      const last = books.get(p)!.trades.at(-1)
      if (last) frames.push(matchFrame('last_match', p, last))
    }
    const names = (name: string, set: Set<string>) => (set.size ? [{ name, product_ids: [...set] }] : [])
    ws.send(JSON.stringify({ type: 'subscriptions', channels: [...names('matches', l.products), ...names('heartbeat', l.heartbeat)] }))
    for (const f of faulty(frames)) ws.send(f)
  }
  /** Sends `match` frames of the new trades to each subscriber of their product. */
  function tick(fresh: Map<string, CoinbaseTrade[]>) {
    for (const [ws, l] of legacy) {
      const frames = [...fresh].filter(([p]) => l.products.has(p)).flatMap(([p, f]) => f.map((t) => matchFrame('match', p, t)))
      if (ws.readyState === WebSocket.OPEN) for (const f of faulty(frames)) ws.send(f)
    }
  }

  /** Sends each connection's heartbeat products their heartbeat. */
  function heartbeat() {
    for (const [ws, l] of legacy) {
      const frames = [...l.heartbeat].map((p) => JSON.stringify({ type: 'heartbeat', last_trade_id: books.get(p)!.trades.at(-1)?.trade_id ?? 0, product_id: p, sequence: orderSeq.get(p), time: isoMicros(now() * 1000) }))
      if (ws.readyState === WebSocket.OPEN) for (const f of faulty(frames)) ws.send(f)
    }
  }

  /** Takes a connection on `/ws-feed`: closed unless it subscribes within `subscribeTimeoutMs`. */
  function accept(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer) {
    wss.handleUpgrade(req, socket, head, (ws) => {
      const l: Legacy = { products: new Set(), heartbeat: new Set() }
      legacy.set(ws, l)
      const deadline = setTimeout(() => { if (!l.products.size && !l.heartbeat.size) ws.close(1000, 'subscribe within 5 seconds') }, o.subscribeTimeoutMs)
      ws.on('message', (data) => onLegacy(ws, l, data.toString()))
      ws.on('close', () => { clearTimeout(deadline); legacy.delete(ws) })
    })
  }

  return { tick, heartbeat, accept, sockets: () => [...legacy.keys()] }
}
