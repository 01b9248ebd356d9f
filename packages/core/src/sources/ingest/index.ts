/**
 * Ingest: one run of the scheduled ingest function. It opens the exchange's WebSocket, backfills
 * over REST from each symbol's checkpoint, then streams trades for the rest of its time budget:
 * every trade id once and in order (a jump is filled over REST), records sent to the delivery
 * stream in batches while the backfill goes on, checkpoints moved only after a batch was accepted
 * (never more than one batch accepted and not yet checkpointed), malformed frames to `dlq/`, and
 * partial candles and trades published to live subscribers within a few hundred milliseconds. A
 * run ends within its budget whatever the backlog: it stops fetching `stopMarginMs` before the end,
 * sends what it fetched until `endMarginMs` before it, and leaves the rest to the next run. A
 * symbol the stream stops bringing trades for (`stallAfterMs`) while the exchange trades on, or
 * whose stream stays down, is a stall: logged, recorded under `quality/stalls/` and caught up over
 * REST; checkpoints (and so the candles' completeness horizon) move only with trades received.
 */
import WebSocket from 'ws'
import type { Exchange, Quote, Trade } from '../../market/index'
import { setWeightPauseListener } from '../binance/index'
import { sequenceTracker } from '../coinbase/index'
import { venueFor } from '../venues/index'
import { readCheckpoint, writeCheckpoint } from '../checkpoint/index'
import { dlqKey } from '../../lake/layout/index'
import { recordDisconnect, recordGap, recordStall, type GapKind, type Stall } from '../../lake/quality/index'
import type { LivePort, ObjectStore, RecordStream, Venue } from '../../ports/index'

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
  /** Tries to get a batch accepted by the stream before the run gives up (checkpoint unmoved). */
  sendAttempts: 20,
}

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

interface SymbolState {
  symbol: string
  nextId?: number
  queue: Trade[]
  working: boolean
  accepted?: { id: number; ts: number }
  etag?: string
  saved?: number
  /** The trade id stored under `etag` (read at the start or written since): a checkpoint write is then one conditional PUT. */
  stored?: number
  /** Set while the backfill from the checkpoint runs: the stream's trades then go live on receipt. */
  backfilling?: boolean
  /** Highest trade id published live (none is published twice). */
  liveHigh?: number
  /** Set when a hole could not be filled in this run: later trades wait for the next run. */
  halted?: boolean
  /** Set when frames were lost on the connection (a sequence jump): fetch up to the newest over REST before going on. */
  catchUp?: boolean
  /** Highest trade id the stream has handed over for this symbol. */
  streamed?: number
  /** When the stream last brought a trade of this symbol (or a stall check last ran). */
  heardAt: number
  /** The stall in course, recorded under `quality/stalls/` (closed when the stream brings trades again). */
  stall?: Stall
  /** Set while a stall check asks the exchange over REST. */
  probing?: boolean
}

/**
 * Runs ingest for one budget. Resolves with what it did once it has flushed and checkpointed.
 * @example await runIngest({ exchange: 'binance', restUrl, wsUrl, symbols: ['BTC-USDT'], budgetMs: 55_000 }, { store, stream })
 */
