import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { captureExchange, coinbaseTradesOfCapture, parseCapture } from '@ticklake/core/sources/capture'
import { startFakeCoinbase } from '../exchange/coinbase'
import { duckdbEngine } from '../duckdb/index'
import { main } from '../cli'
import { recordCapture, replayCapture } from './index'

const DATA = join(__dirname, '../../../../../shared/data/coinbase')
const ADVANCED = join(DATA, '57d5f18d6098/COINBASE.jsonl.zst')
const LEGACY = join(DATA, 'be4e5c81354b/COINBASE.ws.28.0')
const haveData = existsSync(ADVANCED) && existsSync(LEGACY)
if (!haveData) console.warn(`skipping replays of the Coinbase recordings: ${DATA} is absent (it lives in ../shared/data)`)
const dirs: string[] = []
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'ticklake-replay-cb-')); dirs.push(d); return d }
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

/** The lake's Coinbase trades, in id order per product. */
async function lakeTrades(dir: string) {
  const db = await duckdbEngine(dir)
  try {
    return await db.query({ sql: `SELECT exchange, symbol, trade_id, price, qty, side, epoch_us(ts) AS us, source FROM trades ORDER BY symbol, trade_id`, params: [] })
  } finally { db.close() }
}

/** What the lake should hold for the capture's trades: recorded ids, prices, sizes and times, the taker side (opposite of the printed maker side). */
function expected(file: string) {
  const { trades } = coinbaseTradesOfCapture(parseCapture(readFileSync(file)))
  return [...trades].sort(([a], [b]) => (a < b ? -1 : 1)).flatMap(([symbol, list]) => list.map((t) => ({
    exchange: 'coinbase', symbol, trade_id: t.trade_id, price: Number(t.price), qty: Number(t.size), side: t.side === 'buy' ? 'sell' : 'buy', us: t.us, source: 'replay',
  })))
}
const plain = (rows: any[]) => rows.map((r) => ({ ...r, trade_id: Number(r.trade_id), us: Number(r.us) }))

/** Runs `ticklake candles ...` and returns its JSON output. */
async function cliCandles(args: string[]) {
  let out = ''
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: any) => { out += String(s); return true })
  try { expect(await main(['candles', ...args, '--format', 'json'])).toBe(0) } finally { spy.mockRestore() }
  return JSON.parse(out) as any[]
}

describe('coinbase record and replay', () => {
  it.skipIf(!haveData)('replays the Advanced Trade recording into the lake with its trade ids, and again without duplicates; candles then answer', async () => {
    const dir = tmp()
    expect(await replayCapture({ file: ADVANCED, speed: 'max', dataDir: dir })).toEqual({ 'BTC-USD': 147, 'ETH-USD': 132 })
    const want = expected(ADVANCED)
    expect(want.length).toBe(279)
    expect(plain(await lakeTrades(dir))).toEqual(want)
    await replayCapture({ file: ADVANCED, speed: 'max', dataDir: dir })
    expect((await lakeTrades(dir)).length).toBe(279)
    const candles = await cliCandles(['--exchange', 'coinbase', '--symbol', 'BTC-USD', '--data', dir])
    const btc = want.filter((t) => t.symbol === 'BTC-USD')
    expect(candles.reduce((n, c) => n + Number(c.trades), 0)).toBe(147)
    expect(candles.reduce((v, c) => v + Number(c.volume), 0)).toBeCloseTo(btc.reduce((v, t) => v + t.qty, 0), 8)
    expect(Number(candles.at(-1).close)).toBe(btc.at(-1)!.price)
  })

  it.skipIf(!haveData)('replays the legacy ws-feed recording: every match and last_match of its 10 products once', async () => {
    const dir = tmp()
    const counts = await replayCapture({ file: LEGACY, speed: 'max', dataDir: dir })
    expect(Object.keys(counts).length).toBe(10)
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(107)
    expect(plain(await lakeTrades(dir))).toEqual(expected(LEGACY))
  })

  it('records the fake Coinbase and replays the capture at recorded speed into a fresh lake: the trades are the exchange\'s own', async () => {
    const fx = await startFakeCoinbase({ symbols: ['BTC-USD', 'ETH-USD'], historyMs: 60_000, ratePerSec: 20, heartbeatMs: 300, seed: 11 })
    const out = join(tmp(), 'capture.jsonl')
    const frames = await recordCapture({ exchange: 'coinbase', wsUrl: fx.wsUrl, symbols: ['BTC-USD'], out, durationMs: 1_500 })
    await fx.close()
    const messages = parseCapture(readFileSync(out))
    expect(captureExchange(messages)).toBe('coinbase')
    expect(messages.filter((m) => m.kind === 'send').map((m) => JSON.parse(m.data).channel)).toEqual(['market_trades', 'heartbeats'])
    expect(frames).toBe(messages.filter((m) => m.kind === 'ws').length)
    expect(messages.some((m) => m.kind === 'ws' && m.data.includes('"heartbeats"'))).toBe(true)
    const captured = coinbaseTradesOfCapture(messages).trades
    expect([...captured.keys()]).toEqual(['BTC-USD'])
    const ids = captured.get('BTC-USD')!.map((t) => t.trade_id)
    expect(ids.length).toBeGreaterThan(100) // the snapshot of 100 and the live updates
    const truth = fx.trades('BTC-USD').filter((t) => t.trade_id >= ids[0] && t.trade_id <= ids.at(-1)!)
    expect(truth.map((t) => t.trade_id)).toEqual(ids)
    const dir = tmp()
    await replayCapture({ file: out, speed: 4, dataDir: dir })
    const rows = plain(await lakeTrades(dir))
    expect(rows.map((r) => r.trade_id)).toEqual(ids)
    expect(rows.map((r) => [r.price, r.qty, r.side])).toEqual(truth.map((t) => [Number(t.price), Number(t.size), t.side === 'buy' ? 'sell' : 'buy']))
  })

  it('refuses a capture it cannot attribute to an exchange, naming why', async () => {
    const file = join(tmp(), 'unknown.jsonl')
    writeFileSync(file, JSON.stringify({ t: 'recv', ts: 1, data: '{"hello":"world"}' }) + '\n')
    await expect(replayCapture({ file, speed: 'max', dataDir: tmp() })).rejects.toThrow(/cannot tell which exchange/)
  })
})
