import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { acquireLock, isAlive, procStart } from './lock'
import { UsageError } from './errors'

const dirs: string[] = []
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'ticklake-lock-')); dirs.push(d); return d }
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

/** The pid of a process that has exited (so no longer alive). */
function deadPid() {
  const r = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' })
  return Number(r.stdout.trim())
}

describe('the data folder lock', () => {
  it('writes this process id into the lock and removes it on release', () => {
    const dir = tmp()
    const lock = acquireLock(dir, 'start')
    const info = JSON.parse(readFileSync(lock.path, 'utf8'))
    expect(info).toMatchObject({ pid: process.pid, command: 'start' })
    lock.release()
    expect(existsSync(lock.path)).toBe(false)
  })

  it('refuses a second lock while a live process holds it, naming that pid', () => {
    const dir = tmp()
    // the parent of this test runner is alive and is not this process
    writeFileSync(join(dir, 'ticklake.lock'), JSON.stringify({ pid: process.ppid, started_at: '2026-01-01T00:00:00.000Z', command: 'start', proc_start: procStart(process.ppid) }))
    expect(() => acquireLock(dir, 'start')).toThrow(UsageError)
    expect(() => acquireLock(dir, 'start')).toThrow(new RegExp(`pid ${process.ppid}`))
    expect(JSON.parse(readFileSync(join(dir, 'ticklake.lock'), 'utf8')).pid).toBe(process.ppid)
  })

  it('takes over a lock left by a process that is no longer alive', () => {
    const dir = tmp()
    const pid = deadPid()
    writeFileSync(join(dir, 'ticklake.lock'), JSON.stringify({ pid, started_at: '2026-01-01T00:00:00.000Z', command: 'start' }))
    const lock = acquireLock(dir, 'start')
    expect(JSON.parse(readFileSync(lock.path, 'utf8')).pid).toBe(process.pid)
    lock.release()
  })

  it('takes over a lock whose pid now belongs to another process (its start time differs)', () => {
    const dir = tmp()
    writeFileSync(join(dir, 'ticklake.lock'), JSON.stringify({ pid: process.ppid, started_at: '2026-01-01T00:00:00.000Z', command: 'start', proc_start: '1' }))
    if (procStart(process.ppid) === undefined) return // no /proc here: a live pid counts as the holder
    expect(acquireLock(dir, 'start').path).toBe(join(dir, 'ticklake.lock'))
  })

  it('takes over an unreadable (empty) lock file', () => {
    const dir = tmp()
    writeFileSync(join(dir, 'ticklake.lock'), '')
    expect(JSON.parse(readFileSync(acquireLock(dir, 'replay').path, 'utf8')).command).toBe('replay')
  })

  it('leaves a lock another process took over in place when releasing', () => {
    const dir = tmp()
    const lock = acquireLock(dir, 'start')
    writeFileSync(lock.path, JSON.stringify({ pid: process.ppid, started_at: 'later', command: 'start' }))
    lock.release()
    expect(existsSync(lock.path)).toBe(true)
  })

  it('tells a live process from a dead one', () => {
    expect(isAlive({ pid: process.ppid, started_at: '', command: '' })).toBe(true)
    expect(isAlive({ pid: deadPid(), started_at: '', command: '' })).toBe(false)
  })
})
