/**
 * The page: asks `/api/health` what runs (exchange, symbols, simulated or live), reads the
 * viewer's choices from the URL over localStorage (prefs.ts), and keeps one candle series of the
 * chosen symbol and timeframe: the WebSocket snapshot, the serving window (`/serving/.../<tf>.json`,
 * read again every few seconds while the lake is still filling, so a tab opened during the first
 * backfill gets the history as it lands), older candles from `/api/candles` when the viewer
 * scrolls back, live partial and final candles upserted by open time. An exchange picker lists the
 * venues of `/api/symbols` (venues.ts); a compare control draws another venue's closes over the
 * candles with the spread (compare.ts). The statistics panel and
 * the header's change come from `/api/statistics?hours=24` (the same for every tab) moved by the
 * live price, the `ticker` and `stats` channels. The connection (connection.ts): pings every 30 s, drops a silent
 * socket, reconnects with backoff; after failed attempts it polls the HTTP side (`live.json` for
 * trades, ticker and stats, `/api/candles` for candles) until a WebSocket opens again. A banner
 * says SIMULATED, another when the newest trade is older than `staleMs`. `/status` shows the
 * status page instead (status.ts). `data-state`, `data-candles` and `data-stale` on <body>, and
 * `window.ticklake`, are for tests and monitors.
 */
import './style.css'
import { isSimulated, type Candle, type Timeframe } from '@ticklake/core/market'
import { candleChannel, statsChannel, tickerChannel, tradeChannel, type LiveTrade, type ServerMessage, type Stats, type Ticker } from '@ticklake/core/serve/realtime'
import { createChart, decimalsFor, fmt, fmtVol, type Chart } from './chart'
import { Series, TF_SECONDS } from './series'
import { TIMEFRAMES, clockTime, loadPrefs, parseCompare, savePrefs, zoneLabel, type CompareSpec, type Prefs } from './prefs'
import { lookControls, showLook } from './look'
import { createOverlay } from './compare'
import { createConnection, type ConnectionState } from './connection'
import { fillCompare, fillExchanges, joinVenues, symbolOn, venuesOf, type Venue } from './venues'

export const defaults = {
  maxTrades: 30,
  pingMs: 30_000,
  /** A connection with no message (pongs included) for this long is taken as dead. */
  silentMs: 75_000,
  /** Failed WebSocket attempts in a row before the page polls the HTTP API meanwhile. */
  pollAfterFailures: 2,
  /** Polling: `live.json` (trades, ticker, stats) this often, candles every `pollCandlesEvery` polls. */
  pollMs: 2_000,
  pollCandlesEvery: 2,
  /** The serving window is read again this often while the series holds fewer than `fullCandles`, for `historyWatchMs` after a choice. */
  historyEveryMs: 4_000,
  fullCandles: 300,
  historyWatchMs: 15 * 60_000,
  /** Older candles asked of `/api/candles` per scroll back. */
  olderCandles: 1_000,
  /** The 24 h statistics are read again this often. */
  statisticsMs: 30_000,
  /** The newest trade older than this (and no newer candle) raises the stale banner. */
  staleMs: 60_000,
}

interface Health { ok: boolean; source: string; simulated: boolean; exchange: string; symbols: string[]; ws: string }
type State = ConnectionState
interface Statistics { first: number | null; last: number | null; min: number | null; max: number | null; volume: number | null; count: number | null }

const $ = (id: string) => document.getElementById(id)!

let health: Health
let prefs: Prefs
let exchange = ''
let symbol = ''
let tf: Timeframe = '1m'
let series = new Series('', '1m')
let price: number | undefined
let lastTradeTime = 0
let lastTradeId = -1
let stats24: Statistics | undefined
let ticker: Ticker | undefined
let chosenAt = 0
/** The open stall of the shown source (no trades while the exchange trades on, or the source down), from `/api/status`. */
let stall: { since: string; reason: string } | undefined
/** Bumped on each choice of symbol or timeframe: answers to an older choice are dropped. */
let epoch = 0
let chart: Chart
/** The venues to pick from: the lake's (`/api/symbols`) and the one this server ingests. */
let venues: Venue[] = []
let drawnOther: unknown

