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

  it('takes no timeframe or action from the prototype of an object', () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
      expect(() => parseChannel(`candles:binance:BTC-USDT:${name}`)).toThrow(expect.objectContaining({ code: 'bad_channel' }))
      expect(() => parseClientMessage(JSON.stringify({ action: name }))).toThrow(expect.objectContaining({ code: 'unknown_action' }))
    }
    expect(() => parseClientMessage('{"action":{"toString":1}}')).toThrow(expect.objectContaining({ code: 'unknown_action' }))
  })

  it('keeps the good channels of a message naming bad ones too, and refuses it whole only when none is good', () => {
    expect(parseClientMessage('{"action":"subscribe","channels":["trades:binance:BTC-USDT","candles:binance:BTC-USDT:constructor",7]}')).toEqual({
      action: 'subscribe', channels: ['trades:binance:BTC-USDT'],
      rejected: [{ channel: 'candles:binance:BTC-USDT:constructor', message: expect.stringMatching(/needs a timeframe/) }, { channel: '7', message: expect.any(String) }],
    })
    expect(() => parseClientMessage('{"action":"subscribe","channels":["candles:binance:BTC-USDT:constructor"]}')).toThrow(expect.objectContaining({ code: 'bad_channel' }))
  })

  it('answers any frame with a message or a ProtocolError with a code, never another error', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.jsonValue().map((v) => JSON.stringify(v)), fc.record({ action: fc.constantFrom('subscribe', 'unsubscribe', 'ping', 'x'), channels: fc.array(fc.string(), { maxLength: 60 }) }).map((v) => JSON.stringify(v))), (raw) => {
      try { parseClientMessage(raw) } catch (e) { expect(e).toBeInstanceOf(ProtocolError) }
    }), { numRuns: 3_000 })
  })
})
