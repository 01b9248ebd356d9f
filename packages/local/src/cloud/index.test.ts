import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import type { ServerMessage } from '@ticklake/core/serve/realtime'
import { startFakeExchange, type FakeExchange } from '../exchange/index'
import { duckdbEngine } from '../duckdb/index'
import { startCloud, type Cloud } from './index'

const BIN = join(__dirname, '../../bin/ticklake.mjs')
const CHROMIUM = '/usr/bin/chromium'

let dir: string
let fake: FakeExchange
let cloud: Cloud
let ws: WebSocket
const messages: ServerMessage[] = []
/** ms from a trade's exchange time to its arrival at the subscriber, for live trade messages. */
const latencies: number[] = []

/** Resolves with the first message (already received or to come) that passes `test`. */
function waitFor(test: (m: ServerMessage) => boolean, ms = 20_000): Promise<ServerMessage> {
  const found = messages.find(test)
  if (found) return Promise.resolve(found)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for a WebSocket message')), ms)
    ws.on('message', (d) => { const m = JSON.parse(d.toString()); if (test(m)) { clearTimeout(timer); resolve(m) } })
  })
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ticklake-e2e-'))
  fake = await startFakeExchange({ symbols: ['BTC-USDT', 'ETH-USDT'], port: 0, seed: 7, historyMs: 15 * 60_000, ratePerSec: 20 })
  cloud = await startCloud({ source: 'sim', restUrl: fake.restUrl, wsUrl: fake.wsUrl, symbols: ['BTC-USDT', 'ETH-USDT'], port: 0, dataDir: dir, backfillMs: 10 * 60_000, ingestBudgetMs: 15_000, firehoseBufferMs: 300, log: () => {} })
  ws = new WebSocket(`ws://127.0.0.1:${cloud.port}/ws`)
  ws.on('message', (d) => messages.push(JSON.parse(d.toString())))
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j) })
  ws.on('message', (d) => { const m = JSON.parse(d.toString()); if (m.type === 'trade') latencies.push(Date.now() - Math.max(...m.trades.map((t: any) => t.time))) })
  ws.send(JSON.stringify({ action: 'subscribe', channels: ['candles:sim-binance:BTC-USDT:1m', 'trades:sim-binance:BTC-USDT'] }))
})

