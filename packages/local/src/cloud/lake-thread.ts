/** The lake thread's module (`startLakeThread` in lake.ts): serves the lake path to the thread that started it. */
import { parentPort, workerData } from 'node:worker_threads'
import { runLakeWorker } from './lake'

await runLakeWorker(parentPort!, workerData)
