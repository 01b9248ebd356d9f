import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { parseCapture } from '../capture/index'
import { HttpError } from '../http/index'
import type { Trade } from '../../market/index'
import {
  coinbaseExchangeVenue, coinbaseVenue, defaults, isoToMicros, parseAdvancedFrame, parseExchangeFrame, sequenceTracker, subscribeMessages, tradesBefore, tradesFrom,
  type CoinbaseContext,
} from './index'

const DATA = join(__dirname, '../../../../../../shared/data')
const ADVANCED = join(DATA, 'coinbase/57d5f18d6098/COINBASE.jsonl.zst')
const EXCHANGE = join(DATA, 'coinbase/be4e5c81354b/COINBASE.ws.28.0')
const haveData = existsSync(ADVANCED) && existsSync(EXCHANGE)
if (!haveData) console.warn(`skipping Coinbase recording tests: ${DATA}/coinbase is absent (it holds the shared exchange recordings)`)

const ctx: CoinbaseContext = { ingestTs: 1, source: 'replay' }
/** Received WebSocket frames of a recording, in order. */
const frames = (file: string) => parseCapture(readFileSync(file)).filter((m) => m.kind === 'ws').map((m) => m.data)
/** Epoch µs of an ISO time, computed apart from the parser: whole seconds by Date.parse, then the first 6 fraction digits. */
const micros = (iso: string) => {
  const [whole, frac = ''] = iso.replace(/Z$/, '').split('.')
  return Date.parse(`${whole}Z`) * 1000 + Number(frac.padEnd(6, '0').slice(0, 6))
}
const opposite = (side: string) => (side.toLowerCase() === 'buy' ? 'sell' : 'buy')

describe('coinbase advanced trade subscription', () => {
  it('sends one subscribe message per channel, market_trades, ticker and heartbeats by default', () => {
    const msgs = subscribeMessages(['BTC-USD', 'ETH-USD']).map((m) => JSON.parse(m))
    expect(msgs).toEqual(['market_trades', 'ticker', 'heartbeats'].map((channel) => ({ type: 'subscribe', product_ids: ['BTC-USD', 'ETH-USD'], channel })))
    expect(subscribeMessages(['BTC-USD'], ['level2'])).toEqual(['{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}'])
    expect(defaults.wsUrl).toBe('wss://advanced-trade-ws.coinbase.com')
    expect(defaults.restUrl).toBe('https://api.exchange.coinbase.com')
  })
})

