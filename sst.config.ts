/// <reference path="./.sst/platform/config.d.ts" />
// Ticklake on AWS: app settings here, one file per concern in stacks/ (see docs/deploy.md).
// `production` is the stage docs/deploy.md deploys: it keeps its bucket and table when removed
// (`removal: retain`) and `sst remove` refuses it (`protect`); every other stage is torn down whole.
// stacks/stages.test.ts holds the docs to this name.
export default $config({
  app(input) {
    const production = input?.stage === 'production'
    return { name: 'ticklake', home: 'aws', removal: production ? 'retain' : 'remove', protect: production }
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
