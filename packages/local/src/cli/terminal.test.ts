import { describe, expect, it } from 'vitest'
import { formatBackfill, formatDuration, formatSourcesLine, formatStatus, noiseFilter, progress, screen, thousands } from './terminal'

describe('the terminal of ticklake start', () => {
  it('labels each exchange\'s part of the progress line with its name, the subscribers said once', () => {
    const live = formatStatus({ tradesPerSec: 3, lakeLagMs: 1_000, subscribers: 2 })
    const backfill = formatBackfill({ trades: 10, idsPerSec: 5, leftMs: 3_000 })
    expect(formatSourcesLine([{ name: 'binance', line: live }, { name: 'sim-coinbase', line: backfill }], 2)).toBe('binance live: 3.0 trades/s  lake lag 1.0 s │ sim-coinbase backfill: 10 trades  5 ids/s  3 s left │ 2 subscribers')
  })

  it('formats the backfill line with trades, ids per second and time left', () => {
    expect(formatBackfill({ trades: 120_000, idsPerSec: 8_000.4, leftMs: 65_000 })).toBe('backfill: 120,000 trades  8,000 ids/s  1m 05s left')
    expect(formatBackfill({ trades: 0, idsPerSec: 0 })).toBe('backfill: 0 trades  0 ids/s  time left unknown')
  })

  it('formats the status line with trades per second, lake lag and subscribers', () => {
    expect(formatStatus({ tradesPerSec: 12.34, lakeLagMs: 1_240, subscribers: 2 })).toBe('live: 12.3 trades/s  lake lag 1.2 s  2 subscribers')
    expect(formatStatus({ tradesPerSec: 4_321.2, lakeLagMs: 125_000, subscribers: 1 })).toBe('live: 4,321 trades/s  lake lag 2m 05s  1 subscriber')
  })

  it('writes whole numbers with thousands separators as en-US does, negative ones and fractions too', () => {
    const cases = [0, 7, 999, 1_000, 12_345, 999_999.5, 1_234_567, -1_234_567, 2 ** 53 - 1]
    expect(cases.map(thousands)).toEqual(cases.map((n) => Math.round(n).toLocaleString('en-US')))
  })

  it('formats durations in seconds, minutes or hours', () => {
    expect([formatDuration(45_400), formatDuration(185_000), formatDuration(7_800_000)]).toEqual(['45 s', '3m 05s', '2h 10m'])
  })

  it('shows the backfill while the checkpoints close in faster than real time, then the live status', () => {
    const T = Date.UTC(2026, 0, 5, 12)
    const p = progress({ 'BTC-USDT': 1_000 })
    expect(p.update({ at: T, symbols: { 'BTC-USDT': undefined }, subscribers: 0 }).phase).toBe('starting')
    // one hour behind, then ten seconds later 110 s of trades further: the lag shrinks 10 s per second
    expect(p.update({ at: T, symbols: { 'BTC-USDT': { id: 1_000, tsMs: T - 3_600_000 } }, subscribers: 0 }).line).toBe('backfill: 0 trades  0 ids/s  time left unknown')
    const b = p.update({ at: T + 10_000, symbols: { 'BTC-USDT': { id: 51_000, tsMs: T - 3_600_000 + 110_000 } }, subscribers: 0 })
    expect(b.phase).toBe('backfill')
    expect(b.trades).toBe(50_000)
    // lag now 3,500 s, shrinking 10 s a second: 350 s left
    expect(b.line).toBe(formatBackfill({ trades: 50_000, idsPerSec: 5_000, leftMs: 350_000 }))
    // caught up: the live rate leaves the backfill's pace out
    const c = p.update({ at: T + 20_000, symbols: { 'BTC-USDT': { id: 60_000, tsMs: T + 19_000 } }, subscribers: 1 })
    expect(c.line).toBe('live: 0.0 trades/s  lake lag 1.0 s  1 subscriber')
    expect(p.update({ at: T + 22_000, symbols: { 'BTC-USDT': { id: 60_010, tsMs: T + 21_000 } }, subscribers: 1 }).line).toBe('live: 5.0 trades/s  lake lag 1.0 s  1 subscriber')
    // caught up: the trade time moves at real time, a second behind
    const q = progress()
    q.update({ at: T, symbols: { 'BTC-USDT': { id: 10, tsMs: T - 1_000 } }, subscribers: 3 })
    const l = q.update({ at: T + 2_000, symbols: { 'BTC-USDT': { id: 30, tsMs: T + 1_000 } }, subscribers: 3 })
    expect(l).toEqual({ phase: 'live', line: 'live: 10.0 trades/s  lake lag 1.0 s  3 subscribers', trades: 20 })
  })

  it('keeps a log line that repeats, numbers aside, from showing again for ten minutes, and drops closed tabs', () => {
    let now = 0
    const show = noiseFilter({ now: () => now })
    expect(show('stream open: BTC-USDT, ETH-USDT')).toBe(true)
    now += 60_000
    expect(show('stream open: BTC-USDT, ETH-USDT')).toBe(false)
    expect(show('coingecko: 4 price(s) written to bronze/prices/x/20261206T052003855Z.parquet')).toBe(true)
    expect(show('coingecko: 4 price(s) written to bronze/prices/x/20261206T052033863Z.parquet')).toBe(false)
    expect(show('stream closed (1006); reconnecting in 500 ms')).toBe(true)
    expect(show('gateway: connection abc123: read ECONNRESET')).toBe(false)
    now += 10 * 60_000
    expect(show('stream open: BTC-USDT, ETH-USDT')).toBe(true)
  })

  it('on a TTY redraws the status line in place and prints log lines above it', () => {
    let out = ''
    const s = screen({ tty: true, write: (x) => { out += x } })
    s.status('live: 1.0 trades/s')
    s.log('stream open: BTC-USDT')
    s.status('live: 2.0 trades/s')
    s.end()
    expect(out).toBe('live: 1.0 trades/s\r\x1b[2K  stream open: BTC-USDT\nlive: 1.0 trades/s\r\x1b[2Klive: 2.0 trades/s\r\x1b[2K')
  })

  it('without a TTY prints plain lines and no control characters', () => {
    let out = ''
    const s = screen({ tty: false, write: (x) => { out += x } })
    s.status('live: 1.0 trades/s')
    s.log('stream open: BTC-USDT')
    s.end()
    expect(out).toBe('live: 1.0 trades/s\n  stream open: BTC-USDT\n')
  })
})