describe('coinbase advanced trade market_trades', () => {
  it.skipIf(!haveData)('parses all 59 market_trades frames of the recording into its 279 trades, each field checked against the raw JSON', () => {
    let nFrames = 0
    let nTrades = 0
    let nSnapshot = 0
    for (const data of frames(ADVANCED)) {
      const msg = JSON.parse(data)
      if (msg.channel !== 'market_trades') continue
      const r = parseAdvancedFrame(data, ctx)
      expect(r.kind, data.slice(0, 160)).toBe('trades')
      if (r.kind !== 'trades') continue
      nFrames++
      expect(r.sequence).toBe(msg.sequence_num)
      const raws = msg.events.flatMap((e: any) => e.trades)
      expect(r.trades.length).toBe(raws.length)
      expect(r.snapshot).toBe(msg.events.some((e: any) => e.type === 'snapshot'))
      if (r.snapshot) nSnapshot += r.trades.length
      expect(r.trades.map((t) => t.trade_id)).toEqual(raws.map((t: any) => Number(t.trade_id)).sort((a: number, b: number) => a - b))
      const byId = new Map<number, Trade>(r.trades.map((t) => [t.trade_id, t]))
      for (const raw of raws) {
        const t = byId.get(Number(raw.trade_id))!
        expect(t).toEqual({
          exchange: 'coinbase', symbol: raw.product_id, native_symbol: raw.product_id,
          trade_id: Number(raw.trade_id), first_trade_id: Number(raw.trade_id), last_trade_id: Number(raw.trade_id),
          ts: micros(raw.time), price: parseFloat(raw.price), qty: parseFloat(raw.size),
          side: raw.side === 'SELL' ? 'buy' : 'sell', trades: 1, ingest_ts: 1, source: 'replay',
        })
        nTrades++
      }
    }
    expect([nFrames, nTrades]).toEqual([59, 279])
    expect(nSnapshot).toBeGreaterThan(0) // the history sent on subscribe (2 snapshot frames, one per product)
  })

  it.skipIf(!haveData)('reports market_trades side as the maker side: trades printed at the best ask say SELL, at the best bid BUY', () => {
    // Replays the recording's own level2 book: a trade at or above the best ask was a taker BUY lifting a resting sell.
    const books = new Map<string, { bid: Map<string, number>; ask: Map<string, number> }>()
    const tally = { atAsk: { BUY: 0, SELL: 0 } as Record<string, number>, atBid: { BUY: 0, SELL: 0 } as Record<string, number> }
    for (const data of frames(ADVANCED)) {
      const msg = JSON.parse(data)
      if (msg.channel === 'l2_data') {
        for (const e of msg.events) {
          const book = books.get(e.product_id) ?? { bid: new Map(), ask: new Map() }
          books.set(e.product_id, book)
          if (e.type === 'snapshot') { book.bid.clear(); book.ask.clear() }
          for (const u of e.updates) {
            const side = u.side === 'bid' ? book.bid : book.ask
            if (Number(u.new_quantity) === 0) side.delete(u.price_level); else side.set(u.price_level, Number(u.new_quantity))
          }
        }
      }
      if (msg.channel !== 'market_trades' || msg.events[0].type !== 'update') continue
      for (const t of msg.events[0].trades) {
        const book = books.get(t.product_id)
        if (!book?.bid.size || !book.ask.size) continue
        const bestBid = Math.max(...[...book.bid.keys()].map(Number))
        const bestAsk = Math.min(...[...book.ask.keys()].map(Number))
        if (Number(t.price) >= bestAsk) tally.atAsk[t.side]++
        else if (Number(t.price) <= bestBid) tally.atBid[t.side]++
      }
    }
    expect(tally.atAsk.SELL).toBeGreaterThan(20)
    expect(tally.atBid.BUY).toBeGreaterThan(10)
    expect([tally.atAsk.BUY, tally.atBid.SELL]).toEqual([0, 0])
  })

  it.skipIf(!haveData)('ignores the other channels of the recording, with their sequence numbers, and finds no error', () => {
    const results = frames(ADVANCED).map((d) => parseAdvancedFrame(d, ctx))
    expect(results.filter((r) => r.kind === 'error')).toEqual([])
    const ignored = results.filter((r) => r.kind === 'ignored')
    expect(ignored.length).toBe(results.length - 59)
    expect(new Set(ignored.map((r) => r.kind === 'ignored' && r.channel))).toEqual(new Set(['subscriptions', 'candles', 'ticker', 'l2_data', 'heartbeats']))
    expect(ignored.every((r) => r.kind === 'ignored' && typeof r.sequence === 'number')).toBe(true)
  })

  it.skipIf(!haveData)('finds no sequence gap in the recording: one connection numbered 0 to 1029 without a hole', () => {
    const tracker = sequenceTracker({ first: 0 })
    const seqs = frames(ADVANCED).map((d) => JSON.parse(d).sequence_num as number)
    const checks = seqs.map((s) => tracker.check(s))
    expect(checks.filter((c) => c.gap || c.duplicate)).toEqual([])
    expect([seqs.length, seqs[0], tracker.last]).toEqual([1030, 0, 1029])
  })

  it.skipIf(!haveData)('sees consecutive trade ids per product across the recording (no trade lost between frames)', () => {
    const ids = new Map<string, number[]>()
    for (const r of frames(ADVANCED).map((d) => parseAdvancedFrame(d, ctx))) {
      if (r.kind === 'trades') for (const t of r.trades) ids.set(t.symbol, [...(ids.get(t.symbol) ?? []), t.trade_id])
    }
    expect([...ids.keys()].sort()).toEqual(['BTC-USD', 'ETH-USD'])
    for (const list of ids.values()) {
      const sorted = [...new Set(list)].sort((a, b) => a - b)
      expect(sorted.length).toBe(list.length)
      expect(sorted[sorted.length - 1] - sorted[0] + 1).toBe(sorted.length)
    }
  })

  it('keeps microseconds of a 9-digit time and returns every trade of a frame, oldest first', () => {
    const frame = JSON.stringify({
      channel: 'market_trades', sequence_num: 7, events: [{ type: 'update', trades: [
        { trade_id: '11', product_id: 'BTC-USD', price: '100.5', size: '0.25', side: 'BUY', time: '2026-08-09T21:05:48.123456789Z' },
        { trade_id: '10', product_id: 'BTC-USD', price: '100.4', size: '1', side: 'SELL', time: '2026-08-09T21:05:48.1Z' },
      ] }],
    })
    const r = parseAdvancedFrame(frame, ctx)
    expect(r).toMatchObject({ kind: 'trades', sequence: 7, snapshot: false })
    if (r.kind !== 'trades') return
    expect(r.trades.map((t) => [t.trade_id, t.side, t.ts])).toEqual([
      [10, 'buy', Date.UTC(2026, 7, 9, 21, 5, 48) * 1000 + 100_000],
      [11, 'sell', Date.UTC(2026, 7, 9, 21, 5, 48) * 1000 + 123_456],
    ])
  })

  it('skips products the resolver does not know, and calls a frame with none left ignored', () => {
    const frame = '{"channel":"market_trades","sequence_num":3,"events":[{"type":"update","trades":[{"trade_id":"1","product_id":"ETH-USD","price":"1","size":"1","side":"BUY","time":"2026-08-09T21:05:48Z"}]}]}'
    expect(parseAdvancedFrame(frame, { ...ctx, resolve: (p) => (p === 'BTC-USD' ? p : undefined) })).toEqual({ kind: 'ignored', channel: 'market_trades', sequence: 3 })
  })
})

