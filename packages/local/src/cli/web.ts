/**
 * The page for `ticklake start`: when `packages/web/dist` holds no build (a fresh clone run with
 * `npx ticklake start` rather than `npm start`), it is built on demand with Vite, once, before the
 * cloud serves it, so the printed URL never answers 503 "page not built". Where Vite is not
 * installed (a production install), it says how to build it and the cloud serves the API alone.
 */
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'

/** True when `webDist` holds a built page. */
const pageBuilt = (webDist: string) => existsSync(join(webDist, 'index.html'))

/**
 * Builds the page into `webDist` (its parent is the Vite project) unless it is built already;
 * resolves with what happened, for one line of the terminal.
 */
export async function ensurePage(webDist: string, log: (line: string) => void): Promise<'built' | 'present' | 'unavailable'> {
  if (pageBuilt(webDist)) return 'present'
  const root = dirname(webDist)
  let vite: typeof import('vite')
  try { vite = await import('vite') } catch {
    log(`the page is not built and Vite is not installed: run npm ci && npm run build:web (the API and WebSocket work meanwhile)`)
    return 'unavailable'
  }
  const started = Date.now()
  log('building the page (first run in this checkout)…')
  await vite.build({ root, configFile: join(root, 'vite.config.ts'), logLevel: 'warn' })
  log(`page built in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return 'built'
}
