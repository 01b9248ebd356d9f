/**
 * The built page in a real browser (Debian's Chromium driven by playwright-core): a tiny node:http
 * server on a free port serves `packages/web/dist`, a fake `/api/health` and a `ws` WebSocket
 * server on `/ws` that answers a subscribe with a snapshot of generated candles and then lets each
 * test push live candle, trade and error messages. `npm test` builds the page first; run alone, this
 * file builds it when `dist` is missing. Skips, saying why, when /usr/bin/chromium is absent.
 */
import { createServer, type Server } from 'node:http'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { extname, join, normalize } from 'node:path'
import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Candle } from '@ticklake/core/market'
import { candleChannel, tradeChannel, type ClientMessage, type ServerMessage } from '@ticklake/core/realtime'

const CHROMIUM = '/usr/bin/chromium'
const WEB = join(import.meta.dirname, '..')
const DIST = join(WEB, 'dist')
const SCREENSHOT = '/tmp/ticklake-page.png'
const SYMBOLS = ['BTC-USDT', 'ETH-USDT']
const COUNT = 120
const UP = [0x26, 0xa6, 0x9a]
const DOWN = [0xef, 0x53, 0x50]
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png' }

/** `n` one-minute candles ending at the current minute: a seeded random walk around `base`. */
function generate(symbol: string, n: number, base: number): Candle[] {
  let seed = 42, close = base
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  const now = Math.floor(Date.now() / 60_000) * 60_000
  return Array.from({ length: n }, (_, i) => {
    const open = close
    close = +(open * (1 + (rnd() - 0.5) * 0.004)).toFixed(2)
    const high = +(Math.max(open, close) * (1 + rnd() * 0.0015)).toFixed(2)
    const low = +(Math.min(open, close) * (1 - rnd() * 0.0015)).toFixed(2)
    const volume = +(1 + rnd() * 20).toFixed(4)
    const open_time = now - (n - 1 - i) * 60_000
    return candle(symbol, open_time, open, high, low, close, volume, i < n - 1)
  })
}

function candle(symbol: string, open_time: number, open: number, high: number, low: number, close: number, volume: number, final: boolean): Candle {
  return {
    exchange: 'binance', symbol, tf: '1m', open_time, close_time: open_time + 59_999, open, high, low, close, volume,
    quote_volume: volume * close, trades: 10, taker_buy_volume: volume / 2, taker_buy_quote_volume: (volume / 2) * close,
    vwap: (open + close) / 2, first_trade_id: open_time, last_trade_id: open_time + 9, final,
  }
}

const series: Record<string, Candle[]> = { 'BTC-USDT': generate('BTC-USDT', COUNT, 64_000), 'ETH-USDT': generate('ETH-USDT', COUNT, 3_200) }
const BTC = candleChannel('binance', 'BTC-USDT', '1m')
const BTC_TRADES = tradeChannel('binance', 'BTC-USDT')

let server: Server
let wss: WebSocketServer
let base: string
let browser: Browser
let page: Page
/** Every client message the server received, in order. */
const received: ClientMessage[] = []
const sockets = new Set<WebSocket>()
/** Console errors and page errors of the main page. */
const errors: string[] = []
/** What the fake `/api/status` lists as stalls in course. */
let stalls: object[] = []

const send = (m: ServerMessage) => { for (const s of sockets) s.send(JSON.stringify(m)) }
const subscribes = () => received.filter((m) => m.action === 'subscribe') as Extract<ClientMessage, { action: 'subscribe' }>[]