describe('coinbase sequence tracker', () => {
  it('reports a jump as a gap with the number that was due, and a repeat as a duplicate', () => {
    const t = sequenceTracker()
    expect(t.check(5)).toEqual({ gap: false })
    expect(t.check(6)).toEqual({ gap: false })
    expect(t.check(9)).toEqual({ gap: true, expected: 7 })
    expect(t.check(10)).toEqual({ gap: false })
    expect(t.check(8)).toEqual({ gap: false, duplicate: true })
    expect(t.last).toBe(10)
  })

  it('catches a loss at the start of a connection when told the first number, and starts afresh after reset', () => {
    const t = sequenceTracker({ first: 0 })
    expect(t.check(2)).toEqual({ gap: true, expected: 0 })
    t.reset()
    expect(t.check(0)).toEqual({ gap: false })
    expect(t.check(1)).toEqual({ gap: false })
  })
})

describe('coinbase exchange ws-feed', () => {
  it.skipIf(!haveData)('parses all 97 match and 10 last_match frames of the recording, each field checked against the raw JSON', () => {
    const count = { match: 0, last_match: 0 } as Record<string, number>
    for (const data of frames(EXCHANGE)) {
      const raw = JSON.parse(data)
      if (raw.type !== 'match' && raw.type !== 'last_match') continue
      const r = parseExchangeFrame(data, ctx)
      expect(r.kind, data.slice(0, 160)).toBe('trades')
      if (r.kind !== 'trades') continue
      expect(r.snapshot).toBe(raw.type === 'last_match')
      expect(r.sequence).toBe(raw.sequence)
      expect(r.trades).toEqual([{
        exchange: 'coinbase', symbol: raw.product_id, native_symbol: raw.product_id,
        trade_id: raw.trade_id, first_trade_id: raw.trade_id, last_trade_id: raw.trade_id,
        ts: micros(raw.time), price: parseFloat(raw.price), qty: parseFloat(raw.size),
        side: opposite(raw.side), trades: 1, ingest_ts: 1, source: 'replay',
      }])
      count[raw.type]++
    }
    expect(count).toEqual({ match: 97, last_match: 10 })
  })

  it.skipIf(!haveData)('gives each match the taker side that the ticker of the same trade id names', () => {
    const results = frames(EXCHANGE).map((d) => [JSON.parse(d), parseExchangeFrame(d, ctx)] as const)
    const taker = new Map<string, string>()
    for (const [, r] of results) if (r.kind === 'trades') taker.set(`${r.trades[0].symbol}:${r.trades[0].trade_id}`, r.trades[0].side)
    const tickers = results.map(([raw]) => raw).filter((raw) => raw.type === 'ticker')
    expect(tickers.length).toBe(107)
    for (const t of tickers) expect(taker.get(`${t.product_id}:${t.trade_id}`), JSON.stringify(t)).toBe(t.side)
  })

  it.skipIf(!haveData)('ignores the other message types of the recording without calling them errors', () => {
    const results = frames(EXCHANGE).map((d) => parseExchangeFrame(d, ctx))
    expect(results.filter((r) => r.kind === 'error')).toEqual([])
    expect(results.filter((r) => r.kind === 'ignored').length).toBe(results.length - 107)
  })
})

