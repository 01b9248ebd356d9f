/**
 * The built page against the real local cloud (fake exchange, ingest, Firehose emulator, lake,
 * candle job, gateway, HTTP API: `startCloud`), in Debian's Chromium. A tab opened the moment the
 * cloud is up, while the first backfill is still landing, must get the history without a reload;
 * with `/ws` refused the page must poll the HTTP side and still move; `/status` must show the
 * symbols up. Skips, saying why, when /usr/bin/chromium is absent.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeExchange, type FakeExchange } from '@ticklake/local/exchange/index'
import { startCloud, type Cloud } from '@ticklake/local/cloud/index'

const CHROMIUM = '/usr/bin/chromium'
const WEB = join(import.meta.dirname, '..')
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic']
/** Minutes of history the first run backfills. */
const BACKFILL = 45

let dir: string
let fake: FakeExchange
let cloud: Cloud
let browser: Browser
let first: Page
/** data-candles of the first tab each time it changed, from its first value on. */
let counts: number[] = []
const errors: string[] = []
/** A fresh lake has no serving window nor live.json for a few seconds: the browser logs those 404s. */
const notYet = /Failed to load resource: the server responded with a status of 404/

const missing = !existsSync(CHROMIUM)

describe.skipIf(missing)('the page on the real local cloud', () => {
  beforeAll(async () => {
    if (!existsSync(join(WEB, 'dist', 'index.html'))) {
      const { build } = await import('vite')
      await build({ root: WEB, configFile: join(WEB, 'vite.config.ts'), logLevel: 'warn' })
    }
    dir = mkdtempSync(join(tmpdir(), 'ticklake-web-'))
    fake = await startFakeExchange({ symbols: ['BTC-USDT', 'ETH-USDT'], port: 0, seed: 11, historyMs: (BACKFILL + 15) * 60_000, ratePerSec: 20 })
    const { chromium } = await import('playwright-core')
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS })
    cloud = await startCloud({ source: 'sim', restUrl: fake.restUrl, wsUrl: fake.wsUrl, symbols: ['BTC-USDT', 'ETH-USDT'], port: 0, dataDir: dir, backfillMs: BACKFILL * 60_000, ingestBudgetMs: 20_000, firehoseBufferMs: 300, features: false, log: () => {} })
    // the tab opens the moment the cloud is up, as a person clicking the URL `npm start` prints
    first = await browser.newPage()
    first.on('console', (m) => { if (m.type() === 'error' && !notYet.test(m.text())) errors.push(m.text()) })
    first.on('pageerror', (e) => errors.push(e.message))
    await first.exposeFunction('__count', (n: number) => counts.push(n))
    await first.addInitScript(() => { addEventListener('DOMContentLoaded', () => new MutationObserver(() => (window as any).__count(Number(document.body.dataset.candles))).observe(document.body, { attributes: true, attributeFilter: ['data-candles'] })) })
    await first.goto(cloud.url)
  })

  afterAll(async () => {
    await browser?.close()
    await cloud?.close()
    await fake?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('gets the backfilled history in a tab opened before it landed, without a reload', async () => {
    await first.waitForFunction((n) => Number(document.body.dataset.candles) >= n, BACKFILL, { timeout: 90_000 })
    const drawn = counts.filter((n) => n > 0)
    console.log(`first tab: candles ${drawn.slice(0, 8).join(' → ')}${drawn.length > 8 ? ` … ${drawn.at(-1)}` : ''}`)
    expect(await first.evaluate(() => document.body.dataset.state)).toBe('live')
    // and the view shows them all (up to 120, with 4 empty steps on the right), not the few there were at first
    const { v, n } = await first.evaluate(() => ({ v: (window as any).ticklake.chart().view(), n: (window as any).ticklake.series().length }))
    expect((v.max - v.min) / 60).toBe(Math.min(120, n + 4))
  }, 120_000)

  it('polls the HTTP API when /ws is refused and still moves with the market', async () => {
    const ctx = await browser.newContext()
    await ctx.routeWebSocket(/\/ws$/, (ws) => ws.close())
    const p = await ctx.newPage()
    try {
      await p.goto(cloud.url)
      await p.waitForFunction(() => document.body.dataset.state === 'polling', undefined, { timeout: 20_000 })
      await p.waitForFunction((n) => Number(document.body.dataset.candles) >= n, BACKFILL, { timeout: 30_000 })
      await p.waitForSelector('#trades li', { timeout: 20_000 })
      const price = await p.getByTestId('price').textContent()
      await p.waitForFunction((was) => document.querySelector('[data-testid=price]')!.textContent !== was, price, { timeout: 20_000 })
      expect(await p.evaluate(() => document.body.dataset.state)).toBe('polling')
    } finally { await ctx.close() }
  }, 90_000)

  it('shows every ingested symbol up on /status', async () => {
    const p = await browser.newPage()
    try {
      await p.goto(new URL('status', cloud.url).href)
      await p.waitForSelector('tr[data-symbol="sim-binance/ETH-USDT"]', { timeout: 20_000 })
      for (const s of ['BTC-USDT', 'ETH-USDT']) await expect(p.locator(`tr[data-symbol="sim-binance/${s}"] td[data-label="state"]`).textContent()).resolves.toBe('up')
      await expect(p.getByTestId('subscribers').locator('b').textContent()).resolves.toMatch(/^\d+$/)
    } finally { await p.close() }
  }, 60_000)

  it('raises no console errors and no page errors', () => {
    expect(errors).toEqual([])
  })
})

if (missing) describe('the page on the real local cloud', () => it.skip(`needs Chromium at ${CHROMIUM} (apt-get install -y chromium)`, () => {}))
