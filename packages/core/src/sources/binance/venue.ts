/**
 * Binance's venue: what ingest needs of Binance spot, Binance.US and USD-M futures (the `Venue`
 * port), made from this source's stream parser and REST paging.
 */
import { nativeSymbol } from '../../market/index'
import type { Venue, VenueOptions } from '../../ports/index'
import { aggTradeProblem, aggTradesFrom, defaults, firstAggTradeAfter, latestAggTrade, parseFrame, resolverFor, restBase, streamUrl, toTrade, type AggTrade } from './index'

/**
 * Binance spot, Binance.US and USD-M futures: combined streams of `aggTrade` (and `bookTicker`),
 * REST `aggTrades` paged by `fromId`. Trade ids are aggTrade ids. Every symbol goes in the one
 * connection's URL (no subscribe frame, so none of Binance's 5 incoming messages a second is
 * spent); more streams than one connection may listen to (`maxStreams`) is refused here, before
 * the run opens anything.
 */
export function binanceVenue(o: VenueOptions): Venue {
  const streams = o.symbols.length * (o.quotes ? 2 : 1)
  if (streams > defaults.maxStreams) throw new Error(`${o.symbols.length} symbols${o.quotes ? ' with quotes' : ''} are ${streams} streams; Binance allows ${defaults.maxStreams} on one connection: split the symbols over several ingest functions`)
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
