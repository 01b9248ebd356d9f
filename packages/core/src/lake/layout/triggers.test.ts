import { describe, expect, it } from 'vitest'
import { LAKE_TRIGGERS, bronzeTradesPrefix, candleStateKey, goldCandlesKey, lakeChain, silverManifestKey, silverTradesKey, triggersOf } from './index'

const bronze = bronzeTradesPrefix('binance', 'BTC-USDT', '2026-11-24', '15') + 'ticklake-trades-1.parquet'

describe('the lake\'s triggers', () => {
  it('are disjoint: no object fires two of them (S3 refuses overlapping notifications of one bucket)', () => {
    for (const a of LAKE_TRIGGERS) for (const b of LAKE_TRIGGERS) if (a !== b) expect(a.prefix.startsWith(b.prefix) && a.suffix.endsWith(b.suffix), `${a.name} and ${b.name}`).toBe(false)
  })

  it('fire on the keys the lake jobs write, and not on other objects of their prefix', () => {
    expect(triggersOf(bronze).map((t) => t.fn)).toEqual(['candles'])
    expect(triggersOf(candleStateKey('binance', 'BTC-USDT', '2026-11-24', '15')).map((t) => t.fn)).toEqual(['silver'])
    expect(triggersOf(goldCandlesKey('binance', 'BTC-USDT', '1m', '2026-11-24', '15')).map((t) => t.fn)).toEqual(['features'])
    expect(triggersOf(silverManifestKey('binance', 'BTC-USDT', '2026-11-24', '15')).map((t) => t.fn)).toEqual(['features'])
    // a silver part is written before the manifest commits it: its own event would not wait for that
    expect(triggersOf(silverTradesKey('binance', 'BTC-USDT', '2026-11-24', '15'))).toEqual([])
    expect(triggersOf('bronze/trades/exchange=binance/symbol=BTC-USDT/dt=2026-11-24/hour=15/notes.txt')).toEqual([])
    expect(triggersOf('state/silver/binance/BTC-USDT/2026-11-24/15.txt')).toEqual([])
  })

  it('chain a bronze object to the candle job, then silver on the hour state it writes, then features once on the silver manifest that commits the hour', () => {
    expect(lakeChain(bronze)).toEqual([
      { fn: 'candles', key: bronze },
      { fn: 'silver', key: candleStateKey('binance', 'BTC-USDT', '2026-11-24', '15') },
      { fn: 'features', key: silverManifestKey('binance', 'BTC-USDT', '2026-11-24', '15') },
    ])
    expect(lakeChain(silverManifestKey('binance', 'BTC-USDT', '2026-11-24', '15')).map((r) => r.fn)).toEqual(['features'])
    expect(lakeChain('serving/binance/BTC-USDT/1m.json')).toEqual([])
  })
})