/** Polls `test` until it holds (or fails after `ms`). */
async function until(test: () => boolean, ms = 10_000) {
  const end = Date.now() + ms
  while (!test()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Pixels of the chart canvas that are exactly `rgb`, and a hash of the whole canvas. */
async function canvas(p: Page): Promise<{ up: number; down: number; hash: number }> {
  return p.evaluate(([up, down]) => {
    const c = document.querySelector('[data-testid=chart] canvas') as HTMLCanvasElement
    const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data
    let u = 0, d = 0, hash = 0
    for (let i = 0; i < px.length; i += 4) {
      if (px[i] === up[0] && px[i + 1] === up[1] && px[i + 2] === up[2]) u++
      else if (px[i] === down[0] && px[i + 1] === down[1] && px[i + 2] === down[2]) d++
      hash = (hash * 31 + px[i] + px[i + 1] * 7 + px[i + 2] * 13) | 0
    }
    return { up: u, down: d, hash }
  }, [UP, DOWN])
}

const missing = !existsSync(CHROMIUM)
if (missing) console.warn(`page.test.ts: skipped, no Chromium at ${CHROMIUM} (apt-get install -y chromium)`)

describe.skipIf(missing)('the page in Chromium', () => {
  beforeAll(async () => {
    if (!existsSync(join(DIST, 'index.html'))) {
      const { build } = await import('vite')
      await build({ root: WEB, configFile: join(WEB, 'vite.config.ts'), logLevel: 'warn' })
    }
    server = createServer(async (req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname
      if (path === '/api/status') {
        res.writeHead(200, { 'content-type': 'application/json' })
        return res.end(JSON.stringify({ sources: [], stalls }))
      }
      if (path === '/api/health') {
        res.writeHead(200, { 'content-type': 'application/json' })
        return res.end(JSON.stringify({ ok: true, source: 'sim', simulated: true, exchange: 'binance', symbols: SYMBOLS, ws: '/ws' }))
      }
      const file = normalize(join(DIST, path === '/' ? 'index.html' : path))
      if (!file.startsWith(DIST) || !existsSync(file)) { res.writeHead(404); return res.end('not found') }
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
      res.end(await readFile(file))
    })
    wss = new WebSocketServer({ server, path: '/ws' })
    wss.on('connection', (s) => {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('message', (raw) => {
        const m = JSON.parse(raw.toString()) as ClientMessage
        received.push(m)
        if (m.action === 'ping') return s.send(JSON.stringify({ type: 'pong', time: Date.now() }))
        if (m.action !== 'subscribe') return
        s.send(JSON.stringify({ type: 'subscribed', channels: m.channels }))
        for (const ch of m.channels.filter((c) => c.startsWith('candles:'))) {
          const candles = series[ch.split(':')[2]]
          s.send(JSON.stringify({ type: 'snapshot', channel: ch, candles }))
          // a few live updates of the open minute, as the ingest path sends them
          const last = candles[candles.length - 1]
          for (const close of [last.close + 1, last.close + 2]) {
            s.send(JSON.stringify({ type: 'candle', channel: ch, candle: { ...last, close, high: Math.max(last.high, close) }, final: false }))
          }
          s.send(JSON.stringify({ type: 'trade', channel: ch.replace(/^candles:(.*):1m$/, 'trades:$1'), trades: [{ id: 1, time: Date.now(), price: last.close + 2, qty: 0.01, side: 'buy' }] }))
        }
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const { chromium } = await import('playwright-core')
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'] })
    page = await browser.newPage({ viewport: { width: 1280, height: 720 } })
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`) })
    page.on('pageerror', (e) => errors.push(`page: ${e.message}`))
    await page.goto(base)
  })

  afterAll(async () => {
    await browser?.close()
    for (const s of sockets) s.terminate()
    wss?.close()
    await new Promise((r) => (server ? server.close(r) : r(undefined)))
  })

  it('subscribes to the first symbol’s 1m candles and its trades on load', async () => {
    await until(() => subscribes().length > 0)
    expect(subscribes()[0].channels).toEqual([BTC, BTC_TRADES])
  })

  it('shows an always-visible SIMULATED badge when the source is simulated', async () => {
    const badge = page.getByTestId('simulated')
    await expect(badge.textContent()).resolves.toContain('SIMULATED')
    expect(await badge.isVisible()).toBe(true)
    const box = (await badge.boundingBox())!
    expect(box.y).toBeGreaterThanOrEqual(0)
    expect(box.y + box.height).toBeLessThanOrEqual(720)
  })

  it('draws the snapshot as green and red candles on the chart canvas and goes live', async () => {
    await page.waitForFunction((n) => document.body.dataset.candles === String(n), COUNT)
    await page.waitForFunction(() => document.body.dataset.state === 'live')
    const px = await canvas(page)
    expect(px.up).toBeGreaterThan(300)
    expect(px.down).toBeGreaterThan(300)
    await expect(page.locator('#legend').textContent()).resolves.toMatch(/UTC O .* H .* L .* C .* V /)
    await page.screenshot({ path: SCREENSHOT })
  })

  it('moves the price text and extends the series when a live candle arrives', async () => {
    const last = series['BTC-USDT'][COUNT - 1]
    send({ type: 'candle', channel: BTC, candle: candle('BTC-USDT', last.open_time + 60_000, last.close, 70_200, last.close, 70_123.45, 3, false), final: false })
    await page.waitForFunction(() => document.querySelector('[data-testid=price]')!.textContent === '70,123.45')
    await page.waitForFunction((n) => document.body.dataset.candles === String(n), COUNT + 1)
    await expect(page.locator('#change').getAttribute('class')).resolves.toBe('up')
    // the final version of the same minute replaces the partial one, not adds to it
    send({ type: 'candle', channel: BTC, candle: candle('BTC-USDT', last.open_time + 60_000, last.close, 70_200, last.close, 70_111.11, 4, true), final: true })
    await page.waitForFunction(() => document.querySelector('[data-testid=price]')!.textContent === '70,111.11')
    expect(await page.evaluate(() => document.body.dataset.candles)).toBe(String(COUNT + 1))
  })

  it('lists live trades and shows the last trade’s price', async () => {
    send({ type: 'trade', channel: BTC_TRADES, trades: [{ id: 7, time: Date.now(), price: 70_150, qty: 0.5, side: 'sell' }, { id: 8, time: Date.now(), price: 70_155.5, qty: 0.25, side: 'buy' }] })
    await page.waitForFunction(() => document.querySelector('[data-testid=price]')!.textContent === '70,155.50')
    await expect(page.locator('#trades li').first().textContent()).resolves.toContain('70,155.50')
    expect(await page.locator('#trades li').count()).toBeGreaterThanOrEqual(3)
  })

  it('shows a server error in the status line', async () => {
    send({ type: 'error', code: 'bad_channel', message: '"candles:x" is not <kind>:<exchange>:<BASE-QUOTE>' })
    await page.waitForFunction(() => document.getElementById('error')!.textContent!.includes('bad_channel'))
  })

  it('keeps the user’s drag zoom while live candles arrive, and a double-click resets it', async () => {
    const box = (await page.getByTestId('chart').boundingBox())!
    const before = await canvas(page)
    await page.mouse.move(box.x + box.width * 0.2, box.y + box.height / 2)
    await page.mouse.down()
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2, { steps: 5 })
    await page.mouse.up()
    const zoomed = await canvas(page)
    expect(zoomed.hash).not.toBe(before.hash)
    // a new candle outside the zoomed window (at the last close, so the last-price line stays) leaves the view as it is
    const last = series['BTC-USDT'][COUNT - 1]
    send({ type: 'candle', channel: BTC, candle: candle('BTC-USDT', last.open_time + 120_000, 70_111.11, 70_111.11, 70_111.11, 70_111.11, 1, false), final: false })
    await page.waitForFunction((n) => document.body.dataset.candles === String(n), COUNT + 2)
    await page.evaluate(() => new Promise(requestAnimationFrame))
    expect((await canvas(page)).hash).toBe(zoomed.hash)
    // while a correction inside the window is drawn at once
    const inside = series['BTC-USDT'][40]
    send({ type: 'candle', channel: BTC, candle: { ...inside, high: inside.high + 150 }, final: true })
    let corrected = await canvas(page)
    for (let i = 0; i < 100 && corrected.hash === zoomed.hash; i++) corrected = await page.waitForTimeout(20).then(() => canvas(page))
    expect(corrected.hash).not.toBe(zoomed.hash)
    expect(corrected.up + corrected.down).toBeGreaterThan(200)
    await page.mouse.dblclick(box.x + box.width * 0.4, box.y + box.height / 2)
    await page.evaluate(() => new Promise(requestAnimationFrame))
    expect((await canvas(page)).hash).not.toBe(corrected.hash)
  })

  it('redraws to the new size when the window is resized', async () => {
    await page.setViewportSize({ width: 900, height: 560 })
    await page.waitForFunction(() => { const c = document.querySelector('[data-testid=chart] canvas') as HTMLCanvasElement; return c.getBoundingClientRect().width < 900 - 250 + 1 && c.getBoundingClientRect().width > 500 })
    expect((await canvas(page)).up).toBeGreaterThan(100)
    await page.setViewportSize({ width: 1280, height: 720 })
  })

  it('reconnects after the connection drops, shows it, and subscribes again', async () => {
    const before = subscribes().length
    const states: string[] = []
    await page.exposeFunction('__state', (s: string) => states.push(s))
    await page.evaluate(() => new MutationObserver(() => (window as any).__state(document.body.dataset.state)).observe(document.body, { attributes: true, attributeFilter: ['data-state'] }))
    for (const s of sockets) s.close(1001, 'going away')
    await until(() => subscribes().length > before)
    expect(subscribes().at(-1)!.channels).toEqual([BTC, BTC_TRADES])
    await page.waitForFunction(() => document.body.dataset.state === 'live')
    expect(states).toEqual(['reconnecting', 'live'])
    await page.waitForFunction((n) => document.body.dataset.candles === String(n), COUNT + 2)
  })

  it('follows ?symbol= in the URL and switches symbol from the selector without reloading', async () => {
    const p = await browser.newPage()
    try {
      const n = subscribes().length
      await p.goto(`${base}/?symbol=ETH-USDT`)
      await until(() => subscribes().length > n)
      expect(subscribes().at(-1)!.channels).toEqual([candleChannel('binance', 'ETH-USDT', '1m'), tradeChannel('binance', 'ETH-USDT')])
      await p.waitForFunction((c) => document.body.dataset.candles === String(c), COUNT)
      expect(await p.locator('#symbol').inputValue()).toBe('ETH-USDT')
      await p.locator('#symbol').selectOption('BTC-USDT')
      await until(() => subscribes().length > n + 1)
      expect(subscribes().at(-1)!.channels).toEqual([BTC, BTC_TRADES])
      expect(received.some((m) => m.action === 'unsubscribe' && m.channels.includes(candleChannel('binance', 'ETH-USDT', '1m')))).toBe(true)
      await p.waitForFunction(() => location.search === '?symbol=BTC-USDT' && Number(document.querySelector('[data-testid=price]')!.textContent!.replace(/,/g, '')) > 10_000)
    } finally { await p.close() }
  })

  it('follows ?tf= and switches timeframe from its selector: the candle channel changes, the trades stay', async () => {
    const p = await browser.newPage()
    try {
      const n = subscribes().length
      await p.goto(`${base}/?symbol=BTC-USDT&tf=1h`)
      await until(() => subscribes().length > n)
      expect(subscribes().at(-1)!.channels).toEqual([candleChannel('binance', 'BTC-USDT', '1h'), BTC_TRADES])
      expect(await p.locator('#tf').inputValue()).toBe('1h')
      await p.waitForFunction((c) => document.body.dataset.candles === String(c), COUNT)
      expect(await p.locator('#source').textContent()).toMatch(/ 1h · UTC$/)
      await p.locator('#tf').selectOption('15m')
      await until(() => subscribes().length > n + 1)
      expect(subscribes().at(-1)!.channels).toEqual([candleChannel('binance', 'BTC-USDT', '15m'), BTC_TRADES])
      expect(received.some((m) => m.action === 'unsubscribe' && m.channels.includes(candleChannel('binance', 'BTC-USDT', '1h')))).toBe(true)
      await p.waitForFunction(() => location.search === '?symbol=BTC-USDT&tf=15m')
      await p.waitForFunction((c) => document.body.dataset.candles === String(c), COUNT)
    } finally { await p.close() }
  })

  it('pings the server every 30 seconds', async () => {
    const p = await browser.newPage()
    try {
      await p.clock.install()
      await p.goto(base)
      await p.waitForFunction(() => document.body.dataset.state === 'live')
      const n = received.filter((m) => m.action === 'ping').length
      await p.clock.runFor(31_000)
      await until(() => received.filter((m) => m.action === 'ping').length > n)
    } finally { await p.close() }
  })

  it('says stalled, since when and why, while /api/status lists a stall of the shown source', async () => {
    stalls = [{ exchange: 'binance', symbol: SYMBOLS[0], since: '2026-11-24T15:04:05.000Z', detected_at: '2026-11-24T15:04:20.000Z', reason: 'no trade on the stream for 15 s', fetched: 0 }]
    const other = await browser.newPage()
    try {
      await other.goto(base)
      await other.waitForSelector('body[data-stalled]', { timeout: 10_000 })
      expect(await other.textContent('#error')).toContain('STALLED: no trades from binance')
      expect(await other.textContent('#error')).toContain('15:04:05 UTC: no trade on the stream for 15 s')
      await other.waitForFunction(() => document.getElementById('state')!.textContent === 'stalled', undefined, { timeout: 10_000 })
    } finally { stalls = []; await other.close() }
  })

  it('raises no console errors and no page errors', () => {
    expect(errors).toEqual([])
  })
})

if (missing) describe('the page in Chromium', () => it.skip(`needs Chromium at ${CHROMIUM} (apt-get install -y chromium)`, () => {}))
