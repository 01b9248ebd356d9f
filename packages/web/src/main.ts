/**
 * The page: asks `/api/health` what runs (exchange, symbols, simulated or live), subscribes over
 * the WebSocket API to the chosen symbol's 1m candles and trades, keeps the candle series (snapshot,
 * then partial and final candles by open time), and shows the chart, the price and recent trades.
 * Reconnects with backoff and re-subscribes. Exposes `data-state` and `data-candles` on <body>.
 */
import './style.css'
import type { Candle } from '@ticklake/core/market'
import { candleChannel, tradeChannel, type LiveTrade, type ServerMessage } from '@ticklake/core/realtime'
import { createChart, decimalsFor } from './chart'

interface Health { ok: boolean; source: string; simulated: boolean; exchange: string; symbols: string[]; ws: string }

const $ = (id: string) => document.getElementById(id)!
const MAX_CANDLES = 1440

let candles: Candle[] = []
let ws: WebSocket | undefined
let retry = 500
let health: Health
let symbol = ''
const chart = createChart($('chart'), $('legend'))

function setState(s: 'connecting' | 'live' | 'reconnecting') {
  document.body.dataset.state = s
  $('state').textContent = s
}

/** Puts a candle in the series by open time (a final candle replaces the partial one). */
function upsert(c: Candle) {
  const i = candles.findLastIndex((x) => x.open_time <= c.open_time)
  if (i >= 0 && candles[i].open_time === c.open_time) {
    if (candles[i].final && !c.final && candles[i].last_trade_id >= c.last_trade_id) return
    candles[i] = c
  } else candles.splice(i + 1, 0, c)
  if (candles.length > MAX_CANDLES) candles.splice(0, candles.length - MAX_CANDLES)
}

function render() {
  chart.setCandles(candles)
  document.body.dataset.candles = String(candles.length)
  const last = candles.at(-1)
  if (!last) return
  const d = decimalsFor(last.close)
  $('price').textContent = last.close.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })
  const first = candles[0].open
  const pct = ((last.close - first) / first) * 100
  const change = $('change')
  change.textContent = `${pct >= 0 ? '+' : ''}${pct.toFixed(2)}%`
  change.className = pct >= 0 ? 'up' : 'down'
  $('updated').textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC`
}

function showTrades(trades: LiveTrade[]) {
  const list = $('trades')
  for (const t of trades.slice(-30)) {
    const li = document.createElement('li')
    li.className = t.side === 'buy' ? 'up' : 'down'
    li.textContent = `${new Date(t.time).toISOString().slice(11, 19)}  ${t.price.toFixed(decimalsFor(t.price))}  ${t.qty}`
    list.prepend(li)
  }
  while (list.children.length > 30) list.lastChild!.remove()
}

let pending = false
/** Renders at most once a frame, however many messages arrive. */
function schedule() {
  if (pending) return
  pending = true
  requestAnimationFrame(() => { pending = false; render() })
}

function onMessage(m: ServerMessage) {
  if (m.type === 'snapshot' && m.channel === candleChannel(health.exchange, symbol, '1m')) {
    const live = candles.filter((c) => !c.final)
    candles = [...m.candles]
    for (const c of live) upsert(c)
    schedule()
  } else if (m.type === 'candle' && m.channel === candleChannel(health.exchange, symbol, '1m')) {
    upsert({ ...m.candle, final: m.final })
    schedule()
  } else if (m.type === 'trade' && m.channel === tradeChannel(health.exchange, symbol)) {
    showTrades(m.trades)
  } else if (m.type === 'error') {
    $('error').textContent = `server: ${m.code}: ${m.message}`
  }
}

function connect() {
  const url = new URL(health.ws, location.href)
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:'
  const socket = new WebSocket(url)
  ws = socket
  socket.onopen = () => {
    retry = 500
    setState('live')
    socket.send(JSON.stringify({ action: 'subscribe', channels: [candleChannel(health.exchange, symbol, '1m'), tradeChannel(health.exchange, symbol)] }))
  }
  socket.onmessage = (e) => { try { onMessage(JSON.parse(e.data)) } catch (err) { $('error').textContent = `bad message: ${(err as Error).message}` } }
  socket.onclose = () => {
    if (ws !== socket) return
    setState('reconnecting')
    setTimeout(connect, retry)
    retry = Math.min(retry * 2, 15_000)
  }
}

async function main() {
  setState('connecting')
  const res = await fetch('./api/health')
  health = await res.json()
  $('simulated').hidden = !health.simulated
  document.title = `Ticklake — ${health.simulated ? 'SIMULATED' : health.exchange}`
  const wanted = new URLSearchParams(location.search).get('symbol')
  symbol = wanted && health.symbols.includes(wanted) ? wanted : health.symbols[0]
  const select = $('symbol') as HTMLSelectElement
  for (const s of health.symbols) select.add(new Option(s, s, false, s === symbol))
  select.onchange = () => {
    const u = new URL(location.href)
    u.searchParams.set('symbol', select.value)
    location.assign(u)
  }
  connect()
  setInterval(() => { if (ws?.readyState === WebSocket.OPEN) ws.send('{"action":"ping"}') }, 30_000)
}

main().catch((e) => { $('error').textContent = `could not start: ${e.message}`; setState('reconnecting') })
