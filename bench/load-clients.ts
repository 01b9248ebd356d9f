// The subscribers of `npm run load`, in their own process so their work is not counted against
// the gateway: opens N WebSocket clients, subscribes each to a trades and a 1m candles channel,
// and measures what arrives. Driven over IPC by bench/load.ts: `connect`, then per window
// `measure`, `stop` and `report`. `misbehave` opens clients that do what a hostile or broken one
// does: half re-send a subscribe of 18 channels at the gateway's allowed rate (20 frames/s), half
// subscribe and then never read; `count` says how many of them are still connected.
import WebSocket from 'ws'
import { monitorEventLoopDelay } from 'node:perf_hooks'

interface Connect { cmd: 'connect'; url: string; clients: number; channels: string[] }
/** Starts the window: trade ids from `firstId` on are tracked, latency sampled. */
interface Measure { cmd: 'measure'; firstId: number; capacity: number }
interface Report { cmd: 'report'; from: number; to: number; fromId: number; lastId: number }

/** Latency histogram in 1 ms buckets up to 60 s. */
const hist = new Uint32Array(60_001)
let samples = 0
interface Client { ws: WebSocket; seen: Uint8Array; finals: Set<number>; partials: number; errors: number; open: boolean; sampled: boolean }
/** Every `SAMPLE`th client measures each trade's latency and checks the ids of each message run without a hole. */
const SAMPLE = 10
/** Trade messages, seen by a sampled client, whose ids were not consecutive (then ranges would over-count). */
let holes = 0
const clients: Client[] = []
let opened = 0
let firstId = 0
let cpu0 = process.cpuUsage()
/** This process's own event-loop delay over the window: a stall here reads as latency but is not the server's. */
const loop = monitorEventLoopDelay({ resolution: 10 })
let measuring = false
/** Set when the window ends: trades up to this id are still on their way and measured, partial candles no longer counted. */
let lastId = Infinity

const TRADE = Buffer.from('{"type":"trade"')
const ID = Buffer.from('{"id":')
const INGEST = Buffer.from('"ingest_time":')

/** The integer at `at` in a buffer of ASCII digits. */
function intAt(buf: Buffer, at: number) {
  let n = 0
  for (let i = at; i < buf.length; i++) { const d = buf[i] - 48; if (d < 0 || d > 9) break; n = n * 10 + d }
  return n
}

/**
 * Trade messages are scanned, not parsed: a thousand clients parsing every trade would take the
 * cores of this machine from the server under test. Each trade object starts with `{"id":` and
 * carries `"ingest_time":`. One broadcast is one serialization sent to every subscriber, so the
 * ids of a message are the same for all: a sampled client reads every trade (latency of each, and
 * that the ids run without a hole), the others mark the message's id range as received.
 */
function onTrades(c: Client, buf: Buffer, now: number) {
  if (!c.sampled) {
    const first = buf.indexOf(ID)
    if (first < 0) return
    const from = Math.max(0, intAt(buf, first + 6) - firstId)
    const to = Math.min(c.seen.length, intAt(buf, buf.lastIndexOf(ID) + 6) - firstId + 1)
    if (to > from) c.seen.fill(1, from, to)
    return
  }
  let prev = -1
  for (let at = buf.indexOf(ID); at >= 0; at = buf.indexOf(ID, at + 6)) {
    const id = intAt(buf, at + 6)
    if (prev >= 0 && id !== prev + 1) holes++
    prev = id
    const i = id - firstId
    if (i >= 0 && i < c.seen.length) c.seen[i] = 1
    if (!measuring || i + firstId > lastId) continue
    const t = buf.indexOf(INGEST, at)
    if (t < 0) continue
    hist[Math.min(60_000, Math.max(0, now - intAt(buf, t + INGEST.length)))]++
    samples++
  }
}

function onMessage(c: Client, data: WebSocket.RawData) {
  const now = Date.now()
  const buf = data as Buffer
  if (buf.subarray(0, TRADE.length).equals(TRADE)) return onTrades(c, buf, now)
  const m = JSON.parse(buf.toString())
  if (m.type === 'candle') {
    if (m.final) c.finals.add(m.candle.open_time)
    else if (measuring && lastId === Infinity) c.partials++
  } else if (m.type === 'error') c.errors++
}

function open(url: string, channels: string[]) {
  return new Promise<boolean>((resolve) => {
    const ws = new WebSocket(url, { skipUTF8Validation: true })
    const c: Client = { ws, seen: new Uint8Array(0), finals: new Set(), partials: 0, errors: 0, open: false, sampled: opened++ % SAMPLE === 0 }
    let subscribed = false
    ws.on('message', (d) => {
      if (!subscribed) { subscribed = true; resolve(true) }
      onMessage(c, d)
    })
    ws.on('open', () => { c.open = true; clients.push(c); ws.send(JSON.stringify({ action: 'subscribe', channels })) })
    ws.on('close', () => { c.open = false })
    ws.on('error', () => resolve(false))
    setTimeout(() => resolve(false), 30_000).unref()
  })
}

