/**
 * Venues: the registry of the exchanges ingest speaks, by name. Each source exports its own venue
 * (`binanceVenue` from sources/binance for Binance spot, Binance.US and USD-M futures,
 * `coinbaseVenue` from sources/coinbase); here they are found by exchange name, with their public
 * endpoints. A simulated exchange (`sim-coinbase`, `sim-binance-us`, ...) speaks what its fake
 * exchange speaks (Coinbase's protocol, or Binance spot's for every Binance venue) under its own
 * name (`renamedVenue`), so its records never land in a market venue's partitions.
 */
import type { Exchange } from '../../market/index'
import { isSimulated, venueOf } from '../../market/index'
import type { Venue, VenueOptions } from '../../ports/index'
import { ENDPOINTS, binanceVenue } from '../binance/index'
import { coinbaseExchangeVenue, coinbaseVenue, defaults as coinbaseDefaults } from '../coinbase/index'

export type { Venue, VenueFrame, VenueOptions } from '../../ports/index'

/** The venue of each exchange ingest speaks: Binance's venues (one per endpoint) and Coinbase. */
export const VENUES: Record<string, (o: VenueOptions) => Venue> = {
  ...Object.fromEntries(Object.keys(ENDPOINTS).map((e) => [e, binanceVenue])),
  coinbase: coinbaseVenue,
}

/** Exchanges ingest speaks: Binance's venues and Coinbase. */
export const EXCHANGES = Object.keys(VENUES) as Exchange[]

/** Coinbase's two trade feeds: Advanced Trade (`market_trades`, the default) and the legacy Exchange ws-feed (`matches`). Both write under `coinbase`. */
export const COINBASE_FEEDS = ['advanced-trade', 'exchange'] as const
export type CoinbaseFeed = (typeof COINBASE_FEEDS)[number]

/**
 * The venue of an exchange: Coinbase's Advanced Trade protocol (its legacy Exchange ws-feed with
 * `feed` `exchange`), or Binance's for the Binance venues (and any other name). A simulated exchange speaks its fake exchange's protocol under its own name.
 * @example venueFor({ exchange: 'sim-coinbase', restUrl, wsUrl, symbols: ['BTC-USD'] }).exchange // 'sim-coinbase'
 */
export function venueFor(opts: VenueOptions, feed?: CoinbaseFeed): Venue {
  const coinbase = feed === 'exchange' ? coinbaseExchangeVenue : coinbaseVenue
  if (isSimulated(opts.exchange)) {
    const real = venueOf(opts.exchange)
    return renamedVenue(real === 'coinbase' ? coinbase(opts) : binanceVenue({ ...opts, exchange: 'binance' }), opts.exchange)
  }
  return opts.exchange === 'coinbase' ? coinbase(opts) : (VENUES[opts.exchange] ?? binanceVenue)(opts)
}

/**
 * The public endpoints of an exchange (`api`: the REST path prefix, empty for Coinbase; the
 * WebSocket of Coinbase's `feed`), or undefined for one ingest does not speak.
 * @example endpointsOf('coinbase') // { rest: 'https://api.exchange.coinbase.com', ws: 'wss://advanced-trade-ws.coinbase.com', api: '' }
 */
export function endpointsOf(exchange: string, feed?: CoinbaseFeed): { rest: string; ws: string; api: string } | undefined {
  if (exchange === 'coinbase') return { rest: coinbaseDefaults.restUrl, ws: feed === 'exchange' ? coinbaseDefaults.exchangeWsUrl : coinbaseDefaults.wsUrl, api: '' }
  return ENDPOINTS[exchange]
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
