/**
 * The server side of the realtime protocol, over the ports: what happens on connect, disconnect
 * and each client frame, and the fan-out of one message to every subscriber of a channel. A bad
 * frame gets an `error` frame with a code; nothing a client sends can throw out of here, and no
 * single connection (gone, failing or hung) can stop a broadcast to the others.
 */
import type { Candle } from '../../market/index'
import type { ConnectionPoster, ConnectionStore, ObjectStore } from '../../ports/index'
import { ProtocolError, defaults, parseChannel, parseClientMessage, type ServerMessage } from './index'
import { liveKey, periodOf, rollUp, servingCandles, type LiveDoc } from './live'

export const snapshots = {
  /** A snapshot frame stays under this many bytes (API Gateway posts at most 128 KB): the newest candles are kept. */
  maxBytes: 120_000,
  /**
   * A channel's snapshot frame is reused for this long (per object store, per warm function), so
   * many clients subscribing at once, or one subscribing again and again, read and serialize a
   * serving window at most once per period.
   */
  reuseMs: 250,
  /** Snapshot frames kept for reuse at most. */
  reuseEntries: 1_000,
}

/** The newest candles whose snapshot frame fits in `maxBytes`. */
function fit(channel: string, candles: Candle[], maxBytes = snapshots.maxBytes): Candle[] {
  let kept = candles
  for (let size = JSON.stringify({ type: 'snapshot', channel, candles: kept }).length; size > maxBytes && kept.length; size = JSON.stringify({ type: 'snapshot', channel, candles: kept }).length) {
    kept = kept.slice(Math.max(1, Math.ceil(kept.length * (1 - maxBytes / size)) + 1))
  }
  return kept
}

