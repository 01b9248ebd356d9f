/**
 * Crash safety of the whole local process: `ticklake start` is killed with SIGKILL at random
 * moments and started again, then stopped cleanly; silver must then hold every trade of the fake
 * exchange's ground truth, from the first ingested to the last checkpointed, exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readCheckpoint } from '@ticklake/core/sources/checkpoint'
import { updateSilver } from '@ticklake/core/lake/silver'
import { partitionsOfKey } from '@ticklake/core/lake/layout'
import type { Trade } from '@ticklake/core/market'
import { startFakeExchange, prng, type FakeExchange } from '../exchange/index'
import { fileStore } from '../store/index'

const BIN = join(__dirname, '../../bin/ticklake.mjs')
const SYMBOL = 'BTC-USDT'
let fx: FakeExchange
const dir = mkdtempSync(join(tmpdir(), 'ticklake-crash-'))
/** Every child started, so none outlives the test, whatever way it ends. */
const children = new Set<ChildProcess>()
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  await fx?.close()
  rmSync(dir, { recursive: true, force: true })
})

/** Starts `ticklake start` on the fake exchange; resolves once it says it is running. */
function start(): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, 'start', '--rest-url', fx.restUrl, '--ws-url', fx.wsUrl, '--symbols', SYMBOL, '--port', '0', '--data', dir, '--backfill', '2m', '--coins', 'none'], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`ticklake did not start within 60 s: ${out}`)) }, 60_000)
    child.stdout!.on('data', (d) => { out += d; if (out.includes('Ticklake is running')) { clearTimeout(timer); resolve(child) } })
    child.stderr!.on('data', (d) => { out += d })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`ticklake exited with ${code}: ${out}`)) })
  })
}
const exited = (c: ChildProcess) => new Promise((r) => c.once('exit', r))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('ticklake start under kill -9', () => {
  it('holds every trade exactly once in silver after random kills and restarts', async () => {
    fx = await startFakeExchange({ symbols: [SYMBOL], historyMs: 10 * 60_000, ratePerSec: 30, seed: 11 })
    const rand = prng(Date.now() & 0xffff)
    const backfillFrom = Date.now() - 120_000 // --backfill 2m
    const store = fileStore(dir)
    const checkpoint = async () => (await readCheckpoint(store, 'binance', SYMBOL))?.checkpoint.last_trade_id
    for (let i = 0; i < 4; i++) {
      const child = await start()
      if (i % 2 === 0) {
        // the riskiest moment: just after a checkpoint moved, while its records may still be buffered
        const before = await checkpoint()
        for (let t = 0; t < 1_000 && (await checkpoint()) === before; t++) await sleep(5)
      } else await sleep(300 + rand() * 2_500)
      child.kill('SIGKILL')
      await exited(child)
      await sleep(rand() * 1_000) // trades go on while nothing ingests
    }
    const last = await start()
    await sleep(3_000)
    last.kill('SIGINT')
    await exited(last)

    const cp = (await readCheckpoint(store, 'binance', SYMBOL))!.checkpoint
    const hours = new Set((await store.list(`bronze/trades/exchange=binance/symbol=${SYMBOL}/`)).map((o) => { const p = partitionsOfKey(o.key); return `${p.dt}/${p.hour}` }))
    const trades: Trade[] = []
    for (const h of [...hours].sort()) {
      const [dt, hour] = h.split('/')
      trades.push(...(await updateSilver(store, 'binance', SYMBOL, dt, hour)).trades)
    }
    // the first run backfills 2 minutes from its own start, which a loaded machine delays: the
    // check runs from the first trade in silver, which must lie near the start of that window
    const first = Math.min(...trades.map((t) => t.trade_id))
    expect(fx.aggTrades(SYMBOL).find((t) => t.a === first)!.T).toBeLessThan(backfillFrom + 60_000)
    const ids = trades.map((t) => t.trade_id).filter((id) => id >= first && id <= cp.last_trade_id)
    const truth = fx.aggTrades(SYMBOL).filter((t) => t.a >= first && t.a <= cp.last_trade_id).map((t) => t.a)
    expect(ids.length).toBeGreaterThan(1_000)
    expect(new Set(ids).size).toBe(ids.length)
    expect(ids).toEqual(truth)
  }, 120_000)
})
