/**
 * The live path between lake updates: what the ingest function pushes to subscribers as trades
 * arrive. `coalescer` sits in front of a broadcast and bounds each channel's rate (partial candles
 * and tickers at most 4 a second, trades merged, one broadcast in flight per channel, finals never
 * held back); `liveFeed` turns trades and quotes into partial candles of all six timeframes (seeded
 * from the serving windows so a run that starts mid-hour does not draw a short candle), trades,
 * tickers and stats, and keeps `serving/<exchange>/<symbol>/live.json` for the snapshots of
 * trades, ticker and stats channels. `livePort` puts the two together for ingest, which offers
 * trades and quotes through the port and knows nothing of channels.
 */
import type { Candle, Quote, Timeframe, Trade } from '../../market/index'
import { TIMEFRAMES } from '../../market/index'
import { servingKey } from '../../lake/layout/index'
import { addTrade, flatCandle } from '../../lake/candles/finish'
import { readJson, type LivePort, type ObjectStore } from '../../ports/index'
import { candleChannel, isPartial, statsChannel, tickerChannel, tradeChannel, type LiveTrade, type ServerMessage, type Stats, type Ticker } from './index'

export const defaults = {
  /**
   * Least time between two updates of one channel, by message type: candles and tickers at most 4
   * a second, trades 20 (a trade waits at most this long for its batch: 50 ms leaves room in a
   * 100 ms trade-to-subscriber p99).
   */
  intervalMs: { candle: 250, ticker: 250, stats: 1_000, trade: 50 } as Record<string, number>,
  /** Trades one `trade` message carries at most: 800 stay under API Gateway's 128 KB frame limit. */
  maxTrades: 800,
  /** Full trade messages a channel may hold while its broadcasts lag; beyond, the oldest are dropped. */
  maxBacklog: 25,
  /** How often the feed turns what changed into channel updates. */
  tickMs: 50,
  /** Window of `trades_per_s`. */
  statsWindowMs: 10_000,
  /** Trades kept for the snapshot of a trades channel. */
  snapshotTrades: 50,
  /** How often `live.json` is rewritten while trades arrive. */
  liveDocMs: 2_000,
}

export type Publish = (channel: string, message: ServerMessage) => Promise<unknown>

/** `serving/binance/BTC-USDT/live.json`: recent trades, ticker and stats for snapshots. */
export const liveKey = (exchange: string, symbol: string) => `serving/${exchange}/${symbol}/live.json`
export interface LiveDoc { exchange: string; symbol: string; updated_at: number; trades: LiveTrade[]; ticker: Ticker | null; stats: Stats | null }

export interface Coalescer {
  /** Queues a message: partial updates merge into the channel's pending one; finals go out at once. */
  publish: Publish
  /** Resolves once nothing is pending or in flight. */
  idle(): Promise<void>
  /** Messages offered, broadcasts started, and trades dropped because a channel's backlog was full. */
  stats(): { offered: number; sent: number; droppedTrades: number }
  /** Sends what still waits at once (its interval not kept) and takes nothing more. */
  close(): void
}

interface Lane { last: number; pending?: ServerMessage; backlog: ServerMessage[]; inFlight: boolean; cancel?: () => void }

/**
 * Bounds the update rate of each channel in front of `publish` (a broadcast). Per channel at most
 * one broadcast is in flight and at most one message waits: a newer partial candle, ticker or
 * stats replaces the waiting one, trades are appended to it (full messages of `maxTrades` queue up
 * to `maxBacklog`, then the oldest are dropped and counted). A slow broadcast therefore slows its
 * channel's updates instead of queueing them. An update that is due goes out when the current I/O
 * turn is over (`setImmediate`), so the trades of one exchange frame leave as one message. Final
 * candles and other messages are never coalesced; a final drops a waiting partial of the same or
 * an older candle.
 * @example const c = coalescer((ch, m) => broadcast({ store, poster, channel: ch, message: m })); c.publish(ch, partial)
 */
