/**
 * Ingest: one run of the scheduled ingest function. It opens the exchange's WebSocket, backfills
 * over REST from each symbol's checkpoint, then streams trades for the rest of its time budget:
 * every trade id once and in order (a jump is filled over REST), records sent to the delivery
 * stream in batches while the backfill goes on, checkpoints moved only after a batch was accepted
 * (never more than one batch accepted and not yet checkpointed), malformed frames to `dlq/`, and
 * partial candles and trades published to live subscribers within a few hundred milliseconds. A
 * run ends within its budget whatever the backlog: it stops fetching `stopMarginMs` before the end,
 * sends what it fetched until `endMarginMs` before it, and leaves the rest to the next run. Until
 * then its stream stays open for the live path alone (the tail): subscribers see trades up to the
 * run's end, and the next run, which reads what was published (`LiveSink.published`), sends none
 * of them again, so a run change leaves them well under a second without trades. A
 * symbol the stream stops bringing trades for (`stallAfterMs`) while the exchange trades on, or
 * whose stream stays down, is a stall: logged, recorded under `quality/stalls/` and caught up over
 * REST; checkpoints (and so the candles' completeness horizon) move only with trades received.
 * `runIngest` composes three parts, each readable and tested alone: `continuity.ts` (per-symbol
 * id order, duplicates, gap fill, backfill and stall decisions), `connection.ts` (the stream with
 * its watchdog, rotation and reconnects) and `outbox.ts` (batches to the delivery stream, quotes,
 * DLQ lines and the checkpoint writer).
 */
import type { Exchange, Trade } from '../../market/index'
import { setWeightPauseListener } from '../binance/index'
import { venueFor } from '../venues/index'
import type { LivePort, ObjectStore, RecordStream, Venue } from '../../ports/index'
import { pause } from '../http/index'
import { outbox } from './outbox'
import { continuity } from './continuity'
import { streamConnection } from './connection'

export const defaults = {
  /** How often records go to the stream and live updates to subscribers. */
  flushMs: 250,
  /** Firehose takes at most 500 records in one PutRecordBatch. */
  batchRecords: 500,
  /**
   * Checkpoints are written this often while records are accepted, at the end of a run, and before
   * a batch would leave more than `batchRecords` records accepted but not checkpointed: a run cut
   * short anywhere makes the next one send at most one batch again.
   */
  checkpointEveryMs: 5_000,
  /** With no checkpoint, how far back the first run backfills. */
  initialBackfillMs: 0,
  /** Stop fetching (REST and stream) this long before the budget ends; what was fetched is sent and checkpointed in the time left. */
  stopMarginMs: 2_000,
  /** The last sends stop (a send in flight is cut off) this long before the budget ends; records still unsent are fetched again by the next run. */
  endMarginMs: 500,
  /** A backfill waits while this many records wait to be sent: memory stays bounded and the checkpoint follows the backfill closely. */
  maxOutbox: 2_000,
  /** Trades fetched over REST that are older than this are not published live: a catch-up's history is the lake's, the live path shows the stream. */
  liveMaxAgeMs: 60_000,
  reconnectMinMs: 500,
  reconnectMaxMs: 30_000,
  /** A stream silent this long (no frame, no ping) is taken for dead and replaced. */
  staleMs: 45_000,
  /**
   * A symbol the stream has brought no trade for this long is checked over REST (`Venue.latestId`):
   * newer trades at the exchange mean the stream stalled (recorded, logged, caught up over REST),
   * none mean the market is quiet. A stream down this long is a stall of each symbol too. Above the
   * normal cadence of a liquid symbol (several trades a second on Binance and Coinbase).
   */
  stallAfterMs: 15_000,
  /** Binance ends a connection at 24 h: a new one is opened before that and overlaps the old. */
  rotateAfterMs: 23 * 3_600_000,
  /** How long the old and the new connection both run during a rotation. */
  rotateOverlapMs: 5_000,
  /**
   * REST pages in flight at once, across the run's symbols; the others wait their turn in one line
   * (round-robin by symbol). The exchange's own limit is paced below this (Binance's request weight,
   * Coinbase's requests per second); this keeps a 50-symbol backfill fair and its memory bounded.
   */
  restConcurrency: 4,
  /** Tries to get a batch accepted by the stream before the run gives up (checkpoint unmoved). */
  sendAttempts: 20,
}

