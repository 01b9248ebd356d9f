/// <reference path="./.sst/platform/config.d.ts" />
// Ticklake on AWS: app settings here, one file per concern in stacks/ (see docs/deploy.md).
export default $config({
  app(input) {
    return { name: 'ticklake', home: 'aws', removal: input?.stage === 'production' ? 'retain' : 'remove' }
  },
  async run() {
    const { lake } = await import('./stacks/lake')
    const { realtime } = await import('./stacks/realtime')
    const { pipeline } = await import('./stacks/pipeline')
    await import('./stacks/views')
    const { api } = await import('./stacks/api')
    const { router } = await import('./stacks/web')
    return { page: router.url, api: api.url, websocket: realtime.ws.url, bucket: lake.bucket.name, athenaWorkgroup: lake.workgroup.name, lakeFailures: pipeline.lakeFailures.url }
  },
})