afterAll(async () => {
  ws?.close()
  await cloud?.close()
  await fake?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('the local cloud on the fake exchange', () => {
  it('pushes a partial candle to a subscriber within a second of trades', async () => {
    const m = await waitFor((m) => m.type === 'candle' && !m.final, 10_000)
    if (m.type !== 'candle') throw new Error('unreachable')
    expect(m.channel).toBe('candles:sim-binance:BTC-USDT:1m')
    expect(m.candle.close).toBeGreaterThan(0)
    const first = messages.indexOf(m)
    const started = Date.now()
    await waitFor((x) => x.type === 'candle' && !x.final && messages.indexOf(x) > first, 2_000)
    expect(Date.now() - started).toBeLessThan(1_000)
    await new Promise((r) => setTimeout(r, 1_500))
    const live = latencies.slice(-5) // after the backfill, trades arrive as they happen
    expect(live.length).toBeGreaterThan(0)
    expect(Math.max(...live)).toBeLessThan(1_000)
  })

  it('lands final candles in the lake and announces them over the WebSocket', async () => {
    const m = await waitFor((m) => m.type === 'candle' && m.final, 30_000)
    if (m.type !== 'candle') throw new Error('unreachable')
    expect(m.candle).toMatchObject({ exchange: 'sim-binance', symbol: 'BTC-USDT', tf: '1m', final: true })
    expect(m.candle.close_time - m.candle.open_time).toBe(59_999)
  })

  it('holds every trade of the backfilled and streamed range once in silver Parquet that DuckDB reads, and candles that add up to it', async () => {
    await new Promise((r) => setTimeout(r, 1_500))
    const db = await duckdbEngine(dir)
    try {
      const [t] = await db.query({ sql: `SELECT count(DISTINCT trade_id) AS n, count(*) AS rows, min(trade_id) AS lo, max(trade_id) AS hi, count(*) FILTER (WHERE source = 'rest') AS rest FROM trades WHERE symbol = ?`, params: ['BTC-USDT'] })
      expect(t.n).toBeGreaterThan(100)
      expect(t.rows).toBe(t.n) // silver holds each trade once
      const [b] = await db.query({ sql: `SELECT count(DISTINCT trade_id) AS n FROM bronze_trades WHERE symbol = ? AND trade_id BETWEEN ? AND ?`, params: ['BTC-USDT', t.lo as number, t.hi as number] })
      expect(b.n).toBe(t.n)
      expect(t.hi as number - (t.lo as number) + 1).toBe(t.n) // no id missing between first and last
      expect(t.rest).toBeGreaterThan(0) // the backfill came over REST
      const truth = fake.aggTrades('BTC-USDT').filter((a) => a.a >= (t.lo as number) && a.a <= (t.hi as number))
      expect(truth).toHaveLength(t.n as number)
      const [q] = await db.query({ sql: 'SELECT count(*) AS n, min(ask - bid) AS spread FROM quotes WHERE symbol = ?', params: ['BTC-USDT'] })
      expect(q.n).toBeGreaterThan(0) // best bid/ask lands in bronze/quotes too
      expect(q.spread).toBeGreaterThan(0)
      const [c] = await db.query({ sql: `SELECT sum(trades) AS trades FROM candles WHERE symbol = ? AND final AND last_trade_id <= (SELECT max(last_trade_id) FROM trades WHERE symbol = ?) AND first_trade_id >= (SELECT min(first_trade_id) FROM trades WHERE symbol = ?)`, params: ['BTC-USDT', 'BTC-USDT', 'BTC-USDT'] })
      expect(c.trades).toBeGreaterThan(0)
    } finally { db.close() }
  })

  it('answers `ticklake candles` from the lake as JSON with the candle column names, from inclusive and to exclusive', async () => {
    const run = (args: string[]) => promisify(execFile)(process.execPath, [BIN, 'candles', '--exchange', 'sim-binance', '--symbol', 'BTC-USDT', '--data', dir, ...args])
    const all = JSON.parse((await run(['--format', 'json'])).stdout)
    expect(all.length).toBeGreaterThan(5)
    expect(Object.keys(all[0])).toEqual(['exchange', 'symbol', 'tf', 'open_time', 'close_time', 'open', 'high', 'low', 'close', 'volume', 'quote_volume', 'trades', 'taker_buy_volume', 'taker_buy_quote_volume', 'vwap', 'first_trade_id', 'last_trade_id', 'final'])
    const some = JSON.parse((await run(['--format', 'json', '--from', all[1].open_time, '--to', all[3].open_time])).stdout)
    expect(some.map((c: any) => c.open_time)).toEqual([all[1].open_time, all[2].open_time])
    const csv = (await run(['--from', all[1].open_time, '--to', all[2].open_time])).stdout.trim().split('\n')
    expect(csv[0]).toBe(Object.keys(all[0]).join(','))
    expect(csv).toHaveLength(2)
    await expect(run(['--from', 'yesterday'])).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/--from is not an ISO-8601 time/) })
  })

  it('answers 400 to a URL of malformed percent-encoding anywhere: the lake windows, the page, the API and its query', async () => {
    const raw = (path: string) => new Promise<number>((resolve, reject) => {
      // fetch would refuse to send such a URL; a raw request sends it as written
      import('node:http').then(({ request }) => request({ host: '127.0.0.1', port: cloud.port, path }, (res) => { res.resume(); resolve(res.statusCode!) }).on('error', reject).end())
    })
    for (const path of ['/serving/sim-binance/BTC-USDT/%E0%A4%A.json', '/%ZZ', '/assets/%', '/api/candles?symbol=BTC-USDT&from=%E0%A4%A', '/api/health%C3']) expect(await raw(path)).toBe(400)
    expect(await raw('/serving/sim-binance/BTC-USDT/1m%2Ejson')).toBe(200)
  })

  it.skipIf(!existsSync(CHROMIUM))('serves the page, which draws the live chart labelled SIMULATED in a real browser', async () => {
    const { chromium } = await import('playwright-core')
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'] })
    try {
      const page = await browser.newPage()
      const errors: string[] = []
      page.on('pageerror', (e) => errors.push(e.message))
      await page.goto(cloud.url)
      await page.waitForFunction(() => Number(document.body.dataset.candles) > 5, undefined, { timeout: 20_000 })
      await page.waitForSelector('#trades li', { timeout: 10_000 })
      await expect(page.getByTestId('simulated').textContent()).resolves.toContain('SIMULATED')
      expect(Number(await page.getByTestId('price').textContent().then((s) => s?.replace(/[^\d.]/g, '')))).toBeGreaterThan(0)
      // the chart is drawn: the canvas holds candle-coloured pixels (up #26a69a, down #ef5350)
      const coloured = await page.evaluate(() => {
        const c = document.querySelector('[data-testid=chart] canvas') as HTMLCanvasElement
        const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data
        let n = 0
        for (let i = 0; i < px.length; i += 4) if ((px[i] === 0x26 && px[i + 1] === 0xa6 && px[i + 2] === 0x9a) || (px[i] === 0xef && px[i + 1] === 0x53 && px[i + 2] === 0x50)) n++
        return n
      })
      expect(coloured).toBeGreaterThan(500)
      await page.screenshot({ path: process.env.TICKLAKE_SCREENSHOT ?? join(dir, 'page.png') })
      expect(errors).toEqual([])
    } finally { await browser.close() }
  })
})