describe('coinbase malformed frames', () => {
  const good = { trade_id: '1', product_id: 'BTC-USD', price: '100.5', size: '0.1', side: 'BUY', time: '2026-08-09T21:05:48.5Z' }
  const advanced = (trade: object, extra: object = {}) => JSON.stringify({ channel: 'market_trades', sequence_num: 1, events: [{ type: 'update', trades: [trade] }], ...extra })
  const exchange = (fields: object) => JSON.stringify({ type: 'match', trade_id: 1, product_id: 'BTC-USD', price: '1', size: '1', side: 'buy', time: '2021-04-17T16:43:37.089723Z', sequence: 5, ...fields })
  const huge = '9'.repeat(1_000_000)

  it('gives a reason, never a throw, for broken Advanced Trade frames', () => {
    const bad = ['', 'not json', 'null', '[]', '42', '"s"', '{}', '{"channel":7}', '{"type":"error","message":"failure to subscribe"}',
      '{"channel":"market_trades","events":[]}', '{"channel":"market_trades","sequence_num":-1,"events":[]}',
      '{"channel":"market_trades","sequence_num":1,"events":{}}', '{"channel":"market_trades","sequence_num":1,"events":[null]}',
      '{"channel":"market_trades","sequence_num":1,"events":[{"type":"update"}]}',
      advanced({ ...good, price: undefined }), advanced({ ...good, size: undefined }), advanced({ ...good, time: undefined }),
      advanced({ ...good, side: undefined }), advanced({ ...good, product_id: undefined }), advanced({ ...good, trade_id: undefined }),
      advanced({ ...good, price: '-1' }), advanced({ ...good, price: 'NaN' }), advanced({ ...good, price: '0' }), advanced({ ...good, price: 1 }),
      advanced({ ...good, price: '1e5' }), advanced({ ...good, size: '-0.1' }), advanced({ ...good, size: 'Infinity' }),
      advanced({ ...good, side: 'BOTH' }), advanced({ ...good, trade_id: '-3' }), advanced({ ...good, trade_id: '12345678901234567' }),
      advanced({ ...good, trade_id: 'abc' }), advanced({ ...good, time: '2026-02-30T00:00:00Z' }), advanced({ ...good, time: 'yesterday' }),
      advanced({ ...good, time: 1786309548 }), advanced({ ...good, price: huge }), advanced({ ...good, trade_id: huge }),
      advanced({ ...good, product_id: 'A'.repeat(100_000) }), advanced({ ...good, time: `2026-08-09T21:05:48.${huge}Z` }),
      advanced({ ...good, side: 'B'.repeat(100_000) }), advanced(null as any), advanced([] as any)]
    for (const raw of bad) {
      let r: ReturnType<typeof parseAdvancedFrame> | undefined
      expect(() => { r = parseAdvancedFrame(raw, ctx) }, raw.slice(0, 100)).not.toThrow()
      expect(r!.kind, raw.slice(0, 100)).toBe('error')
      if (r!.kind === 'error') expect(r!.reason.length).toBeGreaterThan(5)
    }
    expect(parseAdvancedFrame(advanced(good), ctx).kind).toBe('trades')
  })

  it('calls a whole frame an error when one of its trades is bad, naming the trade', () => {
    const frame = JSON.stringify({ channel: 'market_trades', sequence_num: 1, events: [{ type: 'update', trades: [good, { ...good, trade_id: '2', price: '-5' }] }] })
    expect(parseAdvancedFrame(frame, ctx)).toEqual({ kind: 'error', reason: 'events[0].trades[1]: price is not a positive decimal string' })
  })

  it('gives a reason, never a throw, for broken Exchange ws-feed frames', () => {
    const bad = ['', '{', 'null', '[]', '{"no":"type"}', '{"type":"error","message":"Failed to subscribe","reason":"BAD-PAIR is not a valid product"}',
      exchange({ sequence: undefined }), exchange({ trade_id: -1 }), exchange({ trade_id: 1.5 }), exchange({ trade_id: '1'.repeat(50) }),
      exchange({ price: '-1' }), exchange({ price: 'NaN' }), exchange({ price: null }), exchange({ size: undefined }), exchange({ side: 'up' }),
      exchange({ time: '2021-13-01T00:00:00Z' }), exchange({ product_id: 42 }), exchange({ price: huge }), exchange({ product_id: 'x'.repeat(1e5) })]
    for (const raw of bad) {
      let r: ReturnType<typeof parseExchangeFrame> | undefined
      expect(() => { r = parseExchangeFrame(raw, ctx) }, raw.slice(0, 100)).not.toThrow()
      expect(r!.kind, raw.slice(0, 100)).toBe('error')
    }
    expect(parseExchangeFrame(exchange({}), ctx).kind).toBe('trades')
  })

  it('never throws on any cut of a real frame', () => {
    const frame = advanced(good)
    for (let i = 0; i <= frame.length; i++) {
      expect(() => parseAdvancedFrame(frame.slice(0, i), ctx)).not.toThrow()
      expect(() => parseExchangeFrame(exchange({}).slice(0, i), ctx)).not.toThrow()
    }
  })
})

