import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { onWorker, startWorkers } from './index'

describe('worker tasks', () => {
  let dir: string
  /** The module bundled with a module that defines two tasks, as a function's bundle holds them. */
  let m: any
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ticklake-workers-'))
    const entry = join(dir, 'entry.ts')
    writeFileSync(entry, [
      `import { defineTask } from ${JSON.stringify(join(import.meta.dirname, 'index.ts'))}`,
      `import { isMainThread } from 'node:worker_threads'`,
      `defineTask('test.sum', (x: { values: Float64Array }) => ({ sum: x.values.reduce((a, b) => a + b, 0), main: isMainThread }))`,
      `defineTask('test.fail', () => { throw new Error('no such luck') })`,
      `defineTask('test.double', (x: Float64Array) => { for (let i = 0; i < x.length; i++) x[i] *= 2; return x.length })`,
      `export * from ${JSON.stringify(join(import.meta.dirname, 'index.ts'))}`,
    ].join('\n'))
    await build({ entryPoints: [entry], outfile: join(dir, 'bundle.mjs'), bundle: true, platform: 'node', format: 'esm', logLevel: 'silent' })
    m = await import(/* @vite-ignore */ pathToFileURL(join(dir, 'bundle.mjs')).href)
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('says a task did not run where no worker was started, so that the caller runs it itself', async () => {
    expect(await onWorker('test.sum', { values: Float64Array.of(1, 2) })).toEqual({ ran: false })
  })

  it('runs a task defined in the bundle on a started worker, off the main thread', async () => {
    const [w] = await m.startWorkers(1)
    expect(w).toBeDefined()
    expect(await m.runTask(w, 'test.sum', { values: Float64Array.of(1, 2, 3.5) })).toEqual({ ran: true, result: { sum: 6.5, main: false } })
    expect(await m.onWorker('test.sum', { values: Float64Array.of(4) })).toEqual({ ran: true, result: { sum: 4, main: false } })
  })

  it('writes into shared memory the caller sees, without a copy', async () => {
    const [w] = await m.startWorkers(1)
    const x = new Float64Array(new SharedArrayBuffer(3 * 8))
    x.set([1, 2, 3])
    expect(await m.runTask(w, 'test.double', x)).toEqual({ ran: true, result: 3 })
    expect(Array.from(x)).toEqual([2, 4, 6])
  })

  it('rejects a task that throws on the worker, says an unknown task did not run, and keeps serving', async () => {
    const [w] = await m.startWorkers(1)
    await expect(m.runTask(w, 'test.fail', {})).rejects.toThrow(/no such luck/)
    expect(await m.runTask(w, 'test.unknown', {})).toEqual({ ran: false })
    expect(await m.onWorker('test.fail', {})).toEqual({ ran: false })
    expect((await m.runTask(w, 'test.sum', { values: Float64Array.of(1) })).ran).toBe(true)
  })

  it('runs the jobs posted to one worker one after another, each with its own answer', async () => {
    const [w] = await m.startWorkers(1)
    const answers = await Promise.all([1, 2, 3, 4].map((k) => m.runTask(w, 'test.sum', { values: Float64Array.of(k, k) })))
    expect(answers.map((a: any) => a.result.sum)).toEqual([2, 4, 6, 8])
  })

  it('stops a pool that had no job for idleMs, and starts a fresh one for the next caller', async () => {
    const idleMs = m.defaults.idleMs
    m.defaults.idleMs = 300
    try {
      const [w] = await m.startWorkers(1)
      const exited = new Promise((resolve) => w.once('exit', resolve))
      expect((await m.runTask(w, 'test.sum', { values: Float64Array.of(1) })).ran).toBe(true)
      await new Promise((r) => setTimeout(r, 150))
      expect((await m.runTask(w, 'test.sum', { values: Float64Array.of(2) })).ran).toBe(true) // a job keeps it
      await new Promise((r) => setTimeout(r, 200))
      expect(await Promise.race([exited.then(() => 'stopped'), new Promise((r) => setTimeout(() => r('running'), 0))])).toBe('running')
      await exited // 300 ms after its last job
      expect(await m.onWorker('test.sum', { values: Float64Array.of(4) })).toEqual({ ran: false })
      const [fresh] = await m.startWorkers(1)
      expect(fresh).not.toBe(w)
      expect(await m.runTask(fresh, 'test.sum', { values: Float64Array.of(4) })).toEqual({ ran: true, result: { sum: 4, main: false } })
    } finally { m.defaults.idleMs = idleMs }
  })

  it('does not try again to start threads where one could not start (each try costs a thread start)', async () => {
    // this module as TypeScript source: a worker, without the test's loader, cannot load it
    const threads: Promise<unknown>[] = []
    const count = (w: any) => { threads.push(new Promise((resolve) => w.once('exit', resolve))) }
    process.on('worker', count)
    try {
      expect(await startWorkers(1)).toEqual([])
      expect(threads.length).toBeGreaterThan(0)
      const tried = threads.length
      await Promise.all(threads) // the failed thread is gone: the pool holds no starting worker now
      expect(await startWorkers(1)).toEqual([])
      expect(await startWorkers(2)).toEqual([])
      expect(threads.length).toBe(tried)
    } finally { process.off('worker', count) }
  })
})
