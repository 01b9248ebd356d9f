import { describe, expect, it } from 'vitest'
import { LAKE_TRIGGERS, bronzeTradesPrefix, candleStateKey, defaults, goldCandlesKey, hourOfSilverManifest, hoursOfQueue, lakeChain, queueOf, silverManifestKey, silverTradesKey, triggersOf } from './index'

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

  it('queue the feature job\'s events (one queue for both its triggers), not the candle and silver jobs\'', () => {
    expect(queueOf('features')).toEqual(defaults.featuresQueue)
    expect(queueOf('candles')).toBeUndefined()
    expect(queueOf('silver')).toBeUndefined()
    expect(defaults.featuresQueue.windowSeconds).toBeLessThanOrEqual(300) // Lambda's most
    expect(defaults.featuresQueue.size).toBeLessThanOrEqual(10_000) // a standard queue's most, with a window
    const mixed = [{ ...LAKE_TRIGGERS[2] }, { ...LAKE_TRIGGERS[3], queue: { ...defaults.featuresQueue, windowSeconds: 5 } }]
    expect(() => queueOf('features', mixed)).toThrow(/different queues/)
  })
})

describe('a batch of S3 events from a queue', () => {
  const msg = (messageId: string, doc: unknown) => ({ messageId, body: typeof doc === 'string' ? doc : JSON.stringify(doc) })
  const s3 = (...keys: string[]) => ({ Records: keys.map((key) => ({ s3: { object: { key: encodeURIComponent(key).replace(/%2F/g, '/') } } })) })

  it('names each hour once, with every message that names it; TestEvents and other bodies apart', () => {
    const batch = { Records: [
      msg('a', s3(silverManifestKey('binance', 'BTC-USDT', '2026-11-24', '15'))),
      msg('t', { Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: 'b' }),
      msg('b', s3(silverManifestKey('binance', 'BTC-USDT', '2026-11-24', '16'), silverManifestKey('binance', 'BTC-USDT', '2026-11-24', '15'))),
      msg('x', 'not json'),
      msg('y', { Records: [{ s3: {} }] }),
      msg('c', s3(silverManifestKey('binance', 'BTC-USDT', '2026-11-24', '15'))),
    ] }
    const got = hoursOfQueue(batch, hourOfSilverManifest)
    expect(got.hours.map((h) => [h.hour.hour, h.messageIds])).toEqual([['15', ['a', 'b', 'c']], ['16', ['b']]])
    expect(got.tests).toEqual(['t'])
    expect(got.malformed.map((m) => m.messageId)).toEqual(['x', 'y'])
    expect(got.malformed[0].reason).toMatch(/not JSON/)
  })
})