describe('coinbase ISO times', () => {
  it('turns ISO times into epoch microseconds, dropping digits past the microsecond', () => {
    const s = Date.UTC(2026, 7, 9, 21, 5, 42) * 1000
    expect(isoToMicros('2026-08-09T21:05:42.514318Z')).toBe(s + 514_318)
    expect(isoToMicros('2026-08-09T21:05:42.514318999Z')).toBe(s + 514_318)
    expect(isoToMicros('2026-08-09T21:05:42.5Z')).toBe(s + 500_000)
    expect(isoToMicros('2026-08-09T21:05:42Z')).toBe(s)
    expect(isoToMicros('2026-08-09T23:05:42.000001+02:00')).toBe(s + 1)
    for (const bad of ['2026-08-09', '2026-08-09T21:05:42', '2026-08-09T24:00:00Z', '2026-02-29T00:00:00Z', 123, null, '2026-08-09T21:05:42.1234567890Z']) {
      expect(isoToMicros(bad), String(bad)).toBeUndefined()
    }
  })

  it('reads the fraction of a second it saw last as exactly as a new second, and still refuses a bad one', () => {
    // the fast path keeps the last whole second: every tail after it must give what a cold parse gives
    fc.assert(fc.property(fc.integer({ min: 0, max: 4_000_000_000_000 }), fc.integer({ min: 0, max: 9 }), fc.stringMatching(/^[0-9a.]{0,11}$/), (ms, digits, junk) => {
      const whole = new Date(ms).toISOString().slice(0, 19)
      const frac = String(ms % 1000).padStart(3, '0') + '372918'.slice(0, Math.max(0, digits - 3))
      const good = `${whole}${digits ? `.${frac.slice(0, digits)}` : ''}Z`
      const expected = Math.floor(ms / 1000) * 1_000_000 + (digits ? Number(frac.slice(0, digits).padEnd(6, '0').slice(0, 6)) : 0)
      isoToMicros(`${whole}Z`) // warm
      expect(isoToMicros(good)).toBe(expected)
      expect(isoToMicros(`${whole}${junk}Z`)).toBe(/^(\.\d{1,9})?$/.test(junk) ? Math.floor(ms / 1000) * 1_000_000 + Number(junk.slice(1).padEnd(6, '0').slice(0, 6)) : undefined)
    }), { numRuns: 2_000 })
  })
})

