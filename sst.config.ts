/// <reference path="./.sst/platform/config.d.ts" />
// Ticklake on AWS: app settings here, one file per concern in stacks/.
export default $config({
  app(input) {
    return { name: 'ticklake', home: 'aws', removal: input?.stage === 'production' ? 'retain' : 'remove' }
  },
  async run() {
    const { lake } = await import('./stacks/lake')
    return { bucket: lake.bucket.name }
  },
})
