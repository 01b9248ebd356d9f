import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { tradeValues } from './index'
import { parseFrame } from '../sources/binance/index'
import { parseAdvancedFrame, parseExchangeFrame } from '../sources/coinbase/index'
import { parseCsvLine } from '../sources/archive/index'
import { tradeOf } from '../serve/api/ingest'

const TS = Date.parse('2026-11-24T15:00:00Z')

/** What each door makes of one price and quantity (as decimal strings): the trade's values, or 'refused'. */
function doors(p: string, q: string) {
  const binance = parseFrame(JSON.stringify({ stream: 'btcusdt@aggTrade', data: { e: 'aggTrade', s: 'BTCUSDT', a: 1, p, q, f: 1, l: 1, T: TS, m: false } }), { exchange: 'binance', resolve: () => 'BTC-USDT', ingestTs: 0, source: 'ws' })
  const advanced = parseAdvancedFrame(JSON.stringify({ channel: 'market_trades', sequence_num: 0, events: [{ type: 'update', trades: [{ trade_id: '1', product_id: 'BTC-USD', price: p, size: q, side: 'BUY', time: '2026-11-24T15:00:00Z' }] }] }), { ingestTs: 0, source: 'ws' })
  const legacy = parseExchangeFrame(JSON.stringify({ type: 'match', trade_id: 1, sequence: 5, product_id: 'BTC-USD', price: p, size: q, side: 'buy', time: '2026-11-24T15:00:00Z' }), { ingestTs: 0, source: 'ws' })
  const archive = parseCsvLine(`1,${p},${q},0,${TS},true,true`, 'trades', { exchange: 'binance', symbol: 'BTC-USDT', native_symbol: 'BTCUSDT', ingestTs: 0, source: 'archive' })
  const api = tradeOf({ exchange: 'myfeed', symbol: 'BTC-USD', trade_id: 1, ts: TS * 1000, price: Number(p), qty: Number(q), side: 'buy' }, TS * 1000)
  const of = (t: { price: number; qty: number } | undefined) => (t ? [t.price, t.qty] : 'refused')
  return {
    binance: of(binance.kind === 'trade' ? binance.trade : undefined),
    coinbase: of(advanced.kind === 'trades' ? advanced.trades[0] : undefined),
    'coinbase ws-feed': of(legacy.kind === 'trades' ? legacy.trades[0] : undefined),
    archive: of('error' in archive ? undefined : archive),
    'POST /api/ingest': of('trade' in api ? api.trade : undefined),
  }
}

/** What `tradeValues` says of them, for every door. */
function expected(p: string, q: string) {
  const v = tradeValues(Number(p), Number(q))
  const one = 'reason' in v ? 'refused' : [v.price, v.qty]
  return { binance: one, coinbase: one, 'coinbase ws-feed': one, archive: one, 'POST /api/ingest': one }
}

describe('the doors of the lake', () => {
  it('take and refuse the same prices and quantities, at the same 8 decimals (replay goes through the exchange parsers)', () => {
    for (const [p, q] of [['99999999.12345678', '0.00000001'], ['1000000000000', '0.001'], ['1000000000000.5', '1'], ['0.000000001', '5'], ['1', '1000000000000001'], ['10000000000', '1000000000'], ['0.123456789', '1.5'], ['64000.50', '0.00000000']]) {
      expect(doors(p, q), `${p} x ${q}`).toEqual(expected(p, q))
    }
    const decimal = fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 17n }), fc.integer({ min: 0, max: 10 })).map(([m, d]) => {
      const s = m.toString().padStart(d + 1, '0')
      return d ? `${s.slice(0, -d)}.${s.slice(-d)}` : s
    })
    fc.assert(fc.property(decimal, decimal, (p, q) => { expect(doors(p, q)).toEqual(expected(p, q)) }), { numRuns: 300 })
  })
})
