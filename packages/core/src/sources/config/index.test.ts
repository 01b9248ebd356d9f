import { describe, expect, it } from 'vitest'
import { SourcesConfigError, formatSources, parseSources, parseSourcesFile, sourcesConfig, sourcesFromEnv } from './index'

describe('the --sources string', () => {
  it('reads each exchange with its symbols, in any case, and CoinGecko\'s coins', () => {
    expect(parseSources(' binance:btc-usdt, ETH-USDT ; coinbase:BTC-USD;coingecko:Bitcoin,solana', ['eur'])).toEqual({
      exchanges: [{ exchange: 'binance', symbols: ['BTC-USDT', 'ETH-USDT'] }, { exchange: 'coinbase', symbols: ['BTC-USD'] }],
      coingecko: { coins: ['bitcoin', 'solana'], currencies: ['eur'] },
    })
  })

  it('reads a simulated name as its exchange asked to run simulated', () => {
    expect(parseSources('sim-coinbase:BTC-USD;binance-us:BTC-USDT').exchanges).toEqual([
      { exchange: 'coinbase', symbols: ['BTC-USD'], simulated: true },
      { exchange: 'binance-us', symbols: ['BTC-USDT'] },
    ])
  })

  it('refuses an unknown exchange, naming those it knows', () => {
    expect(() => parseSources('kraken:BTC-USD')).toThrow(SourcesConfigError)
    expect(() => parseSources('kraken:BTC-USD')).toThrow(/unknown exchange "kraken": use binance, binance-us, binance-futures, coinbase/)
    expect(() => parseSources('sim-kraken:BTC-USD')).toThrow(/unknown exchange "sim-kraken"/)
  })

  it('refuses an exchange named twice, its simulated twin included', () => {
    expect(() => parseSources('binance:BTC-USDT;binance:ETH-USDT')).toThrow(/binance is configured twice/)
    expect(() => parseSources('binance:BTC-USDT;sim-binance:ETH-USDT')).toThrow(/binance is configured twice/)
    expect(() => parseSources('coingecko:bitcoin;coingecko:ethereum')).toThrow(/coingecko is configured twice/)
  })

  it('refuses a symbol named twice, a malformed symbol, an entry without symbols or without a colon', () => {
    expect(() => parseSources('binance:BTC-USDT,btc-usdt')).toThrow(/binance: BTC-USDT is named twice/)
    expect(() => parseSources('binance:BTCUSDT')).toThrow(/"BTCUSDT" is not BASE-QUOTE/)
    expect(() => parseSources('binance:')).toThrow(/binance: name at least one symbol/)
    expect(() => parseSources('binance')).toThrow(/"binance" is not name:LIST/)
    expect(() => parseSources('')).toThrow(/no source configured/)
    expect(() => parseSources('coingecko:bit coin')).toThrow(/"bit coin" is not a coin id/)
  })

  it('reads back what formatSources writes', () => {
    const c = parseSources('sim-binance:BTC-USDT;coinbase:ETH-USD,BTC-USD;coingecko:bitcoin')
    expect(parseSources(formatSources(c))).toEqual(c)
  })
})

describe('the JSON configuration', () => {
  it('reads exchanges with Coinbase\'s legacy Exchange feed, endpoints and CoinGecko', () => {
    const c = parseSourcesFile(JSON.stringify({
      exchanges: [
        { exchange: 'coinbase', feed: 'exchange', symbols: ['btc-usd'] },
        { exchange: 'binance', symbols: ['BTC-USDT'], restUrl: 'http://127.0.0.1:1', wsUrl: 'ws://127.0.0.1:1' },
      ],
      coingecko: { coins: ['bitcoin'] },
    }))
    expect(c).toEqual({
      exchanges: [
        { exchange: 'coinbase', feed: 'exchange', symbols: ['BTC-USD'] },
        { exchange: 'binance', symbols: ['BTC-USDT'], restUrl: 'http://127.0.0.1:1', wsUrl: 'ws://127.0.0.1:1' },
      ],
      coingecko: { coins: ['bitcoin'], currencies: ['usd', 'brl'] },
    })
  })

  it('says which file and which entry is wrong', () => {
    expect(() => parseSourcesFile('{', 'my.json')).toThrow(/^my.json is not JSON/)
    expect(() => parseSourcesFile('{"exchanges":[{"exchange":"binance","symbols":["BTC-USDT"],"speed":2}]}')).toThrow(/ticklake.config.json: exchanges.0: .*speed/)
    expect(() => sourcesConfig({ exchanges: [{ exchange: 'binance', feed: 'exchange', symbols: ['BTC-USDT'] }] })).toThrow(/binance: feed is for coinbase only/)
    expect(() => sourcesConfig({ exchanges: [{ exchange: 'coinbase', feed: 'pro', symbols: ['BTC-USD'] }] })).toThrow(/exchanges.0.feed/)
    expect(() => sourcesConfig({ exchanges: [{ exchange: 'binance', symbols: ['BTC-USDT'], restUrl: 'http://x' }] })).toThrow(/restUrl and wsUrl go together/)
    expect(() => sourcesConfig({ exchanges: [{ exchange: 'binance', symbols: ['BTC-USDT'] }, { exchange: 'sim-binance', symbols: ['ETH-USDT'] }] })).toThrow(/configured twice/)
  })
})

describe('the configuration of a deployment', () => {
  it('is TICKLAKE_SOURCES when set, with CoinGecko from its own variables', () => {
    expect(sourcesFromEnv({ TICKLAKE_SOURCES: 'binance:BTC-USDT;coinbase:BTC-USD', TICKLAKE_COINS: 'bitcoin', TICKLAKE_CURRENCIES: 'usd' })).toEqual({
      exchanges: [{ exchange: 'binance', symbols: ['BTC-USDT'] }, { exchange: 'coinbase', symbols: ['BTC-USD'] }],
      coingecko: { coins: ['bitcoin'], currencies: ['usd'] },
    })
  })

  it('is one exchange from TICKLAKE_EXCHANGE and TICKLAKE_SYMBOLS otherwise, as before', () => {
    expect(sourcesFromEnv({ TICKLAKE_EXCHANGE: 'coinbase', TICKLAKE_SYMBOLS: 'BTC-USD, ETH-USD', TICKLAKE_COINS: 'none' })).toEqual({ exchanges: [{ exchange: 'coinbase', symbols: ['BTC-USD', 'ETH-USD'] }] })
    expect(sourcesFromEnv({}).exchanges).toEqual([{ exchange: 'binance', symbols: ['BTC-USDT', 'ETH-USDT'] }])
    expect(() => sourcesFromEnv({ TICKLAKE_SOURCES: 'kraken:BTC-USD' })).toThrow(/unknown exchange/)
  })
})
