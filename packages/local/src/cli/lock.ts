/**
 * One `ticklake start` (or `replay`) per data folder: a lock file `<data>/ticklake.lock` holding the
 * owner's pid, its start time and the command, created atomically (written whole, then hard-linked
 * into place, which fails when the lock exists just as `O_EXCL` does: of two processes only one
 * makes it, and none reads a half-written lock). A lock whose pid is no longer alive (a crashed or killed
 * process), or whose pid now belongs to another process (Linux: the process start time in
 * `/proc/<pid>/stat` differs), is stale and taken over; a live one is refused with a `UsageError`
 * naming the pid. Two runs on one folder would otherwise fight over checkpoints and the Firehose spool.
 */
import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { UsageError } from './errors'

export const defaults = {
  fileName: 'ticklake.lock',
  /** Attempts at taking a lock whose stale file another process is replacing at the same moment. */
  attempts: 5,
}

export interface LockInfo { pid: number; started_at: string; command: string; proc_start?: string }

/** The start time of process `pid` in clock ticks since boot (Linux), or undefined where there is no /proc. */
export function procStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // field 22, counted after the command name (which may hold spaces) in parentheses
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch { return undefined }
}

/** True when `info`'s process still runs (and is the same process, where /proc tells). */
export function isAlive(info: LockInfo): boolean {
  if (!Number.isInteger(info.pid) || info.pid <= 0 || info.pid === process.pid) return false
  try { process.kill(info.pid, 0) } catch (e: any) { if (e?.code !== 'EPERM') return false }
  if (info.proc_start) { const now = procStart(info.pid); if (now !== undefined && now !== info.proc_start) return false }
  return true
}

function readLock(path: string): LockInfo | undefined {
  try { return JSON.parse(readFileSync(path, 'utf8')) } catch { return undefined }
}

/**
 * Removes the stale lock `stale` read at `path`: moves it aside (a rename: of two processes racing
 * here only one moves it) and, should what it moved be a newer live lock another process made in
 * the meantime, puts that back.
 */
function breakStale(path: string, stale: LockInfo | undefined) {
  const aside = `${path}.stale-${process.pid}`
  try { renameSync(path, aside) } catch { return }
  const moved = readLock(aside)
  if (moved && stale && (moved.pid !== stale.pid || moved.started_at !== stale.started_at) && isAlive(moved)) {
    try { linkSync(aside, path) } catch { /* yet another lock is in place */ }
  }
  try { unlinkSync(aside) } catch { /* gone */ }
}

export interface Lock { path: string; release(): void }

/**
 * Takes the lock of `dataDir` for this process (making the folder when it is missing); resolves
 * with a `release` that removes it. Throws a `UsageError` when a live process holds it.
 * @example const lock = acquireLock('.ticklake', 'start'); try { ... } finally { lock.release() }
 */
export function acquireLock(dataDir: string, command: string): Lock {
  mkdirSync(dataDir, { recursive: true })
  const path = join(dataDir, defaults.fileName)
  const info: LockInfo = { pid: process.pid, started_at: new Date().toISOString(), command, proc_start: procStart(process.pid) }
  // written whole to a file of our own first, then linked into place: link(2) fails when the lock
  // exists (as O_EXCL does), and nobody ever reads a half-written lock
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(info) + '\n')
  try {
    for (let attempt = 0; attempt < defaults.attempts; attempt++) {
      try { linkSync(tmp, path) } catch (e: any) {
        if (e?.code !== 'EEXIST') throw e
        const held = readLock(path)
        if (held && isAlive(held)) throw new UsageError(`another ticklake ${held.command ?? 'process'} (pid ${held.pid}, since ${held.started_at}) is using ${dataDir}: stop it first, or pass another --data folder`)
        breakStale(path, held)
        continue
      }
      let released = false
      return {
        path,
        release() {
          if (released) return
          released = true
          // only our own lock is removed (never one a later process took over)
          if (readLock(path)?.pid === process.pid) try { unlinkSync(path) } catch { /* already gone */ }
        },
      }
    }
  } finally { try { unlinkSync(tmp) } catch { /* gone */ } }
  throw new UsageError(`could not take the lock ${path}: other processes keep replacing it`)
}
