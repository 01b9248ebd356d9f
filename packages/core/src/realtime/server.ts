/**
 * The server side of the realtime protocol, over the ports: what happens on connect, disconnect
 * and each client frame, and the fan-out of one message to every subscriber of a channel. A bad
 * frame gets an `error` frame with a code; nothing a client sends can throw out of here, and no
 * single connection (gone, failing or hung) can stop a broadcast to the others.
 */
import { servingKey, type ServingWindow } from '../lake/index'
import type { ConnectionPoster, ConnectionStore, ObjectStore } from '../ports/index'
import { ProtocolError, defaults, parseChannel, parseClientMessage, type ServerMessage } from './index'

export const fanout = {
  /** Posts in flight at once during a broadcast. */
  concurrency: 32,
  /** A post that has not answered by then counts as failed (it is not awaited any longer). */
  postTimeoutMs: 10_000,
}

export interface MessageContext {
  store: ConnectionStore
  poster: ConnectionPoster
  objects: ObjectStore
  connectionId: string
  /** The frame as the client sent it (API Gateway's `event.body`). */
  body: string | undefined
  now?: () => number
  /** Protocol limits; the protocol's `defaults` unless given. */
  limits?: typeof defaults
}

/** Posts one message to one connection; a failing post is reported, not thrown. */
const send = (poster: ConnectionPoster, id: string, m: ServerMessage) => poster.post(id, JSON.stringify(m)).catch(() => 'failed' as const)

/** Registers a new connection. */
export const onConnect = (store: ConnectionStore, connectionId: string, now = Date.now()) => store.add(connectionId, now)

/** Forgets a connection and its subscriptions. */
export const onDisconnect = (store: ConnectionStore, connectionId: string) => store.remove(connectionId)

/** The recent window of a candle channel, for the `snapshot` sent on subscribe: empty when absent or unreadable. */
export async function snapshotOf(objects: ObjectStore, channel: string): Promise<ServerMessage & { type: 'snapshot' }> {
  const c = parseChannel(channel)
  if (!c.tf) return { type: 'snapshot', channel, candles: [] }
  try {
    const bytes = await objects.get(servingKey(c.exchange, c.symbol, c.tf))
    const doc: Partial<ServingWindow> | undefined = bytes ? JSON.parse(new TextDecoder().decode(bytes)) : undefined
    return { type: 'snapshot', channel, candles: Array.isArray(doc?.candles) ? doc.candles : [] }
  } catch {
    return { type: 'snapshot', channel, candles: [] }
  }
}

/** Adds channels within the per-connection bound; throws `too_many_subscriptions` over it. */
async function subscribe(store: ConnectionStore, id: string, channels: string[], max: number) {
  const held = new Set(await store.channelsOf(id))
  const added = channels.filter((c) => !held.has(c))
  if (held.size + added.length > max) throw new ProtocolError('too_many_subscriptions', `a connection holds at most ${max} channels (this would make ${held.size + added.length})`)
  const count = await store.subscribe(id, channels)
  // Two subscribes of one connection can race past the check above: the later one takes its own back.
  if (count > max) {
    await store.unsubscribe(id, added)
    throw new ProtocolError('too_many_subscriptions', `a connection holds at most ${max} channels`)
  }
}

/** Handles one client frame: subscribe, unsubscribe or ping; errors are answered, never thrown. */
export async function onMessage(ctx: MessageContext): Promise<void> {
  const limits = ctx.limits ?? defaults
  const reply = (m: ServerMessage) => send(ctx.poster, ctx.connectionId, m)
  try {
    const msg = parseClientMessage(ctx.body ?? '', limits)
    if (msg.action === 'ping') { await reply({ type: 'pong', time: (ctx.now ?? Date.now)() }); return }
    if (msg.action === 'unsubscribe') {
      await ctx.store.unsubscribe(ctx.connectionId, msg.channels)
      await reply({ type: 'unsubscribed', channels: msg.channels })
      return
    }
    await subscribe(ctx.store, ctx.connectionId, msg.channels, limits.maxSubscriptions)
    const snapshots = Promise.all(msg.channels.filter((ch) => ch.startsWith('candles:')).map((ch) => snapshotOf(ctx.objects, ch)))
    if ((await reply({ type: 'subscribed', channels: msg.channels })) !== 'ok') return
    for (const s of await snapshots) await reply(s)
  } catch (e) {
    const err = e instanceof ProtocolError ? e : new ProtocolError('internal', 'the server could not handle this message')
    await reply({ type: 'error', code: err.code, message: err.message })
  }
}

export interface Broadcast {
  store: ConnectionStore
  poster: ConnectionPoster
  channel: string
  message: ServerMessage
  /** Posts in flight at once (default `fanout.concurrency`). */
  concurrency?: number
  /** Per-post time limit (default `fanout.postTimeoutMs`). */
  timeoutMs?: number
}

export interface BroadcastResult { sent: number; gone: number; failed: number }

/** Resolves to the post's answer, or rejects once `ms` have passed without one. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms) })
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}

/**
 * Posts `message` (serialized once) to every subscriber of `channel`, `concurrency` at a time.
 * Connections that answer Gone are removed from the store; a failing or hung one counts as
 * `failed` and never stops the others.
 * @example await broadcast({ store, poster, channel: 'candles:binance:BTC-USDT:1m', message })
 */
export async function broadcast(b: Broadcast): Promise<BroadcastResult> {
  const ids = await b.store.subscribers(b.channel)
  const data = JSON.stringify(b.message)
  const timeoutMs = b.timeoutMs ?? fanout.postTimeoutMs
  const out: BroadcastResult = { sent: 0, gone: 0, failed: 0 }
  let next = 0
  async function worker() {
    while (next < ids.length) {
      const id = ids[next++]
      let answer: 'ok' | 'gone' | 'failed'
      try { answer = await within(b.poster.post(id, data), timeoutMs) } catch { answer = 'failed' }
      if (answer === 'ok') out.sent++
      else if (answer === 'failed') out.failed++
      else {
        out.gone++
        await b.store.remove(id).catch(() => {})
      }
    }
  }
  const workers = Math.max(1, Math.min(b.concurrency ?? fanout.concurrency, ids.length))
  await Promise.all(Array.from({ length: workers }, worker))
  return out
}
