/**
 * Per-symbol continuity of one ingest run: every trade id once and in order. A trade below the
 * next id is a duplicate; a jump is filled over REST first (`Venue.pages`), and ids the exchange no
 * longer has are recorded as an unfillable gap and skipped. When REST keeps failing or the budget
 * ends during a fill, the symbol halts for the rest of the run (nothing after the hole is emitted,
 * so its checkpoint stays before it). It decides the backfill from each checkpoint, the catch-up
 * after lost frames or a newer id the exchange announces, and the stall checks: a symbol the stream
 * has brought nothing for `stallAfterMs` is checked over REST and caught up when the exchange
 * traded on. Emitted trades go to the outbox, and live when they are current. REST pages (and
 * stall probes) of all the run's symbols wait in one line, `restConcurrency` at a time: a symbol's
 * next page goes behind every other symbol's waiting page (round-robin), so with many symbols one
 * long backfill neither starves the others nor a gap fill of a live symbol, and the pages fetched
 * but not yet sent stay bounded (`maxOutbox` plus one page per turn).
 */
import pLimit from 'p-limit'
import type { Exchange, Trade } from '../../market/index'
import type { LiveSink, ObjectStore, Venue, VenueFrame } from '../../ports/index'
import { recordGap, recordStall, type GapKind, type Stall } from '../../lake/quality/index'
import type { IngestSettings, IngestSummary } from './index'
import type { Outbox } from './outbox'
import { backoffMs, pause } from '../http/index'

export interface ContinuityOptions {
  exchange: Exchange
  venue: Venue
  /** Where gaps and stalls are recorded (`quality/`). */
  store: ObjectStore
  settings: Pick<IngestSettings, 'initialBackfillMs' | 'liveMaxAgeMs' | 'stallAfterMs' | 'restConcurrency'>
  /** Where emitted trades go, in id order per symbol; a backfill waits for its `room`. */
  out: Pick<Outbox, 'push' | 'room'>
  live?: Pick<LiveSink, 'trade'>
  /** REST requests of the run (ended with `signal`). */
  fetchImpl: typeof fetch
  /** Fetching is over (the run's deadline, or an abort). */
  signal: AbortSignal
  /** Fetching stops here. */
  deadline: number
  now: () => number
  log: (line: string) => void
  sum: Pick<IngestSummary, 'received' | 'duplicates' | 'backfilled' | 'gapsFilled' | 'stalls'>
}

