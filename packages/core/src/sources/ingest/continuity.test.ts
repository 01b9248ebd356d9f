import { describe, expect, it } from 'vitest'
import type { Trade } from '../../market/index'
import type { Venue } from '../../ports/index'
import { countingStore } from '../../../test/counting-store'
import { defaults } from './index'
import { continuity, type ContinuityOptions } from './continuity'

const S = 'BTC-USDT'
const NOW = Date.UTC(2026, 10, 24, 15)
/** A trade of `S`; `recent` ones carry the test clock's time, the others are old (a backfill's history). */
const trade = (id: number, recent = false): Trade => ({ exchange: 'binance', symbol: S, native_symbol: 'BTCUSDT', trade_id: id, first_trade_id: id, last_trade_id: id, ts: (recent ? NOW : 1_000) * 1000, price: 1, qty: 1, side: 'buy', trades: 1, ingest_ts: NOW * 1000, source: 'rest' })

/**
 * A venue whose REST serves `book` (ids missing from it are ids the exchange does not have); its
 * trades are `recent` ones (a bridge after a run change) or old ones (a backfill's history).
 */
function venue(book: number[], { recent = false, ...o }: Partial<Venue> & { fail?: Error; recent?: boolean } = {}): Venue & { asked: [number, number][] } {
  const asked: [number, number][] = []
  return {
    exchange: 'binance', sequenced: false, streamUrl: () => '', subscribe: () => [], parse: () => ({}),
    async *pages(_symbol, fromId, untilId) {
      asked.push([fromId, untilId])
      if (o.fail) throw o.fail
      yield book.filter((id) => id >= fromId && id <= untilId).map((id) => trade(id, recent))
    },
    firstIdAfter: async () => undefined,
    ...o,
    asked,
  }
}

function setup(v: Venue, o: Partial<Omit<ContinuityOptions, 'settings'>> & { settings?: Partial<ContinuityOptions['settings']> } = {}) {
  const store = countingStore()
  const pushed: number[] = []
  const published: number[] = []
  const logs: string[] = []
  const clock = { t: NOW }
  const sum = { received: 0, duplicates: 0, backfilled: 0, gapsFilled: 0, stalls: 0 }
  const c = continuity({
    exchange: 'binance', venue: v, store, out: { push: (t) => { pushed.push(t.trade_id) }, room: async () => {} }, live: { trade: (t) => { published.push(t.trade_id) } },
    fetchImpl: fetch, signal: new AbortController().signal, deadline: Infinity, now: () => clock.t, log: (l) => logs.push(l), sum, ...o, settings: { ...defaults, ...o.settings },
  })
  return { c, store, pushed, published, logs, clock, sum }
}

/** Waits until `check` holds (the symbol's queue is worked through asynchronously). */
async function until(check: () => boolean) {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5))
  expect(check()).toBe(true)
}

const records = async (store: ReturnType<typeof countingStore>, prefix: string) =>
  Promise.all((await store.list(prefix)).map(async (o) => JSON.parse(new TextDecoder().decode(await store.get(o.key)))))