export function coalescer(publish: Publish, options: { now?: () => number; log?: (line: string) => void; settings?: Partial<typeof defaults> } = {}): Coalescer {
  const s = { ...defaults, ...options.settings, intervalMs: { ...defaults.intervalMs, ...options.settings?.intervalMs } }
  const now = options.now ?? Date.now
  const lanes = new Map<string, Lane>()
  const direct = new Set<Promise<unknown>>()
  const counts = { offered: 0, sent: 0, droppedTrades: 0 }
  let closed = false
  const report = (e: any) => options.log?.(`live publish failed: ${e?.message ?? e}`)

  /** Folds a newer partial message into the lane: trades are appended (full messages go to the backlog), the rest replaces. */
  function merge(lane: Lane, m: ServerMessage) {
    if (m.type !== 'trade') { lane.pending = m; return }
    const trades = lane.pending?.type === 'trade' ? [...lane.pending.trades, ...m.trades] : m.trades
    while (trades.length > s.maxTrades) lane.backlog.push({ ...m, trades: trades.splice(0, s.maxTrades) })
    for (const old of lane.backlog.splice(0, Math.max(0, lane.backlog.length - s.maxBacklog))) counts.droppedTrades += old.type === 'trade' ? old.trades.length : 0
    lane.pending = { ...m, trades }
  }

  function pump(channel: string, lane: Lane) {
    if (closed || lane.inFlight || lane.cancel || !(lane.pending || lane.backlog.length)) return
    // A backlog of full trade messages goes out back to back; anything else waits for its interval.
    // Either way it leaves once the current I/O turn is over, with whatever else that turn offers
    // (an exchange frame of many trades goes out as one message, not its first trade alone).
    const wait = lane.backlog.length ? 0 : lane.last + (s.intervalMs[lane.pending!.type] ?? 0) - now()
    // (a final candle may have dropped the waiting partial meanwhile)
    const go = () => { lane.cancel = undefined; if (lane.pending || lane.backlog.length) send(channel, lane) }
    if (wait > 0) { const t = setTimeout(go, wait); lane.cancel = () => clearTimeout(t) } else { const t = setImmediate(go); lane.cancel = () => clearImmediate(t) }
  }

  function send(channel: string, lane: Lane) {
    const m = lane.backlog.shift() ?? lane.pending!
    if (m === lane.pending) lane.pending = undefined
    lane.inFlight = true
    lane.last = now()
    counts.sent++
    void Promise.resolve().then(() => publish(channel, m)).catch(report).finally(() => {
      lane.inFlight = false
      pump(channel, lane)
    })
  }

  return {
    async publish(channel, m) {
      counts.offered++
      const lane = lanes.get(channel) ?? { last: -Infinity, backlog: [], inFlight: false }
      lanes.set(channel, lane)
      if (!isPartial(m)) {
        const p = lane.pending
        if (m.type === 'candle' && p?.type === 'candle' && p.candle.open_time <= m.candle.open_time) lane.pending = undefined
        counts.sent++
        const sent = Promise.resolve().then(() => publish(channel, m)).catch(report)
        direct.add(sent)
        void sent.finally(() => direct.delete(sent))
        return sent
      }
      merge(lane, m)
      pump(channel, lane)
    },
    async idle() {
      while ([...lanes.values()].some((l) => l.pending || l.backlog.length || l.inFlight) || direct.size) await new Promise((r) => setTimeout(r, 5))
    },
    stats: () => ({ ...counts }),
    close() {
      // what still waits goes out now, not at its interval: a run's last trades are not lost to
      // subscribers when its budget leaves no time to wait for them (the next run goes on after them)
      for (const [channel, l] of lanes) {
        l.cancel?.()
        for (const m of [...l.backlog.splice(0), ...(l.pending ? [l.pending] : [])]) { counts.sent++; void Promise.resolve().then(() => publish(channel, m)).catch(report) }
        l.pending = undefined
      }
      closed = true
    },
  }
}

/** Open time of the `tf` candle that holds `ms` (UTC-aligned). */
export const periodOf = (tf: Timeframe, ms: number) => Math.floor(ms / TIMEFRAMES[tf]) * TIMEFRAMES[tf]

