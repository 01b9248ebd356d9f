import { describe, expect, it } from 'vitest'
import type { Quote, Trade } from '../../market/index'
import type { RecordStream } from '../../ports/index'
import { countingStore } from '../../../test/counting-store'
import { readCheckpoint, writeCheckpoint } from '../checkpoint/index'
import { defaults } from './index'
import { outbox, type OutboxOptions } from './outbox'

const trade = (id: number, symbol = 'BTC-USDT'): Trade => ({ exchange: 'binance', symbol, native_symbol: symbol.replace('-', ''), trade_id: id, first_trade_id: id, last_trade_id: id, ts: id * 1000, price: 1, qty: 1, side: 'buy', trades: 1, ingest_ts: id * 1000, source: 'ws' })
const quote = (n: number): Quote => ({ exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', update_id: n, ts: 0, bid: 1, bid_qty: 1, ask: 2, ask_qty: 1, ingest_ts: 0, source: 'ws' })
const sum = () => ({ sent: 0, unsent: 0, quotes: 0, dlq: 0, checkpoints: {} as Record<string, number> })

/** A delivery stream that records each batch it is sent and answers with `answer` (all accepted by default). */
function stream(answer: (records: object[], call: number) => number[] | Promise<number[]> = () => []) {
  const batches: number[][] = []
  const s: RecordStream = { async putRecords(records) { batches.push(records.map((r: any) => r.trade_id ?? r.update_id)); return { failed: await answer(records, batches.length) } } }
  return { s, batches }
}

function setup(o: Partial<Omit<OutboxOptions, 'store' | 'settings'>> & { store?: ReturnType<typeof countingStore>; settings?: Partial<OutboxOptions['settings']> } = {}) {
  const store = o.store ?? countingStore()
  const stop = new AbortController()
  const counts = sum()
  const logs: string[] = []
  const far = Date.now() + 60_000
  const out = outbox({ exchange: 'binance', stream: stream().s, deadline: far, end: far, signal: stop.signal, now: Date.now, log: (l) => logs.push(l), sum: counts, ...o, store, settings: { ...defaults, ...o.settings } })
  return { out, store, stop, counts, logs }
}

const checkpointOf = async (store: ReturnType<typeof countingStore>, symbol = 'BTC-USDT') => (await readCheckpoint(store, 'binance', symbol))?.checkpoint.last_trade_id

describe('the outbox of an ingest run', () => {
  it('sends trades in batches of batchRecords and moves each symbol\'s checkpoint to its newest accepted trade', async () => {
    const st = stream()
    const { out, store, counts } = setup({ stream: st.s, settings: { batchRecords: 3 } })
    for (const id of [1, 2, 3, 4]) out.push(trade(id))
    out.push(trade(7, 'ETH-USDT'))
    await out.flush(true)
    expect(st.batches).toEqual([[1, 2, 3], [4, 7]])
    expect(counts).toMatchObject({ sent: 5, unsent: 0, checkpoints: { 'BTC-USDT': 4, 'ETH-USDT': 7 } })
    expect([await checkpointOf(store), await checkpointOf(store, 'ETH-USDT')]).toEqual([4, 7])
  })

  it('goes on from the checkpoint it loaded, with one conditional write', async () => {
    const { out, store } = setup()
    await writeCheckpoint(store, { exchange: 'binance', symbol: 'BTC-USDT', last_trade_id: 10, ts: 0, updated_at: 0 })
    expect(await out.load('BTC-USDT')).toBe(10)
    expect(await out.load('ETH-USDT')).toBeUndefined()
    out.push(trade(11))
    await out.flush(true)
    expect(await checkpointOf(store)).toBe(11)
  })

  it('writes the checkpoint before a batch that would leave more than one batch accepted and not checkpointed', async () => {
    const store = countingStore()
    const seen: (number | undefined)[] = []
    const st = stream(async () => { seen.push(await checkpointOf(store)); return [] })
    const { out } = setup({ store, stream: st.s, settings: { batchRecords: 2, checkpointEveryMs: 3_600_000 } })
    for (const id of [1, 2, 3, 4, 5, 6]) out.push(trade(id))
    await out.flush(false)
    // before each batch, the checkpoint stands at most one batch behind
    expect(seen).toEqual([undefined, 2, 4])
  })

  it('sends again what the stream refused, and only that', async () => {
    const st = stream((_records, call) => (call === 1 ? [1] : []))
    const { out, counts } = setup({ stream: st.s })
    for (const id of [1, 2, 3]) out.push(trade(id))
    await out.flush(true)
    expect(st.batches).toEqual([[1, 2, 3], [2]])
    expect(counts.sent).toBe(3)
  })

  it('gives up after sendAttempts refusals with the checkpoint unmoved', async () => {
    const st = stream((records) => records.map((_, i) => i))
    const { out, store } = setup({ stream: st.s, settings: { sendAttempts: 2 } })
    out.push(trade(1))
    await expect(out.flush(true)).rejects.toThrow(/refused 1 records 2 times/)
    expect(await checkpointOf(store)).toBeUndefined()
  })

  it('counts what it could not send before the end as unsent, and keeps the checkpoint before it', async () => {
    const st = stream()
    const { out, store, counts, logs } = setup({ stream: st.s, end: Date.now() - 1 })
    out.push(trade(1))
    await out.flush(true)
    expect(st.batches).toEqual([])
    expect(counts).toMatchObject({ sent: 0, unsent: 1 })
    expect(await checkpointOf(store)).toBeUndefined()
    expect(logs.join('\n')).toMatch(/1 records were not sent before the deadline/)
  })

  it('writes frames that could not be parsed to dlq/ with why', async () => {
    const { out, store, counts } = setup()
    out.pushDlq('{"oops', 'frame is not valid JSON')
    await out.flush(false)
    const [file] = await store.list('dlq/binance/')
    const line = JSON.parse(new TextDecoder().decode(await store.get(file.key)))
    expect(line).toMatchObject({ reason: 'frame is not valid JSON', frame: '{"oops' })
    expect(counts.dlq).toBe(1)
  })

  it('keeps quotes the quote stream refused for the next flush, and drops them without a quote stream', async () => {
    let refuse = true
    const qs = stream((records) => (refuse ? records.map((_, i) => i) : []))
    const { out, counts } = setup({ quoteStream: qs.s })
    out.pushQuote(quote(1))
    await out.flush(false)
    refuse = false
    await out.flush(false)
    expect(qs.batches).toEqual([[1], [1]])
    expect(counts.quotes).toBe(1)
    const bare = setup()
    bare.out.pushQuote(quote(2))
    await bare.out.flush(true)
    expect(bare.counts.quotes).toBe(0)
  })

  it('holds a backfill while maxOutbox records wait, and lets it go when a batch is sent or fetching ends', async () => {
    const { out, stop } = setup({ settings: { maxOutbox: 2, batchRecords: 1 } })
    out.push(trade(1)); out.push(trade(2))
    let free = false
    const waiting = out.room().then(() => { free = true })
    await new Promise((r) => setTimeout(r, 10))
    expect(free).toBe(false)
    await out.flush(false)
    await waiting
    out.push(trade(3)); out.push(trade(4))
    const held = out.room()
    stop.abort()
    await held
  })

  it('wakes the send loop as soon as a batch is ready', async () => {
    const { out } = setup({ settings: { batchRecords: 2 } })
    const woken = out.nextBatch(60_000)
    out.push(trade(1)); out.push(trade(2))
    await woken
  })
})
