/**
 * The outbox of one ingest run: trades, quotes and DLQ lines waiting to be sent, and the checkpoint
 * writer that follows what the delivery stream accepted. Trades go in batches of `batchRecords`;
 * what the stream refuses is sent again with backoff; checkpoints move only after a batch was
 * accepted, never leaving more than one batch accepted and not checkpointed. A backfill waits for
 * `room` while `maxOutbox` records wait, so memory stays bounded and the checkpoint follows closely.
 */
import type { Exchange, Quote, Trade } from '../../market/index'
import type { ObjectStore, RecordStream } from '../../ports/index'
import { readCheckpoint, writeCheckpoint } from '../checkpoint/index'
import { dlqKey } from '../../lake/layout/index'
import type { IngestSettings, IngestSummary } from './index'

export interface OutboxOptions {
  exchange: Exchange
  store: ObjectStore
  stream: RecordStream
  /** Where quotes go; without it they are dropped. */
  quoteStream?: RecordStream
  settings: Pick<IngestSettings, 'batchRecords' | 'checkpointEveryMs' | 'maxOutbox' | 'sendAttempts'>
  /** A non-final flush stops sending here (the run's fetching deadline). */
  deadline: number
  /** Every send stops here (a send in flight is cut off). */
  end: number
  /** Fetching is over: `room` waits no longer. */
  signal: AbortSignal
  now: () => number
  log: (line: string) => void
  /** Counted into: what was sent, left unsent, quotes and DLQ lines sent, checkpoints written. */
  sum: Pick<IngestSummary, 'sent' | 'unsent' | 'quotes' | 'dlq' | 'checkpoints'>
}

/** A symbol's checkpoint as the run knows it. */
interface Checkpointed {
  /** The newest trade the stream accepted. */
  accepted?: { id: number; ts: number }
  etag?: string
  /** The trade id of the checkpoint written last this run. */
  saved?: number
  /** The trade id stored under `etag` (read at the start or written since): a checkpoint write is then one conditional PUT. */
  stored?: number
}

export type Outbox = ReturnType<typeof outbox>

/**
 * The outbox and checkpoint writer of one run. Long as a whole because its small named functions
 * share the queues and what was accepted but not yet checkpointed; none is over 35 lines.
 * @example const out = outbox({ exchange, store, stream, settings, deadline, end, signal, now, log, sum }); out.push(trade); await out.flush(true)
 */
