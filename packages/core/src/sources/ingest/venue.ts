/**
 * Venues: what `runIngest` needs to know of one exchange's protocol, so a single ingest loop (REST
 * catch-up, id continuity, gap fill, checkpoints, watchdog, rotation, DLQ, live publish) serves
 * every exchange. A venue names the stream URL and the messages to send on open, parses a frame
 * into trades and quotes (plus a per-connection sequence number where the venue has one), pages
 * REST trades by id, and finds where a first run's backfill starts. `binanceVenue` is here;
 * `coinbaseVenue` lives in core/coinbase; `renamedVenue` puts a simulated venue's name on what
 * another venue's protocol parses.
 */
import type { Exchange, Quote, Trade, TradeSource } from '../../market/index'
import { nativeSymbol } from '../../market/index'
import { aggTradeProblem, aggTradesFrom, firstAggTradeAfter, latestAggTrade, parseFrame, resolverFor, restBase, streamUrl, toTrade, type AggTrade } from '../binance/index'

/**
 * One frame's outcome, venue-neutral. `sequence` is set only by venues with `sequenced: true`;
 * `latest` is the exchange saying which trade id of a symbol is the newest (a heartbeat), so a loss
 * shows even when no later trade comes.
 */
export interface VenueFrame { trades?: Trade[]; quotes?: Quote[]; error?: string; sequence?: number; latest?: { symbol: string; id: number } }

export interface Venue {
  exchange: Exchange
  /** The WebSocket URL to open for these symbols. */
  streamUrl(): string
  /** Messages sent as soon as a connection opens (subscriptions); none for Binance's combined streams. */
  subscribe(): string[]
  /** True when every frame of a connection carries a number that rises by one (Coinbase `sequence_num`): a jump means lost frames. */
  sequenced: boolean
  /** Parses one frame; never throws. */
  parse(raw: string, ingestTs: number, source: TradeSource): VenueFrame
  /**
   * Trades of `symbol` with ids `fromId..untilId` (inclusive; Infinity: up to the newest) over REST,
   * oldest first, page by page. `signal` (the run's deadline) ends a rate-limit wait early.
   */
  pages(symbol: string, fromId: number, untilId: number, fetchImpl: typeof fetch, signal?: AbortSignal): AsyncIterable<Trade[]>
  /** Id of the first trade at or after `sinceMs`, where a first run's backfill starts; undefined when none. */
  firstIdAfter(symbol: string, sinceMs: number, nowMs: number, fetchImpl: typeof fetch): Promise<number | undefined>
  /**
   * The exchange's newest trade id of `symbol` over REST (undefined when it has none): asked when
   * the stream has brought nothing for a while, to tell a stalled stream (newer trades exist) from
   * a quiet market (none). Venues without it get no stall check.
   */
  latestId?(symbol: string, fetchImpl: typeof fetch, signal?: AbortSignal): Promise<number | undefined>
}

export interface VenueOptions { exchange: Exchange; restUrl: string; wsUrl: string; symbols: string[]; quotes?: boolean }

/**
 * Binance spot, Binance.US and USD-M futures: combined streams of `aggTrade` (and `bookTicker`),
 * REST `aggTrades` paged by `fromId`. Trade ids are aggTrade ids.
 */
export function binanceVenue(o: VenueOptions): Venue {
  const resolve = resolverFor(o.symbols)
  const base = restBase(o.exchange, o.restUrl)
  return {
    exchange: o.exchange,
    sequenced: false,
    streamUrl: () => streamUrl(o.wsUrl, o.symbols, o.quotes ? ['aggTrade', 'bookTicker'] : 'aggTrade'),
    subscribe: () => [],
    parse(raw, ingestTs, source) {
      const r = parseFrame(raw, { exchange: o.exchange, resolve, ingestTs, source })
      return r.kind === 'trade' ? { trades: [r.trade] } : r.kind === 'quote' ? { quotes: [r.quote] } : r.kind === 'error' ? { error: r.reason } : {}
    },
    async *pages(symbol, fromId, untilId, fetchImpl, signal) {
      for await (const page of aggTradesFrom(base, symbol, fromId, untilId, fetchImpl, signal)) {
        const ingestTs = Date.now() * 1000
        // a malformed row fails the page (as Coinbase's do): the fill is retried or deferred, never half used
        yield page.map((raw, i) => {
          const problem = aggTradeProblem(raw)
          if (problem) throw new Error(`${symbol} aggTrades page: row ${i}: ${problem}`)
          return toTrade(raw as AggTrade, nativeSymbol(symbol), symbol, { exchange: o.exchange, resolve, ingestTs, source: 'rest' })
        })
      }
    },
    firstIdAfter: async (symbol, sinceMs, nowMs, fetchImpl) => (await firstAggTradeAfter(base, symbol, sinceMs, nowMs, fetchImpl))?.a,
    // the run's signal ends a weight pause of the stall probe too
    latestId: async (symbol, fetchImpl, signal) => (await latestAggTrade(base, symbol, fetchImpl, signal))?.a,
  }
}

/**
 * `venue`'s protocol under another exchange name: every trade and quote it parses or pages carries
 * `exchange`. The simulator speaks Binance's or Coinbase's protocol, and its records go under
 * `sim-binance`, `sim-coinbase`, ... so they never land in a market venue's partitions.
 */
export function renamedVenue(venue: Venue, exchange: Exchange): Venue {
  const mark = <T extends { exchange: Exchange }>(list?: T[]) => { if (list) for (const x of list) x.exchange = exchange; return list }
  return {
    ...venue,
    exchange,
    parse(raw, ingestTs, source) {
      const r = venue.parse(raw, ingestTs, source)
      mark(r.trades); mark(r.quotes)
      return r
    },
    async *pages(symbol, fromId, untilId, fetchImpl, signal) {
      for await (const page of venue.pages(symbol, fromId, untilId, fetchImpl, signal)) yield mark(page)!
    },
  }
}
