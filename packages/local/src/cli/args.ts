/**
 * Checks of command-line values shared by the `ticklake` commands: enum flags (`--format`, `--tf`,
 * `--exchange`, ...) against their allowed values, symbols in any case, ISO times, durations, and
 * the `--data` folder a reading command needs to exist. Each failure is a `UsageError` (exit 2)
 * naming the flag, the value and what is allowed.
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { UsageError } from './errors'

/**
 * `value` when it is one of `allowed`, else a `UsageError` naming them.
 * @example oneOf('format', 'xml', ['csv', 'json']) // throws: --format is csv or json (got "xml")
 */
export function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T
  const list = allowed.length === 2 ? `${allowed[0]} or ${allowed[1]}` : `one of ${allowed.join(', ')}`
  throw new UsageError(`--${flag} is ${list} (got ${JSON.stringify(value)})`)
}

/**
 * A symbol as the lake spells it (`BTC-USDT`), from any case; a `UsageError` when it is not BASE-QUOTE.
 * @example symbolArg('symbol', 'btc-usdt') // 'BTC-USDT'
 */
export function symbolArg(flag: string, value: string, example = 'BTC-USDT'): string {
  // checked before case folding: `ßtc-usdt` is refused, not read as SSTC-USDT
  const s = value.trim()
  if (!/^[A-Za-z0-9]+-[A-Za-z0-9]+(-[A-Za-z0-9]+)?$/.test(s)) throw new UsageError(`--${flag}: ${JSON.stringify(value)} is not BASE-QUOTE like ${example}`)
  return s.toUpperCase()
}

/** Epoch ms of an ISO-8601 time, or a `UsageError` naming the flag. */
export function timeArg(flag: string, value: string): number {
  const t = Date.parse(value)
  if (Number.isNaN(t)) throw new UsageError(`--${flag} is not an ISO-8601 time: ${JSON.stringify(value)}`)
  return t
}

/**
 * Checks that the lake folder a reading command was given exists (a typo in `--data` would
 * otherwise read as an empty lake): a `UsageError` saying so when it does not.
 */
export function existingDataDir(dir: string): string {
  if (!existsSync(dir)) throw new UsageError(`--data: ${dir} does not exist (no lake there: run ticklake start, import or replay to make one, or pass the folder that holds it)`)
  if (!statSync(dir).isDirectory()) throw new UsageError(`--data: ${dir} is not a folder`)
  return dir
}

/** Exchanges the lake under `dataDir` holds data of (the `exchange=` folders of bronze, silver and gold). */
function lakeExchanges(dataDir: string): string[] {
  const found = new Set<string>()
  for (const folder of ['bronze/trades', 'silver/trades', 'gold/candles']) {
    try {
      for (const d of readdirSync(join(dataDir, folder))) if (d.startsWith('exchange=')) found.add(d.slice('exchange='.length))
    } catch { /* no such folder yet */ }
  }
  return [...found].sort()
}

/**
 * `--exchange` of a reading command: one ingest speaks or one the lake holds (simulated sources
 * write under names of their own), else a `UsageError` listing both.
 */
export function lakeExchangeArg(value: string, known: readonly string[], dataDir: string): string {
  const allowed = [...new Set([...known, ...lakeExchanges(dataDir)])]
  return oneOf('exchange', value, allowed)
}

/** Checks that `path` is a file one can read: a `UsageError` saying "not found" or "is a directory" otherwise. */
export function inputFile(path: string): string {
  let st
  try { st = statSync(path) } catch (e: any) { throw new UsageError(e?.code === 'ENOENT' ? `${path}: not found` : `${path}: cannot be read (${e?.code ?? e?.message})`) }
  if (st.isDirectory()) throw new UsageError(`${path}: is a directory, not a file`)
  return path
}

/** Milliseconds of `30m`, `3h`, `90s`, `1d` or a bare number of minutes. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)?$/.exec(s.trim())
  if (!m) throw new Error(`not a duration: ${JSON.stringify(s)} (use e.g. 30m, 3h, 0)`)
  return Number(m[1]) * { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[m[2] ?? 'm']!
}
/** `parseDuration` of a flag's value, or a `UsageError` naming the flag. */
export function durationArg(flag: string, value: string): number {
  try { return parseDuration(value) } catch (e: any) { throw new UsageError(`--${flag}: ${e.message}`) }
}
