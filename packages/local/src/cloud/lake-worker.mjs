// The lake thread of the local cloud (see lake.ts): a worker does not get the loader of the
// thread that started it, so it registers tsx itself and loads the TypeScript module.
import { parentPort, workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register()
const { runLakeWorker } = await import('./lake.ts')
await runLakeWorker(parentPort, workerData)
