import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ensurePage } from './web'

const dir = mkdtempSync(join(tmpdir(), 'ticklake-web-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('the page for ticklake start', () => {
  it('is built on demand with Vite when its dist folder holds no build, and left alone when it does', async () => {
    // a Vite project as packages/web is: index.html, a module, a config building to dist
    mkdirSync(join(dir, 'web', 'src'), { recursive: true })
    writeFileSync(join(dir, 'web', 'index.html'), '<!doctype html><html><body><script type="module" src="./src/main.js"></script></body></html>\n')
    writeFileSync(join(dir, 'web', 'src', 'main.js'), 'document.body.append("ticklake page")\n')
    writeFileSync(join(dir, 'web', 'package.json'), '{"type":"module"}\n')
    writeFileSync(join(dir, 'web', 'vite.config.ts'), "export default { root: import.meta.dirname, base: './', build: { outDir: 'dist', emptyOutDir: true } }\n")
    const dist = join(dir, 'web', 'dist')
    const lines: string[] = []
    expect(await ensurePage(dist, (l) => lines.push(l))).toBe('built')
    expect(readFileSync(join(dist, 'index.html'), 'utf8')).toMatch(/<script type="module" crossorigin src="\.\/assets\/.+\.js"><\/script>/)
    expect(lines[0]).toMatch(/building the page/)
    expect(await ensurePage(dist, (l) => lines.push(l))).toBe('present')
    expect(lines).toHaveLength(2)
    expect(existsSync(join(dist, 'assets'))).toBe(true)
  }, 60_000)
})
