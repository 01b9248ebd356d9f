/**
 * The exchange picker and the compare overlay of the built page in a real browser (Debian's
 * Chromium driven by playwright-core), against a tiny server whose lake holds several venues:
 * `binance` (the one ingested), `coinbase` and the simulated `sim-coinbase`. Each venue's candles
 * miss some periods (the two sides miss different ones), so the overlay is checked for gaps where
 * either side has no candle, and its spread against the closes this file generated. Run alone, it
 * builds the page when `dist` is missing. Skips, saying why, when /usr/bin/chromium is absent.
 */
import { createServer, type Server } from 'node:http'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { extname, join, normalize } from 'node:path'
import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Candle, Timeframe } from '@ticklake/core/market'
import { candleChannel, type ClientMessage, type ServerMessage } from '@ticklake/core/serve/realtime'

const CHROMIUM = '/usr/bin/chromium'
const WEB = join(import.meta.dirname, '..')
const DIST = join(WEB, 'dist')
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic']
const STEP: Record<Timeframe, number> = { '1m': 60_000, '5m': 300_000, '15m': 900_000, '1h': 3_600_000, '4h': 14_400_000, '1d': 86_400_000 }
/** Periods of history; each venue misses every `drop.every`-th period (at `drop.at`), the newest never. */
const PERIODS = 300
const VENUES: Record<string, Record<string, { base: number; drop: { every: number; at: number } }>> = {
  binance: { 'BTC-USDT': { base: 64_000, drop: { every: 11, at: 2 } }, 'ETH-USDT': { base: 3_200, drop: { every: 13, at: 1 } } },
  coinbase: { 'BTC-USD': { base: 64_050, drop: { every: 7, at: 3 } } },
  'sim-coinbase': { 'BTC-USD': { base: 50_000, drop: { every: 5, at: 0 } } },
}
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' }

const cache = new Map<string, Candle[]>()
/** The candles of a venue, symbol and timeframe up to the current period: a seeded walk, its dropped periods left out. */
function candles(exchange: string, symbol: string, tf: Timeframe): Candle[] {
  const key = `${exchange}:${symbol}:${tf}`
  if (cache.has(key)) return cache.get(key)!
  const { base, drop } = VENUES[exchange][symbol]
  let seed = base, close = base
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  const now = Math.floor(Date.now() / STEP[tf]) * STEP[tf]
  const list: Candle[] = []
  for (let i = 0; i < PERIODS; i++) {
    const open = close
    close = +(open * (1 + (rnd() - 0.5) * 0.004)).toFixed(2)
    if (i % drop.every === drop.at && i < PERIODS - 1) continue
    const open_time = now - (PERIODS - 1 - i) * STEP[tf]
    list.push({
      exchange, symbol, tf, open_time, close_time: open_time + STEP[tf] - 1, open, high: Math.max(open, close) + 1, low: Math.min(open, close) - 1, close, volume: 2,
      quote_volume: 2 * close, trades: 3, taker_buy_volume: 1, taker_buy_quote_volume: close, vwap: close, first_trade_id: i, last_trade_id: i + 2, final: i < PERIODS - 1,
    })
  }
  cache.set(key, list)
  return list
}

let server: Server
let wss: WebSocketServer
let base: string
let browser: Browser
/** Client messages, by connection (numbered in order: the newest is the page under test). */
const received: { conn: number; m: ClientMessage }[] = []
let conns = 0
const sockets = new Set<WebSocket>()
const errors: string[] = []
let statusDoc: unknown = { stalls: [] }

const send = (m: ServerMessage) => { for (const s of sockets) s.send(JSON.stringify(m)) }
/** The channels the newest connection holds. */
const subscribed = () => {
  const held = new Set<string>()
  for (const { conn, m } of received) {
    if (conn !== conns) continue
    if (m.action === 'subscribe') m.channels.forEach((c) => held.add(c))
    else if (m.action === 'unsubscribe') m.channels.forEach((c) => held.delete(c))
  }
  return held
}

