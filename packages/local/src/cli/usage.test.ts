import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { main } from '../cli'

/** Runs the CLI in this process; resolves with its exit code, stdout and stderr. */
async function cli(...args: string[]) {
  const out: string[] = []
  const err: string[] = []
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => { out.push(String(s)); return true })
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => { err.push(String(s)); return true })
  const l = vi.spyOn(console, 'log').mockImplementation((...s) => { out.push(s.join(' ') + '\n') })
  try { return { code: await main(args), out: out.join(''), err: err.join('') } } finally { o.mockRestore(); e.mockRestore(); l.mockRestore() }
}

const T0 = Date.UTC(2025, 0, 1) * 1000
/** Three trades (Binance `trades` archive rows, µs times) in the first minutes of 2025-01-01. */
const TRADES = [
  `1000,96000.50000000,0.00100000,96.00050000,${T0 + 1},True,True`,
  `1001,96001.00000000,0.25000000,24000.25000000,${T0 + 60_000_000},False,True`,
  `1002,96002.00000000,0.50000000,48001.00000000,${T0 + 120_000_000},False,True`,
]
let dir: string
let lake: string
let csv: string
/** A port nothing listens on. */
let closedPort: number

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ticklake-usage-'))
  lake = join(dir, 'lake')
  csv = join(dir, 'BTCUSDT-trades-2025-01-01.csv')
  writeFileSync(csv, TRADES.join('\n') + '\n')
  expect((await cli('import', csv, '--data', lake)).code).toBe(0)
  const probe = createServer().listen(0, '127.0.0.1')
  await new Promise((r) => probe.once('listening', r))
  closedPort = (probe.address() as AddressInfo).port
  await new Promise((r) => probe.close(r))
})
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

