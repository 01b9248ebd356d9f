import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { writeFileSync } from 'node:fs'
import { aggTradesOfCapture, captureLine, parseCapture } from '@ticklake/core/sources/capture'
import { startFakeExchange } from '../exchange/index'
import { duckdbEngine } from '../duckdb/index'
import { recordCapture, replayCapture } from './index'

const DATA = join(__dirname, '../../../../../shared/data/binance')
const haveData = existsSync(DATA)
if (!haveData) console.warn(`skipping replays of the shared recordings: ${DATA} is absent`)
const dirs: string[] = []
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'ticklake-replay-')); dirs.push(d); return d }
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

async function silver(dir: string) {
  const db = await duckdbEngine(dir)
  try { return await db.query({ sql: 'SELECT exchange, symbol, trade_id, source FROM trades ORDER BY symbol, trade_id', params: [] }) } finally { db.close() }
}

describe('record and replay', () => {
  it.skipIf(!haveData)('replays a cryptofeed recording into silver, every captured aggTrade once, and again without duplicates', async () => {
    const file = join(DATA, '7136ce8d0d0a/BINANCE-b38f7c.0')
    const dir = tmp()
    const counts = await replayCapture({ file, speed: 'max', dataDir: dir })
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(1240)
    const rows = await silver(dir)
    const captured = aggTradesOfCapture(parseCapture(readFileSync(file))).trades
    expect(rows.length).toBe(1240)
    expect(rows.filter((r) => r.symbol === 'ZIL-USDT').map((r) => r.trade_id)).toEqual(captured.get('ZILUSDT')!.map((t) => t.a))
    expect(new Set(rows.map((r) => r.source))).toEqual(new Set(['replay']))
    expect(new Set(rows.map((r) => r.exchange))).toEqual(new Set(['binance']))
    await replayCapture({ file, speed: 'max', dataDir: dir })
    expect((await silver(dir)).length).toBe(1240)
  })

  it.skipIf(!haveData)('replays a zstd-compressed JSON-lines recording of futures under binance-futures', async () => {
    const dir = tmp()
    const counts = await replayCapture({ file: join(DATA, '57d5f18d6098/BINANCE_FUTURES.jsonl.zst'), speed: 'max', dataDir: dir })
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBeGreaterThan(40)
    const rows = await silver(dir)
    expect(rows.length).toBe(Object.values(counts).reduce((a, b) => a + b, 0))
    expect(new Set(rows.map((r) => r.exchange))).toEqual(new Set(['binance-futures']))
  })

  it.skipIf(!haveData)('replays a Binance.US recording under binance-us, never under binance', async () => {
    const dir = tmp()
    const counts = await replayCapture({ file: join(DATA, '7136ce8d0d0a/BINANCE_US-63b290.0'), speed: 'max', dataDir: dir })
    const rows = await silver(dir)
    expect(rows.length).toBe(Object.values(counts).reduce((a, b) => a + b, 0))
    expect(rows.length).toBeGreaterThan(100)
    expect(new Set(rows.map((r) => r.exchange))).toEqual(new Set(['binance-us']))
    const { readdirSync } = await import('node:fs')
    expect(readdirSync(join(dir, 'bronze/trades'))).toEqual(['exchange=binance-us'])
    expect(readdirSync(join(dir, 'state/checkpoints'))).toEqual(['binance-us'])
  })

  it('leaves the partial first and last minutes of a replay not final, and the whole minutes between final', async () => {
    // aggTrades every 20 s from 10:00:30 to 10:04:10: the capture starts and ends inside a minute
    const T = Date.UTC(2025, 2, 1, 10, 0, 30)
    const lines = Array.from({ length: 12 }, (_, i) => {
      const frame = { stream: 'btcusdt@aggTrade', data: { e: 'aggTrade', E: T + i * 20_000, s: 'BTCUSDT', a: 500 + i, p: `${100 + i}.5`, q: '0.25', f: 900 + i, l: 900 + i, T: T + i * 20_000, m: i % 2 === 0, M: true } }
      return captureLine('recv', T + i * 20_000 + 5, JSON.stringify(frame))
    })
    const file = join(tmp(), 'capture.jsonl')
    writeFileSync(file, lines.join(''))
    const dir = tmp()
    await replayCapture({ file, speed: 'max', dataDir: dir })
    const db = await duckdbEngine(dir)
    try {
      const minutes = await db.query({ sql: "SELECT open_time, trades, final FROM candles WHERE tf = '1m' ORDER BY open_time", params: [] })
      expect(minutes.map((c) => [c.open_time, c.trades, c.final])).toEqual([
        ['2025-03-01T10:00:00.000Z', 2, false], ['2025-03-01T10:01:00.000Z', 3, true], ['2025-03-01T10:02:00.000Z', 3, true],
        ['2025-03-01T10:03:00.000Z', 3, true], ['2025-03-01T10:04:00.000Z', 1, false],
      ])
      const days = await db.query({ sql: "SELECT final FROM candles WHERE tf = '1d'", params: [] })
      expect(days).toEqual([{ final: false }])
    } finally { db.close() }
  })

  it('records a live stream and replays the capture at recorded speed into the same trades', async () => {
    const fx = await startFakeExchange({ symbols: ['BTC-USDT'], historyMs: 0, ratePerSec: 50, seed: 2 })
    const out = join(tmp(), 'capture.jsonl')
    const frames = await recordCapture({ wsUrl: fx.wsUrl, symbols: ['BTC-USDT'], out, durationMs: 1_200 })
    await fx.close()
    expect(frames).toBeGreaterThan(10)
    const captured = aggTradesOfCapture(parseCapture(readFileSync(out))).trades.get('BTCUSDT')!
    const dir = tmp()
    await replayCapture({ file: out, speed: 4, dataDir: dir })
    expect((await silver(dir)).map((r) => r.trade_id)).toEqual(captured.map((t) => t.a))
  })
})
