import { describe, expect, it } from 'vitest'
import { analystViewStatements } from '@ticklake/core/sources/symbols'
import type { QueryEngine } from '@ticklake/core/serve/query'
import { createViewsHandler } from './views'

describe('views function', () => {
  it('runs each analyst view statement once, unparameterized, and names what it created', async () => {
    const ran: { sql: string; params: unknown[] }[] = []
    const engine: QueryEngine = { query: async (st) => { ran.push(st); return [] } }
    const result = await createViewsHandler(engine)()
    expect(ran).toEqual(analystViewStatements().map((sql) => ({ sql, params: [] })))
    expect(result.created.sort()).toEqual(['fact_candles', 'fact_trades'])
  })

  it('fails the invocation when Athena refuses a statement, so the deploy shows it', async () => {
    await expect(createViewsHandler({ query: async () => { throw new Error('FAILED: line 1: Table dim_symbols does not exist') } })()).rejects.toThrow(/dim_symbols/)
  })
})
