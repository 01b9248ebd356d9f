/**
 * The page: asks `/api/health` what runs (exchange, symbols, simulated or live), subscribes over
 * the WebSocket API to the chosen symbol's candles (1m to 1d, `?tf=`) and trades, keeps the candle series (a
 * snapshot replaces it, then partial and final candles are upserted by open time), and shows the
 * chart, the price with its change over the window, and the recent trades. Pings every 30 s,
 * drops a connection that has gone silent, reconnects with backoff and subscribes again. Exposes
 * `data-state` and `data-candles` on <body> for tests and monitors. Polls `/api/status` for stalls of
 * the shown source (no trades while the exchange trades on, or the source down): while one is open
 * the state reads `stalled` (`data-stalled` on <body>) and the footer says since when and why.
 */
import './style.css'
import type { Candle, Timeframe } from '@ticklake/core/market'
import { candleChannel, tradeChannel, type LiveTrade, type ServerMessage } from '@ticklake/core/realtime'
import { createChart, decimalsFor, fmt } from './chart'

interface Health { ok: boolean; source: string; simulated: boolean; exchange: string; symbols: string[]; ws: string }
type State = 'connecting' | 'live' | 'reconnecting'

const $ = (id: string) => document.getElementById(id)!
const MAX_CANDLES = 1440
const MAX_TRADES = 30
const PING_MS = 30_000
/** A connection with no message (pongs included) for this long is taken as dead. */
const SILENT_MS = 75_000
/** How often `/api/status` is asked whether the shown source is stalled. */
const STATUS_MS = 10_000

let health: Health
let symbol = ''
let tf: Timeframe = '1m'
const TIMEFRAMES: Timeframe[] = ['1m', '5m', '15m', '1h', '4h', '1d']
let candles: Candle[] = []
let price: number | undefined
let ws: WebSocket | undefined
let retry = 0
let heard = 0
/** The open stall of the shown source, from `/api/status`. */
let stall: { since: string; reason: string } | undefined
const chart = createChart($('chart'), $('legend'))

const channels = () => [candleChannel(health.exchange, symbol, tf), tradeChannel(health.exchange, symbol)]
const utc = (ms: number) => new Date(ms).toISOString().slice(11, 19)
/** The next reconnect delay: 0.5 s doubling to 15 s, with jitter so a restarted server is not stampeded. */
const backoff = () => Math.min(15_000, 500 * 2 ** retry++) * (0.8 + Math.random() * 0.4)

function setState(s: State) {
  if (document.body.dataset.state === s) return
  document.body.dataset.state = s
  $('state').textContent = stall && s === 'live' ? 'stalled' : s
}

/** Asks `/api/status` for an open stall of the shown exchange and symbol; shows it, or clears it. */
async function checkStall() {
  try {
    const res = await fetch('/api/status', { cache: 'no-store' })
    if (!res.ok) return
    const body = await res.json() as { stalls?: { exchange: string; symbol: string; since: string; reason: string }[] }
    const next = body.stalls?.find((x) => x.exchange === health.exchange && x.symbol === symbol)
    if (!next && !stall) return
    stall = next
    if (stall) document.body.dataset.stalled = 'true'
    else delete document.body.dataset.stalled
    $('state').textContent = stall && document.body.dataset.state === 'live' ? 'stalled' : document.body.dataset.state ?? ''
    status(stall ? `STALLED: no trades from ${health.exchange} ${symbol} since ${stall.since.slice(11, 19)} UTC: ${stall.reason}` : '')
  } catch { /* the next poll tries again */ }
}

function status(text: string) { $('error').textContent = text }

/** Puts a candle in the series by open time; a partial never overwrites a final one of the same minute. */
function upsert(c: Candle) {
  const i = candles.findLastIndex((x) => x.open_time <= c.open_time)
  if (i >= 0 && candles[i].open_time === c.open_time) {
    if (candles[i].final && !c.final) return
    candles[i] = c
  } else candles.splice(i + 1, 0, c)
  if (candles.length > MAX_CANDLES) candles.splice(0, candles.length - MAX_CANDLES)
}

/** The price, its change against the window's first open, the update time and the title. */
function showPrice() {
  const first = candles[0]?.open
  if (price == null) return
  const d = decimalsFor(price)
  $('price').textContent = fmt(price, d)
  const change = $('change')
  if (first) {
    const diff = price - first, pct = (diff / first) * 100
    change.textContent = `${diff >= 0 ? '+' : ''}${fmt(diff, d)} (${pct >= 0 ? '+' : ''}${pct.toFixed(2)}%)`
    change.className = diff >= 0 ? 'up' : 'down'
  }
  $('updated').textContent = `updated ${utc(Date.now())} UTC`
  document.title = `${symbol} ${fmt(price, d)} · Ticklake${health.simulated ? ' (SIMULATED)' : ''}`
}

let pending = false
/** Renders at most once a frame, however many messages arrive. */
function schedule() {
  if (pending) return
  pending = true
  requestAnimationFrame(() => {
    pending = false
    chart.setCandles(candles)
    if (document.body.dataset.candles !== String(candles.length)) document.body.dataset.candles = String(candles.length)
    showPrice()
  })
}

