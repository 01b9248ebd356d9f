// The lake thread of the local cloud (see lake.ts) when it runs from the TypeScript sources: a
// worker does not get the loader of the thread that started it, so it registers tsx itself. In the
// bundle `npm start` runs, `lake-worker.mjs` is lake-thread.ts bundled, and needs no loader.
import { register } from 'tsx/esm/api'

register()
await import('./lake-thread.ts')