async function until(test: () => boolean, ms = 10_000) {
  const end = Date.now() + ms
  while (!test()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function open(path: string): Promise<Page> {
  const p = await (await browser.newContext({ viewport: { width: 1280, height: 720 } })).newPage()
  p.on('console', (m) => { if (m.type() === 'error') errors.push(`console ${path}: ${m.text()}`) })
  p.on('pageerror', (e) => errors.push(`page ${path}: ${e.message}`))
  await p.goto(base + path)
  return p
}
const shown = (p: Page, n: number) => p.waitForFunction((n) => document.body.dataset.candles === String(n), n)
/** What the overlay should draw over the main candles: the other close at each main open time, or null. */
const expectedOverlay = (main: Candle[], other: Candle[]) => { const by = new Map(other.map((c) => [c.open_time, c.close])); return main.map((c) => by.get(c.open_time) ?? null) }
const money = (v: number) => v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })
const spreadText = (main: number, other: number) => { const abs = main - other, bps = (abs / other) * 10_000; return [`${abs >= 0 ? '+' : ''}${money(abs)}`, `${bps >= 0 ? '+' : ''}${bps.toFixed(1)} bps`] }
const legendSpread = (p: Page) => p.locator('[data-testid=spread] b').allTextContents()

const missing = !existsSync(CHROMIUM)
if (missing) console.warn(`venues.page.test.ts: skipped, no Chromium at ${CHROMIUM} (apt-get install -y chromium)`)