describe('per-symbol continuity of an ingest run', () => {
  it('emits every trade id once and in order, counting what comes again as duplicates', async () => {
    const { c, pushed, sum } = setup(venue([]))
    await c.add(S, undefined)
    for (const id of [5, 5, 6, 3]) c.receive(trade(id, true))
    await until(() => sum.duplicates === 2)
    expect(pushed).toEqual([5, 6])
    expect(sum.received).toBe(4)
  })

  it('fills a jump in ids over REST before the trade after it, and records the gap as filled', async () => {
    const v = venue([1, 2, 3, 4, 5])
    const { c, store, pushed, sum } = setup(v)
    await c.add(S, undefined)
    c.receive(trade(1, true))
    c.receive(trade(5, true))
    await until(() => pushed.length === 5)
    expect(pushed).toEqual([1, 2, 3, 4, 5])
    expect(v.asked).toEqual([[2, 4]])
    expect(sum).toMatchObject({ backfilled: 3, gapsFilled: 1 })
    expect(await records(store, 'quality/gaps/')).toMatchObject([{ kind: 'filled', from_id: 2, to_id: 4 }])
  })

  it('skips ids the exchange no longer has, recording them as unfillable', async () => {
    const { c, store, pushed } = setup(venue([1, 2, 5, 6]))
    await c.add(S, undefined)
    c.receive(trade(1, true))
    c.receive(trade(6, true))
    await until(() => pushed.length === 4)
    expect(pushed).toEqual([1, 2, 5, 6])
    const gaps = await records(store, 'quality/gaps/')
    expect(gaps.map((g) => [g.kind, g.from_id, g.to_id]).sort()).toEqual([['filled', 2, 5], ['unfillable', 3, 4]])
  })

  it('obeys a storm of 429s with Retry-After for as long as the budget lasts, but gives up on other failures after 4 tries in a row', async () => {
    const failing = (status: number, times: number) => {
      let asks = 0
      const v = venue([2, 3, 4])
      const serve = v.pages
      v.pages = async function* (...a) { if (++asks <= times) throw Object.assign(new Error(`HTTP ${status}`), { status, retryAfterMs: status === 429 ? 1 : undefined }); yield* serve(...a) }
      return { v, asks: () => asks }
    }
    const storm = failing(429, 9)
    const a = setup(storm.v)
    await a.c.add(S, undefined)
    for (const id of [1, 5]) a.c.receive(trade(id, true))
    await until(() => a.pushed.length === 5)
    expect(a.pushed).toEqual([1, 2, 3, 4, 5])
    expect(storm.asks()).toBe(10)
    const down = failing(503, Infinity)
    const b = setup(down.v)
    await b.c.add(S, undefined)
    for (const id of [1, 5]) b.c.receive(trade(id, true))
    for (let i = 0; i < 100 && !b.c.state(S)!.halted; i++) await new Promise((r) => setTimeout(r, 50)) // backoffs of 0.5, 1 and 2 s
    expect(b.c.state(S)!.halted).toBe(true)
    expect(down.asks()).toBe(4)
    expect(b.pushed).toEqual([1])
  }, 10_000)

  it('halts a symbol whose hole REST cannot fill: nothing after it is emitted, a deferred gap is recorded, the symbol is behind', async () => {
    const banned = Object.assign(new Error('banned'), { status: 418 })
    const { c, store, pushed, sum } = setup(venue([], { fail: banned }))
    await c.add(S, undefined)
    c.receive(trade(1, true))
    c.receive(trade(5, true))
    await until(() => c.state(S)!.halted === true)
    c.receive(trade(6, true))
    await until(() => c.state(S)!.queue.length === 0)
    expect(pushed).toEqual([1])
    expect(sum.duplicates).toBe(0)
    expect(await records(store, 'quality/gaps/')).toMatchObject([{ kind: 'deferred', from_id: 2, to_id: 4 }])
    expect(await c.finish()).toEqual([S])
  })

  it('backfills from the checkpoint, sending history to the lake only, while the stream\'s trades go live on receipt', async () => {
    const { c, pushed, published, sum } = setup(venue([11, 12, 13]))
    await c.add(S, 10)
    expect(c.state(S)).toMatchObject({ nextId: 11, backfilling: true })
    c.receive(trade(14, true))
    expect(published).toEqual([14])
    await c.backfill()
    await until(() => pushed.length === 4)
    expect(pushed).toEqual([11, 12, 13, 14])
    expect(published).toEqual([14])
    expect(sum.backfilled).toBe(3)
    expect(c.state(S)!.backfilling).toBe(false)
  })

  it('bridges a recent checkpoint to the stream in id order on the live path too, so subscribers lose no trade of a run change', async () => {
    const { c, pushed, published } = setup(venue([11, 12, 13], { recent: true }))
    await c.add(S, 10, (NOW - 5_000) * 1000) // the previous run's last trade, 5 s ago
    c.receive(trade(14, true))
    expect(published).toEqual([]) // waits for the bridge
    await c.backfill()
    await until(() => pushed.length === 4)
    expect(published).toEqual([11, 12, 13, 14])
    c.receive(trade(15, true))
    await until(() => published.length === 5)
    expect(published).toEqual([11, 12, 13, 14, 15])
  })

  it('does not publish again, on a handover, the trades the earlier run already published live', async () => {
    const { c, pushed, published } = setup(venue([11, 12, 13], { recent: true }))
    await c.add(S, 10, (NOW - 2_000) * 1000, 12) // the earlier run published up to 12 in its tail, checkpointed 10
    c.receive(trade(14, true))
    await c.backfill()
    await until(() => pushed.length === 4)
    expect(pushed).toEqual([11, 12, 13, 14]) // the lake gets every one
    expect(published).toEqual([13, 14])
  })

  it('publishes the tail (the stream after the deadline) in id order once every earlier id went, and holds what follows a hole', async () => {
    const { c, pushed, published } = setup(venue([]))
    await c.add(S, undefined)
    c.receive(trade(5, true))
    await until(() => published.length === 1)
    c.receive(trade(6, true))
    c.tail(trade(8, true)) // waits for 7
    expect(published).toEqual([5, 6])
    c.tail(trade(7, true))
    c.tail(trade(10, true)) // waits for 9, which never comes
    await c.drain()
    expect(published).toEqual([5, 6, 7, 8])
    expect(pushed).toEqual([5, 6]) // the tail is the live path's alone: the next run fetches it for the lake
  })

  it('puts the stream live at once after a long pause, whatever the checkpoint\'s age makes of the backfill', async () => {
    const { c, published } = setup(venue([11, 12, 13]))
    await c.add(S, 10, (NOW - 3_600_000) * 1000) // an hour behind: history is the lake's
    c.receive(trade(14, true))
    expect(published).toEqual([14])
  })

  it('starts a first run\'s backfill at the venue\'s first trade after initialBackfillMs', async () => {
    const since: number[] = []
    const { c } = setup(venue([], { firstIdAfter: async (_s, sinceMs) => { since.push(sinceMs); return 42 } }), { settings: { initialBackfillMs: 60_000 } })
    await c.add(S, undefined)
    expect(since).toEqual([NOW - 60_000])
    expect(c.state(S)).toMatchObject({ nextId: 42, backfilling: true })
  })

  it('asks again for a first run\'s backfill start after a 429, waiting its Retry-After, and gives up at a 418 ban', async () => {
    const refusal = (status: number) => Object.assign(new Error(`HTTP ${status}`), { status, retryAfterMs: 5 })
    let asks = 0
    const { c, logs } = setup(venue([], { firstIdAfter: async () => { if (++asks < 3) throw refusal(429); return 42 } }), { settings: { initialBackfillMs: 60_000 } })
    await c.add(S, undefined)
    expect(asks).toBe(3)
    expect(c.state(S)).toMatchObject({ nextId: 42, backfilling: true })
    expect(logs.filter((l) => /backfill start lookup failed/.test(l))).toHaveLength(2)
    let banned = 0
    const b = setup(venue([], { firstIdAfter: async () => { banned++; throw refusal(418) } }), { settings: { initialBackfillMs: 60_000 } })
    await b.c.add(S, undefined)
    expect(banned).toBe(1)
    expect(b.c.state(S)!.nextId).toBeUndefined()
  })

  it('catches every symbol up over REST to the newest trade when frames were lost', async () => {
    const v = venue([1, 2, 3, 4])
    const { c, pushed } = setup(v)
    await c.add(S, undefined)
    c.receive(trade(1, true))
    await until(() => pushed.length === 1)
    c.lostFrames()
    await until(() => pushed.length === 4)
    expect(v.asked).toEqual([[2, Infinity]])
  })

  it('catches up when the exchange names a newer trade than the stream brought, and not otherwise', async () => {
    const v = venue([1, 2, 3])
    const { c, pushed } = setup(v)
    await c.add(S, undefined)
    c.receive(trade(1, true))
    await until(() => pushed.length === 1)
    c.latest({ symbol: S, id: 1 })
    expect(v.asked).toEqual([])
    c.latest({ symbol: S, id: 3 })
    await until(() => pushed.length === 3)
  })

  it('opens a stall when the exchange traded on while the stream brought nothing, catches up, and closes it when trades come again', async () => {
    const { c, store, pushed, clock, sum, logs } = setup(venue([1, 2, 3], { latestId: async () => 3 }), { settings: { stallAfterMs: 15_000 } })
    await c.add(S, undefined)
    c.receive(trade(1, true))
    clock.t += 10_000
    c.checkStalls({ open: true })
    clock.t += 10_000
    c.checkStalls({ open: true })
    await until(() => pushed.length === 3)
    expect(sum.stalls).toBe(1)
    expect(logs.join('\n')).toMatch(/STALLED since .* no trade on the stream for 20 s while the exchange traded on \(its newest id 3, ours 1\)/)
    c.receive(trade(4, true))
    await until(() => pushed.length === 4)
    let stall: any
    for (let i = 0; i < 100 && !stall?.resumed_at; i++) [stall] = await records(store, 'quality/stalls/') // recorded without holding the stream
    expect(stall).toMatchObject({ symbol: S, since: NOW, detected_at: NOW + 20_000, resumed_at: NOW + 20_000, fetched: 2 })
  })

  it('takes a silent symbol of a quiet market for no stall, and a stream down for stallAfterMs for a stall without asking REST', async () => {
    let asked = 0
    const { c, clock, sum } = setup(venue([1], { latestId: async () => { asked++; return 1 } }))
    await c.add(S, undefined)
    c.receive(trade(1, true))
    clock.t += 20_000
    c.checkStalls({ open: true })
    await until(() => c.state(S)!.probing === false)
    expect([asked, sum.stalls]).toEqual([1, 0])
    clock.t += 20_000
    c.checkStalls({ open: false, down: { at: NOW, reason: 'closed with code 1006' } })
    expect([asked, sum.stalls]).toEqual([1, 1])
    expect(c.state(S)!.stall?.reason).toBe('the stream is down (closed with code 1006); reconnecting')
  })

  it('serves the REST pages of many symbols in one line, round-robin, never more at once than restConcurrency', async () => {
    // BIG is 6 pages behind, the 4 others one page each: a page at a time per request, each request taking a tick
    const behind: Record<string, number> = { BIG: 6, A: 1, B: 1, C: 1, D: 1 }
    const served: string[] = []
    let inFlight = 0
    let most = 0
    const v = venue([], {
      async *pages(symbol, fromId) {
        for (let id = fromId; id < 1 + behind[symbol]; id++) {
          most = Math.max(most, ++inFlight)
          await new Promise((r) => setTimeout(r, 2))
          inFlight--
          served.push(symbol)
          yield [{ ...trade(id), symbol }]
        }
      },
    })
    for (const concurrency of [1, 2]) {
      served.length = most = 0
      const { c, pushed } = setup(v, { settings: { restConcurrency: concurrency } })
      for (const symbol of Object.keys(behind)) await c.add(symbol, 0)
      await c.backfill()
      expect(pushed.length).toBe(10)
      expect(most).toBe(concurrency)
      // every symbol one page behind is served before BIG's third page: one backfill does not hold the line
      expect(served.slice(0, 6).sort()).toEqual(['A', 'B', 'BIG', 'BIG', 'C', 'D'])
    }
  })

  it('fetches no page while the outbox is full beyond one a turn already under way, whatever the number of symbols', async () => {
    let full = true
    let fetched = 0
    const waiting: (() => void)[] = []
    const room = async () => { while (full) await new Promise<void>((r) => waiting.push(r)) }
    const v = venue([], {
      async *pages(symbol, fromId) {
        for (let id = fromId; id < fromId + 3; id++) { fetched++; yield [{ ...trade(id), symbol }] }
      },
    })
    const { c, pushed } = setup(v, { out: { push: (t) => { pushed.push(t.trade_id) }, room }, settings: { restConcurrency: 2 } })
    for (let i = 0; i < 10; i++) await c.add(`S${i}-USDT`, 0)
    const done = c.backfill()
    await new Promise((r) => setTimeout(r, 20))
    expect(fetched).toBe(0) // ten symbols behind, and the full outbox holds the whole line
    full = false
    for (const w of waiting.splice(0)) w()
    await done
    expect([fetched, pushed.length]).toEqual([30, 30])
  })
})
