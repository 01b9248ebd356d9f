import { createHash } from 'node:crypto'
import { strToU8, Zip, ZipDeflate, zipSync } from 'fflate'
import { describe, expect, it } from 'vitest'
import type { Trade } from '../../market/index'
import {
  csvTrades, detectTimeUnit, parseArchiveName, parseCsvLine, unzipCsv, verifyChecksum,
  type ArchiveContext, type ArchiveKind, type CsvBatch,
} from './index'

const ctx: ArchiveContext = { exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', ingestTs: 1_700_000_000_000_000, source: 'archive' }
const MS = Date.UTC(2024, 11, 31, 23, 59, 59, 123)
const US = Date.UTC(2025, 0, 1, 0, 0, 1) * 1000 + 456

/** Yields the text in chunks of `size` bytes (so lines and even characters split across chunks). */
async function* chunked(text: string | Uint8Array, size: number) {
  const bytes = typeof text === 'string' ? strToU8(text) : text
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size)
}

async function collect(gen: AsyncIterable<CsvBatch>) {
  const trades: Trade[] = []
  const errors: CsvBatch['errors'] = []
  for await (const b of gen) { trades.push(...b.trades); errors.push(...b.errors) }
  return { trades, errors }
}

const tradesCsv = [
  `1000,96000.50000000,0.00100000,96.00050000,${MS},True,True`,
  `1001,96001.00000000,0.25000000,24000.25000000,${US},False,True`,
]
const aggCsv = [
  `500,96000.5,0.5,1000,1002,${MS},false,True`,
  `501,96001.0,0.25,1003,1003,${US},True,True`,
]

describe('archive names', () => {
  it('reads symbol, kind and date from daily and monthly trades and aggTrades names, with or without .zip or .csv', () => {
    expect(parseArchiveName('BTCUSDT-trades-2025-01-01.zip')).toEqual({ nativeSymbol: 'BTCUSDT', kind: 'trades', date: '2025-01-01', period: 'daily', base: 'BTCUSDT-trades-2025-01-01' })
    expect(parseArchiveName('/data/spot/monthly/aggTrades/ETHBTC/ETHBTC-aggTrades-2024-12.zip')).toMatchObject({ nativeSymbol: 'ETHBTC', kind: 'aggTrades', date: '2024-12', period: 'monthly' })
    expect(parseArchiveName('BTCUSDT-aggTrades-2025-01-01')).toMatchObject({ kind: 'aggTrades', date: '2025-01-01', base: 'BTCUSDT-aggTrades-2025-01-01' })
    expect(parseArchiveName('1000SHIBUSDT-trades-2025-02.csv')).toMatchObject({ nativeSymbol: '1000SHIBUSDT', kind: 'trades', period: 'monthly' })
  })

  it('is undefined for names that are not trade archives, checksum files or impossible dates', () => {
    for (const n of ['BTCUSDT-1m-2025-01-01.zip', 'BTCUSDT-trades-2025-01-01.zip.CHECKSUM', 'BTCUSDT-trades-2025-13.zip', 'BTCUSDT-trades-2025-02-30.zip', 'trades.csv', '']) {
      expect(parseArchiveName(n), n).toBeUndefined()
    }
  })
})

describe('archive rows', () => {
  it('tells milliseconds from microseconds by magnitude', () => {
    expect(detectTimeUnit(MS)).toBe('ms')
    expect(detectTimeUnit(US)).toBe('us')
  })

  it('turns a trades row into one trade whose taker sold when the buyer was the maker', () => {
    expect(parseCsvLine(tradesCsv[0], 'trades', ctx)).toEqual({
      exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', trade_id: 1000, first_trade_id: 1000, last_trade_id: 1000,
      ts: MS * 1000, price: 96000.5, qty: 0.001, side: 'sell', trades: 1, ingest_ts: ctx.ingestTs, source: 'archive',
    })
    expect(parseCsvLine(tradesCsv[1], 'trades', ctx)).toMatchObject({ ts: US, side: 'buy', trades: 1 })
  })

  it('turns an aggTrades row into a record covering first..last trade ids, with or without is_best_match (futures)', () => {
    expect(parseCsvLine(aggCsv[0], 'aggTrades', ctx)).toMatchObject({ trade_id: 500, first_trade_id: 1000, last_trade_id: 1002, trades: 3, ts: MS * 1000, side: 'buy', price: 96000.5, qty: 0.5 })
    expect(parseCsvLine(`501,96001.0,0.25,1003,1003,${MS},true`, 'aggTrades', ctx)).toMatchObject({ trade_id: 501, trades: 1, side: 'sell' })
  })

  it('names what is wrong with a bad row instead of throwing', () => {
    const bad: [string, ArchiveKind, RegExp][] = [
      ['1000,abc,0.1,1,1735689600000,True,True', 'trades', /price/],
      ['1000,1,0.1,1,1735689600000', 'trades', /fields/],
      ['1000,1,0,1,1735689600000,True,True', 'trades', /qty is not positive/],
      ['1000,1,0.1,1,17356896,True,True', 'trades', /time/],
      ['1000,1,0.1,1,1735689600000,maybe,True', 'trades', /is_buyer_maker/],
      [`1,1,1,5,4,${MS},true,true`, 'aggTrades', /below/],
    ]
    for (const [line, kind, reason] of bad) expect((parseCsvLine(line, kind, ctx) as { error: string }).error, line).toMatch(reason)
  })
})

