import { describe, expect, it } from 'vitest'
import { lazyEngine } from './index'

const statement = { sql: 'SELECT 1', params: [] }

describe('the local API\'s query engine', () => {
  it('is made on the first query, once, and not before', async () => {
    let made = 0
    const engine = lazyEngine(async () => { made++; return { query: async () => [{ one: 1 }], close: () => {} } })
    expect(made).toBe(0)
    expect(await Promise.all([engine.query(statement), engine.query(statement)])).toEqual([[{ one: 1 }], [{ one: 1 }]])
    expect(made).toBe(1)
  })

  it('is made again on the next query when making it failed, and answers that query with the reason', async () => {
    let tries = 0
    const engine = lazyEngine(async () => {
      if (++tries === 1) throw new Error('no DuckDB here')
      return { query: async () => [{ ok: true }], close: () => {} }
    })
    await expect(engine.query(statement)).rejects.toThrow('no DuckDB here')
    expect(await engine.query(statement)).toEqual([{ ok: true }])
  })

  it('closes the engine it made, and refuses queries once closed', async () => {
    let closed = 0
    const engine = lazyEngine(async () => ({ query: async () => [], close: () => { closed++ } }))
    await engine.query(statement)
    engine.close()
    await new Promise((r) => setTimeout(r, 0))
    expect(closed).toBe(1)
    await expect(engine.query(statement)).rejects.toThrow(/closed/)
  })
})
