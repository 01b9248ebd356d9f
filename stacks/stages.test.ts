/**
 * The stage the docs tell users to deploy is the stage `sst.config.ts` keeps: this test evaluates
 * the app settings of `sst.config.ts` (its `app()` for a stage, as SST calls it) and reads every
 * `sst deploy`, `sst secret set` and `sst remove` command in docs/deploy.md and README.md, so a
 * renamed stage in either place fails here before `sst remove` could take a lake with it. It also
 * holds the secrets the docs name to the ones stacks/ declares, and the CoinGecko key to the one
 * function that needs it.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..')
const read = (path: string) => readFileSync(join(root, path), 'utf8')
const docs = ['docs/deploy.md', 'README.md'].map((path) => ({ path, text: read(path) }))
const stacks = readdirSync(join(root, 'stacks')).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => read(join('stacks', f)))

/** `--stage X` of every documented command whose text matches `command`, with where it was found. */
function stagesOf(command: RegExp): { stage: string; where: string }[] {
  const out: { stage: string; where: string }[] = []
  for (const { path, text } of docs) {
    for (const line of text.split('\n')) {
      if (!command.test(line)) continue
      for (const m of line.matchAll(/--stage[ =]([\w-]+)/g)) out.push({ stage: m[1], where: `${path}: ${line.trim()}` })
    }
  }
  return out
}

type AppSettings = { removal?: string; protect?: boolean }
let app: (stage: string) => Promise<AppSettings>
beforeAll(async () => {
  // SST defines $config as a global that returns its argument's settings; the test does the same
  const g = globalThis as { $config?: unknown }
  g.$config = (config: unknown) => config
  const config = (await import('../sst.config')).default as unknown as { app(input: { stage: string }): AppSettings | Promise<AppSettings> }
  app = async (stage) => config.app({ stage })
})

describe('deploy stage', () => {
  it('is retained and protected in sst.config.ts wherever the docs deploy it or set its secrets', async () => {
    const deployed = stagesOf(/sst (deploy|secret set)\b/)
    expect(deployed.filter((d) => /sst deploy/.test(d.where)).length, 'the docs name the stage of `sst deploy`').toBeGreaterThan(0)
    for (const { stage, where } of deployed) expect(await app(stage), where).toMatchObject({ removal: 'retain', protect: true })
    expect(new Set(deployed.map((d) => d.stage)).size, 'one deploy stage throughout the docs').toBe(1)
  })

  it('is never the stage the docs tell users to remove, and other stages are removed whole', async () => {
    const removed = stagesOf(/sst remove\b/)
    expect(removed.length).toBeGreaterThan(0)
    for (const { stage, where } of removed) expect(await app(stage), where).toMatchObject({ removal: 'remove', protect: false })
    expect(await app('prod')).toMatchObject({ removal: 'remove' }) // a look-alike name is not kept: the docs must use the one name
  })
})

describe('secrets', () => {
  it('named by the docs are the ones stacks/ declares', () => {
    const declared = new Set(stacks.flatMap((s) => [...s.matchAll(/new sst\.Secret\('(\w+)'/g)].map((m) => m[1])))
    const documented = new Set(docs.flatMap(({ text }) => [...text.matchAll(/sst secret set (\w+)/g)].map((m) => m[1])))
    expect([...declared].sort()).toEqual(['ApiKeys', 'CoinGeckoKey'])
    expect([...documented].sort()).toEqual([...declared].sort())
  })

  it('links the CoinGecko key to the prices function alone', () => {
    const links = stacks.flatMap((s) => [...s.matchAll(/link: \[([^\]]*)\]/g)].map((m) => m[1]))
    expect(links.filter((l) => /\bcoingeckoKey\b/.test(l))).toHaveLength(1)
    const prices = stacks.join('\n').match(/new sst\.aws\.Cron\('Prices',[\s\S]*?\n\}\)/)?.[0] ?? ''
    expect(prices).toMatch(/link: \[[^\]]*\bcoingeckoKey\b[^\]]*\]/)
    expect(prices, 'the key stays out of the function environment').not.toMatch(/TICKLAKE_COINGECKO_KEY/)
  })
})