describe('coinbase REST backfill', () => {
  /** A fake Exchange API holding trades 1..newest of BTC-USD: newest first, `after=X` gives older ids (exclusive unless told), CB-AFTER = oldest id of the page. */
  function fakeExchange(newest: number, opts: { inclusive?: boolean; status?: number; mangle?: (rows: any[]) => void } = {}) {
    const urls: string[] = []
    const fetchImpl = (async (input: string | URL | Request) => {
      const url = new URL(String(input))
      urls.push(url.pathname + url.search)
      if (opts.status) return new Response(JSON.stringify({ message: 'slow down' }), { status: opts.status, headers: { 'retry-after': '2' } })
      const limit = Number(url.searchParams.get('limit'))
      const after = url.searchParams.get('after')
      const top = after === null ? newest : Number(after) - (opts.inclusive ? 0 : 1)
      const rows = []
      for (let id = top; id >= 1 && rows.length < limit; id--) {
        rows.push({ time: new Date(Date.UTC(2026, 0, 1) + id * 1000).toISOString(), trade_id: id, price: `${100 + id / 100}`, size: '0.5', side: id % 2 ? 'buy' : 'sell' })
      }
      opts.mangle?.(rows)
      const headers: Record<string, string> = { 'content-type': 'application/json' }
      if (rows.length) headers['cb-after'] = String(rows[rows.length - 1].trade_id)
      return new Response(JSON.stringify(rows), { headers })
    }) as typeof fetch
    return { fetchImpl, urls }
  }
  const quick = { pageDelayMs: 0, ingestTs: 5 }

  it('walks CB-AFTER back from the newest page to the checkpoint and returns the newer trades oldest first', async () => {
    const { fetchImpl, urls } = fakeExchange(2500)
    const trades = await tradesBefore('https://x', 'BTC-USD', 1234, fetchImpl, quick)
    expect(urls).toEqual(['/products/BTC-USD/trades?limit=1000', '/products/BTC-USD/trades?limit=1000&after=1501'])
    expect(trades.map((t) => t.trade_id)).toEqual(Array.from({ length: 2500 - 1234 }, (_, i) => 1235 + i))
    expect(trades[0]).toEqual({
      exchange: 'coinbase', symbol: 'BTC-USD', native_symbol: 'BTC-USD', trade_id: 1235, first_trade_id: 1235, last_trade_id: 1235,
      ts: (Date.UTC(2026, 0, 1) + 1235 * 1000) * 1000, price: 112.35, qty: 0.5, side: 'sell', trades: 1, ingest_ts: 5, source: 'rest',
    })
  })

  it('yields no duplicate when the cursor turns out to be inclusive', async () => {
    const { fetchImpl } = fakeExchange(2500, { inclusive: true })
    const trades = await tradesBefore('https://x', 'BTC-USD', 100, fetchImpl, quick)
    expect(trades.map((t) => t.trade_id)).toEqual(Array.from({ length: 2400 }, (_, i) => 101 + i))
  })

  it('asks once and returns nothing when the checkpoint is the newest trade', async () => {
    const { fetchImpl, urls } = fakeExchange(2500)
    expect(await tradesBefore('https://x', 'BTC-USD', 2500, fetchImpl, quick)).toEqual([])
    expect(urls.length).toBe(1)
  })

  it('stops at the start of the history when the checkpoint lies before it', async () => {
    const { fetchImpl, urls } = fakeExchange(2100)
    const trades = await tradesBefore('https://x', 'BTC-USD', -1, fetchImpl, quick)
    expect(trades.length).toBe(2100)
    expect(urls.length).toBe(4) // 2100..1101, 1100..101, 100..1, then an empty page
  })

  it('refuses, rather than leave a hole, when the checkpoint is more pages back than allowed', async () => {
    const { fetchImpl, urls } = fakeExchange(10_000)
    await expect(tradesBefore('https://x', 'BTC-USD', 10, fetchImpl, { ...quick, maxPages: 3 })).rejects.toThrow(/more than 3 REST pages back/)
    expect(urls.length).toBe(3)
  })

  it('throws an HttpError carrying the wait after HTTP 429, and on a malformed row', async () => {
    const err = await tradesBefore('https://x', 'BTC-USD', 1, fakeExchange(10, { status: 429 }).fetchImpl, quick).catch((e) => e)
    expect(err).toBeInstanceOf(HttpError)
    expect([err.status, err.retryAfterMs]).toEqual([429, 2000])
    const bad = fakeExchange(10, { mangle: (rows) => { rows[3].price = '-1' } })
    await expect(tradesBefore('https://x', 'BTC-USD', 1, bad.fetchImpl, quick)).rejects.toThrow(/row 3: price/)
  })

  it('fills an id range oldest first from after cursors, exclusive or inclusive, with no hole and no repeat', async () => {
    for (const inclusive of [false, true]) {
      const { fetchImpl, urls } = fakeExchange(5000, { inclusive })
      const pages: number[][] = []
      // a host of its own: the 429 test above rightly holds https://x back for its Retry-After
      for await (const page of tradesFrom('https://another-host', 'BTC-USD', 1200, 3300, fetchImpl, quick)) pages.push(page.map((t) => t.trade_id))
      expect(pages.flat()).toEqual(Array.from({ length: 2101 }, (_, i) => 1200 + i))
      expect(urls[0]).toBe('/products/BTC-USD/trades?limit=1000&after=2199')
    }
  })

  it('stops waiting out a 429 as soon as its signal aborts (a run\'s deadline), asking no more', async () => {
    const { fetchImpl, urls } = fakeExchange(10, { status: 429 })
    const deadline = new AbortController()
    const walk = (async () => { for await (const _ of tradesFrom('https://limited-host', 'BTC-USD', 1, 5, fetchImpl, { ...quick, signal: deadline.signal })) { /* none */ } })()
    const outcome = walk.then(() => 'done', (e) => e)
    await new Promise((r) => setTimeout(r, 100))
    const asked = urls.length
    const t0 = Date.now()
    deadline.abort(new Error('budget ends'))
    expect(await outcome).toMatchObject({ message: 'budget ends' })
    expect(Date.now() - t0).toBeLessThan(500) // not the 2 s Retry-After
    expect(asked).toBe(1)
    expect(urls.length).toBe(1)
  })

  it('fills up to the newest trade when the range is open, asking the newest page first', async () => {
    const { fetchImpl, urls } = fakeExchange(2500)
    const ids: number[] = []
    for await (const page of tradesFrom('https://other-host', 'BTC-USD', 1000, Infinity, fetchImpl, quick)) ids.push(...page.map((t) => t.trade_id))
    expect(ids).toEqual(Array.from({ length: 1501 }, (_, i) => 1000 + i))
    expect(urls).toEqual(['/products/BTC-USD/trades?limit=1000', '/products/BTC-USD/trades?limit=1000&after=1999', '/products/BTC-USD/trades?limit=1000&after=2501'])
  })
})