const quantile = (q: number) => {
  let n = 0
  const want = Math.ceil(samples * q)
  for (let ms = 0; ms < hist.length; ms++) { n += hist[ms]; if (n >= want && want > 0) return ms }
  return NaN
}

/** Trades of ids `fromId` to `lastId` each subscriber has received. */
const receivedOf = (fromId: number, lastId: number) => clients.map((c) => { let n = 0; for (let i = fromId - firstId; i < Math.min(lastId - firstId + 1, c.seen.length); i++) n += c.seen[i]; return n })

process.on('message', async (msg: Connect | Report | Measure | { cmd: 'stop'; lastId: number } | { cmd: 'delivered'; fromId: number; lastId: number } | { cmd: 'misbehave'; url: string; clients: number } | { cmd: 'count' } | { cmd: 'exit' }) => {
  if (msg.cmd === 'connect') {
    let ok = 0
    for (let i = 0; i < msg.clients; i += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, msg.clients - i) }, () => open(msg.url, msg.channels)))
      ok += batch.filter(Boolean).length
    }
    process.send!({ connected: ok })
  } else if (msg.cmd === 'measure') {
    firstId = msg.firstId
    for (const c of clients) { c.seen = new Uint8Array(msg.capacity); c.finals.clear(); c.partials = 0; c.errors = 0 }
    hist.fill(0)
    samples = 0
    holes = 0
    lastId = Infinity
    measuring = true
    cpu0 = process.cpuUsage()
    loop.reset(); loop.enable()
    process.send!({ measuring: true })
  } else if (msg.cmd === 'stop') {
    lastId = msg.lastId
    process.send!({ stopped: true })
  } else if (msg.cmd === 'delivered') {
    // trades of the window received so far, all subscribers together (measuring goes on)
    const span = msg.lastId - msg.fromId + 1
    process.send!({ received: receivedOf(msg.fromId, msg.lastId).reduce((a, b) => a + b, 0), expected: span * clients.length })
  } else if (msg.cmd === 'report') {
    measuring = false
    loop.disable()
    const span = msg.lastId - msg.fromId + 1
    const got = receivedOf(msg.fromId, msg.lastId)
    process.send!({
      clients: clients.length,
      open: clients.filter((c) => c.open).length,
      tradesExpected: span,
      tradesReceived: got.reduce((a, b) => a + b, 0),
      clientsWithAllTrades: got.filter((n) => n === span).length,
      latency: { samples, p50: quantile(0.5), p90: quantile(0.9), p99: quantile(0.99), max: quantile(1) },
      hist: Array.from(hist),
      finals: clients.map((c) => [...c.finals]),
      partials: clients.reduce((a, c) => a + c.partials, 0),
      errors: clients.reduce((a, c) => a + c.errors, 0),
      holes,
      sampledClients: clients.filter((c) => c.sampled).length,
      loopMs: { p99: Math.round(loop.percentile(99) / 1e6), max: Math.round(loop.max / 1e6) },
      cpuSeconds: (process.cpuUsage(cpu0).user + process.cpuUsage(cpu0).system) / 1e6,
    })
  } else if (msg.cmd === 'misbehave') {
    let ok = 0
    for (let i = 0; i < msg.clients; i++) if (await misbehave(msg.url, i % 2 === 0 ? 'resubscribe' : 'silent')) ok++
    process.send!({ connected: ok })
  } else if (msg.cmd === 'count') {
    process.send!({ open: rogues.filter((ws) => ws.readyState === WebSocket.OPEN).length })
  } else if (msg.cmd === 'exit') {
    for (const c of clients) c.ws.terminate()
    for (const ws of rogues) ws.terminate()
    process.exit(0)
  }
})

/** 18 channels: every kind of channel of two symbols (the issue's ~200 KB of snapshots). */
const ROGUE_CHANNELS = ['BTC-USDT', 'ETH-USDT'].flatMap((s) => [`trades:sim-binance:${s}`, `ticker:sim-binance:${s}`, `stats:sim-binance:${s}`, ...['1m', '5m', '15m', '1h', '4h', '1d'].map((tf) => `candles:sim-binance:${s}:${tf}`)])
const rogues: WebSocket[] = []

/** A client that re-subscribes at 20 frames a second (reading what comes), or one that subscribes and then never reads. */
function misbehave(url: string, mode: 'resubscribe' | 'silent') {
  return new Promise<boolean>((resolve) => {
    const ws = new WebSocket(url, { skipUTF8Validation: true })
    rogues.push(ws)
    const subscribe = JSON.stringify({ action: 'subscribe', channels: ROGUE_CHANNELS })
    ws.on('open', () => {
      ws.send(subscribe)
      if (mode === 'resubscribe') {
        const timer = setInterval(() => { if (ws.readyState === WebSocket.OPEN) ws.send(subscribe) }, 50)
        ws.on('close', () => clearInterval(timer))
      }
    })
    ws.once('message', () => {
      if (mode === 'silent') (ws as any)._socket.pause() // reads nothing more: the server's frames pile up
      resolve(true)
    })
    ws.on('error', () => resolve(false))
    setTimeout(() => resolve(false), 30_000).unref()
  })
}
process.send!({ ready: true })