const mainChannels = () => [candleChannel(exchange, symbol, tf), tradeChannel(exchange, symbol), tickerChannel(exchange, symbol), statsChannel(exchange, symbol)]
/** The channels held: the shown symbol's, and the compared one's candles. */
const channels = () => { const main = mainChannels(), other = overlay.channel(); return other && !main.includes(other) ? [...main, other] : main }
/** The shown exchange is simulated: a `sim-…` venue, or the one this server ingests from its fake exchange. */
const simulated = () => isSimulated(exchange) || (exchange === health.exchange && health.simulated)
const status = (text: string) => { $('error').textContent = text }
const overlay = createOverlay({ getJson, onChange: () => schedule(), onError: status })
const conn = createConnection({ ...defaults, url: () => health.ws, channels, onMessage, setState, status, poll })
/** Writes `text` only when it changed: no flicker, no needless layout. */
const put = (el: HTMLElement, text: string, cls?: string) => { if (el.textContent !== text) el.textContent = text; if (cls !== undefined && el.className !== cls) el.className = cls }

async function getJson<T>(path: string): Promise<T | undefined> {
  const res = await fetch(path, { cache: 'no-store' })
  if (res.status === 404) return undefined
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`)
  return res.json() as Promise<T>
}

function setState(s: State) {
  if (document.body.dataset.state === s) return
  document.body.dataset.state = s
  showConn()
}

function showConn() {
  const stale = document.body.dataset.stale === 'true'
  const s = document.body.dataset.state as State
  // a stall of the shown source (from /api/status) outranks "live": the connection is fine, the source is not
  if (stall && (s === 'live' || s === 'polling')) return put($('conn'), `stalled · ${s}`, 'conn stale')
  put($('conn'), stale && (s === 'live' || s === 'polling') ? `stale · ${s}` : s, `conn ${stale ? 'stale' : s}`)
}

/** Asks `/api/status` for an open stall of the shown exchange and symbol; shows it, or clears it. */
async function checkStall() {
  try {
    const res = await fetch('/api/status', { cache: 'no-store' })
    if (!res.ok) return
    const body = await res.json() as { stalls?: { exchange: string; symbol: string; since: string; reason: string }[] }
    const next = body.stalls?.find((x) => x.exchange === exchange && x.symbol === symbol)
    if (!next && !stall) return
    stall = next
    if (stall) document.body.dataset.stalled = 'true'
    else delete document.body.dataset.stalled
    showConn()
    const b = $('stalled')
    b.hidden = !stall
    b.textContent = stall ? `STALLED: no trades from ${exchange} ${symbol} since ${stall.since.slice(11, 19)} UTC: ${stall.reason}` : ''
  } catch { /* the next poll tries again */ }
}

// ---- the series and the chart ----------------------------------------------------------------

let pending = false
let full = false
/** Renders at most once a frame, however many messages arrive (`all`: the series was rebuilt). */
function schedule(all = false) {
  full ||= all
  if (pending) return
  pending = true
  requestAnimationFrame(() => {
    pending = false
    if (drawnOther !== overlay.series()) { drawnOther = overlay.series(); chart.setCompare(overlay.series(), overlay.label()) }
    if (full) chart.setSeries(series, TF_SECONDS[tf]); else chart.update()
    full = false
    if (document.body.dataset.candles !== String(series.length)) document.body.dataset.candles = String(series.length)
    if (series.length && !performance.getEntriesByName('ticklake:first-candle').length) performance.mark('ticklake:first-candle')
    showPrice()
  })
}

/** Merges history into the series; the view stays where the viewer left it. */
function mergeHistory(candles: Candle[] | undefined, e = epoch) {
  if (e !== epoch || !candles?.length) return 0
  const n = series.merge(candles)
  if (n) {
    if (price == null || (series.last && candles.some((c) => c.open_time === series.last!.open_time))) price ??= series.last?.close
    schedule()
  }
  return n
}

/** The serving window of the timeframe, read on each choice and again while the lake fills. */
async function loadServing(e = epoch) {
  try {
    const w = await getJson<{ candles: Candle[] }>(`/serving/${exchange}/${symbol}/${tf}.json`)
    mergeHistory(w?.candles, e)
  } catch (err) { if (e === epoch) status(`history: ${(err as Error).message}`) }
  if (e === epoch && series.length < defaults.fullCandles && Date.now() - chosenAt < defaults.historyWatchMs) setTimeout(() => loadServing(e), defaults.historyEveryMs)
}

/** Older candles than `beforeMs` from the lake. */
async function loadOlder(beforeMs: number) {
  const e = epoch
  const from = beforeMs - defaults.olderCandles * TF_SECONDS[tf] * 1000
  try {
    const r = await getJson<{ candles: Candle[] }>(`/api/candles?exchange=${exchange}&symbol=${symbol}&tf=${tf}&from=${from}&to=${beforeMs}&limit=${defaults.olderCandles}`)
    if (e !== epoch) return
    if (r?.candles.length) { series.merge(r.candles); schedule() }
    void overlay.older(from)
  } catch (err) { status(`older candles: ${(err as Error).message}`) }
}

/** The price, its 24 h change (the same in every tab), the update time and the title. */
function showPrice() {
  price ??= series.last?.close
  if (price == null) return
  const d = decimalsFor(price)
  put($('price'), fmt(price, d))
  const first = stats24?.first
  if (first) {
    const diff = price - first, pct = (diff / first) * 100
    const cls = diff >= 0 ? 'up' : 'down'
    put($('change'), `${diff >= 0 ? '+' : ''}${fmt(diff, d)} (${pct >= 0 ? '+' : ''}${pct.toFixed(2)}%)`, cls)
    put($('st-change'), `${diff >= 0 ? '+' : ''}${fmt(diff, d)}`, cls)
    put($('st-pct'), `${pct >= 0 ? '+' : ''}${pct.toFixed(2)}%`, cls)
  }
  put($('st-last'), fmt(price, d))
  if (stats24) {
    put($('st-high'), fmt(Math.max(stats24.max ?? price, price), d))
    put($('st-low'), fmt(Math.min(stats24.min ?? price, price), d))
    put($('st-vol'), stats24.volume == null ? '—' : fmtVol(stats24.volume))
    put($('st-trades'), stats24.count == null ? '—' : stats24.count.toLocaleString('en-US'))
  }
  put($('st-bid'), ticker?.bid ? fmt(ticker.bid, d) : '—')
  put($('st-ask'), ticker?.ask ? fmt(ticker.ask, d) : '—')
  put($('updated'), `${clockTime(Date.now(), prefs.tz)} ${zoneLabel(prefs.tz)}`)
  const title = `${symbol} ${fmt(price, d)} · Ticklake${simulated() ? ' (SIMULATED)' : ''}`
  if (document.title !== title) document.title = title
}

async function loadStatistics(e = epoch) {
  try {
    const s = await getJson<Statistics>(`/api/statistics?exchange=${exchange}&symbol=${symbol}&hours=24`)
    if (e !== epoch) return
    stats24 = s
    showPrice()
  } catch { /* the panel keeps its figures; the next read may answer */ }
}

/** A trade the page can show: numbers where numbers belong. */
const goodTrade = (t: LiveTrade) => t != null && [t.id, t.time, t.price, t.qty].every(Number.isFinite)

function showTrades(all: LiveTrade[]) {
  const trades = all.filter(goodTrade)
  if (trades.length < all.length) status(`${all.length - trades.length} malformed trade(s) from the server left out`)
  const list = $('trades')
  for (const t of trades.slice(-defaults.maxTrades)) {
    if (t.id <= lastTradeId && t.time <= lastTradeTime) continue
    const li = document.createElement('li')
    li.className = t.side === 'buy' ? 'up' : 'down'
    li.dataset.time = String(t.time)
    li.textContent = tradeLine(t)
    list.prepend(li)
    lastTradeId = Math.max(lastTradeId, t.id)
    lastTradeTime = Math.max(lastTradeTime, t.time)
  }
  while (list.children.length > defaults.maxTrades) list.lastChild!.remove()
  checkStale()
}
const tradeLine = (t: Pick<LiveTrade, 'time' | 'price' | 'qty'>) => `${clockTime(t.time, prefs.tz)}  ${fmt(t.price, decimalsFor(t.price)).padStart(10)} ${String(+t.qty.toFixed(6)).padStart(9)}`

/** Raises or lowers the stale banner: the newest trade (or live candle) is older than `staleMs`. */
function checkStale() {
  const newest = Math.max(lastTradeTime, ticker?.time ?? 0)
  const stale = newest > 0 && Date.now() - newest > defaults.staleMs
  if ((document.body.dataset.stale === 'true') === stale) return
  document.body.dataset.stale = String(stale)
  const b = $('stale')
  b.hidden = !stale
  b.textContent = stale ? `STALE — no trade since ${clockTime(newest, prefs.tz)} ${zoneLabel(prefs.tz)}` : ''
  showConn()
}

function onMessage(m: ServerMessage) {
  const [candleCh, tradeCh, tickerCh, statsCh] = mainChannels()
  if (overlay.onMessage(m) && (m as { channel?: string }).channel !== candleCh) return
  if (m.type === 'snapshot' && m.channel === candleCh) {
    if (!Array.isArray(m.candles)) throw new Error('its candles are not a list')
    const refused = series.refused
    mergeHistory(m.candles)
    if (series.refused > refused) status(`${series.refused - refused} malformed candle(s) of the snapshot left out`)
  } else if (m.type === 'candle' && m.channel === candleCh) {
    const how = series.upsert({ ...m.candle, final: m.final })
    if (how === 'refused') status('a malformed candle from the server was left out')
    if (how === 'append' || how === 'last') price = m.candle.close
    if (how !== 'kept' && how !== 'refused') schedule()
  } else if ((m.type === 'trade' || m.type === 'snapshot') && m.channel === tradeCh && m.trades?.length) {
    showTrades(m.trades)
    const last = m.trades.filter(goodTrade).at(-1)
    if (m.type === 'trade' && last) { price = last.price; schedule() }
  } else if ((m.type === 'ticker' || m.type === 'snapshot') && m.channel === tickerCh && m.ticker) {
    ticker = m.ticker
    schedule()
  } else if ((m.type === 'stats' || m.type === 'snapshot') && m.channel === statsCh && m.stats) {
    showStats(m.stats)
  } else if (m.type === 'error') {
    status(`server error ${m.code}: ${m.message}`)
  }
}

/** The live feed's own figures: trades per second and ingest lag. */
function showStats(s: Stats) {
  put($('source'), `${sourceLine()} · ${s.trades_per_s.toFixed(1)} trades/s · lag ${s.ingest_lag_ms} ms`)
}

// ---- polling, while the WebSocket is refused (see ./connection) ----------------------------

/** One round of polling: trades, ticker and stats from `live.json`; candles from the lake every few rounds. */
async function poll() {
  const e = epoch
  try {
    const doc = await getJson<{ trades?: LiveTrade[]; ticker?: Ticker | null; stats?: Stats | null }>(`/serving/${exchange}/${symbol}/live.json`)
    if (e !== epoch || !conn.polling()) return
    const fresh = (doc?.trades ?? []).filter((t) => t.id > lastTradeId)
    if (doc?.ticker) ticker = doc.ticker
    if (doc?.stats) showStats(doc.stats)
    if (fresh.length) { showTrades(fresh); for (const t of fresh.filter(goodTrade)) { price = t.price; liveFromTrade(t) } }
    if (conn.nextPollRound() % defaults.pollCandlesEvery === 0) {
      const since = series.last?.open_time ?? Date.now() - defaults.fullCandles * TF_SECONDS[tf] * 1000
      const r = await getJson<{ candles: Candle[] }>(`/api/candles?exchange=${exchange}&symbol=${symbol}&tf=${tf}&from=${since}&limit=${defaults.olderCandles}`)
      if (e !== epoch || !conn.polling()) return
      mergeHistory(r?.candles.map((c) => ({ ...c, final: !!c.final })), e)
      void overlay.poll(since)
    }
    schedule()
    status('')
  } catch (err) { status(`polling: ${(err as Error).message}`) }
}

/** A polled trade moves the current candle as the live path would (its volume comes with the lake's candle). */
function liveFromTrade(t: LiveTrade) {
  const step = TF_SECONDS[tf] * 1000
  const open = Math.floor(t.time / step) * step
  const last = series.last
  if (last && last.open_time === open && !last.final) series.upsert({ ...last, close: t.price, high: Math.max(last.high, t.price), low: Math.min(last.low, t.price) })
  else if (!last || open > last.open_time) series.upsert({ exchange, symbol, tf, open_time: open, close_time: open + step - 1, open: t.price, high: t.price, low: t.price, close: t.price, volume: 0, quote_volume: 0, trades: 0, taker_buy_volume: 0, taker_buy_quote_volume: 0, vwap: t.price, first_trade_id: t.id, last_trade_id: t.id, final: false })
}

// ---- choices ---------------------------------------------------------------------------------

/** Shows a new exchange, symbol or timeframe: a new series, subscriptions moved on the same connection. */
function choose(next: { exchange?: string; symbol?: string; tf?: Timeframe }) {
  if ((next.exchange ?? exchange) === exchange && (next.symbol ?? symbol) === symbol && (next.tf ?? tf) === tf) return
  conn.send({ action: 'unsubscribe', channels: channels() })
  const moved = (next.exchange ?? exchange) !== exchange
  exchange = next.exchange ?? exchange
  symbol = next.symbol ?? symbol
  tf = next.tf ?? tf
  if (moved) void checkStall()
  showVenues()
  fresh()
  conn.send({ action: 'subscribe', channels: channels() })
  save()
}

/** Starts the series, panel and trades of the current symbol and timeframe afresh. */
function fresh() {
  epoch++
  chosenAt = Date.now()
  series = new Series(symbol, tf)
  price = undefined
  stats24 = undefined
  ticker = undefined
  lastTradeId = -1
  lastTradeTime = 0
  $('trades').replaceChildren()
  for (const id of ['price', 'st-last', 'st-change', 'st-pct', 'st-high', 'st-low', 'st-vol', 'st-trades', 'st-bid', 'st-ask']) put($(id), '—', id === 'price' ? undefined : '')
  put($('change'), '')
  $('simulated').hidden = !simulated()
  void overlay.set(prefs.compare, tf)
  showSource()
  schedule(true)
  void loadServing()
  void loadStatistics()
}

const sourceLine = () => `${exchange} · ${simulated() ? 'simulated' : exchange === health.exchange ? health.source : 'lake'} · ${tf} · ${zoneLabel(prefs.tz)}`
const showSource = () => put($('source'), sourceLine())

/** The exchange picker, the shown exchange's symbols, the timeframe and the compare control, as they now stand. */
function showVenues() {
  fillExchanges($('exchange') as HTMLSelectElement, venues, exchange)
  const list = venues.find((v) => v.exchange === exchange)?.symbols ?? []
  ;($('symbol') as HTMLSelectElement).replaceChildren(...(list.includes(symbol) ? list : [symbol, ...list]).map((s) => new Option(s, s, false, s === symbol)))
  ;($('tf') as HTMLSelectElement).value = tf
  fillCompare($('compare') as HTMLSelectElement, venues, { exchange, symbol }, prefs.compare)
}

/** Draws `spec`'s closes over the candles (undefined: none), its channel moved on the same connection. */
function setCompare(spec: CompareSpec | undefined) {
  const before = channels()
  prefs = { ...prefs, compare: spec }
  void overlay.set(spec, tf, series.first?.open_time)
  const after = channels()
  const gone = before.filter((c) => !after.includes(c)), added = after.filter((c) => !before.includes(c))
  if (gone.length) conn.send({ action: 'unsubscribe', channels: gone })
  if (added.length) conn.send({ action: 'subscribe', channels: added })
  showVenues()
  save()
}

function save() {
  prefs = { ...prefs, exchange: exchange === health.exchange && !new URLSearchParams(location.search).has('exchange') ? undefined : exchange, symbol, tf }
  savePrefs(prefs, localStorage, location, history)
}

/** Applies a change of look (theme, zone, colours, indicators) and keeps it. */
function setLook(p: Partial<Prefs>) {
  prefs = { ...prefs, ...p }
  applyLook()
  save()
}

function applyLook() {
  showLook(prefs)
  put($('trades-zone'), zoneLabel(prefs.tz))
  chart?.setLook({ theme: prefs.theme, up: prefs.up, down: prefs.down, upWick: prefs.upWick, downWick: prefs.downWick, tz: prefs.tz, ind: prefs.ind })
  for (const li of $('trades').children as HTMLCollectionOf<HTMLElement>) {
    const [, p, q] = li.textContent!.trim().split(/\s+/)
    li.textContent = tradeLine({ time: Number(li.dataset.time), price: Number(p.replace(/,/g, '')), qty: Number(q) })
  }
  if (health) showSource()
}

function controls() {
  lookControls(prefs.tz, () => prefs, setLook)
  // keyboard: arrows pan, +/- zoom, Escape resets, 1-6 pick the timeframe (not while typing in a field)
  document.addEventListener('keydown', (e) => {
    const el = e.target as HTMLElement
    if (e.ctrlKey || e.metaKey || e.altKey || ['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName)) return
    const k = e.key
    if (k === 'ArrowLeft' || k === 'ArrowRight') chart.pan((k === 'ArrowLeft' ? -1 : 1) * (e.shiftKey ? 0.5 : 0.1))
    else if (k === '+' || k === '=') chart.zoom(1 / 1.25)
    else if (k === '-' || k === '_') chart.zoom(1.25)
    else if (k === 'Escape') chart.reset()
    else if (k >= '1' && k <= '6') choose({ tf: TIMEFRAMES[Number(k) - 1] })
    else return
    e.preventDefault()
  })
}

async function start() {
  if (/\/status\/?$/.test(location.pathname)) {
    const { showStatus } = await import('./status')
    return showStatus()
  }
  // asked by index.html while this script loaded (or now): the first candle waits on it
  const early: Promise<Health | undefined> = (window as any).tlHealth ?? getJson<Health>('/api/health')
  early.catch(() => {})
  let asked: Promise<Health | undefined> | undefined = early
  // the lake's venues for the pickers, asked at once; the first candle waits on them only for an exchange other than the ingested one
  const lakeAnswer = getJson<Parameters<typeof venuesOf>[0]>('/api/symbols').catch(() => undefined)
  const loaded = loadPrefs(localStorage, location.search)
  prefs = loaded.prefs
  setState('connecting')
  chart = createChart($('chart'), $('pane'), $('legend'), { theme: prefs.theme, up: prefs.up, down: prefs.down, upWick: prefs.upWick, downWick: prefs.downWick, tz: prefs.tz, ind: prefs.ind })
  chart.onNeedOlder = (before) => void loadOlder(before)
  controls()
  applyLook()
  for (;;) {
    try {
      const h = await (asked ?? getJson<Health>('/api/health'))
      asked = undefined
      if (!h) throw new Error('HTTP 404')
      health = h
      break
    } catch (e) {
      status(`cannot reach /api/health (${(e as Error).message}); retrying`)
      await new Promise((r) => setTimeout(r, conn.backoff()))
    }
  }
  conn.resetBackoff()
  status(loaded.problems.length ? `ignored from the URL: ${loaded.problems.join('; ')}` : '')
  exchange = prefs.exchange ?? health.exchange
  const ingested: Venue = { exchange: health.exchange, simulated: health.simulated, symbols: health.symbols }
  venues = joinVenues(exchange === health.exchange ? [] : venuesOf(await lakeAnswer), ingested)
  const here = venues.find((v) => v.exchange === exchange)
  // a symbol the lake does not list (or an exchange it could not list) is still tried: the URL asked for it
  symbol = prefs.symbol && (here?.symbols.includes(prefs.symbol) || !here?.symbols.length) ? prefs.symbol : symbolOn(here, prefs.symbol ?? '') ?? health.symbols[0]
  tf = prefs.tf
  const select = $('symbol') as HTMLSelectElement
  select.onchange = () => choose({ symbol: select.value })
  const exSelect = $('exchange') as HTMLSelectElement
  exSelect.onchange = () => choose({ exchange: exSelect.value, symbol: symbolOn(venues.find((v) => v.exchange === exSelect.value), symbol) ?? symbol })
  const cmpSelect = $('compare') as HTMLSelectElement
  cmpSelect.onchange = () => setCompare(parseCompare(cmpSelect.value))
  const tfSelect = $('tf') as HTMLSelectElement
  for (const [i, t] of TIMEFRAMES.entries()) { const o = new Option(t, t, false, t === tf); o.title = `key ${i + 1}`; tfSelect.add(o) }
  tfSelect.onchange = () => choose({ tf: tfSelect.value as Timeframe })
  showVenues()
  void lakeAnswer.then((a) => { venues = joinVenues(venuesOf(a), ingested); showVenues() })
  conn.connect()
  fresh()
  save()
  conn.keepAlive()
  setInterval(() => void loadStatistics(), defaults.statisticsMs)
  setInterval(checkStale, 5_000)
  void checkStall()
  setInterval(() => void checkStall(), 10_000)
  ;(window as any).ticklake = { chart: () => chart, series: () => series, compared: () => overlay.series(), state: () => document.body.dataset.state, load: (candles: Candle[]) => { series = new Series(symbol, tf); series.merge(candles); schedule(true) } }
}

void start()