export type IngestSettings = typeof defaults

export interface IngestOptions {
  exchange: Exchange
  restUrl: string
  wsUrl: string
  symbols: string[]
  /** Also stream best bid/ask (`bookTicker`) into `deps.quoteStream`. */
  quotes?: boolean
  /** The exchange's protocol; by default the one `exchange` names in the registry (`venueFor` of sources/venues). */
  venue?: Venue
  /** What stream trades are labelled (`replay` when the exchange plays a capture). */
  streamSource?: Trade['source']
  /** Time this run may take, in ms (a Lambda's remaining time). */
  budgetMs: number
  settings?: Partial<typeof defaults>
}

export interface IngestDeps {
  store: ObjectStore
  stream: RecordStream
  /** Where quotes go when `quotes` is on (the quotes delivery stream). */
  quoteStream?: RecordStream
  /**
   * Live path: opened for the run, offered each trade (once, in id order per symbol) and quote as
   * it arrives, drained within the budget at the end. The wiring connects it to the live feed
   * (`livePort` of serve/realtime/live over a broadcast); without it there is no live path.
   */
  live?: LivePort
  fetch?: typeof fetch
  now?: () => number
  log?: (line: string) => void
  /** Ends the run early (process shutdown). */
  signal?: AbortSignal
}

/**
 * What a run did. `behind`: symbols whose backfill or gap fill the run left unfinished (the next run
 * goes on from their checkpoint); `unsent`: records fetched but not sent before the deadline
 * (fetched again by the next run).
 */
export interface IngestSummary { quotes: number; received: number; backfilled: number; sent: number; unsent: number; duplicates: number; dlq: number; gapsFilled: number; reconnects: number; sequenceGaps: number; stalls: number; checkpoints: Record<string, number>; behind: string[] }

/**
 * Runs ingest for one budget. Resolves with what it did once it has flushed and checkpointed.
 * @example await runIngest({ exchange: 'binance', restUrl, wsUrl, symbols: ['BTC-USDT'], budgetMs: 55_000 }, { store, stream })
 */
