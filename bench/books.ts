/**
 * Fake exchanges' books benchmark (issue 15, point 3): what one held trade costs and how fast a REST
 * page is served, for a book of `trades` aggTrades (one symbol, the seeded generator at a steady
 * rate). "before" is the book as it was, one `AggTrade` object with string fields per trade (the
 * generator's own objects, and the fake Coinbase's objects with their ISO times); "after" is the
 * columns the fakes hold now. Memory is heap plus array buffers, measured after a forced
 * collection; the page is `GET /api/v3/aggTrades?fromId=…&limit=1000` without HTTP (selection and
 * JSON), averaged over `pages` random ids.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { generator, type AggTrade } from '../packages/local/src/exchange/generator'
import { aggAt, aggColumns, pushAgg } from '../packages/local/src/exchange/binance/book'
import { selectAggTrades } from '../packages/local/src/exchange/binance/rest'
import { fromAgg, pushTrade, tradeColumns, usOf } from '../packages/local/src/exchange/coinbase/book'
import { liveView } from '../packages/local/src/exchange/columns'
import type { Row } from './ingest'

export const defaults = { trades: 1_000_000, pages: 200, seed: 5, rate: 1_000 }

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** Heap and array-buffer bytes in use after a full collection. */
function used() {
  gc(); gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

/** Calls `add` with the book's trades, an hour of generation at a time (none kept here). */
function generate(o: typeof defaults, add: (t: AggTrade) => void) {
  const start = Date.UTC(2026, 0, 1)
  const gen = generator('BTC-USDT', o.seed, start, o.rate, false)
  let n = 0
  for (let until = start; n < o.trades; until += 60_000) {
    const out: AggTrade[] = []
    gen(until, out)
    for (const t of out.slice(0, o.trades - n)) add(t)
    n += out.length
  }
}

/** Bytes a book of `o.trades` trades holds, as built by `build` (the result is kept alive until measured). */
function bytesOf<T>(build: () => T): [number, T] {
  const before = used()
  const book = build()
  return [used() - before, book]
}

/** Mean milliseconds of a fromId page of 1000 (selection and JSON) over `o.pages` ids spread over the book. */
function pageMs(o: typeof defaults, trades: readonly AggTrade[]) {
  const first = trades[0].a
  const ids = Array.from({ length: o.pages }, (_, i) => first + Math.floor(((i * 7919) % o.pages) * ((trades.length - 1000) / o.pages)))
  const t0 = performance.now()
  let bytes = 0
  for (const id of ids) bytes += JSON.stringify(selectAggTrades(trades, new URLSearchParams({ symbol: 'BTCUSDT', fromId: String(id), limit: '1000' }))).length
  if (!bytes) throw new Error('empty pages')
  return (performance.now() - t0) / o.pages
}

/** The rows: bytes per held trade before and after, for each fake, and the REST page time on each. */
export function booksBench(opts: Partial<typeof defaults> = {}): Row[] {
  const o = { ...defaults, ...opts }
  const [objectBytes, objects] = bytesOf(() => { const a: AggTrade[] = []; generate(o, (t) => a.push(t)); return a })
  const beforePage = pageMs(o, objects)
  const n = objects.length
  objects.length = 0
  const [columnBytes, tape] = bytesOf(() => { const c = aggColumns(); generate(o, (t) => pushAgg(c, t)); return c })
  const afterPage = pageMs(o, liveView(() => tape.length, (i) => aggAt(tape, i)))
  const [coinbaseObjectBytes, cbObjects] = bytesOf(() => { const a: object[] = []; generate(o, (t) => a.push(fromAgg(t))); return a })
  cbObjects.length = 0
  const [coinbaseColumnBytes] = bytesOf(() => { const c = tradeColumns(); generate(o, (t) => pushTrade(c, fromAgg(t), usOf(t))); return c })
  const per = (b: number) => Math.round(b / n)
  return [
    { name: 'books: Binance bytes/trade, objects', value: per(objectBytes), unit: 'B', note: `before: ${n.toLocaleString('en')} AggTrade objects, ${(objectBytes / 2 ** 20).toFixed(0)} MB` },
    { name: 'books: Binance bytes/trade, columns', value: per(columnBytes), unit: 'B', note: `after: typed-array columns, ${(columnBytes / 2 ** 20).toFixed(0)} MB (capacity doubled: up to 2x the rows)` },
    { name: 'books: Coinbase bytes/trade, objects', value: per(coinbaseObjectBytes), unit: 'B', note: 'before: trade objects with ISO µs time strings' },
    { name: 'books: Coinbase bytes/trade, columns', value: per(coinbaseColumnBytes), unit: 'B', note: 'after: typed-array columns (times from µs, no strings)' },
    { name: 'books: REST aggTrades page, objects', value: Number(beforePage.toFixed(3)), unit: 'ms', note: 'before: fromId, limit=1000, selection and JSON' },
    { name: 'books: REST aggTrades page, columns', value: Number(afterPage.toFixed(3)), unit: 'ms', note: 'after: the same page made from the columns' },
  ]
}
