/**
 * Core's modules follow the flow (docs/ARCHITECTURE.md, "The flow in the tree"): this test parses
 * every production import of packages/core/src (static, `export … from`, `import('…')` types and
 * calls) into a graph of modules (folders: `sources/ingest`, `lake/candles`, `serve/api`, or
 * `market`, `ports`, `aws`) and fails on any two modules importing each other, directly or through
 * others, and on any import against the flow:
 * - sources import only sources, market, ports and the lake's write contract (lake/layout,
 *   lake/parquet, lake/quality): never a lake job (silver, candles, features) nor serve;
 * - the write contract imports only itself, market and ports (what sources use must not reach a job);
 * - lake never imports serve;
 * - market and ports import nothing of core but each other;
 * - nothing imports aws (adapters, built by packages/functions and packages/local), but aws itself.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

/**
 * Imports that break a rule today and that another engineer's branch removes: the lead empties this
 * list after merging those branches (a test below fails on any entry no longer in the code). Every
 * other import is held to every rule; an entry here is also left out of the cycle check.
 */
const KNOWN: string[] = [
]

const SRC = import.meta.dirname
const FLOW = ['sources', 'lake', 'serve']
const CONTRACT = ['lake/layout', 'lake/parquet', 'lake/workers', 'lake/quality'] // workers: the codec decodes on them; domain-free

/** The module a path under src belongs to: `lake/candles` for `lake/candles/kernel.ts`, `market` for `market/index.ts`. */
export function moduleOf(path: string): string {
  const parts = relative(SRC, path).split('/')
  return FLOW.includes(parts[0]) ? parts.slice(0, 2).join('/') : parts[0]
}

/** Every module specifier a source file imports or re-exports, types and dynamic imports included. */
export function specifiersOf(file: string, text = readFileSync(file, 'utf8')): string[] {
  const out: string[] = []
  const visit = (n: ts.Node) => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) out.push(n.moduleSpecifier.text)
    else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) out.push(n.argument.literal.text)
    else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) out.push(n.arguments[0].text)
    ts.forEachChild(n, visit)
  }
  visit(ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true))
  return out
}

/** The production files of src (no tests). */
function productionFiles(dir = SRC): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f)
    return statSync(p).isDirectory() ? productionFiles(p) : /\.ts$/.test(f) && !/\.test\.ts$/.test(f) ? [p] : []
  })
}

/** `from -> to` edges between modules, each with the files that make it. */
function moduleGraph(): Map<string, string[]> {
  const edges = new Map<string, string[]>()
  for (const file of productionFiles()) {
    for (const spec of specifiersOf(file)) {
      const to = spec.startsWith('.') ? moduleOf(resolve(dirname(file), spec)) : spec.startsWith('@ticklake/core/') ? moduleOf(join(SRC, spec.slice('@ticklake/core/'.length))) : undefined
      const from = moduleOf(file)
      if (!to || to === from) continue
      const edge = `${from} -> ${to}`
      edges.set(edge, [...(edges.get(edge) ?? []), relative(SRC, file)])
    }
  }
  return edges
}

/** Why an import from one module to another is against the flow, or undefined when it is not. */
export function againstFlow(from: string, to: string): string | undefined {
  const area = (m: string) => m.split('/')[0]
  if (to === 'aws' && from !== 'aws') return 'nothing of core imports the AWS adapters'
  if ((from === 'market' || from === 'ports') && to !== 'market' && to !== 'ports') return 'market and ports import nothing of core but each other'
  if (CONTRACT.includes(from) && !CONTRACT.includes(to) && to !== 'market' && to !== 'ports') return 'the lake\'s write contract (layout, parquet, quality) imports only itself, market and ports'
  if (area(from) === 'sources' && !(area(to) === 'sources' || CONTRACT.includes(to) || to === 'market' || to === 'ports')) return 'sources import only sources, market, ports and the lake\'s write contract'
  if (area(from) === 'lake' && area(to) === 'serve') return 'lake never imports serve'
  return undefined
}

/** Edges that lie on a cycle of modules, each with one cycle it lies on. */
export function cyclesOf(edges: readonly string[]): { edge: string; cycle: string[] }[] {
  const next = new Map<string, string[]>()
  for (const e of edges) { const [a, b] = e.split(' -> '); next.set(a, [...(next.get(a) ?? []), b]) }
  /** A path from `a` to `b`, or undefined. */
  const path = (a: string, b: string, seen = new Set<string>()): string[] | undefined => {
    if (a === b) return [b]
    seen.add(a)
    for (const n of next.get(a) ?? []) if (!seen.has(n)) { const p = path(n, b, seen); if (p) return [a, ...p] }
    return undefined
  }
  const out: { edge: string; cycle: string[] }[] = []
  for (const e of edges) { const [a, b] = e.split(' -> '); const back = path(b, a); if (back) out.push({ edge: e, cycle: [a, ...back] }) }
  return out
}

const graph = moduleGraph()
const held = [...graph.keys()].filter((e) => !KNOWN.includes(e))

describe('core\'s modules', () => {
  it('never import each other, directly or in a cycle', () => {
    expect(cyclesOf(held).map((c) => `${c.cycle.join(' -> ')} (${graph.get(c.edge)!.join(', ')})`)).toEqual([])
  })

  it('never import against the flow', () => {
    expect(held.flatMap((e) => { const [a, b] = e.split(' -> '); const why = againstFlow(a, b); return why ? [`${e} (${graph.get(e)!.join(', ')}): ${why}`] : [] })).toEqual([])
  })

  it('still make every import KNOWN lists (remove an entry once its branch is merged)', () => {
    expect(KNOWN.filter((e) => !graph.has(e))).toEqual([])
    for (const e of KNOWN) { const [a, b] = e.split(' -> '); expect(againstFlow(a, b) ?? cyclesOf([...graph.keys()]).find((c) => c.edge === e), e).toBeTruthy() }
  })
})

describe('the import checks', () => {
  it('read static, re-exported, type and dynamic imports', () => {
    const text = "import { a } from './a'\nimport type { B } from '../b/index'\nexport * from './c'\nlet d: import('../../d/index').D\nconst e = await import('./e')\nimport 'node:fs'"
    expect(specifiersOf('x.ts', text)).toEqual(['./a', '../b/index', './c', '../../d/index', './e', 'node:fs'])
  })

  it('find a cycle through three modules, and imports against the flow', () => {
    expect(cyclesOf(['lake/a -> lake/b', 'lake/b -> lake/c', 'lake/c -> lake/a', 'lake/c -> market']).map((c) => c.edge)).toEqual(['lake/a -> lake/b', 'lake/b -> lake/c', 'lake/c -> lake/a'])
    expect(againstFlow('sources/ingest', 'lake/candles')).toMatch(/sources import only/)
    expect(againstFlow('sources/ingest', 'serve/realtime')).toMatch(/sources import only/)
    expect(againstFlow('sources/ingest', 'lake/layout')).toBeUndefined()
    expect(againstFlow('lake/silver', 'serve/api')).toMatch(/lake never imports serve/)
    expect(againstFlow('lake/parquet', 'lake/candles')).toMatch(/write contract/)
    expect(againstFlow('market', 'lake/layout')).toMatch(/market and ports/)
    expect(againstFlow('serve/api', 'aws')).toMatch(/AWS adapters/)
    expect(againstFlow('serve/realtime', 'lake/candles')).toBeUndefined()
  })
})