describe('archive CSV stream', () => {
  it('reads a file without a header and one with a header, with ms and µs times, the same way', async () => {
    const plain = await collect(csvTrades(chunked(tradesCsv.join('\n') + '\n', 1 << 16), 'trades', ctx))
    const headed = await collect(csvTrades(chunked(['id,price,qty,quote_qty,time,is_buyer_maker,is_best_match', ...tradesCsv].join('\n'), 1 << 16), 'trades', ctx))
    expect(plain.errors).toEqual([])
    expect(headed).toEqual(plain)
    expect(plain.trades.map((t) => t.ts)).toEqual([MS * 1000, US])
  })

  it('takes CRLF line ends, a last line without newline and lines split across chunks at every point', async () => {
    const text = ['agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker', ...aggCsv].join('\r\n')
    const whole = await collect(csvTrades(chunked(text, 1 << 16), 'aggTrades', ctx))
    expect(whole.trades.map((t) => t.trade_id)).toEqual([500, 501])
    for (const size of [1, 2, 3, 7, 13]) expect(await collect(csvTrades(chunked(text, size), 'aggTrades', ctx)), `chunks of ${size}`).toEqual(whole)
  })

  it('reports a malformed row with its line number and goes on', async () => {
    const text = [tradesCsv[0], '1002,96000,0.1,9600,not-a-time,True,True', '', tradesCsv[1]].join('\n')
    const { trades, errors } = await collect(csvTrades(chunked(text, 5), 'trades', ctx))
    expect(trades.map((t) => t.trade_id)).toEqual([1000, 1001])
    expect(errors).toEqual([{ line: 2, reason: expect.stringMatching(/time/), text: '1002,96000,0.1,9600,not-a-time,True,True' }])
  })

  it('yields batches of about batchRows trades', async () => {
    const lines = Array.from({ length: 25 }, (_, i) => `${i},1,1,1,${MS + i},False,True`).join('\n')
    const sizes: number[] = []
    for await (const b of csvTrades(chunked(lines, 64), 'trades', ctx, { batchRows: 10 })) sizes.push(b.trades.length)
    expect(sizes.reduce((a, b) => a + b)).toBe(25)
    expect(Math.max(...sizes)).toBeLessThan(20)
  })

  it('refuses a header that does not fit the kind (an aggTrades file read as trades)', async () => {
    const text = 'agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker,is_best_match,extra\n' + aggCsv[0]
    await expect(collect(csvTrades(chunked(text, 100), 'trades', ctx))).rejects.toThrow(/is this a trades file/)
  })
})

describe('archive ZIP and checksum', () => {
  it('streams the CSV out of a ZIP fed in small chunks', async () => {
    const csv = tradesCsv.join('\n')
    const zip = zipSync({ 'BTCUSDT-trades-2025-01-01.csv': strToU8(csv) })
    const out: Uint8Array[] = []
    for await (const c of unzipCsv(chunked(zip, 17))) out.push(c)
    expect(Buffer.concat(out).toString()).toBe(csv)
  })

  it('reads a ZIP written as a stream (sizes after the data) and skips entries that are not the CSV', async () => {
    const csv = tradesCsv.join('\n').repeat(20)
    const parts: Uint8Array[] = []
    const zip = new Zip((err, data) => { if (err) throw err; parts.push(data) })
    for (const [name, text] of [['README.txt', 'not data'], ['BTCUSDT-trades-2025-01-01.csv', csv]]) {
      const entry = new ZipDeflate(name)
      zip.add(entry)
      entry.push(strToU8(text), true)
    }
    zip.end()
    const seen: [string, boolean][] = []
    const out: Uint8Array[] = []
    for await (const c of unzipCsv(chunked(Buffer.concat(parts), 50), (name, used) => seen.push([name, used]))) out.push(c)
    expect(Buffer.concat(out).toString()).toBe(csv)
    expect(seen).toEqual([['README.txt', false], ['BTCUSDT-trades-2025-01-01.csv', true]])
  })

  it('refuses a truncated ZIP', async () => {
    const zip = zipSync({ 'a.csv': strToU8(tradesCsv.join('\n').repeat(50)) }, { level: 0 })
    await expect((async () => { for await (const _ of unzipCsv(chunked(zip.subarray(0, zip.length / 2), 64))); })()).rejects.toThrow(/corrupt or truncated|ends before/)
  })

  it('accepts bytes matching their CHECKSUM file and names the mismatch otherwise', () => {
    const bytes = strToU8('hello')
    const sha = createHash('sha256').update(bytes).digest('hex')
    expect(verifyChecksum(bytes, `${sha}  BTCUSDT-trades-2025-01-01.zip\n`)).toEqual({ ok: true, sha256: sha })
    expect(verifyChecksum(strToU8('hellO'), `${sha}  BTCUSDT-trades-2025-01-01.zip`)).toMatchObject({ ok: false, reason: expect.stringMatching(/mismatch for BTCUSDT-trades-2025-01-01.zip/) })
    expect(verifyChecksum(bytes, 'not a checksum')).toMatchObject({ ok: false })
  })
})
