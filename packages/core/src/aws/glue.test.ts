import { describe, expect, it } from 'vitest'
import { CANDLE_COLUMNS, QUOTE_COLUMNS, TRADE_COLUMNS } from '../market/index'
import { bronzeTradesPrefix } from '../lake/layout/index'
import { firehosePrefix, glueColumns, GLUE_TYPES } from './glue'

describe('glue columns', () => {
  it('holds every schema column but the partitions, in order, with a Glue type for each', () => {
    for (const cols of [TRADE_COLUMNS, QUOTE_COLUMNS, CANDLE_COLUMNS]) {
      const glue = glueColumns(cols, ['exchange', 'symbol'])
      expect(glue.map((c) => c.name)).toEqual(cols.map((c) => c.name).filter((n) => n !== 'exchange' && n !== 'symbol'))
      for (const c of glue) expect(Object.values(GLUE_TYPES)).toContain(c.type)
    }
  })

  it('types microsecond times as bigint in tables Firehose writes (it parses only millisecond epochs), as timestamp in ours', () => {
    const ts = glueColumns(TRADE_COLUMNS, [], { firehose: true }).find((c) => c.name === 'ts')!
    expect(ts).toMatchObject({ type: 'bigint', comment: expect.stringMatching(/^epoch microseconds/) })
    expect(glueColumns(TRADE_COLUMNS).find((c) => c.name === 'ts')!.type).toBe('timestamp')
    expect(glueColumns(CANDLE_COLUMNS).find((c) => c.name === 'open_time')!.type).toBe('timestamp')
  })

  it('spells the Firehose prefix exactly as the lake layout spells a bronze hour', () => {
    const filled = firehosePrefix('bronze/trades').replace(/!\{partitionKeyFromQuery:(\w+)\}/g, (_, k) => ({ exchange: 'binance', symbol: 'BTC-USDT', dt: '2026-11-24', hour: '15' } as Record<string, string>)[k])
    expect(filled).toBe(bronzeTradesPrefix('binance', 'BTC-USDT', '2026-11-24', '15'))
  })
})