export async function runIngest(opts: IngestOptions, deps: IngestDeps): Promise<IngestSummary> {
  const s = { ...defaults, ...opts.settings }
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
  const states = new Map<string, SymbolState>()
  const outbox: Trade[] = []
  const quoteOutbox: Quote[] = []
  const dlq: string[] = []
  const venue = opts.venue ?? venueFor(opts)
  const live = deps.live?.({ exchange: opts.exchange, now, log })

  for (const symbol of opts.symbols) {
    const cp = await readCheckpoint(deps.store, opts.exchange, symbol)
    states.set(symbol, { symbol, heardAt: now(), nextId: cp ? cp.checkpoint.last_trade_id + 1 : undefined, queue: [], working: false, etag: cp?.etag, stored: cp?.checkpoint.last_trade_id, accepted: cp && { id: cp.checkpoint.last_trade_id, ts: cp.checkpoint.ts }, backfilling: !!cp })
    if (!cp && s.initialBackfillMs > 0) {
      const first = await venue.firstIdAfter(symbol, now() - s.initialBackfillMs, now(), fetchImpl).catch((e) => { log(`backfill start lookup failed for ${symbol}: ${e.message}`) })
      if (first !== undefined) Object.assign(states.get(symbol)!, { nextId: first, backfilling: true })
    }
  }

  /** Publishes a trade live unless a newer (or the same) one of its symbol already went. */
  function publishLive(st: SymbolState, t: Trade) {
    if (!live || t.trade_id <= (st.liveHigh ?? -Infinity)) return
    st.liveHigh = t.trade_id
    live.trade(t)
  }

  // Sending runs beside fetching: the loop wakes when a batch is ready, a backfill waits while the outbox is full.
  let wake = () => {}
  let roomWaiters: (() => void)[] = []
  const freeRoom = () => { for (const r of roomWaiters.splice(0)) r() }
  stop.signal.addEventListener('abort', freeRoom, { once: true })
  /** Resolves once the outbox has room for another REST page, or fetching is over. */
  async function room() {
    while (outbox.length >= s.maxOutbox && !stop.signal.aborted) await new Promise<void>((r) => roomWaiters.push(r))
  }

  /** Emits one trade in id order: drops what is already emitted, fills a jump over REST first. */
  async function accept(st: SymbolState, t: Trade) {
    if (st.halted || (st.nextId !== undefined && t.trade_id < st.nextId)) { sum.duplicates += st.halted ? 0 : 1; return }
    if (st.nextId !== undefined && t.trade_id > st.nextId && !(await fill(st, t.trade_id - 1))) return
    if (st.nextId !== undefined && t.trade_id < st.nextId) { sum.duplicates++; return }
    emit(st, t)
  }

  function emit(st: SymbolState, t: Trade) {
    st.nextId = t.trade_id + 1
    outbox.push(t)
    if (outbox.length === s.batchRecords) wake()
    if (!st.backfilling || now() - t.ts / 1000 <= s.liveMaxAgeMs) publishLive(st, t)
  }

  /**
   * Fetches trades `nextId..untilId` over REST. Returns false and halts the symbol for this run
   * when the REST API keeps failing or the budget ends first: nothing after the hole is emitted,
   * so the checkpoint stays before it and the next run starts there. Ids the exchange no longer
   * has are logged as a gap and skipped.
   */
  async function fill(st: SymbolState, untilId: number): Promise<boolean> {
    const from = st.nextId!
    for (let attempt = 0; ; attempt++) {
      try {
        for await (const page of venue.pages(st.symbol, st.nextId!, untilId, fetchImpl, stop.signal)) {
          for (const t of page) {
            if (t.trade_id < st.nextId!) continue
            if (t.trade_id > st.nextId!) await gap(st, 'unfillable', st.nextId!, t.trade_id - 1, 'the exchange has no trades with these ids')
            emit(st, t)
            sum.backfilled++
            if (st.stall) st.stall.fetched++
          }
          await room()
          if (now() > deadline || stop.signal.aborted) { st.halted = true; log(`${st.symbol}: budget ended while backfilling at id ${st.nextId}; the next run goes on from there`); return false }
        }
        break
      } catch (e: any) {
        const wait = e.retryAfterMs ?? 500 * 2 ** attempt
        if (!stop.signal.aborted) log(`backfill of ${st.symbol} from id ${st.nextId} failed: ${e.message}`)
        if (attempt >= 3 || now() + wait > deadline || stop.signal.aborted || e.status === 418) {
          st.halted = true
          if (stop.signal.aborted) log(`${st.symbol}: budget ended while backfilling at id ${st.nextId}; the next run goes on from there`)
          if (untilId !== Infinity) await gap(st, 'deferred', st.nextId!, untilId, `REST backfill failed (${e.message}); the next run starts at the checkpoint`)
          return false
        }
        await new Promise((r) => setTimeout(r, wait))
      }
    }
    if (untilId === Infinity) return true
    if (st.nextId! > from) { sum.gapsFilled++; await gap(st, 'filled', from, st.nextId! - 1, 'trade ids jumped on the stream; filled over REST') }
    if (st.nextId! <= untilId) {
      log(`gap in ${st.symbol}: the exchange has no trade ids ${st.nextId}..${untilId}`)
      await gap(st, 'unfillable', st.nextId!, untilId, 'the exchange returned no trades for these ids')
      st.nextId = untilId + 1
    }
    return true
  }

  async function gap(st: SymbolState, kind: GapKind, fromId: number, toId: number, reason: string) {
    await recordGap(deps.store, { exchange: opts.exchange, symbol: st.symbol, kind, from_id: fromId, to_id: toId, detected_at: now(), reason })
      .catch((e) => log(`could not record a ${kind} gap of ${st.symbol}: ${e.message}`))
  }

  async function work(st: SymbolState) {
    if (st.working) return
    st.working = true
    try {
      while (st.queue.length || st.catchUp) {
        if (st.catchUp) {
          st.catchUp = false
          if (st.nextId !== undefined && !st.halted) await fill(st, Infinity)
          continue
        }
        await accept(st, st.queue.shift()!)
      }
    } finally { st.working = false }
  }

  // The stream: buffered per symbol while that symbol catches up over REST.
  let ws: WebSocket | undefined
  let stopped = false
  let delay = s.reconnectMinMs
  let down: { at: number; reason: string } | undefined
  const sockets = new Set<WebSocket>()
  const retired = new WeakSet<WebSocket>()
  let connected: () => void = () => {}
  const firstOpen = new Promise<void>((r) => { connected = r })
  function connect(): WebSocket | undefined {
    if (stopped) return
    const socket = new WebSocket(venue.streamUrl())
    ws = socket
    const sequence = sequenceTracker({ first: 0 })
    let lastSeen = now()
    const alive = () => { lastSeen = now() }
    const watchdog = setInterval(() => {
      if (now() - lastSeen < s.staleMs) return
      log(`stream silent for ${s.staleMs} ms; replacing the connection`)
      socket.terminate()
    }, Math.min(s.staleMs, 5_000))
    const rotation = setTimeout(() => {
      if (stopped || ws !== socket) return
      log('rotating the stream connection before the exchange ends it')
      const next = connect()
      next?.once('open', () => setTimeout(() => { retired.add(socket); socket.close(1000) }, s.rotateOverlapMs))
    }, s.rotateAfterMs)
    socket.on('ping', alive)
    socket.on('open', () => {
      alive()
      for (const m of venue.subscribe()) socket.send(m)
      delay = s.reconnectMinMs
      connected()
      log(`stream open: ${opts.symbols.join(', ')}`)
      if (down) {
        const d = { exchange: opts.exchange, symbols: opts.symbols, disconnected_at: down.at, reconnected_at: now(), reason: down.reason }
        down = undefined
        void recordDisconnect(deps.store, d).catch((e) => log(`could not record a disconnect: ${e.message}`))
      }
    })
    socket.on('message', (data) => {
      alive()
      const raw = data.toString()
      const r = venue.parse(raw, now() * 1000, opts.streamSource ?? 'ws')
      if (r.error !== undefined) {
        dlq.push(JSON.stringify({ received_at: new Date(now()).toISOString(), reason: r.error, frame: raw.slice(0, 10_000) }))
        return
      }
      if (venue.sequenced && r.sequence !== undefined) {
        // Numbers count every frame of this connection from 0: a jump means frames were lost, and
        // with them perhaps the last trades before a quiet spell, which no later id would reveal.
        const c = sequence.check(r.sequence)
        if (c.gap) {
          sum.sequenceGaps++
          log(`stream lost frames ${c.expected}..${r.sequence - 1}; catching up over REST`)
          for (const st of states.values()) { st.catchUp = true; void work(st) }
        }
      }
      if (r.trades) {
        for (const t of r.trades) {
          const st = states.get(t.symbol)
          if (!st) continue
          sum.received++
          st.heardAt = now()
          if (st.stall) endStall(st, { resumed_at: now() })
          if (!(t.trade_id <= st.streamed!)) st.streamed = t.trade_id
          // While the symbol catches up over REST (or waits for the next run), its live path is the stream's.
          if (st.backfilling || st.halted) publishLive(st, t)
          st.queue.push(t)
          void work(st)
        }
      }
      const st = r.latest && states.get(r.latest.symbol)
      if (st && st.nextId !== undefined && r.latest!.id >= st.nextId && !(r.latest!.id <= st.streamed!)) {
        log(`${st.symbol}: the exchange's newest trade is ${r.latest!.id}, the stream's ${st.streamed ?? 'none'}; catching up over REST`)
        st.catchUp = true
        void work(st)
      }
      if (r.quotes && opts.quotes) for (const q of r.quotes) { quoteOutbox.push(q); live?.quote(q) }
    })
    socket.on('error', (e) => log(`stream error: ${e.message}`))
    socket.on('close', (code, why) => {
      clearInterval(watchdog)
      clearTimeout(rotation)
      if (stopped || retired.has(socket) || ws !== socket) return
      down ??= { at: now(), reason: `closed with code ${code}${why.length ? `: ${why}` : ''}` }
      sum.reconnects++
      log(`stream closed (${code}); reconnecting in ${delay} ms (a gap, if any, is filled over REST)`)
      setTimeout(connect, delay)
      delay = Math.min(delay * 2, s.reconnectMaxMs)
    })
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    return socket
  }
  /** Records the start of a stall of `st` and logs it. */
  function openStall(st: SymbolState, reason: string) {
    st.stall = { exchange: opts.exchange, symbol: st.symbol, since: st.heardAt, detected_at: now(), reason, fetched: 0 }
    sum.stalls++
    log(`${st.symbol}: STALLED since ${new Date(st.stall.since).toISOString()}: ${reason}`)
    void recordStall(deps.store, st.stall).catch((e) => log(`could not record a stall of ${st.symbol}: ${e.message}`))
  }

  /** Closes the stall of `st`: the stream brings trades again (`resumed_at`) or the run ends (`ended_at`). */
  function endStall(st: SymbolState, end: Pick<Stall, 'resumed_at' | 'ended_at'>) {
    const stall = { ...st.stall!, ...end }
    st.stall = undefined
    if (end.resumed_at !== undefined) log(`${st.symbol}: the stream brings trades again after a stall of ${Math.round((end.resumed_at - stall.since) / 1000)} s (${stall.fetched} trades caught up over REST meanwhile)`)
    return recordStall(deps.store, stall).catch((e) => log(`could not record the end of a stall of ${st.symbol}: ${e.message}`))
  }

  /**
   * The stall check, run every few seconds: a symbol the stream has brought nothing for
   * `stallAfterMs` is checked over REST. Newer trades at the exchange (or no answer) open a stall,
   * and the symbol catches up over REST; none mean a quiet market. A stream down that long is a
   * stall of every symbol.
   */
  function checkStalls() {
    const connected = ws?.readyState === WebSocket.OPEN
    for (const st of states.values()) {
      if (st.probing || st.halted || st.backfilling || now() - st.heardAt < s.stallAfterMs || now() >= deadline) continue
      if (!connected) {
        if (down && !st.stall && now() - down.at >= s.stallAfterMs) openStall(st, `the stream is down (${down.reason}); reconnecting`)
        continue
      }
      if (!venue.latestId) continue
      st.probing = true
      const known = Math.max(st.streamed ?? -Infinity, (st.nextId ?? -Infinity) - 1)
      const silentMs = now() - st.heardAt
      void venue.latestId(st.symbol, fetchImpl, stop.signal).then((latest) => {
        if (latest === undefined || latest <= known) return // the exchange had no newer trade: a quiet market
        if (!st.stall) openStall(st, `no trade on the stream for ${Math.round(silentMs / 1000)} s while the exchange traded on (its newest id ${latest}, ours ${Number.isFinite(known) ? known : 'none'}); catching up over REST`)
        st.catchUp = true
        void work(st)
      }, (e) => {
        if (!stop.signal.aborted && !st.stall) openStall(st, `no trade on the stream for ${Math.round(silentMs / 1000)} s, and the exchange's REST API does not answer (${e.message})`)
      }).finally(() => { st.probing = false; st.heardAt = Math.max(st.heardAt, now() - s.stallAfterMs / 2) })
    }
  }
  const stallTimer = setInterval(checkStalls, Math.max(100, Math.min(s.stallAfterMs / 3, 5_000)))

  connect()
  let waited: NodeJS.Timeout | undefined
  await Promise.race([firstOpen, new Promise((r) => { waited = setTimeout(r, Math.max(0, Math.min(10_000, deadline - now()))) })])
  clearTimeout(waited)

  // Catch up from each checkpoint while the stream buffers; the loop below sends and checkpoints as it goes.
  const backfill = Promise.all([...states.values()].map(async (st) => {
    if (st.nextId === undefined) return
    st.working = true
    try {
      try { await fill(st, Infinity) } finally { st.working = false }
      await work(st)
    } finally { st.backfilling = false } // a failed backfill must not keep the symbol's stall checks off
  })).catch((e) => log(`backfill stopped: ${e?.message ?? e}`))

  /** Records accepted since the last checkpoint, and when that was written (`savedAt` undefined: none yet this run). */
  let unsaved = 0
  let savedAt: number | undefined

  /** Writes the checkpoint of every symbol with records accepted since its last one. */
  async function saveCheckpoints() {
    for (const st of states.values()) {
      if (!st.accepted || st.accepted.id === st.saved) continue
      st.etag = await writeCheckpoint(deps.store, { exchange: opts.exchange, symbol: st.symbol, last_trade_id: st.accepted.id, ts: st.accepted.ts, updated_at: now() }, st.etag, st.stored)
      st.saved = st.stored = st.accepted.id
      sum.checkpoints[st.symbol] = st.accepted.id
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
      const left = end - now()
      if (left <= 0) return false
      const res = await deps.stream.putRecords(pending, { signal: AbortSignal.timeout(left) }).catch((e) => { log(`stream put failed: ${e.message}`); return { failed: pending.map((_, i) => i) } })
      pending = res.failed.map((i) => pending[i])
      if (!pending.length) return true
      if (attempt + 1 >= s.sendAttempts) throw new Error(`delivery stream refused ${pending.length} records ${s.sendAttempts} times; stopping without moving checkpoints`)
      const wait = Math.min(100 * 2 ** attempt, 5_000)
      if (now() + wait >= end) return false
      await new Promise((r) => setTimeout(r, wait))
    }
  }

  /**
   * Sends the outbox batch by batch (a non-final flush stops at the fetching deadline, the final
   * one at `end`), then quotes and DLQ lines, then checkpoints when due. Before a batch that would
   * leave more than one batch accepted but not checkpointed, the checkpoint is written first.
   */
  async function flush(final: boolean) {
    while (outbox.length && (final || now() < deadline)) {
      const batch = outbox.slice(0, s.batchRecords)
      if (unsaved > 0 && unsaved + batch.length > s.batchRecords) await saveCheckpoints()
      if (!(await send(batch))) break
      outbox.splice(0, batch.length)
      freeRoom()
      sum.sent += batch.length
      unsaved += batch.length
      for (const t of batch) {
        const st = states.get(t.symbol)!
        if (!st.accepted || t.trade_id > st.accepted.id) st.accepted = { id: t.trade_id, ts: t.ts }
      }
    }
    if (final && outbox.length) {
      sum.unsent += outbox.length
      log(`${outbox.length} records were not sent before the deadline; the next run fetches them again from the checkpoint`)
      outbox.length = 0
    }
    await sendQuotes()
    if (dlq.length) {
      const lines = dlq.splice(0)
      sum.dlq += lines.length
      await deps.store.put(dlqKey(opts.exchange, now(), `${now()}-${Math.random().toString(36).slice(2, 8)}`), lines.join('\n') + '\n')
    }
    // The run's first checkpoint goes at once, the rest when due.
    if (unsaved > 0 && (final || savedAt === undefined || unsaved >= s.batchRecords || now() - savedAt >= s.checkpointEveryMs)) await saveCheckpoints()
  }

  /** Quotes are samples, not a sequence: a batch the stream refuses stays for the next flush, up to a bound. */
  async function sendQuotes() {
    if (!deps.quoteStream) { quoteOutbox.length = 0; return }
    while (quoteOutbox.length && now() < end) {
      const batch = quoteOutbox.slice(0, s.batchRecords)
      const res = await deps.quoteStream.putRecords(batch, { signal: AbortSignal.timeout(Math.max(1, end - now())) }).catch((e) => { log(`quote stream put failed: ${e.message}`); return { failed: batch.map((_, i) => i) } })
      const failed = res.failed.map((i) => batch[i])
      quoteOutbox.splice(0, batch.length, ...failed)
      sum.quotes += batch.length - failed.length
      if (failed.length) break
    }
    if (quoteOutbox.length > 100_000) { log(`dropping ${quoteOutbox.length - 100_000} quotes the stream could not take`); quoteOutbox.splice(0, quoteOutbox.length - 100_000) }
  }

  try {
    try {
      while (now() < deadline && !deps.signal?.aborted) {
        if (outbox.length < s.batchRecords) await new Promise<void>((r) => { const t = setTimeout(r, Math.max(0, Math.min(s.flushMs, deadline - now()))); wake = () => { clearTimeout(t); r() } })
        wake = () => {}
        await flush(false)
      }
    } finally {
      stopped = true
      clearInterval(stallTimer)
      stop.abort(new Error('the run stopped fetching (budget)'))
      freeRoom()
      for (const socket of sockets) socket.close()
    }
    await backfill
    for (const st of states.values()) await work(st)
    await flush(true)
    for (const st of states.values()) if (st.halted) sum.behind.push(st.symbol)
    // a stall still in course is closed with the run (the next run checks afresh)
    await Promise.all([...states.values()].filter((st) => st.stall).map((st) => endStall(st, { ended_at: now() })))
  } finally {
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
