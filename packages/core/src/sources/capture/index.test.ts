import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { captureExchange, captureHeader, captureVenue, captureLine, coinbaseTradesOfCapture, parseCapture, parseLegacyLine } from './index'

const DATA = fileURLToPath(new URL('../../../../../../shared/data/coinbase/', import.meta.url))
const haveData = existsSync(DATA)
if (!haveData) console.warn(`capture tests: the Coinbase recordings are skipped: ${DATA} is absent (it lives in ../shared/data)`)
const bytes = (s: string) => new TextEncoder().encode(s)
const trade = (id: number | string, extra: object = {}) => ({ product_id: 'BTC-USD', trade_id: String(id), price: '65000', size: '0.010', time: '2026-08-09T21:05:42.514318Z', side: 'SELL', ...extra })
const frame = (type: string, trades: object[]) => JSON.stringify({ channel: 'market_trades', sequence_num: 0, events: [{ type, trades }] })

describe('capture', () => {
  it('tells the exchange from the header, else the connection URL, else the frames', () => {
    const recv = (data: string) => captureLine('recv', 1_000, data)
    expect(captureExchange(parseCapture(bytes(captureHeader('coinbase', ['BTC-USD'], 1_000) + recv('{}'))))).toBe('coinbase')
    expect(captureExchange(parseCapture(bytes(captureLine('connect', 1_000, 'wss://stream.binance.com:9443/stream?streams=btcusdt@aggTrade'))))).toBe('binance')
    expect(captureExchange(parseCapture(bytes(captureLine('connect', 1_000, 'ws://127.0.0.1:9/') + recv(frame('update', [trade(1)])))))).toBe('coinbase')
    expect(captureExchange(parseCapture(bytes(recv(JSON.stringify({ type: 'match', ...trade(1), side: 'buy' })))))).toBe('coinbase')
    expect(captureExchange(parseCapture(bytes(recv('{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","s":"BTCUSDT"}}'))))).toBe('binance')
    expect(captureExchange(parseCapture(bytes(recv('{"hello":1}'))))).toBeUndefined()
  })

  it('tells the Binance venue of a capture, so US and futures trades keep their own partition', () => {
    const recv = captureLine('recv', 1_000, '{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","s":"BTCUSDT"}}')
    const at = (url: string) => captureVenue(parseCapture(bytes(captureLine('connect', 1_000, url) + recv)))
    const header = (exchange: string) => captureVenue(parseCapture(bytes(JSON.stringify({ t: 'header', format: 2, exchange, recorded: 1 }) + '\n' + recv)))
    expect(at('wss://stream.binance.us:9443/stream?streams=btcusd@aggTrade')).toBe('binance-us')
    expect(at('wss://fstream.binance.com/stream?streams=btcusdt@aggTrade')).toBe('binance-futures')
    expect(at('wss://dstream.binance.com/stream?streams=btcusd_perp@aggTrade')).toBe('binance-delivery')
    expect(at('wss://stream.binance.com:9443/stream?streams=btcusdt@aggTrade')).toBe('binance')
    expect(at('ws://127.0.0.1:9/stream?streams=btcusdt@aggTrade')).toBe('binance')
    expect(header('BINANCE_US')).toBe('binance-us')
    expect(header('BINANCE_FUTURES')).toBe('binance-futures')
    expect(header('BINANCE_DELIVERY')).toBe('binance-delivery')
    expect(captureVenue(parseCapture(bytes(captureHeader('coinbase', ['BTC-USD'], 1_000))))).toBe('coinbase')
    expect(captureVenue(parseCapture(bytes(captureLine('recv', 1_000, '{"hello":1}'))))).toBeUndefined()
  })

  it('reads legacy send lines with their URL', () => {
    expect(parseLegacyLine('wss://ws-feed.pro.coinbase.com <- 1618677817.02: {"type":"subscribe"}')).toEqual({ kind: 'send', url: 'wss://ws-feed.pro.coinbase.com', recvTs: 1618677817.02, data: '{"type":"subscribe"}' })
  })

  it('collects Coinbase trades once each in id order, keeping the printed decimals and counting malformed ones', () => {
    const text = [
      frame('snapshot', [trade(3), trade(2)]),
      frame('update', [trade(4, { price: '65001.50' }), trade(3)]),
      JSON.stringify({ type: 'last_match', ...trade(7, { product_id: 'ETH-USD' }), side: 'buy', sequence: 9 }),
      frame('update', [trade(5, { price: 'NaN' })]),
    ].map((d) => captureLine('recv', 1_000, d)).join('')
    const { trades, rejected } = coinbaseTradesOfCapture(parseCapture(bytes(text)))
    expect(rejected).toBe(1)
    expect(trades.get('BTC-USD')!.map((t) => [t.trade_id, t.price, t.size, t.side])).toEqual([[2, '65000', '0.010', 'sell'], [3, '65000', '0.010', 'sell'], [4, '65001.50', '0.010', 'sell']])
    expect(trades.get('ETH-USD')!.map((t) => [t.trade_id, t.side, t.us])).toEqual([[7, 'buy', Date.UTC(2026, 7, 9, 21, 5, 42) * 1000 + 514318]])
  })

  it.skipIf(!haveData)('finds every trade of both Coinbase recordings: 279 Advanced Trade trades and 107 legacy matches, ids without holes', () => {
    for (const [file, total, products] of [['57d5f18d6098/COINBASE.jsonl.zst', 279, 2], ['be4e5c81354b/COINBASE.ws.28.0', 107, 10]] as const) {
      const messages = parseCapture(readFileSync(DATA + file))
      expect(captureExchange(messages)).toBe('coinbase')
      const { trades, rejected } = coinbaseTradesOfCapture(messages)
      expect(rejected).toBe(0)
      expect(trades.size).toBe(products)
      expect([...trades.values()].reduce((n, l) => n + l.length, 0)).toBe(total)
      for (const l of trades.values()) expect(l.at(-1)!.trade_id - l[0].trade_id + 1).toBe(l.length)
    }
  })
})
