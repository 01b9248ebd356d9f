import { describe, expect, it } from 'vitest'
import { EXCHANGES, endpointsOf, venueFor } from './index'

const opts = { restUrl: 'http://127.0.0.1:1', wsUrl: 'ws://127.0.0.1:1', symbols: ['BTC-USDT'] }
const aggTrade = JSON.stringify({ stream: 'btcusdt@aggTrade', data: { e: 'aggTrade', E: 2, s: 'BTCUSDT', a: 5, p: '1.00', q: '2.00', f: 7, l: 8, T: 1, m: false, M: true } })
const coinbaseTrade = JSON.stringify({ channel: 'market_trades', sequence_num: 0, events: [{ type: 'update', trades: [{ product_id: 'BTC-USD', trade_id: '9', price: '1', size: '1', time: '2026-08-09T21:05:48Z', side: 'BUY' }] }] })

describe('the registry of venues', () => {
  it('names every exchange ingest speaks, each with its public endpoints', () => {
    expect(EXCHANGES).toEqual(['binance', 'binance-us', 'binance-futures', 'coinbase'])
    for (const e of EXCHANGES) expect(endpointsOf(e)?.ws, e).toMatch(/^wss:\/\//)
    expect(endpointsOf('kraken')).toBeUndefined()
  })

  it('gives each Binance venue Binance\'s protocol under its own name, and Coinbase its own', () => {
    const futures = venueFor({ ...opts, exchange: 'binance-futures' })
    expect([futures.exchange, futures.sequenced, futures.streamUrl()]).toEqual(['binance-futures', false, 'ws://127.0.0.1:1/stream?streams=btcusdt@aggTrade'])
    expect(futures.parse(aggTrade, 1, 'ws').trades?.map((t) => [t.exchange, t.trade_id])).toEqual([['binance-futures', 5]])
    const coinbase = venueFor({ ...opts, exchange: 'coinbase', symbols: ['BTC-USD'] })
    expect([coinbase.exchange, coinbase.sequenced]).toEqual(['coinbase', true])
  })

  it('puts a simulated name on every record its fake exchange\'s protocol parses', () => {
    const simBinance = venueFor({ ...opts, exchange: 'sim-binance-us' })
    expect(simBinance.exchange).toBe('sim-binance-us')
    expect(simBinance.parse(aggTrade, 1, 'ws').trades?.map((t) => t.exchange)).toEqual(['sim-binance-us'])
    const simCoinbase = venueFor({ ...opts, exchange: 'sim-coinbase', symbols: ['BTC-USD'] })
    expect([simCoinbase.exchange, simCoinbase.sequenced]).toEqual(['sim-coinbase', true])
    expect(simCoinbase.parse(coinbaseTrade, 1, 'ws').trades?.map((t) => [t.exchange, t.trade_id])).toEqual([['sim-coinbase', 9]])
  })

  it('subscribes 50 symbols on one connection: Binance all in the URL with no frame, Coinbase one frame per channel naming every product', () => {
    const fifty = Array.from({ length: 50 }, (_, i) => `C${i}-USDT`)
    const binance = venueFor({ ...opts, exchange: 'binance', symbols: fifty, quotes: true })
    expect(binance.subscribe()).toEqual([])
    const streams = new URL(binance.streamUrl()).searchParams.get('streams')!.split('/')
    expect([streams.length, new Set(streams).size, streams.slice(0, 2)]).toEqual([100, 100, ['c0usdt@aggTrade', 'c0usdt@bookTicker']])
    const coinbase = venueFor({ ...opts, exchange: 'coinbase', symbols: fifty.map((s) => s.replace('USDT', 'USD')) })
    const frames = coinbase.subscribe().map((f) => JSON.parse(f))
    expect(frames.map((f) => [f.channel, f.product_ids.length])).toEqual([['market_trades', 50], ['heartbeats', 50]])
  })

  it('refuses more symbols than one Binance connection may listen to, naming the fix', () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => `C${i}-USDT`)
    expect(() => venueFor({ ...opts, exchange: 'binance', symbols: many(1024) })).not.toThrow()
    expect(() => venueFor({ ...opts, exchange: 'binance', symbols: many(513), quotes: true })).toThrow('513 symbols with quotes are 1026 streams; Binance allows 1024 on one connection: split the symbols over several ingest functions')
  })

  it('reads Coinbase\'s legacy Exchange ws-feed when asked for that feed, under coinbase or its simulated name', () => {
    const legacy = venueFor({ ...opts, exchange: 'coinbase', symbols: ['BTC-USD'] }, 'exchange')
    const subscribe = JSON.parse(legacy.subscribe!()[0])
    expect([legacy.exchange, legacy.sequenced, subscribe.channels]).toEqual(['coinbase', false, ['matches', 'heartbeat']])
    const match = JSON.stringify({ type: 'match', trade_id: 11, sequence: 1, maker_order_id: 'a', taker_order_id: 'b', time: '2026-08-09T21:05:48.000000Z', product_id: 'BTC-USD', size: '1', price: '2', side: 'sell' })
    expect(venueFor({ ...opts, exchange: 'sim-coinbase', symbols: ['BTC-USD'] }, 'exchange').parse(match, 1, 'ws').trades?.map((t) => [t.exchange, t.trade_id])).toEqual([['sim-coinbase', 11]])
    expect(endpointsOf('coinbase', 'exchange')?.ws).toBe('wss://ws-feed.exchange.coinbase.com')
  })
})