describe('coinbase ticker quotes and venue', () => {
  it.skipIf(!haveData)('turns every ticker frame of the recording into best bid/ask quotes when asked, and ignores them otherwise', () => {
    let n = 0
    for (const data of frames(ADVANCED)) {
      const msg = JSON.parse(data)
      if (msg.channel !== 'ticker') continue
      expect(parseAdvancedFrame(data, ctx).kind).toBe('ignored')
      const r = parseAdvancedFrame(data, { ...ctx, quotes: true })
      expect(r.kind).toBe('quotes')
      if (r.kind !== 'quotes') continue
      const raws = msg.events.flatMap((e: any) => e.tickers)
      expect(r.quotes).toEqual(raws.map((t: any) => ({
        exchange: 'coinbase', symbol: t.product_id, native_symbol: t.product_id, update_id: msg.sequence_num, ts: micros(msg.timestamp),
        bid: parseFloat(t.best_bid), bid_qty: parseFloat(t.best_bid_quantity), ask: parseFloat(t.best_ask), ask_qty: parseFloat(t.best_ask_quantity), ingest_ts: 1, source: 'replay',
      })))
      n++
    }
    expect(n).toBe(160)
  })

  it('gives a reason, never a throw, for a ticker with a broken best bid', () => {
    const frame = JSON.stringify({ channel: 'ticker', sequence_num: 3, timestamp: '2026-08-09T21:05:48.2Z', events: [{ type: 'update', tickers: [{ product_id: 'BTC-USD', best_bid: 'x', best_ask: '1', best_bid_quantity: '1', best_ask_quantity: '1' }] }] })
    expect(parseAdvancedFrame(frame, { ...ctx, quotes: true })).toEqual({ kind: 'error', reason: 'events[0]: ticker of BTC-USD has a best bid/ask that is not a decimal string' })
  })

  it('subscribes to market_trades and heartbeats (ticker with quotes), numbers frames per connection, and keeps only configured products', () => {
    const v = coinbaseVenue({ restUrl: 'https://x', wsUrl: 'wss://y', symbols: ['BTC-USD'] })
    expect(v.subscribe().map((m) => JSON.parse(m).channel)).toEqual(['market_trades', 'heartbeats'])
    expect(coinbaseVenue({ restUrl: 'https://x', wsUrl: 'wss://y', symbols: ['BTC-USD'], quotes: true }).subscribe().map((m) => JSON.parse(m).channel)).toEqual(['market_trades', 'ticker', 'heartbeats'])
    expect([v.streamUrl(), v.sequenced]).toEqual(['wss://y', true])
    const trade = (p: string, id: number) => ({ product_id: p, trade_id: String(id), price: '1', size: '1', time: '2026-08-09T21:05:48Z', side: 'BUY' })
    const r = v.parse(JSON.stringify({ channel: 'market_trades', sequence_num: 7, events: [{ type: 'update', trades: [trade('ETH-USD', 2), trade('BTC-USD', 1)] }] }), 1, 'ws')
    expect([r.sequence, r.trades!.map((t) => t.symbol)]).toEqual([7, ['BTC-USD']])
    expect(v.parse('{"channel":"heartbeats","sequence_num":8,"events":[]}', 1, 'ws')).toEqual({ sequence: 8 })
    expect(v.parse('nope', 1, 'ws').error).toBe('frame is not valid JSON')
  })

  it('reads the legacy ws-feed as a venue: one subscribe for matches and heartbeat, trades from matches, the newest id from a heartbeat unless it says 0', () => {
    const v = coinbaseExchangeVenue({ restUrl: 'https://x', wsUrl: 'wss://ws-feed', symbols: ['BTC-USD'] })
    expect(v.subscribe()).toEqual(['{"type":"subscribe","product_ids":["BTC-USD"],"channels":["matches","heartbeat"]}'])
    expect(v.sequenced).toBe(false)
    const match = { type: 'match', trade_id: 7, maker_order_id: 'a', taker_order_id: 'b', side: 'sell', size: '0.5', price: '100', product_id: 'BTC-USD', sequence: 50, time: '2026-08-09T21:05:48Z' }
    expect(v.parse(JSON.stringify(match), 1, 'ws').trades!.map((t) => [t.trade_id, t.side])).toEqual([[7, 'buy']])
    const hb = (id: number, p = 'BTC-USD') => JSON.stringify({ type: 'heartbeat', last_trade_id: id, product_id: p, sequence: 51, time: '2026-08-09T21:05:49Z' })
    expect(v.parse(hb(9), 1, 'ws')).toEqual({ latest: { symbol: 'BTC-USD', id: 9 } })
    expect(v.parse(hb(0), 1, 'ws')).toEqual({})
    expect(v.parse(hb(9, 'ETH-USD'), 1, 'ws')).toEqual({})
  })
})