/**
 * The `tf` candle opening at `openTime` rolled up from 1m candles (those inside it, any order);
 * undefined when none is inside. Flat minutes (no trades) carry prices but no ids.
 */
export function rollUp(minutes: Candle[], tf: Timeframe, openTime: number): Candle | undefined {
  const inside = minutes.filter((c) => c.open_time >= openTime && c.open_time < openTime + TIMEFRAMES[tf]).sort((a, b) => a.open_time - b.open_time)
  if (!inside.length) return undefined
  const first = inside[0]
  const c = { ...flatCandle(first.exchange, first.symbol, tf, openTime, 0), open: first.open, high: -Infinity, low: Infinity, final: inside.length === TIMEFRAMES[tf] / 60_000 && inside.every((m) => m.final) }
  for (const m of inside) {
    c.high = Math.max(c.high, m.high); c.low = Math.min(c.low, m.low); c.close = m.close
    c.volume += m.volume; c.quote_volume += m.quote_volume; c.trades += m.trades
    c.taker_buy_volume += m.taker_buy_volume; c.taker_buy_quote_volume += m.taker_buy_quote_volume
    if (m.first_trade_id >= 0 && (c.first_trade_id < 0 || m.first_trade_id < c.first_trade_id)) c.first_trade_id = m.first_trade_id
    c.last_trade_id = Math.max(c.last_trade_id, m.last_trade_id)
  }
  c.vwap = c.volume ? c.quote_volume / c.volume : c.close
  return c
}

/** Reads a serving window's candles; empty when missing or unreadable. */
export async function servingCandles(store: ObjectStore, exchange: string, symbol: string, tf: Timeframe): Promise<Candle[]> {
  try {
    const bytes = await store.get(servingKey(exchange, symbol, tf))
    const doc = bytes ? JSON.parse(new TextDecoder().decode(bytes)) : undefined
    return Array.isArray(doc?.candles) ? doc.candles : []
  } catch { return [] }
}

const TFS = Object.keys(TIMEFRAMES) as Timeframe[]

interface SymbolLive {
  symbol: string
  /** Lake candles of the current periods, once read: trades they already hold are not added again. */
  base: Map<Timeframe, Candle>
  seeded: boolean
  early: Trade[]
  candles: Map<Timeframe, Candle>
  recent: LiveTrade[]
  ticker?: Ticker
  quote?: Pick<Ticker, 'bid' | 'bid_qty' | 'ask' | 'ask_qty'>
  /** Individual trades per second of receipt, for `trades_per_s`. */
  perSecond: Map<number, number>
  lag: number
  dirty: boolean
  docDirty: boolean
}

export interface LiveFeed {
  trade(t: Trade): void
  quote(q: Quote): void
  /** Pushes what changed now (the feed also does so every `tickMs`). */
  flush(): void
  /** Writes `live.json` of every symbol that changed, and waits for queued updates. */
  drain(): Promise<void>
  close(): Promise<void>
}

export interface LiveFeedOptions {
  exchange: string
  /** A rate-bounded publish (`coalescer(...).publish`); the feed offers every change to it. */
  publish: Publish
  /** Where serving windows are read and `live.json` is written; without it candles start from this run's trades. */
  store?: ObjectStore
  now?: () => number
  log?: (line: string) => void
  settings?: Partial<typeof defaults>
}

const liveTrade = (t: Trade): LiveTrade => ({ id: t.trade_id, time: Math.floor(t.ts / 1000), price: t.price, qty: t.qty, side: t.side, ingest_time: Math.floor(t.ingest_ts / 1000) })

/**
 * The live feed of one exchange. Each trade goes to its trades channel at once (the coalescer
 * batches them); candles of every timeframe, the ticker and stats are offered every `tickMs` while
 * trades arrive.
 * @example const feed = liveFeed({ exchange: 'binance', publish: coalescer(broadcastTo).publish, store }); feed.trade(t)
 */