describe.skipIf(missing)('the exchange picker and the compare overlay in Chromium', () => {
  beforeAll(async () => {
    if (!existsSync(join(DIST, 'index.html'))) {
      const { build } = await import('vite')
      await build({ root: WEB, configFile: join(WEB, 'vite.config.ts'), logLevel: 'warn' })
    }
    server = createServer(async (req, res) => {
      const u = new URL(req.url ?? '/', 'http://x')
      const json = (body: unknown, status = 200) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)) }
      if (u.pathname === '/api/health') return json({ ok: true, source: 'binance', simulated: false, exchange: 'binance', symbols: ['BTC-USDT'], ws: '/ws' })
      if (u.pathname === '/api/symbols') {
        const rows = Object.entries(VENUES).flatMap(([exchange, syms]) => Object.keys(syms).map((symbol) => ({ exchange, symbol })))
        const exchanges = Object.entries(VENUES).map(([exchange, syms]) => ({ exchange, venue: exchange.replace(/^sim-/, ''), simulated: exchange.startsWith('sim-'), symbols: Object.keys(syms) }))
        return json({ symbols: rows, exchanges })
      }
      const serving = /^\/serving\/([a-z-]+)\/([A-Z]+-[A-Z]+)\/(\w+)\.json$/.exec(u.pathname)
      if (serving && VENUES[serving[1]]?.[serving[2]] && serving[3] !== 'live') return json({ candles: candles(serving[1], serving[2], serving[3] as Timeframe) })
      if (u.pathname === '/api/candles') {
        const q = u.searchParams, ex = q.get('exchange')!, sym = q.get('symbol')!
        if (!VENUES[ex]?.[sym]) return json({ candles: [] })
        const from = Number(q.get('from') ?? 0), to = Number(q.get('to') ?? Infinity)
        return json({ candles: candles(ex, sym, (q.get('tf') ?? '1m') as Timeframe).filter((c) => c.open_time >= from && c.open_time < to).slice(0, Number(q.get('limit') ?? 1000)) })
      }
      if (u.pathname === '/api/statistics') return json({ first: null, last: null, min: null, max: null, volume: null, count: null })
      if (u.pathname === '/api/status') return json(statusDoc)
      if (u.pathname.startsWith('/api/') || u.pathname.startsWith('/serving/')) return json({ error: 'not found' }, 404)
      const file = normalize(join(DIST, u.pathname === '/' || !extname(u.pathname) ? 'index.html' : u.pathname))
      if (!file.startsWith(DIST) || !existsSync(file)) { res.writeHead(404); return res.end('not found') }
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
      res.end(await readFile(file))
    })
    wss = new WebSocketServer({ noServer: true })
    server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (s) => wss.emit('connection', s, req)))
    wss.on('connection', (s) => {
      const conn = ++conns
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('message', (raw) => {
        const m = JSON.parse(raw.toString()) as ClientMessage
        received.push({ conn, m })
        if (m.action !== 'subscribe') return
        s.send(JSON.stringify({ type: 'subscribed', channels: m.channels }))
        for (const ch of m.channels) {
          const [kind, ex, sym, tf] = ch.split(':')
          if (kind === 'candles' && VENUES[ex]?.[sym]) s.send(JSON.stringify({ type: 'snapshot', channel: ch, candles: candles(ex, sym, tf as Timeframe) }))
        }
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const { chromium } = await import('playwright-core')
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS })
  })

  afterAll(async () => {
    await browser?.close()
    for (const s of sockets) s.terminate()
    wss?.close()
    await new Promise((r) => (server ? server.close(r) : r(undefined)))
  })

  it('lists the lake’s exchanges in the picker, labels the simulated one, and keeps the choice in the URL and over a reload', async () => {
    const p = await open('/')
    try {
      await shown(p, candles('binance', 'BTC-USDT', '1m').length)
      await p.waitForFunction(() => document.querySelectorAll('#exchange option').length === 3)
      const options = await p.locator('#exchange option').evaluateAll((os) => os.map((o) => [(o as HTMLOptionElement).value, o.textContent, (o as HTMLOptionElement).dataset.simulated ?? '']))
      expect(options).toEqual([['binance', 'binance', ''], ['coinbase', 'coinbase', ''], ['sim-coinbase', 'sim-coinbase (simulated)', 'true']])
      expect(await p.getByTestId('simulated').isVisible()).toBe(false)
      // the same base on the other venue: BTC-USDT becomes BTC-USD
      await p.locator('#exchange').selectOption('sim-coinbase')
      await until(() => subscribed().has(candleChannel('sim-coinbase', 'BTC-USD', '1m')))
      expect(subscribed().has(candleChannel('binance', 'BTC-USDT', '1m'))).toBe(false)
      await shown(p, candles('sim-coinbase', 'BTC-USD', '1m').length)
      expect(await p.locator('#symbol').inputValue()).toBe('BTC-USD')
      expect(await p.getByTestId('simulated').isVisible()).toBe(true)
      expect(new URL(p.url()).searchParams.get('exchange')).toBe('sim-coinbase')
      await p.reload()
      await shown(p, candles('sim-coinbase', 'BTC-USD', '1m').length)
      await p.waitForFunction(() => document.querySelectorAll('#exchange option').length === 3)
      expect([await p.locator('#exchange').inputValue(), await p.locator('#symbol').inputValue()]).toEqual(['sim-coinbase', 'BTC-USD'])
      expect(await p.evaluate(() => (window as any).ticklake.series().last.close)).toBe(candles('sim-coinbase', 'BTC-USD', '1m').at(-1)!.close)
      expect(await p.getByTestId('simulated').isVisible()).toBe(true)
      await p.locator('#exchange').selectOption('binance')
      await shown(p, candles('binance', 'BTC-USDT', '1m').length)
      expect(await p.locator('#symbol').inputValue()).toBe('BTC-USDT')
      expect(await p.getByTestId('simulated').isVisible()).toBe(false)
      // the ingested venue lists the lake's symbols of it too
      expect(await p.locator('#symbol option').allTextContents()).toEqual(['BTC-USDT', 'ETH-USDT'])
    } finally { await p.context().close() }
  })

  it('draws the compared close over the candles with gaps where either side has no candle, and the spread of the two closes in the legend, live', async () => {
    const main = candles('binance', 'BTC-USDT', '1m'), other = candles('coinbase', 'BTC-USD', '1m')
    const p = await open('/?symbol=BTC-USDT&compare=coinbase:BTC-USD')
    try {
      await shown(p, main.length)
      await until(() => subscribed().has(candleChannel('coinbase', 'BTC-USD', '1m')))
      const want = expectedOverlay(main, other)
      await p.waitForFunction((n) => (window as any).ticklake.chart().compared().filter((v: number | null) => v !== null).length === n, want.filter((v) => v !== null).length)
      expect(await p.evaluate(() => (window as any).ticklake.chart().compared())).toEqual(want)
      // both kinds of gap are there: the other side missing a candle (null), and the main side missing one (that close not drawn)
      expect(want.filter((v) => v === null).length).toBeGreaterThan(30)
      expect(other.filter((c) => !main.some((m) => m.open_time === c.open_time)).length).toBeGreaterThan(20)
      expect(await p.locator('#compare').inputValue()).toBe('coinbase:BTC-USD')
      await expect(p.getByTestId('compare').textContent()).resolves.toBe(`coinbase:BTC-USD C ${money(other.at(-1)!.close)}`)
      expect(await legendSpread(p)).toEqual(spreadText(main.at(-1)!.close, other.at(-1)!.close))
      // a live candle of each side moves the spread
      const lastOther = other.at(-1)!, lastMain = main.at(-1)!
      send({ type: 'candle', channel: candleChannel('coinbase', 'BTC-USD', '1m'), candle: { ...lastOther, close: lastOther.close + 37.5, high: lastOther.close + 40 }, final: false })
      await p.waitForFunction((t) => document.querySelector('[data-testid=spread] b')?.textContent === t, spreadText(lastMain.close, lastOther.close + 37.5)[0])
      send({ type: 'candle', channel: candleChannel('binance', 'BTC-USDT', '1m'), candle: { ...lastMain, close: lastMain.close - 12.25, low: lastMain.close - 20 }, final: false })
      await p.waitForFunction((t) => document.querySelector('[data-testid=spread] b')?.textContent === t, spreadText(lastMain.close - 12.25, lastOther.close + 37.5)[0])
      expect(await legendSpread(p)).toEqual(spreadText(lastMain.close - 12.25, lastOther.close + 37.5))
      // hovering a candle the other venue has no candle for: no spread, never one made up
      const gap = main[want.lastIndexOf(null)], paired = main[want.length - 2 - [...want].reverse().slice(1).findIndex((v) => v !== null)]
      const hover = async (c: Candle) => {
        const v = await p.evaluate(() => (window as any).ticklake.chart().view() as { min: number; max: number })
        const box = (await p.locator('[data-testid=chart] .u-over').boundingBox())!
        await p.mouse.move(box.x + ((c.open_time / 1000 - v.min) / (v.max - v.min)) * box.width, box.y + box.height / 2)
      }
      await hover(gap)
      await p.waitForFunction(() => document.querySelector('[data-testid=spread]')?.textContent?.includes('no candle'))
      await expect(p.getByTestId('compare').textContent()).resolves.toBe('coinbase:BTC-USD C —')
      await hover(paired)
      const pairedOther = other.find((c) => c.open_time === paired.open_time)!
      await p.waitForFunction((t) => document.querySelector('[data-testid=spread] b')?.textContent === t, spreadText(paired.close, pairedOther.close)[0])
      expect(await legendSpread(p)).toEqual(spreadText(paired.close, pairedOther.close))
    } finally { await p.context().close() }
  })

  it('keeps the comparison across a timeframe change and a reload, and clears it from the control', async () => {
    const p = await open('/?symbol=BTC-USDT&compare=coinbase:BTC-USD')
    try {
      await shown(p, candles('binance', 'BTC-USDT', '1m').length)
      await p.waitForFunction(() => document.querySelectorAll('#compare option').length > 1)
      await p.locator('#chart').focus()
      await p.keyboard.press('2')
      await until(() => subscribed().has(candleChannel('coinbase', 'BTC-USD', '5m')))
      expect(subscribed().has(candleChannel('coinbase', 'BTC-USD', '1m'))).toBe(false)
      const want5 = expectedOverlay(candles('binance', 'BTC-USDT', '5m'), candles('coinbase', 'BTC-USD', '5m'))
      await p.waitForFunction((w) => JSON.stringify((window as any).ticklake.chart().compared()) === w, JSON.stringify(want5))
      await p.reload()
      await shown(p, candles('binance', 'BTC-USDT', '5m').length)
      await p.waitForFunction((w) => JSON.stringify((window as any).ticklake.chart().compared()) === w, JSON.stringify(want5))
      expect(new URL(p.url()).searchParams.get('compare')).toBe('coinbase:BTC-USD')
      // compare with the simulated venue instead, then with nothing
      await p.waitForFunction(() => [...document.querySelectorAll('#compare option')].some((o) => (o as HTMLOptionElement).value === 'sim-coinbase:BTC-USD'))
      expect(await p.locator('#compare optgroup').evaluateAll((gs) => gs.map((g) => (g as HTMLOptGroupElement).label))).toEqual(['binance', 'coinbase', 'sim-coinbase (simulated)'])
      await p.locator('#compare').selectOption('sim-coinbase:BTC-USD')
      await until(() => subscribed().has(candleChannel('sim-coinbase', 'BTC-USD', '5m')) && !subscribed().has(candleChannel('coinbase', 'BTC-USD', '5m')))
      const wantSim = expectedOverlay(candles('binance', 'BTC-USDT', '5m'), candles('sim-coinbase', 'BTC-USD', '5m'))
      await p.waitForFunction((w) => JSON.stringify((window as any).ticklake.chart().compared()) === w, JSON.stringify(wantSim))
      await p.locator('#compare').selectOption('')
      await until(() => !subscribed().has(candleChannel('sim-coinbase', 'BTC-USD', '5m')))
      expect(subscribed().has(candleChannel('binance', 'BTC-USDT', '5m'))).toBe(true)
      await p.waitForFunction(() => !document.querySelector('[data-testid=spread]'))
      expect(new URL(p.url()).searchParams.has('compare')).toBe(false)
      await p.reload()
      await shown(p, candles('binance', 'BTC-USDT', '5m').length)
      expect(await p.locator('#compare').inputValue()).toBe('')
      expect(await p.locator('[data-testid=spread]').count()).toBe(0)
    } finally { await p.context().close() }
  })

  it('shows each exchange on the status page, the simulated one labelled, a stalled or lagging one in red', async () => {
    const now = Date.now()
    const ex = (exchange: string, lag: number | null, stalled: string[] = [], freshness: number | null = 3_000) => ({ exchange, venue: exchange.replace(/^sim-/, ''), simulated: exchange.startsWith('sim-'), symbols: Object.keys(VENUES[exchange]), last_trade_time: lag == null ? null : new Date(now - lag).toISOString(), lag_ms: lag, max_lag_ms: lag, idle: lag == null ? Object.keys(VENUES[exchange]) : [], ingest_rate_per_s: 1, records_24h: 10, stalled, newest_gold_time: null, freshness_ms: freshness })
    statusDoc = { time: new Date(now).toISOString(), sources: [], stalls: [], dlq: { files: 0, by_source: {}, conversion_errors: 0 }, lake: { newest_gold_key: null, newest_gold_time: null, freshness_ms: 3_000 }, exchanges: [ex('binance', 1_500), ex('coinbase', null, [], null), ex('sim-coinbase', 2_000, ['BTC-USD'])] }
    const p = await open('/status')
    try {
      await p.waitForSelector('[data-testid=exchanges]')
      const row = (e: string) => p.locator(`tr[data-exchange="${e}"]`)
      const cls = (e: string, label: string) => row(e).locator(`td[data-label="${label}"]`).getAttribute('class')
      expect(await p.locator('tr[data-exchange]').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-exchange')))).toEqual(['binance', 'coinbase', 'sim-coinbase'])
      await expect(row('sim-coinbase').locator('td[data-label=kind]').textContent()).resolves.toBe('simulated')
      await expect(row('binance').locator('td[data-label=kind]').textContent()).resolves.toBe('live')
      await expect(cls('binance', 'state')).resolves.toBe('ok')
      await expect(cls('coinbase', 'state')).resolves.toBe('bad')
      await expect(row('coinbase').locator('td[data-label="idle 24 h"]').textContent()).resolves.toBe('BTC-USD')
      await expect(cls('sim-coinbase', 'stalled')).resolves.toBe('bad')
      await expect(row('sim-coinbase').locator('td[data-label=stalled]').textContent()).resolves.toBe('BTC-USD')
      expect(await p.evaluate(() => document.body.dataset.status)).toBe('bad')
    } finally { statusDoc = { stalls: [] }; await p.context().close() }
  })

  it('raises no console errors and no page errors', () => {
    expect(errors).toEqual([])
  })
})

if (missing) describe('the exchange picker and the compare overlay in Chromium', () => it.skip(`needs Chromium at ${CHROMIUM} (apt-get install -y chromium)`, () => {}))