export async function runIngest(opts: IngestOptions, deps: IngestDeps): Promise<IngestSummary> {
  const s = { ...defaults, ...opts.settings }
  const venue = opts.venue ?? venueFor(opts) // first: a venue that refuses the symbols (too many streams) ends the run before it opens anything
  const now = deps.now ?? Date.now
  const log = deps.log ?? (() => {})
  const started = now()
  /** Fetching (REST and stream) stops here. */
  const deadline = started + opts.budgetMs - s.stopMarginMs
  /** Sending stops here. */
  const end = started + opts.budgetMs - s.endMarginMs
  // REST requests in flight and rate-limit waits end at the deadline (or when the run is aborted).
  const stop = new AbortController()
  const stopTimer = setTimeout(() => stop.abort(new Error('the run stopped fetching (budget)')), Math.max(0, deadline - now()))
  const onAbort = () => stop.abort(new Error('the run was aborted'))
  deps.signal?.addEventListener('abort', onAbort, { once: true })
  const baseFetch = deps.fetch ?? fetch
  const fetchImpl = ((url, init) => baseFetch(url, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, stop.signal]) : stop.signal })) as typeof fetch
  setWeightPauseListener((base, used, ms) => log(`${base}: ${used} request weight used this minute; holding REST requests ${Math.round(ms / 1000)} s for the next minute`))
  const sum: IngestSummary = { quotes: 0, received: 0, backfilled: 0, sent: 0, unsent: 0, duplicates: 0, dlq: 0, gapsFilled: 0, reconnects: 0, sequenceGaps: 0, stalls: 0, checkpoints: {}, behind: [] }
  const live = deps.live?.({ exchange: opts.exchange, now, log })
  const base = { exchange: opts.exchange, store: deps.store, settings: s, now, log, sum }
  // Sending runs beside fetching: the loop below wakes when a batch is ready, a backfill waits while the outbox is full.
  const out = outbox({ ...base, stream: deps.stream, quoteStream: deps.quoteStream, deadline, end, signal: stop.signal })
  const symbols = continuity({ ...base, venue, out, live, fetchImpl, signal: stop.signal, deadline })
  // checkpoints read side by side (50 symbols: one round trip, not 50); symbols added side by side
  // too (a first run's backfill start is a REST lookup, retried after a refusal), each taking its
  // place in the run's symbol order as its add begins
  const [checkpoints, published] = await Promise.all([
    Promise.all(opts.symbols.map((symbol) => out.load(symbol))),
    Promise.all(opts.symbols.map((symbol) => live?.published?.(symbol).catch(() => undefined))),
  ])
  await Promise.all(opts.symbols.map((symbol, i) => symbols.add(symbol, checkpoints[i], out.checkpointTs(symbol), published[i])))
  /** Set once fetching stopped: the stream's frames then go to the live path only. */
  let tail = false

  // The stream: buffered per symbol while that symbol catches up over REST.
  const stream = streamConnection({
    ...base, venue, symbols: opts.symbols, source: opts.streamSource ?? 'ws',
    onLostFrames: (...a) => { if (!tail) symbols.lostFrames(...a) },
    onFrame(r, raw) {
      if (r.error !== undefined) return out.pushDlq(raw, r.error)
      if (tail) { for (const t of r.trades ?? []) symbols.tail(t); for (const q of r.quotes ?? []) live?.quote(q); return }
      for (const t of r.trades ?? []) symbols.receive(t)
      if (r.latest) symbols.latest(r.latest)
      if (r.quotes && opts.quotes) for (const q of r.quotes) { out.pushQuote(q); live?.quote(q) }
    },
  })
  const stallTimer = setInterval(() => symbols.checkStalls(stream.status()), Math.max(100, Math.min(s.stallAfterMs / 3, 5_000)))

  stream.open()
  let waited: NodeJS.Timeout | undefined
  await Promise.race([stream.opened, new Promise((r) => { waited = setTimeout(r, Math.max(0, Math.min(10_000, deadline - now()))) })])
  clearTimeout(waited)

  // Catch up from each checkpoint while the stream buffers; the loop below sends and checkpoints as it goes.
  const backfill = symbols.backfill()
  try {
    try {
      while (now() < deadline && !deps.signal?.aborted) {
        await out.nextBatch(Math.min(s.flushMs, deadline - now()))
        await out.flush(false)
      }
    } finally {
      clearInterval(stallTimer)
      stop.abort(new Error('the run stopped fetching (budget)'))
      tail = Boolean(live) && !deps.signal?.aborted
      if (!tail) stream.close()
    }
    await backfill
    await symbols.drain()
    await out.flush(true)
    sum.behind.push(...(await symbols.finish()))
    if (tail) {
      await pause(Math.max(0, end - now()), deps.signal).catch(() => {}) // a shutdown ends the tail at once
      stream.close()
      await out.flush(true) // malformed frames of the tail, to dlq/
    }
  } finally {
    stream.close()
    clearTimeout(stopTimer)
    deps.signal?.removeEventListener('abort', onAbort)
    // The last updates go out within the budget; the feed's timer never outlives the run.
    const closing = live ? live.drain() : Promise.resolve()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([closing, new Promise((r) => { timer = setTimeout(r, Math.max(0, Math.min(2_000, started + opts.budgetMs - 100 - now()))) })])
    clearTimeout(timer)
    live?.close()
  }
  return sum
}

