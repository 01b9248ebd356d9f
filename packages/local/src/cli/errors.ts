/**
 * The exit codes of every `ticklake` command, and the errors that carry them: 0 success, 1 the work
 * found a problem (e.g. `verify` found differences, an archive failed its checksum), 2 bad usage or
 * input (an unknown flag or value, a missing file or data folder, a port in use, a data folder
 * another `start` holds), 3 a source unreachable (the exchange, CoinGecko). `exitCodeOf` maps any
 * error a command throws to one of them, so each error is printed once, on stderr, by `main`.
 */
import { QueryInputError } from '@ticklake/core/serve/query'

export const EXIT = { ok: 0, problem: 1, usage: 2, unreachable: 3 } as const

/** Bad usage or input: exit code 2. */
export class UsageError extends QueryInputError {}

/** A source (exchange, CoinGecko) could not be reached: exit code 3. */
export class UnreachableError extends Error {}

/** Network failures that mean "could not reach it", as Node and undici name them. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT'])

/**
 * True when `e` (or an error in its `cause` chain) says the other side could not be reached: a
 * refused or reset connection, an unknown host, a timeout, a `fetch failed`, HTTP 451 (region
 * refused), 418 or 429 (banned, rate-limited) or a 5xx.
 * @example isUnreachable(new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })) // true
 */
export function isUnreachable(e: unknown): boolean {
  for (let x: any = e, depth = 0; x && depth < 5; x = x.cause, depth++) {
    if (x instanceof UnreachableError) return true
    if (NETWORK_CODES.has(x.code) || NETWORK_CODES.has(x.errno)) return true
    if (x.name === 'TimeoutError' || x.name === 'ConnectTimeoutError') return true
    if (x instanceof TypeError && x.message === 'fetch failed') return true
    if (typeof x.status === 'number' && (x.status === 451 || x.status === 418 || x.status === 429 || x.status >= 500)) return true
    if (typeof x.message === 'string' && /\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH)\b|^cannot reach /.test(x.message)) return true
  }
  return false
}

/** The exit code for an error a command threw. */
export function exitCodeOf(e: unknown): number {
  const err = e as any
  if (e instanceof QueryInputError || err?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || err?.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || err?.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return EXIT.usage
  if (isUnreachable(e)) return EXIT.unreachable
  return EXIT.problem
}