describe('ticklake exit codes and input checks', () => {
  it('documents the exit codes in ticklake help', async () => {
    const { code, out } = await cli('help')
    expect(code).toBe(0)
    expect(out).toMatch(/Exit codes[\s\S]*0 +success[\s\S]*1 +the work found a problem[\s\S]*2 +bad usage or input[\s\S]*3 +a source unreachable/)
    expect(out).toMatch(/npm start -- --port 8760/)
  })

  it('refuses a --data folder that does not exist for a reading command, once on stderr, with exit 2', async () => {
    for (const cmd of [['candles', '--symbol', 'BTC-USDT'], ['gaps'], ['sql', 'select 1'], ['verify', '--symbol', 'BTC-USDT', '--from', '2025-01-01T00:00:00Z', '--to', '2025-01-01T01:00:00Z']]) {
      const r = await cli(...cmd, '--data', join(dir, 'typo'))
      expect(r.code, cmd[0]).toBe(2)
      expect(r.out, cmd[0]).toBe('')
      expect(r.err.match(/does not exist/g), cmd[0]).toHaveLength(1)
      expect(r.err.trim().split('\n'), cmd[0]).toHaveLength(1)
    }
    expect(existsSync(join(dir, 'typo'))).toBe(false)
  })

  it('validates enum flags with exit 2 and names what is allowed', async () => {
    const cases: [string[], RegExp][] = [
      [['gaps', '--format', 'xml', '--data', lake], /--format is text or json \(got "xml"\)/],
      [['candles', '--symbol', 'BTC-USDT', '--exchange', 'kraken', '--data', lake], /--exchange is one of binance, binance-us, binance-futures, coinbase/],
      [['gaps', '--exchange', 'kraken', '--data', lake], /--exchange is one of/],
      [['candles', '--symbol', 'BTC-USDT', '--tf', '7m', '--data', lake], /--tf is one of 1m, 5m, 15m, 1h, 4h, 1d/],
      [['candles', '--symbol', 'BTC-USDT', '--format', 'xml', '--data', lake], /--format is csv or json/],
      [['verify', '--symbol', 'BTC-USDT', '--from', '2025-01-01T00:00:00Z', '--to', '2025-01-01T01:00:00Z', '--tf', '7m', '--data', lake], /--tf is one of/],
      [['import', csv, '--kind', 'klines', '--data', lake], /--kind is trades or aggTrades/],
      [['record', '--symbols', 'BTC-USDT', '--exchange', 'kraken'], /--exchange is one of/],
      [['start', '--source', 'cloud'], /--source is one of sim, live/],
      [['start', '--backfill', 'soon'], /--backfill: not a duration/],
      [['sql', 'select 1', '--format', 'xml', '--data', lake], /--format is one of table, csv, json/],
      [['candles', '--bogus'], /Unknown option '--bogus'/],
    ]
    for (const [args, message] of cases) {
      const r = await cli(...args)
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.err, args.join(' ')).toMatch(message)
    }
  })

  it('takes symbols in any case', async () => {
    const upper = await cli('candles', '--symbol', 'BTC-USDT', '--data', lake)
    const lower = await cli('candles', '--symbol', 'btc-usdt', '--data', lake)
    expect(upper.code).toBe(0)
    expect(upper.out.trim().split('\n')).toHaveLength(61) // header and the hour's 60 minutes (an archive day read whole is complete)
    expect(lower).toEqual(upper)
    expect((await cli('gaps', '--symbol', 'btc-usdt', '--data', lake)).code).toBe(0)
  })

  it('exits 3 when verify cannot reach the exchange (and 1 only when candles differ: verify.test.ts)', async () => {
    const r = await cli('verify', '--symbol', 'btc-usdt', '--from', '2025-01-01T00:00:00Z', '--to', '2025-01-01T00:03:00Z', '--rest-url', `http://127.0.0.1:${closedPort}`, '--data', lake)
    expect(r.code).toBe(3)
    expect(r.err).toMatch(/cannot reach/)
    expect(r.out).toBe('')
  })

  it('says "not found", "is a directory" and "not a zip" for archives that are none, with exit 2 and nothing written', async () => {
    const text = join(dir, 'BTCUSDT-trades-2025-01-02.zip')
    writeFileSync(text, '<html>not found</html>\n')
    mkdirSync(join(dir, 'folder'))
    const cases: [string, RegExp][] = [[join(dir, 'missing.zip'), /missing\.zip: refused: not found/], [join(dir, 'folder'), /folder: refused: is a directory/], [text, /refused: not a zip/]]
    for (const [path, message] of cases) {
      const r = await cli('import', path, '--data', join(dir, 'lake2'))
      expect(r.code, path).toBe(2)
      expect(r.err, path).toMatch(message)
      expect(r.err.trim().split('\n'), path).toHaveLength(1)
      expect(r.out, path).toBe('')
    }
    expect(existsSync(join(dir, 'lake2', 'bronze'))).toBe(false)
  })

  it('refuses a trades file imported as aggTrades with the count of its bad rows, exit 2', async () => {
    const r = await cli('import', csv, '--kind', 'aggTrades', '--data', join(dir, 'lake3'))
    expect(r.code).toBe(2)
    expect(r.err).toMatch(/no row reads as aggTrades: 3 bad row\(s\) of 3, .*pass --kind trades/)
    expect(existsSync(join(dir, 'lake3', 'bronze'))).toBe(false)
    expect(existsSync(join(dir, 'lake3', 'dlq'))).toBe(false)
  })

  it('exits 3 when record cannot reach the stream, and leaves no file behind', async () => {
    const out = join(dir, 'capture.jsonl')
    const r = await cli('record', '--symbols', 'btc-usdt', '--ws-url', `ws://127.0.0.1:${closedPort}`, '--out', out, '--duration', '1s')
    expect(r.code).toBe(3)
    expect(r.err).toMatch(/cannot reach ws:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); nothing recorded/)
    expect(existsSync(out)).toBe(false)
  })

  it('refuses a missing capture for replay with exit 2', async () => {
    const r = await cli('replay', join(dir, 'nothing.jsonl'), '--data', join(dir, 'lake4'))
    expect(r.code).toBe(2)
    expect(r.err).toMatch(/nothing\.jsonl: not found/)
  })
})
