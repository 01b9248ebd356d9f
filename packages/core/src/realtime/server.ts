/**
 * The server side of the realtime protocol, over the ports: what happens on connect, disconnect
 * and each client frame, and the fan-out of one message to every subscriber of a channel. A bad
 * frame gets an `error` frame with a code; nothing a client sends can throw out of here.
 */
import { servingKey, type ServingWindow } from '../lake/index'
import type { ConnectionPoster, ConnectionStore, ObjectStore } from '../ports/index'
import { ProtocolError, defaults, parseChannel, parseClientMessage, type ServerMessage } from './index'

export const fanout = {
  /** Posts in flight at once during a broadcast. */
  concurrency: 32,
}

export interface MessageContext { store: ConnectionStore; poster: ConnectionPoster; objects: ObjectStore; connectionId: string; body: string | undefined; now?: () => number }

const send = (poster: ConnectionPoster, id: string, m: ServerMessage) => poster.post(id, JSON.stringify(m)).catch(() => 'gone' as const)

/** Registers a new connection. */
export const onConnect = (store: ConnectionStore, connectionId: string, now = Date.now()) => store.add(connectionId, now)

/** Forgets a connection and its subscriptions. */
export const onDisconnect = (store: ConnectionStore, connectionId: string) => store.remove(connectionId)

/** The recent window of a candle channel, for the `snapshot` sent on subscribe. */
async function snapshot(objects: ObjectStore, channel: string): Promise<ServerMessage> {
  const c = parseChannel(channel)
  const bytes = c.tf ? await objects.get(servingKey(c.exchange, c.symbol, c.tf)).catch(() => undefined) : undefined
  const doc: ServingWindow | undefined = bytes ? JSON.parse(new TextDecoder().decode(bytes)) : undefined
  return { type: 'snapshot', channel, candles: doc?.candles ?? [] }
}

/** Handles one client frame: subscribe, unsubscribe or ping; errors are answered, never thrown. */
export async function onMessage(ctx: MessageContext): Promise<void> {
  const reply = (m: ServerMessage) => send(ctx.poster, ctx.connectionId, m)
  try {
    const msg = parseClientMessage(ctx.body ?? '')
    if (msg.action === 'ping') { await reply({ type: 'pong', time: (ctx.now ?? Date.now)() }); return }
    if (msg.action === 'unsubscribe') {
      await ctx.store.unsubscribe(ctx.connectionId, msg.channels)
      await reply({ type: 'unsubscribed', channels: msg.channels })
      return
    }
    const held = await ctx.store.channelsOf(ctx.connectionId)
    const total = new Set([...held, ...msg.channels]).size
    if (total > defaults.maxSubscriptions) throw new ProtocolError('too_many_subscriptions', `a connection holds at most ${defaults.maxSubscriptions} channels (this would make ${total})`)
    await ctx.store.subscribe(ctx.connectionId, msg.channels)
    await reply({ type: 'subscribed', channels: msg.channels })
    for (const ch of msg.channels) if (ch.startsWith('candles:')) await reply(await snapshot(ctx.objects, ch))
  } catch (e) {
    const err = e instanceof ProtocolError ? e : new ProtocolError('internal', 'the server could not handle this message')
    await reply({ type: 'error', code: err.code, message: err.message })
  }
}

export interface Broadcast { store: ConnectionStore; poster: ConnectionPoster; channel: string; message: ServerMessage; concurrency?: number }

/**
 * Posts `message` to every subscriber of `channel`, `concurrency` at a time. Connections that
 * answer Gone are removed; a failing or slow one never stops the others.
 * @example await broadcast({ store, poster, channel: 'candles:binance:BTC-USDT:1m', message })
 */
export async function broadcast(b: Broadcast): Promise<{ sent: number; gone: number; failed: number }> {
  const ids = await b.store.subscribers(b.channel)
  const data = JSON.stringify(b.message)
  const out = { sent: 0, gone: 0, failed: 0 }
  let next = 0
  async function worker() {
    while (next < ids.length) {
      const id = ids[next++]
      try {
        if ((await b.poster.post(id, data)) === 'gone') { out.gone++; await b.store.remove(id) } else out.sent++
      } catch { out.failed++ }
    }
  }
  await Promise.all(Array.from({ length: Math.min(b.concurrency ?? fanout.concurrency, ids.length) }, worker))
  return out
}
