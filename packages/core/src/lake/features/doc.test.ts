import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { BEGIN, END, featuresDoc } from './doc'
import { CANDLE_FEATURE_COLUMNS, FEATURE_COLUMNS } from './schema'

const doc = readFileSync(new URL('../../../../../docs/features.md', import.meta.url), 'utf8')
const block = doc.slice(doc.indexOf(BEGIN), doc.indexOf(END) + END.length)
const section = (title: string) => block.split('### ').find((s) => s.startsWith(title))!

describe('docs/features.md', () => {
  it('holds the column lists generated from the schema (regenerate: npx tsx packages/core/src/lake/features/doc.ts)', () => {
    expect(block).toBe(featuresDoc())
  })

  it('lists exactly the schema columns, one line each, in schema order', () => {
    const names = (s: string) => [...s.matchAll(/^- `([a-z0-9_]+)` /gm)].map((m) => m[1])
    expect(names(section('Per-trade'))).toEqual(FEATURE_COLUMNS.map((c) => c.name))
    expect(names(section('Per-1m-candle'))).toEqual(CANDLE_FEATURE_COLUMNS.map((c) => c.name))
  })

  it('has 70 or more per-trade columns, each named once', () => {
    expect(FEATURE_COLUMNS.length).toBeGreaterThanOrEqual(70)
    expect(new Set(FEATURE_COLUMNS.map((c) => c.name)).size).toBe(FEATURE_COLUMNS.length)
    expect(new Set(CANDLE_FEATURE_COLUMNS.map((c) => c.name)).size).toBe(CANDLE_FEATURE_COLUMNS.length)
  })

  it('names no column like a partition other than exchange and symbol (Athena refuses a column twice)', () => {
    for (const c of [...FEATURE_COLUMNS, ...CANDLE_FEATURE_COLUMNS]) expect(['dt', 'hour', 'tf', 'year'], c.name).not.toContain(c.name)
  })
})
