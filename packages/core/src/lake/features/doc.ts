/**
 * docs/features.md's column lists, generated from the schema: `featuresDoc()` renders the part
 * between the markers, a test holds the file equal to it, and running this file rewrites it:
 * `npx tsx packages/core/src/lake/features/doc.ts`.
 */
import { CANDLE_FEATURE_COLUMNS, FEATURE_COLUMNS, type FeatureColumn } from './schema'

export const BEGIN = '<!-- columns: generated from packages/core/src/lake/features/schema.ts; do not edit by hand -->'
export const END = '<!-- end of generated columns -->'

const line = (c: FeatureColumn) => `- \`${c.name}\` (${c.type.toLowerCase()}${c.nullable ? ', nullable' : ''}; ${c.family}): ${c.note}`

/** The generated block: both tables, one line per column. */
export function featuresDoc(): string {
  return [
    BEGIN, '',
    `### Per-trade features: \`gold/features/trades/\` (${FEATURE_COLUMNS.length} columns)`, '',
    ...FEATURE_COLUMNS.map(line), '',
    `### Per-1m-candle indicators: \`gold/features/candles/\` (${CANDLE_FEATURE_COLUMNS.length} columns)`, '',
    ...CANDLE_FEATURE_COLUMNS.map(line), '',
    END,
  ].join('\n')
}

/** `text` with its generated block replaced by the current one. */
export function withFeaturesDoc(text: string): string {
  const a = text.indexOf(BEGIN), b = text.indexOf(END)
  if (a < 0 || b < a) throw new Error('docs/features.md has no generated block (markers missing)')
  return text.slice(0, a) + featuresDoc() + text.slice(b + END.length)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { readFileSync, writeFileSync } = await import('node:fs')
  const path = new URL('../../../../../docs/features.md', import.meta.url)
  writeFileSync(path, withFeaturesDoc(readFileSync(path, 'utf8')))
  console.log(`wrote ${path.pathname}`)
}
