import { describe, expect, it } from 'vitest'
import { venueFor } from '@ticklake/core/sources/venues'
import { configFromEnv } from './ingest'

describe('ingest function settings', () => {
  it('reads Coinbase from the environment: Exchange REST, Advanced Trade stream, product ids, and its own venue', () => {
    const c = configFromEnv({ TICKLAKE_EXCHANGE: 'coinbase', TICKLAKE_SYMBOLS: 'BTC-USD, ETH-USD' })
    expect(c).toEqual({ exchange: 'coinbase', restUrl: 'https://api.exchange.coinbase.com', wsUrl: 'wss://advanced-trade-ws.coinbase.com', symbols: ['BTC-USD', 'ETH-USD'] })
    const v = venueFor(c)
    expect([v.exchange, v.sequenced, v.streamUrl()]).toEqual(['coinbase', true, 'wss://advanced-trade-ws.coinbase.com'])
    expect(venueFor(configFromEnv({})).streamUrl()).toBe('wss://stream.binance.com:9443/stream?streams=btcusdt@aggTrade')
  })

  it('reads Coinbase\'s legacy Exchange ws-feed with TICKLAKE_FEED=exchange, and refuses another feed', () => {
    const c = configFromEnv({ TICKLAKE_EXCHANGE: 'coinbase', TICKLAKE_SYMBOLS: 'BTC-USD', TICKLAKE_FEED: 'exchange' })
    expect([c.wsUrl, c.venue?.exchange, c.venue?.sequenced, JSON.parse(c.venue!.subscribe!()[0]).channels]).toEqual(['wss://ws-feed.exchange.coinbase.com', 'coinbase', false, ['matches', 'heartbeat']])
    expect(configFromEnv({ TICKLAKE_EXCHANGE: 'coinbase', TICKLAKE_FEED: 'advanced-trade' }).venue).toBeUndefined()
    expect(() => configFromEnv({ TICKLAKE_EXCHANGE: 'coinbase', TICKLAKE_FEED: 'pro' })).toThrow(/TICKLAKE_FEED=pro: use advanced-trade or exchange/)
  })

  it('names the exchanges it knows when given another', () => {
    expect(() => configFromEnv({ TICKLAKE_EXCHANGE: 'kraken' })).toThrow(/binance or binance-us or binance-futures or coinbase/)
  })
})