export function liveFeed(o: LiveFeedOptions): LiveFeed {
  // Long by design: the feed's live candles, ticker and stats live in this closure; its parts are the small named functions inside.
  const s = { ...defaults, ...o.settings }
  const now = o.now ?? Date.now
  const log = o.log ?? (() => {})
  const symbols = new Map<string, SymbolLive>()
  const writes = new Set<Promise<unknown>>()
  let lastDoc = 0
  const offer = (channel: string, m: ServerMessage) => { void o.publish(channel, m).catch((e) => log(`live publish failed: ${e?.message ?? e}`)) }

  function stateOf(symbol: string): SymbolLive {
    let st = symbols.get(symbol)
    if (st) return st
    st = { symbol, base: new Map(), seeded: !o.store, early: [], candles: new Map(), recent: [], perSecond: new Map(), lag: 0, dirty: false, docDirty: false }
    symbols.set(symbol, st)
    if (o.store) void seed(st, o.store)
    return st
  }

  /** Reads the lake's candles of the current periods; trades that came meanwhile are replayed over them. */
  async function seed(st: SymbolLive, store: ObjectStore) {
    const at = st.early[0] ? st.early[0].ts / 1000 : now()
    const minutes = await servingCandles(store, o.exchange, st.symbol, '1m')
    await Promise.all(TFS.map(async (tf) => {
      const open = periodOf(tf, at)
      const own = tf === '1m' ? minutes : await servingCandles(store, o.exchange, st.symbol, tf)
      const c = own.find((x) => x.open_time === open) ?? (tf === '1m' ? undefined : rollUp(minutes, tf, open))
      if (c && c.trades > 0) st.base.set(tf, { ...c, tf, final: false })
    })).catch((e) => log(`live candles not seeded for ${st.symbol}: ${e?.message ?? e}`))
    st.seeded = true
    for (const t of st.early.splice(0)) addCandles(st, t)
    st.dirty = true
  }

  function addCandles(st: SymbolLive, t: Trade) {
    const ms = t.ts / 1000
    for (const tf of TFS) {
      const open = periodOf(tf, ms)
      let c = st.candles.get(tf)
      if (c && open < c.open_time) continue // a late trade of a closed candle: the lake's final has it
      if (!c || open > c.open_time) {
        const base = st.base.get(tf)
        c = base && base.open_time === open ? { ...base } : flatCandle(o.exchange, st.symbol, tf, open, 0)
        st.candles.set(tf, c)
      }
      if (t.last_trade_id > c.last_trade_id || c.trades === 0) addTrade(c, t)
    }
  }

  function trade(t: Trade) {
    const st = stateOf(t.symbol)
    if (st.seeded) addCandles(st, t)
    else if (st.early.length < 100_000) st.early.push(t)
    const lt = liveTrade(t)
    st.recent.push(lt)
    if (st.recent.length > s.snapshotTrades * 2) st.recent.splice(0, st.recent.length - s.snapshotTrades)
    const sec = Math.floor(t.ingest_ts / 1e6)
    st.perSecond.set(sec, (st.perSecond.get(sec) ?? 0) + t.trades)
    st.lag = Math.max(0, Math.round((t.ingest_ts - t.ts) / 1000))
    st.ticker = { exchange: o.exchange, symbol: t.symbol, time: lt.time, price: t.price, ...st.quote }
    st.dirty = st.docDirty = true
    const ch = tradeChannel(o.exchange, t.symbol)
    offer(ch, { type: 'trade', channel: ch, trades: [lt] })
  }

  function quote(q: Quote) {
    const st = stateOf(q.symbol)
    st.quote = { bid: q.bid, bid_qty: q.bid_qty, ask: q.ask, ask_qty: q.ask_qty }
    if (!st.ticker) return
    st.ticker = { ...st.ticker, ...st.quote }
    st.dirty = st.docDirty = true
  }

  function statsOf(st: SymbolLive): Stats {
    const t = now()
    const from = Math.floor((t - s.statsWindowMs) / 1000)
    let n = 0
    for (const [sec, count] of st.perSecond) { if (sec < from) st.perSecond.delete(sec); else n += count }
    const m = st.candles.get('1m')
    const h = st.candles.get('1h')
    const current = (c: Candle | undefined) => c && c.close_time >= t ? c : undefined
    return {
      exchange: o.exchange, symbol: st.symbol, time: t, trades_per_s: Math.round((n / (s.statsWindowMs / 1000)) * 100) / 100, window_ms: s.statsWindowMs,
      minute_volume: current(m)?.volume ?? 0, minute_trades: current(m)?.trades ?? 0, hour_volume: current(h)?.volume ?? 0, hour_trades: current(h)?.trades ?? 0,
      ingest_lag_ms: st.lag,
    }
  }

  function flush() {
    for (const st of symbols.values()) {
      if (!st.dirty || !st.seeded) continue
      st.dirty = false
      for (const [tf, c] of st.candles) {
        const ch = candleChannel(o.exchange, st.symbol, tf)
        offer(ch, { type: 'candle', channel: ch, candle: { ...c }, final: false })
      }
      if (st.ticker) { const ch = tickerChannel(o.exchange, st.symbol); offer(ch, { type: 'ticker', channel: ch, ticker: { ...st.ticker } }) }
      const sc = statsChannel(o.exchange, st.symbol)
      offer(sc, { type: 'stats', channel: sc, stats: statsOf(st) })
    }
    if (o.store && now() - lastDoc >= s.liveDocMs) writeDocs()
  }

  function writeDocs() {
    lastDoc = now()
    for (const st of symbols.values()) {
      if (!st.docDirty || !o.store) continue
      st.docDirty = false
      const doc: LiveDoc = { exchange: o.exchange, symbol: st.symbol, updated_at: now(), trades: st.recent.slice(-s.snapshotTrades), ticker: st.ticker ?? null, stats: statsOf(st) }
      const w = o.store.put(liveKey(o.exchange, st.symbol), JSON.stringify(doc), { contentType: 'application/json' }).catch((e) => log(`could not write ${liveKey(o.exchange, st.symbol)}: ${e?.message ?? e}`))
      writes.add(w)
      void w.finally(() => writes.delete(w))
    }
  }

  const timer = setInterval(flush, s.tickMs)
  timer.unref?.()
  return {
    trade, quote, flush,
    async drain() {
      flush()
      writeDocs()
      await Promise.all([...writes])
    },
    async close() {
      clearInterval(timer)
      flush()
      writeDocs()
      await Promise.all([...writes])
    },
  }
}