export interface SymbolState {
  symbol: string
  nextId?: number
  queue: Trade[]
  working: boolean
  /**
   * Set while the backfill from the checkpoint runs: the stream's trades then go live on receipt,
   * unless the backfill is a `handover`.
   */
  backfilling?: boolean
  /**
   * Set when the checkpoint is recent (within `liveMaxAgeMs`): the backfill only bridges the
   * previous run's end and this run's stream, so every trade goes live in id order as it is
   * emitted (the stream's trades wait the second or so the bridge takes) and none of the bridge is lost
   * to subscribers; after a long pause the stream goes live at once and the history is the lake's.
   */
  handover?: boolean
  /** Highest trade id published live (none is published twice); a handover starts from the earlier run's. */
  liveHigh?: number
  /** Trades the stream brought after the run's deadline, waiting to go live in id order (`tail`). */
  tail?: Trade[]
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

/** The stream as the stall check sees it: open, or down since `down.at`. */
export interface StreamStatus { open: boolean; down?: { at: number; reason: string } }

export type Continuity = ReturnType<typeof continuity>

/**
 * The continuity of the run's symbols. Long as a whole because its small named functions share the
 * run's symbol states (fill calls emit and gap, work calls accept and fill, the stall check work);
 * none is over 40 lines.
 * @example const c = continuity(o); await c.add('BTC-USDT', checkpointId); const done = c.backfill(); c.receive(trade)
 */
export function continuity(o: ContinuityOptions) {
  const s = o.settings
  const { now, log, sum, venue } = o
  const states = new Map<string, SymbolState>()
  /** The run's line of REST pages (first in, first served). */
  const turns = pLimit(s.restConcurrency)

  /**
   * Adds a symbol, going on after `lastId` (its checkpoint, of a trade at `lastTs` µs); without one,
   * from `initialBackfillMs` back when set. `published`: the highest id the earlier run sent live,
   * which a handover does not send again.
   */
  async function add(symbol: string, lastId: number | undefined, lastTs?: number, published?: number) {
    const handover = lastId !== undefined && lastTs !== undefined && now() - lastTs / 1000 <= s.liveMaxAgeMs
    const st: SymbolState = { symbol, heardAt: now(), nextId: lastId !== undefined ? lastId + 1 : undefined, queue: [], working: false, backfilling: lastId !== undefined, handover }
    if (handover && published !== undefined && published > lastId!) st.liveHigh = published
    states.set(symbol, st)
    if (lastId === undefined && s.initialBackfillMs > 0) {
      const first = await startOfBackfill(symbol)
      if (first !== undefined) Object.assign(st, { nextId: first, backfilling: true })
    }
  }

  /**
   * The first trade id of a first run's backfill, asked again after a refusal as a backfill page is
   * (`retryWait`). Undefined when the symbol has no trade in the window or the exchange keeps
   * refusing (logged).
   */
  async function startOfBackfill(symbol: string): Promise<number | undefined> {
    const since = now() - s.initialBackfillMs
    for (let failures = 1; ; failures++) {
      try {
        return await venue.firstIdAfter(symbol, since, now(), o.fetchImpl)
      } catch (e: any) {
        const wait = retryWait(e, failures)
        log(`backfill start lookup failed for ${symbol}: ${e.message}`)
        if (wait === undefined) return undefined
        await pause(wait, o.signal).catch(() => {}) // the run's end cuts the wait short
      }
    }
  }

  /**
   * How long to wait before asking REST again after `e`, the `failures`-th failure in a row; undefined
   * to give up for this run. A 429 with a `Retry-After` is the exchange saying when, not a failure
   * of ours: it is obeyed as long as the budget lasts (the weight gate holds every request of the
   * host meanwhile, so this cannot grow into a ban). Other failures get 4 tries with the REST
   * client's jittered backoff (`backoffMs`); a 418 (banned) ends the run's REST work at once.
   */
  function retryWait(e: { status?: number; retryAfterMs?: number }, failures: number): number | undefined {
    if (o.signal.aborted || e.status === 418) return undefined
    const told = e.status === 429 && e.retryAfterMs !== undefined
    if (!told && failures >= 4) return undefined
    const wait = e.retryAfterMs ?? backoffMs(failures, 500, 60_000)
    return now() + wait > o.deadline ? undefined : wait
  }

  /**
   * While a symbol catches up over REST (or waits for the next run), its live path is the stream's:
   * trades go live on receipt. A handover's trades instead go live in order as they are emitted.
   */
  const liveOnReceipt = (st: SymbolState) => (st.backfilling && !st.handover) || st.halted

  /** Publishes a trade live unless a newer (or the same) one of its symbol already went. */
  function publishLive(st: SymbolState, t: Trade) {
    if (!o.live || t.trade_id <= (st.liveHigh ?? -Infinity)) return
    st.liveHigh = t.trade_id
    o.live.trade(t)
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
    o.out.push(t)
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
    for (let failures = 0; ;) {
      try {
        for await (const page of inTurn(st, untilId)) {
          failures = 0
          for (const t of page) {
            if (t.trade_id < st.nextId!) continue
            if (t.trade_id > st.nextId!) await gap(st, 'unfillable', st.nextId!, t.trade_id - 1, 'the exchange has no trades with these ids')
            emit(st, t)
            sum.backfilled++
            if (st.stall) st.stall.fetched++
          }
          await o.out.room()
          if (now() > o.deadline || o.signal.aborted) { st.halted = true; log(`${st.symbol}: budget ended while backfilling at id ${st.nextId}; the next run goes on from there`); return false }
        }
        break
      } catch (e: any) {
        const wait = retryWait(e, ++failures)
        if (!o.signal.aborted) log(`backfill of ${st.symbol} from id ${st.nextId} failed: ${e.message}`)
        if (wait === undefined) {
          st.halted = true
          if (o.signal.aborted) log(`${st.symbol}: budget ended while backfilling at id ${st.nextId}; the next run goes on from there`)
          if (untilId !== Infinity) await gap(st, 'deferred', st.nextId!, untilId, `REST backfill failed (${e.message}); the next run starts at the checkpoint`)
          return false
        }
        await pause(wait, o.signal).catch(() => {}) // the run's end cuts the wait short
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

  /** The pages of `st` from its next id to `untilId`, each fetched in its turn in the run's line. */
  async function* inTurn(st: SymbolState, untilId: number) {
    const pages = venue.pages(st.symbol, st.nextId!, untilId, o.fetchImpl, o.signal)[Symbol.asyncIterator]()
    try {
      for (;;) {
        // room is awaited in the turn: while the outbox is full the line stands still, so at most one page a turn is fetched past `maxOutbox`
        const next = await turns(async () => { await o.out.room(); return pages.next() })
        if (next.done) return
        yield next.value
      }
    } finally { await pages.return?.() }
  }

  async function gap(st: SymbolState, kind: GapKind, fromId: number, toId: number, reason: string) {
    await recordGap(o.store, { exchange: o.exchange, symbol: st.symbol, kind, from_id: fromId, to_id: toId, detected_at: now(), reason })
      .catch((e) => log(`could not record a ${kind} gap of ${st.symbol}: ${e.message}`))
  }

  /** Works through a symbol's queue (and a catch-up when asked), one caller at a time. */
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

  /** Takes a trade from the stream: buffered per symbol while that symbol catches up over REST. */
  function receive(t: Trade) {
    const st = states.get(t.symbol)
    if (!st) return
    sum.received++
    st.heardAt = now()
    if (st.stall) void endStall(st, { resumed_at: now() })
    if (!(t.trade_id <= st.streamed!)) st.streamed = t.trade_id
    if (liveOnReceipt(st)) publishLive(st, t)
    st.queue.push(t)
    void work(st)
  }

  /**
   * Takes a trade the stream brought after the run's deadline, for the live path only (the next run
   * fetches it for the lake): it goes live once every id before it has, so subscribers see trades
   * up to the run's very end, in order and without a hole; the next run does not send it again.
   */
  function tail(t: Trade) {
    const st = states.get(t.symbol)
    if (!st) return
    if (liveOnReceipt(st)) return publishLive(st, t)
    const q = (st.tail ??= [])
    let at = q.length
    while (at > 0 && q[at - 1].trade_id > t.trade_id) at-- // kept in id order (the stream's order, nearly always)
    q.splice(at, 0, t)
    if (q.length > 10_000) q.splice(0, q.length - 10_000) // bounded: a hole this deep ends the tail
    publishTail(st)
  }

  /** Sends the waiting tail trades that follow the last published id directly. */
  function publishTail(st: SymbolState) {
    const q = st.tail
    if (!q?.length || st.liveHigh === undefined) return
    let i = 0
    while (i < q.length && q[i].trade_id <= st.liveHigh) i++
    while (i < q.length && q[i].trade_id === st.liveHigh + 1) publishLive(st, q[i++])
    q.splice(0, i)
  }

  /** The exchange names its newest trade id of a symbol (a heartbeat): one the stream has not brought is caught up over REST. */
  function latest(l: NonNullable<VenueFrame['latest']>) {
    const st = states.get(l.symbol)
    if (st && st.nextId !== undefined && l.id >= st.nextId && !(l.id <= st.streamed!)) {
      log(`${st.symbol}: the exchange's newest trade is ${l.id}, the stream's ${st.streamed ?? 'none'}; catching up over REST`)
      st.catchUp = true
      void work(st)
    }
  }

  /** Frames were lost on the connection (and with them perhaps the last trades before a quiet spell): every symbol catches up over REST. */
  function lostFrames() {
    for (const st of states.values()) { st.catchUp = true; void work(st) }
  }

  /** Records the start of a stall of `st` and logs it. */
  function openStall(st: SymbolState, reason: string) {
    st.stall = { exchange: o.exchange, symbol: st.symbol, since: st.heardAt, detected_at: now(), reason, fetched: 0 }
    sum.stalls++
    log(`${st.symbol}: STALLED since ${new Date(st.stall.since).toISOString()}: ${reason}`)
    void recordStall(o.store, st.stall).catch((e) => log(`could not record a stall of ${st.symbol}: ${e.message}`))
  }

  /** Closes the stall of `st`: the stream brings trades again (`resumed_at`) or the run ends (`ended_at`). */
  function endStall(st: SymbolState, end: Pick<Stall, 'resumed_at' | 'ended_at'>) {
    const stall = { ...st.stall!, ...end }
    st.stall = undefined
    if (end.resumed_at !== undefined) log(`${st.symbol}: the stream brings trades again after a stall of ${Math.round((end.resumed_at - stall.since) / 1000)} s (${stall.fetched} trades caught up over REST meanwhile)`)
    return recordStall(o.store, stall).catch((e) => log(`could not record the end of a stall of ${st.symbol}: ${e.message}`))
  }

  /**
   * The stall check, run every few seconds: a symbol the stream has brought nothing for
   * `stallAfterMs` is checked over REST. Newer trades at the exchange (or no answer) open a stall,
   * and the symbol catches up over REST; none mean a quiet market. A stream down that long is a
   * stall of every symbol.
   */
  function checkStalls(stream: StreamStatus) {
    for (const st of states.values()) {
      if (st.probing || st.halted || st.backfilling || now() - st.heardAt < s.stallAfterMs || now() >= o.deadline) continue
      if (!stream.open) {
        if (stream.down && !st.stall && now() - stream.down.at >= s.stallAfterMs) openStall(st, `the stream is down (${stream.down.reason}); reconnecting`)
        continue
      }
      if (!venue.latestId) continue
      st.probing = true
      const known = Math.max(st.streamed ?? -Infinity, (st.nextId ?? -Infinity) - 1)
      const silentMs = now() - st.heardAt
      void turns(() => venue.latestId!(st.symbol, o.fetchImpl, o.signal)).then((latest) => {
        if (latest === undefined || latest <= known) return // the exchange had no newer trade: a quiet market
        if (!st.stall) openStall(st, `no trade on the stream for ${Math.round(silentMs / 1000)} s while the exchange traded on (its newest id ${latest}, ours ${Number.isFinite(known) ? known : 'none'}); catching up over REST`)
        st.catchUp = true
        void work(st)
      }, (e) => {
        if (!o.signal.aborted && !st.stall) openStall(st, `no trade on the stream for ${Math.round(silentMs / 1000)} s, and the exchange's REST API does not answer (${e.message})`)
      }).finally(() => { st.probing = false; st.heardAt = Math.max(st.heardAt, now() - s.stallAfterMs / 2) })
    }
  }

  /** Catches each symbol up from its checkpoint while the stream buffers; resolves when every backfill has ended. */
  function backfill(): Promise<unknown> {
    return Promise.all([...states.values()].map(async (st) => {
      if (st.nextId === undefined) return
      st.working = true
      try {
        try { await fill(st, Infinity) } finally { st.working = false }
        await work(st)
      } finally { st.backfilling = st.handover = false } // a failed backfill must not keep the symbol's stall checks off
    })).catch((e) => log(`backfill stopped: ${e?.message ?? e}`))
  }

  /** Works through what the stream left queued (then what of the tail follows it goes live). */
  async function drain() {
    for (const st of states.values()) { await work(st); publishTail(st) }
  }

  /** Ends the run: the symbols left behind (halted), and every stall still in course closed (the next run checks afresh). */
  async function finish(): Promise<string[]> {
    const behind = [...states.values()].filter((st) => st.halted).map((st) => st.symbol)
    await Promise.all([...states.values()].filter((st) => st.stall).map((st) => endStall(st, { ended_at: now() })))
    return behind
  }

  return { add, receive, tail, latest, lostFrames, checkStalls, backfill, drain, finish, state: (symbol: string) => states.get(symbol) }
}