export const fanout = {
  /** Posts in flight at once during a broadcast. */
  concurrency: 32,
  /**
   * A post that has not answered by then counts as failed (it is not awaited any longer), so one
   * hung client delays its channel's next update by at most this long.
   */
  postTimeoutMs: 1_000,
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

type Snapshot = ServerMessage & { type: 'snapshot' }

/**
 * The recent window of a channel, sent on subscribe so a client never draws a hole: a candle
 * channel's serving window (`serving/<ex>/<sym>/<tf>.json`; when a timeframe has none yet, rolled
 * up from the 1m window), and for trades, ticker and stats the live feed's `live.json`. Empty (or
 * `null`) when absent or unreadable.
 */
export async function snapshotOf(objects: ObjectStore, channel: string): Promise<Snapshot> {
  const c = parseChannel(channel)
  if (c.tf) {
    const own = await servingCandles(objects, c.exchange, c.symbol, c.tf)
    if (own.length || c.tf === '1m') return { type: 'snapshot', channel, candles: fit(channel, own) }
    const minutes = await servingCandles(objects, c.exchange, c.symbol, '1m')
    const opens = [...new Set(minutes.map((m) => periodOf(c.tf!, m.open_time)))].sort((a, b) => a - b)
    return { type: 'snapshot', channel, candles: fit(channel, opens.flatMap((t) => rollUp(minutes, c.tf!, t) ?? [])) }
  }
  let doc: Partial<LiveDoc> | undefined
  try {
    const bytes = await objects.get(liveKey(c.exchange, c.symbol))
    doc = bytes ? JSON.parse(new TextDecoder().decode(bytes)) : undefined
  } catch { doc = undefined }
  if (c.kind === 'trades') return { type: 'snapshot', channel, candles: [], trades: Array.isArray(doc?.trades) ? doc.trades : [] }
  if (c.kind === 'ticker') return { type: 'snapshot', channel, candles: [], ticker: doc?.ticker ?? null }
  return { type: 'snapshot', channel, candles: [], stats: doc?.stats ?? null }
}

const reused = new WeakMap<ObjectStore, Map<string, { at: number; frame: Promise<string> }>>()

/**
 * The serialized snapshot frame of a channel, reused for `snapshots.reuseMs` (a read in flight is
 * shared too). A failed read is not kept.
 */
export function snapshotFrame(objects: ObjectStore, channel: string, now = Date.now()): Promise<string> {
  let frames = reused.get(objects)
  if (!frames) reused.set(objects, (frames = new Map()))
  const hit = frames.get(channel)
  if (hit && now - hit.at < snapshots.reuseMs) return hit.frame
  // full: expired entries go, then the oldest (a Map iterates in insertion order)
  if (frames.size >= snapshots.reuseEntries) for (const [k, v] of frames) if (now - v.at >= snapshots.reuseMs) frames.delete(k)
  for (const k of frames.keys()) { if (frames.size < snapshots.reuseEntries) break; frames.delete(k) }
  const frame = snapshotOf(objects, channel).then((m) => JSON.stringify(m))
  frames.set(channel, { at: now, frame })
  frame.catch(() => frames!.delete(channel))
  return frame
}

/**
 * Adds channels within the per-connection bound; throws `too_many_subscriptions` over it. Returns
 * the channels the connection did not hold before (only those get a snapshot).
 */
async function subscribe(store: ConnectionStore, id: string, channels: string[], max: number): Promise<string[]> {
  const held = new Set(await store.channelsOf(id))
  const added = channels.filter((c) => !held.has(c))
  if (held.size + added.length > max) throw new ProtocolError('too_many_subscriptions', `a connection holds at most ${max} channels (this would make ${held.size + added.length})`)
  const count = await store.subscribe(id, channels)
  // Two subscribes of one connection can race past the check above: the later one takes its own back.
  if (count > max) {
    await store.unsubscribe(id, added)
    throw new ProtocolError('too_many_subscriptions', `a connection holds at most ${max} channels`)
  }
  return added
}

/**
 * Handles one client frame: subscribe, unsubscribe or ping; errors are answered, never thrown. A
 * connection over `limits.maxFrames` frames in a window is refused (`rate_limited`); one whose
 * refused frames pass `limits.maxStrikes` gets a `closing` error and is closed and forgotten.
 */
export async function onMessage(ctx: MessageContext): Promise<void> {
  const limits = ctx.limits ?? defaults
  const now = (ctx.now ?? Date.now)()
  const reply = (m: ServerMessage) => send(ctx.poster, ctx.connectionId, m)
  try {
    if ((await ctx.store.tally(ctx.connectionId, 'frames', limits.abuseWindowMs, now)) > limits.maxFrames) {
      throw new ProtocolError('rate_limited', `more than ${limits.maxFrames} frames in ${limits.abuseWindowMs / 1000} s: frame ignored`)
    }
    const msg = parseClientMessage(ctx.body ?? '', limits)
    if (msg.action === 'ping') { await reply({ type: 'pong', time: (ctx.now ?? Date.now)() }); return }
    // Bad channels among good ones: the good ones are taken, the bad ones named in one error (a refused frame).
    const refuse = async () => {
      if (!msg.rejected?.length) return
      await reply({ type: 'error', code: 'bad_channel', message: msg.rejected.map((r) => r.message).join('; ').slice(0, 500), channels: msg.rejected.map((r) => r.channel) })
      await strike(ctx, limits, now)
    }
    if (msg.action === 'unsubscribe') {
      await ctx.store.unsubscribe(ctx.connectionId, msg.channels)
      await reply({ type: 'unsubscribed', channels: msg.channels })
      await refuse()
      return
    }
    // Snapshots only for channels newly held: subscribing again to what a connection holds costs one acknowledgement.
    const added = await subscribe(ctx.store, ctx.connectionId, msg.channels, limits.maxSubscriptions)
    const frames = Promise.all(added.map((ch) => snapshotFrame(ctx.objects, ch, now)))
    frames.catch(() => {})
    if ((await reply({ type: 'subscribed', channels: msg.channels })) !== 'ok') return
    await refuse()
    for (const f of await frames) if ((await ctx.poster.post(ctx.connectionId, f).catch(() => 'failed' as const)) !== 'ok') return
  } catch (e) {
    const err = e instanceof ProtocolError ? e : new ProtocolError('internal', 'the server could not handle this message')
    await reply({ type: 'error', code: err.code, message: err.message })
    if (err.code !== 'internal') await strike(ctx, limits, now)
  }
}

/** Counts a refused frame; past `maxStrikes` in the window, closes the connection. */
async function strike(ctx: MessageContext, limits: typeof defaults, now: number) {
  const strikes = await ctx.store.tally(ctx.connectionId, 'strikes', limits.abuseWindowMs, now).catch(() => 0)
  if (strikes <= limits.maxStrikes) return
  await send(ctx.poster, ctx.connectionId, { type: 'error', code: 'closing', message: `more than ${limits.maxStrikes} refused frames in ${limits.abuseWindowMs / 1000} s: closing the connection` })
  await ctx.poster.deleteConnection?.(ctx.connectionId).catch(() => undefined)
  await ctx.store.remove(ctx.connectionId)
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
 * Posts `message` (serialized once) to every subscriber of `channel`, `concurrency` at a time, or
 * in one synchronous pass where the poster has `postMany`.
 * Connections that answer Gone are removed from the store; a failing or hung one counts as
 * `failed` and never stops the others.
 * @example await broadcast({ store, poster, channel: 'candles:binance:BTC-USDT:1m', message })
 */
export async function broadcast(b: Broadcast): Promise<BroadcastResult> {
  const ids = await b.store.subscribers(b.channel)
  const data = JSON.stringify(b.message)
  const timeoutMs = b.timeoutMs ?? fanout.postTimeoutMs
  const out: BroadcastResult = { sent: 0, gone: 0, failed: 0 }
  if (b.poster.postMany) {
    const answers = b.poster.postMany(ids, data)
    const gone = ids.filter((_, i) => answers[i] === 'gone')
    out.gone = gone.length
    out.sent = ids.length - gone.length
    await Promise.all(gone.map((id) => b.store.remove(id).catch(() => {})))
    return out
  }
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