export function outbox(o: OutboxOptions) {
  const s = o.settings
  const { now, log, sum } = o
  const trades: Trade[] = []
  const quotes: Quote[] = []
  const dlq: string[] = []
  const checkpoints = new Map<string, Checkpointed>()
  /** Records accepted since the last checkpoint, and when that was written (`savedAt` undefined: none yet this run). */
  let unsaved = 0
  let savedAt: number | undefined
  let wake = () => {}
  const roomWaiters: (() => void)[] = []
  const freeRoom = () => { for (const r of roomWaiters.splice(0)) r() }
  o.signal.addEventListener('abort', freeRoom, { once: true })

  /** Reads the checkpoint of `symbol`; its last trade id, undefined when it has none. */
  async function load(symbol: string): Promise<number | undefined> {
    const cp = await readCheckpoint(o.store, o.exchange, symbol)
    checkpoints.set(symbol, { etag: cp?.etag, stored: cp?.checkpoint.last_trade_id, accepted: cp && { id: cp.checkpoint.last_trade_id, ts: cp.checkpoint.ts } })
    return cp?.checkpoint.last_trade_id
  }

  /** Queues a trade (in id order per symbol); a full batch wakes the send loop. */
  function push(t: Trade) {
    trades.push(t)
    if (trades.length === s.batchRecords) wake()
  }

  /** Resolves once the outbox has room for another REST page, or fetching is over. */
  async function room() {
    while (trades.length >= s.maxOutbox && !o.signal.aborted) await new Promise<void>((r) => roomWaiters.push(r))
  }

  /** Waits `ms` (at most), or less when a batch is ready. */
  async function nextBatch(ms: number) {
    if (trades.length < s.batchRecords) await new Promise<void>((r) => { const t = setTimeout(r, Math.max(0, ms)); wake = () => { clearTimeout(t); r() } })
    wake = () => {}
  }

  /** Writes the checkpoint of every symbol with records accepted since its last one. */
  async function saveCheckpoints() {
    for (const [symbol, c] of checkpoints) {
      if (!c.accepted || c.accepted.id === c.saved) continue
      c.etag = await writeCheckpoint(o.store, { exchange: o.exchange, symbol, last_trade_id: c.accepted.id, ts: c.accepted.ts, updated_at: now() }, c.etag, c.stored)
      c.saved = c.stored = c.accepted.id
      sum.checkpoints[symbol] = c.accepted.id
    }
    unsaved = 0
    savedAt = now()
  }

  /**
   * Gets one batch accepted by the stream: what it refuses is sent again with backoff. Returns false
   * when the time to send runs out first (the batch is then not accepted, in whole or in part);
   * throws when the stream refused it `sendAttempts` times.
   */
  async function send(batch: Trade[]): Promise<boolean> {
    let pending = batch
    for (let attempt = 0; ; attempt++) {
      const left = o.end - now()
      if (left <= 0) return false
      const res = await o.stream.putRecords(pending, { signal: AbortSignal.timeout(left) }).catch((e) => { log(`stream put failed: ${e.message}`); return { failed: pending.map((_, i) => i) } })
      pending = res.failed.map((i) => pending[i])
      if (!pending.length) return true
      if (attempt + 1 >= s.sendAttempts) throw new Error(`delivery stream refused ${pending.length} records ${s.sendAttempts} times; stopping without moving checkpoints`)
      const wait = Math.min(100 * 2 ** attempt, 5_000)
      if (now() + wait >= o.end) return false
      await new Promise((r) => setTimeout(r, wait))
    }
  }

  /**
   * Sends the outbox batch by batch (a non-final flush stops at the fetching deadline, the final
   * one at `end`), then quotes and DLQ lines, then checkpoints when due. Before a batch that would
   * leave more than one batch accepted but not checkpointed, the checkpoint is written first.
   */
  async function flush(final: boolean) {
    while (trades.length && (final || now() < o.deadline)) {
      const batch = trades.slice(0, s.batchRecords)
      if (unsaved > 0 && unsaved + batch.length > s.batchRecords) await saveCheckpoints()
      if (!(await send(batch))) break
      trades.splice(0, batch.length)
      freeRoom()
      sum.sent += batch.length
      unsaved += batch.length
      for (const t of batch) {
        let c = checkpoints.get(t.symbol)
        if (!c) checkpoints.set(t.symbol, (c = {}))
        if (!c.accepted || t.trade_id > c.accepted.id) c.accepted = { id: t.trade_id, ts: t.ts }
      }
    }
    if (final && trades.length) {
      sum.unsent += trades.length
      log(`${trades.length} records were not sent before the deadline; the next run fetches them again from the checkpoint`)
      trades.length = 0
    }
    await sendQuotes()
    if (dlq.length) {
      const lines = dlq.splice(0)
      sum.dlq += lines.length
      await o.store.put(dlqKey(o.exchange, now(), `${now()}-${Math.random().toString(36).slice(2, 8)}`), lines.join('\n') + '\n')
    }
    // The run's first checkpoint goes at once, the rest when due.
    if (unsaved > 0 && (final || savedAt === undefined || unsaved >= s.batchRecords || now() - savedAt >= s.checkpointEveryMs)) await saveCheckpoints()
  }

  /** Quotes are samples, not a sequence: a batch the stream refuses stays for the next flush, up to a bound. */
  async function sendQuotes() {
    if (!o.quoteStream) { quotes.length = 0; return }
    while (quotes.length && now() < o.end) {
      const batch = quotes.slice(0, s.batchRecords)
      const res = await o.quoteStream.putRecords(batch, { signal: AbortSignal.timeout(Math.max(1, o.end - now())) }).catch((e) => { log(`quote stream put failed: ${e.message}`); return { failed: batch.map((_, i) => i) } })
      const failed = res.failed.map((i) => batch[i])
      quotes.splice(0, batch.length, ...failed)
      sum.quotes += batch.length - failed.length
      if (failed.length) break
    }
    if (quotes.length > 100_000) { log(`dropping ${quotes.length - 100_000} quotes the stream could not take`); quotes.splice(0, quotes.length - 100_000) }
  }

  return {
    load, push, room, nextBatch, flush,
    /** The trade time (epoch µs) of `symbol`'s checkpoint as loaded or last accepted; undefined without one. */
    checkpointTs: (symbol: string) => checkpoints.get(symbol)?.accepted?.ts,
    /** Queues a quote for the quotes stream. */
    pushQuote: (q: Quote) => { quotes.push(q) },
    /** Queues a frame that could not be parsed, with why, for `dlq/`. */
    pushDlq(raw: string, reason: string) { dlq.push(JSON.stringify({ received_at: new Date(now()).toISOString(), reason, frame: raw.slice(0, 10_000) })) },
  }
}