/**
 * The live path of ingest runs over a broadcast (`IngestDeps.live`): each run gets a `coalescer`
 * in front of `publish` and a `liveFeed` over it (candles seeded from `store`, `live.json` kept
 * there); `published` reads the last trade id an earlier run's `live.json` held (a run taking over
 * sends none of those again); `drain` closes the feed and waits for the coalescer, `close` ends the coalescer.
 * @example runIngest(opts, { store, stream, live: livePort((ch, m) => broadcast({ store: conns, poster, channel: ch, message: m }), { store }) })
 */
export function livePort(publish: Publish, o: { store?: ObjectStore; settings?: Partial<typeof defaults> } = {}): LivePort {
  return ({ exchange, now, log }) => {
    const lanes = coalescer(publish, { now, log, settings: o.settings })
    const feed = liveFeed({ exchange, publish: lanes.publish, store: o.store, now, log })
    return {
      trade: feed.trade,
      quote: feed.quote,
      published: async (symbol) => {
        const doc = o.store ? await readJson<LiveDoc>(o.store, liveKey(exchange, symbol)).catch(() => undefined) : undefined
        const ids = Array.isArray(doc?.trades) ? doc.trades.map((t) => t?.id).filter((id): id is number => Number.isSafeInteger(id)) : []
        return ids.length ? Math.max(...ids) : undefined
      },
      async drain() { await feed.close(); await lanes.idle() },
      close: () => lanes.close(),
    }
  }
}
