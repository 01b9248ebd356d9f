// The page (DESIGN.md section 5): the Vite build on CloudFront, with the lake's `serving/` windows and
// the HTTP API behind the same router, so the page finds everything on its own origin as it does
// locally (`/api/health` tells it the WebSocket URL).
import { lake } from './lake'
import { api } from './api'

export const router = new sst.aws.Router('Web')
router.routeBucket('/serving', lake.bucket)
router.route('/api', api.url)

// deployed under `sst dev` too (SST would otherwise run `npm run dev` in packages/web, which has no
// such script, and serve the page on localhost, away from the /api and /serving it finds on its own origin)
export const site = new sst.aws.StaticSite('Page', {
  path: 'packages/web',
  build: { command: 'npx vite build', output: 'dist' },
  router: { instance: router },
  dev: false,
})
