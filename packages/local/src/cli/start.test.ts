import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import { startFakeExchange } from '../exchange/index'
import { afterAll, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const BIN = fileURLToPath(new URL('../../bin/ticklake.mjs', import.meta.url))

interface Run { child: ChildProcess; out: () => string; err: () => string; exit: Promise<number | null> }

/** `ticklake …` as a child process without a TTY (the bin registers tsx in its own process, so signals reach it). */
function ticklake(...args: string[]): Run {
  return spawned([BIN, ...args])
}

function spawned(args: string[]): Run {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d) => { out += d })
  child.stderr!.on('data', (d) => { err += d })
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  return { child, out: () => out, err: () => err, exit }
}

/** Resolves once `test` holds of the run's stdout (checked every 100 ms), or fails when the run exits first. */
async function until(run: Run, test: (out: string) => boolean, what: string) {
  let exited = false
  void run.exit.then(() => { exited = true })
  while (!test(run.out())) {
    if (exited) throw new Error(`ticklake exited before ${what}:\n${run.out()}\n${run.err()}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const dirs: string[] = []
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'ticklake-start-')); dirs.push(d); return d }
const runs: Run[] = []
afterAll(() => {
  for (const r of runs) if (r.child.exitCode === null) r.child.kill('SIGKILL')
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})
const start = (...args: string[]) => { const r = ticklake('start', '--source', 'sim', '--coins', 'none', ...args); runs.push(r); return r }

describe('ticklake start as a command', () => {
  it('runs one start per data folder, refuses a port in use at once, shows plain progress lines and ends with what it flushed', async () => {
    const data = tmp()
    const a = start('--port', '0', '--data', data, '--backfill', '10m')
    await until(a, (o) => /page: +http:\/\/127\.0\.0\.1:\d+\//.test(o), 'serving the page')
    const url = /page: +(http:\S+)/.exec(a.out())![1]
    const page = await fetch(url)
    expect(page.status).toBe(200)
    expect(await page.text()).toMatch(/<html/i)

    // a second start on the same folder: refused, naming the first one's pid
    const b = start('--port', '0', '--data', data)
    expect(await b.exit).toBe(2)
    expect(b.err()).toMatch(new RegExp(`another ticklake start \\(pid ${a.child.pid},`))
    expect(b.err().trim().split('\n')).toHaveLength(1)

    // the first one's port: refused at once (no hang), elsewhere
    const port = new URL(url).port
    const c = start('--port', port, '--data', tmp())
    expect(await c.exit).toBe(2)
    expect(c.err()).toMatch(new RegExp(`port ${port} is in use`))

    // a tab that closes abruptly (its connection reset while trades flow to it) is no news
    const ws = new WebSocket(url.replace('http', 'ws') + 'ws')
    await new Promise((r) => ws.once('open', r))
    ws.send(JSON.stringify({ action: 'subscribe', channels: ['trades:binance:BTC-USDT'] }))
    await new Promise((r) => ws.once('message', r))
    ;(ws as any)._socket.resetAndDestroy()

    await until(a, (o) => /^live: [\d.,]+ trades\/s  lake lag .+  \d+ subscribers?$/m.test(o), 'a live status line')
    a.child.kill('SIGINT')
    expect(await a.exit).toBe(0)
    const lines = a.out().trim().split('\n')
    expect(lines.at(-1)).toMatch(/^stopped: records flushed to the lake in .*; checkpoints saved: BTC-USDT at trade id \d+ .*, ETH-USDT at trade id \d+ .*; [\d,]+ trade ids checkpointed this run$/)
    expect(lines.at(-2)).toBe('stopping: flushing records and checkpoints…')
    expect(a.out()).not.toMatch(/ECONNRESET|\x1b\[|\r/)
    expect(a.err()).toBe('')
    const logged = lines.filter((l) => l.startsWith('  ') && !/^ +(page|lake|stop):/.test(l))
    expect(new Set(logged).size).toBe(logged.length)
    expect(existsSync(join(data, 'ticklake.lock'))).toBe(false)
  }, 120_000)

  it('starts on a folder whose last start was killed (the lock it left is stale)', async () => {
    const data = tmp()
    const a = start('--port', '0', '--data', data, '--backfill', '0')
    await until(a, (o) => /page: /.test(o), 'serving the page')
    a.child.kill('SIGKILL')
    await a.exit
    expect(existsSync(join(data, 'ticklake.lock'))).toBe(true)
    const b = start('--port', '0', '--data', data, '--backfill', '0')
    await until(b, (o) => /page: /.test(o), 'serving the page after a crash')
    b.child.kill('SIGINT')
    expect(await b.exit).toBe(0)
    expect(b.out().trim().split('\n').at(-1)).toMatch(/^stopped: /)
  }, 120_000)

  it('runs every exchange of a --config file at once, each falling back on its own to its simulated twin, labelled in the terminal and /api/health', async () => {
    const fake = await startFakeExchange({ symbols: ['BTC-USDT'], seed: 9, historyMs: 2 * 60_000 })
    try {
      const data = tmp()
      const config = join(data, 'sources.json')
      // Binance answers (the fake one at its URL); Coinbase at a port nobody listens on does not
      writeFileSync(config, JSON.stringify({ exchanges: [{ exchange: 'binance', symbols: ['BTC-USDT'], restUrl: fake.restUrl, wsUrl: fake.wsUrl }, { exchange: 'coinbase', symbols: ['BTC-USD'], restUrl: 'http://127.0.0.1:1', wsUrl: 'ws://127.0.0.1:1' }] }))
      const a = ticklake('start', '--config', config, '--port', '0', '--data', data, '--backfill', '1m')
      runs.push(a)
      await until(a, (o) => /page: +http:\/\/127\.0\.0\.1:\d+\//.test(o), 'serving the page')
      expect(a.out()).toMatch(/^Coinbase is unreachable \(.+\): running sim-coinbase, the SIMULATED Coinbase, instead\.$/m)
      expect(a.out()).toMatch(/Ticklake is running on 2 exchanges:\n +binance: +live Binance \(http:\/\/127\.0\.0\.1:\d+\): BTC-USDT\n +sim-coinbase: +SIMULATED Coinbase exchange \(fake trades, not market data\): BTC-USD\n/)
      const url = /page: +(http:\S+)/.exec(a.out())![1]
      const health = await fetch(`${url}api/health`).then((r) => r.json())
      expect(health.sources.map((s: any) => [s.exchange, s.simulated])).toEqual([['binance', false], ['sim-coinbase', true]])
      await until(a, (o) => /^binance (live|backfill): .* │ sim-coinbase (live|backfill|starting): .* │ \d+ subscribers?$/m.test(o), 'a progress line per exchange')
      a.child.kill('SIGINT')
      expect(await a.exit).toBe(0)
      expect(a.out().trim().split('\n').at(-1)).toMatch(/^stopped: records flushed to the lake in .*; checkpoints saved: (binance BTC-USDT at trade id \d+ .*|sim-coinbase BTC-USD at trade id \d+ .*)+/)
    } finally { await fake.close() }
  }, 120_000)

  it('runs from a bundle of the sources as npm start: it serves the page and the API, its lake thread flushes, and an unchanged source tree reuses the bundle', async () => {
    const data = tmp()
    const run = () => { const r = spawned([join(ROOT, 'packages/local/bin/start.mjs'), '--source', 'sim', '--coins', 'none', '--symbols', 'BTC-USDT', '--port', '0', '--data', data, '--backfill', '1m']); runs.push(r); return r }
    const a = run()
    await until(a, (o) => /page: +http:\/\/127\.0\.0\.1:\d+\//.test(o), 'serving the page')
    const built = JSON.parse(readFileSync(join(ROOT, 'packages/local/dist/inputs.json'), 'utf8')).inputs
    expect(Object.keys(built)).toEqual(expect.arrayContaining(['packages/local/src/cli.ts', 'packages/local/src/cloud/lake-thread.ts', 'packages/core/src/lake/candles/index.ts']))
    expect(Object.keys(built).some((f) => f.includes('tsx'))).toBe(false)
    const url = /page: +(http:\S+)/.exec(a.out())![1]
    expect(await (await fetch(url)).text()).toMatch(/<html/i)
    const candles = await fetch(`${url}api/candles?exchange=sim-binance&symbol=BTC-USDT&tf=1m&limit=5`) // DuckDB, loaded on this first query
    expect(candles.status).toBe(200)
    a.child.kill('SIGTERM') // start.mjs hands it on to the pipeline
    expect(await a.exit).toBe(0)
    expect(a.out().trim().split('\n').at(-1)).toMatch(/^stopped: records flushed to the lake in .*; checkpoints saved: BTC-USDT at trade id \d+/)
    expect(a.err()).toBe('')
    const b = run()
    await until(b, (o) => /page: /.test(o), 'serving the page again')
    expect(JSON.parse(readFileSync(join(ROOT, 'packages/local/dist/inputs.json'), 'utf8')).inputs).toEqual(built)
    b.child.kill('SIGTERM')
    expect(await b.exit).toBe(0)
  }, 120_000)
})