function showTrades(trades: LiveTrade[]) {
  const list = $('trades')
  for (const t of trades.slice(-MAX_TRADES)) {
    const li = document.createElement('li')
    li.className = t.side === 'buy' ? 'up' : 'down'
    li.textContent = `${utc(t.time)}  ${fmt(t.price, decimalsFor(t.price)).padStart(10)} ${String(+t.qty.toFixed(6)).padStart(9)}`
    list.prepend(li)
  }
  while (list.children.length > MAX_TRADES) list.lastChild!.remove()
}

function onMessage(m: ServerMessage) {
  const [candleCh, tradeCh] = channels()
  if (m.type === 'snapshot' && m.channel === candleCh) {
    // the snapshot replaces the series; live candles newer than it are kept
    const last = m.candles.at(-1)?.open_time ?? -Infinity
    const newer = candles.filter((c) => c.open_time > last)
    candles = m.candles.slice(-MAX_CANDLES)
    for (const c of newer) upsert(c)
    if (candles.length) price = candles[candles.length - 1].close
    schedule()
  } else if (m.type === 'candle' && m.channel === candleCh) {
    upsert({ ...m.candle, final: m.final })
    if (m.candle.open_time >= (candles.at(-1)?.open_time ?? 0)) price = m.candle.close
    schedule()
  } else if (m.type === 'trade' && m.channel === tradeCh && m.trades.length) {
    showTrades(m.trades)
    price = m.trades[m.trades.length - 1].price
    schedule()
  } else if (m.type === 'error') {
    status(`server error ${m.code}: ${m.message}`)
  }
}

/** Forgets a socket (its late events are ignored) and plans the next connection. */
function drop(socket: WebSocket) {
  if (ws !== socket) return
  ws = undefined
  socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null
  socket.close()
  setState('reconnecting')
  setTimeout(connect, backoff())
}

function connect() {
  const url = new URL(health.ws, location.href)
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:'
  const socket = new WebSocket(url)
  ws = socket
  socket.onopen = () => {
    retry = 0
    heard = Date.now()
    socket.send(JSON.stringify({ action: 'subscribe', channels: channels() }))
    setState('live')
    status('')
  }
  socket.onmessage = (e) => {
    heard = Date.now()
    let m: ServerMessage
    try { m = JSON.parse(e.data) } catch { status('bad message from the server: not JSON'); return }
    onMessage(m)
  }
  socket.onclose = () => drop(socket)
}

/** Switches the page to another symbol or timeframe on the same connection. */
function choose(next: { symbol?: string; tf?: Timeframe }) {
  if ((next.symbol ?? symbol) === symbol && (next.tf ?? tf) === tf) return
  if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ action: 'unsubscribe', channels: channels() }))
  symbol = next.symbol ?? symbol
  tf = next.tf ?? tf
  candles = []
  price = undefined
  $('trades').replaceChildren()
  $('price').textContent = '—'
  $('change').textContent = ''
  showSource()
  schedule()
  if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ action: 'subscribe', channels: channels() }))
  const u = new URL(location.href)
  u.searchParams.set('symbol', symbol)
  if (tf === '1m') u.searchParams.delete('tf')
  else u.searchParams.set('tf', tf)
  history.replaceState(null, '', u)
}

const showSource = () => { $('source').textContent = `${health.exchange} · ${health.simulated ? 'simulated' : health.source} · ${tf} · UTC` }

async function start() {
  setState('connecting')
  for (;;) {
    try {
      const res = await fetch('/api/health', { cache: 'no-store' })
      if (!res.ok) throw new Error(`HTTP ${res.status}`)
      health = await res.json()
      break
    } catch (e) {
      status(`cannot reach /api/health (${(e as Error).message}); retrying`)
      await new Promise((r) => setTimeout(r, backoff()))
    }
  }
  retry = 0
  status('')
  $('simulated').hidden = !health.simulated
  const params = new URLSearchParams(location.search)
  const wanted = params.get('symbol')?.toUpperCase()
  symbol = wanted && health.symbols.includes(wanted) ? wanted : health.symbols[0]
  tf = TIMEFRAMES.find((t) => t === params.get('tf')) ?? '1m'
  showSource()
  const select = $('symbol') as HTMLSelectElement
  for (const s of health.symbols) select.add(new Option(s, s, false, s === symbol))
  select.onchange = () => choose({ symbol: select.value })
  const tfSelect = $('tf') as HTMLSelectElement
  for (const t of TIMEFRAMES) tfSelect.add(new Option(t, t, false, t === tf))
  tfSelect.onchange = () => choose({ tf: tfSelect.value as Timeframe })
  connect()
  void checkStall()
  setInterval(() => void checkStall(), STATUS_MS)
  setInterval(() => {
    if (ws?.readyState !== WebSocket.OPEN) return
    if (Date.now() - heard > SILENT_MS) return drop(ws)
    ws.send('{"action":"ping"}')
  }, PING_MS)
}

void start()
