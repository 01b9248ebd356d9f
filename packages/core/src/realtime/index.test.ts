import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ProtocolError, parseChannel, parseClientMessage } from './index'

describe('realtime protocol', () => {
  it('accepts subscribe, unsubscribe and ping, deduplicating channels', () => {
    expect(parseClientMessage('{"action":"subscribe","channels":["candles:binance:BTC-USDT:1m","candles:binance:BTC-USDT:1m","trades:binance:ETH-USDT"]}'))
      .toEqual({ action: 'subscribe', channels: ['candles:binance:BTC-USDT:1m', 'trades:binance:ETH-USDT'] })
    expect(parseClientMessage('{"action":"ping"}')).toEqual({ action: 'ping' })
  })

  it('names what is wrong with a bad channel', () => {
    expect(() => parseChannel('candles:binance:BTC-USDT')).toThrow(/needs a timeframe/)
    expect(() => parseChannel('trades:binance:BTC-USDT:1m')).toThrow(/takes no timeframe/)
    expect(() => parseChannel('quotes:binance:BTC-USDT')).toThrow(/unknown channel kind/)
    expect(() => parseChannel('trades:Binance:btc')).toThrow(/is not <kind>/)
  })

  it('answers any frame with a message or a ProtocolError with a code, never another error', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.jsonValue().map((v) => JSON.stringify(v)), fc.record({ action: fc.constantFrom('subscribe', 'unsubscribe', 'ping', 'x'), channels: fc.array(fc.string(), { maxLength: 60 }) }).map((v) => JSON.stringify(v))), (raw) => {
      try { parseClientMessage(raw) } catch (e) { expect(e).toBeInstanceOf(ProtocolError) }
    }), { numRuns: 3_000 })
  })
})
