/**
 * What `ticklake start` shows in the terminal. The local cloud's log lines pass a noise filter (a
 * line seen in the last ten minutes, numbers aside, is not repeated; a browser tab closing is no
 * news). `Progress` turns successive snapshots of the ingest checkpoints and the subscriber count
 * into one line: while ingest catches up, the backfill (trades so far, ids/s, time left); after it,
 * the live status (trades/s, lake lag, subscribers); with several exchanges, one part per exchange
 * under its name (`formatSourcesLine`). On a TTY that line is redrawn in place under
 * the log; elsewhere it is printed as a plain line now and then. The formatters are pure, for tests.
 */

export const defaults = {
  /** How often the status line is recomputed. */
  refreshMs: 1_000,
  /** Without a TTY: a backfill line this often, and a status line this often once live. */
  plainBackfillEveryMs: 10_000,
  plainStatusEveryMs: 60_000,
  /** A log line equal to one shown this recently (digits aside) is not shown again. */
  repeatQuietMs: 10 * 60_000,
  /** Rates are measured over this window of snapshots. */
  rateWindowMs: 5_000,
  /** A symbol is catching up while its lake lag is above this and its trade time runs faster than `catchUpSpeed` x real time. */
  backfillLagMs: 30_000,
  catchUpSpeed: 1.5,
}

/** Log lines that are never news: a browser tab closing resets its WebSocket. */
const QUIET = [/^gateway: connection \S+: (read )?(ECONNRESET|EPIPE|write EPIPE)\b/i, /^gateway: upgrade socket: (read )?ECONNRESET/i]

/**
 * A filter for log lines: false for a line that is never news or that repeats (numbers, ids,
 * times and file names masked) one shown within `quietMs`.
 * @example const show = noiseFilter(); show('stream open: BTC-USDT') // true, then false for a minute's repeat
 */
export function noiseFilter(o: { now?: () => number; quietMs?: number } = {}) {
  const now = o.now ?? Date.now
  const quietMs = o.quietMs ?? defaults.repeatQuietMs
  const seen = new Map<string, number>()
  return (line: string): boolean => {
    if (QUIET.some((q) => q.test(line))) return false
    const key = line.replace(/\d+/g, '#')
    const last = seen.get(key)
    if (last !== undefined && now() - last < quietMs) return false
    seen.set(key, now())
    return true
  }
}

/**
 * A whole number with thousands separators: `thousands(1234567.4) === '1,234,567'`. Not
 * `toLocaleString`, which pages in about 5 MB of ICU's locale data for the life of the process.
 */
export const thousands = (n: number) => String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',')

/**
 * A duration as people read it: `45 s`, `3m 05s`, `2h 10m`.
 * @example formatDuration(185_000) // '3m 05s'
 */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/** A lag: `0.8 s` under a minute (a tenth of a second matters then), else as `formatDuration`. */
const formatLag = (ms: number) => (ms < 60_000 ? `${(Math.max(0, ms) / 1000).toFixed(1)} s` : formatDuration(ms))

/**
 * The backfill line.
 * @example formatBackfill({ trades: 120000, idsPerSec: 8000, leftMs: 65000 }) // 'backfill: 120,000 trades  8,000 ids/s  1m 05s left'
 */
export function formatBackfill(p: { trades: number; idsPerSec: number; leftMs?: number }): string {
  return `backfill: ${thousands(p.trades)} trades  ${thousands(p.idsPerSec)} ids/s  ${p.leftMs === undefined ? 'time left unknown' : `${formatDuration(p.leftMs)} left`}`
}

/**
 * The live status line.
 * @example formatStatus({ tradesPerSec: 12.34, lakeLagMs: 1200, subscribers: 2 }) // 'live: 12.3 trades/s  lake lag 1.2 s  2 subscribers'
 */
export function formatStatus(s: { tradesPerSec: number; lakeLagMs?: number; subscribers: number }): string {
  const rate = s.tradesPerSec < 100 ? s.tradesPerSec.toFixed(1) : thousands(s.tradesPerSec)
  return `live: ${rate} trades/s  lake lag ${s.lakeLagMs === undefined ? '—' : formatLag(s.lakeLagMs)}  ${s.subscribers} subscriber${s.subscribers === 1 ? '' : 's'}`
}

/**
 * The progress line of several exchanges: each one's line after its name, the subscribers once at the end.
 * @example formatSourcesLine([{ name: 'binance', line: 'live: 3.0 trades/s  lake lag 1.0 s  0 subscribers' }, { name: 'sim-coinbase', line: 'backfill: 10 trades  5 ids/s  3 s left' }], 0)
 * // 'binance live: 3.0 trades/s  lake lag 1.0 s │ sim-coinbase backfill: 10 trades  5 ids/s  3 s left │ 0 subscribers'
 */
export function formatSourcesLine(parts: { name: string; line: string }[], subscribers: number): string {
  const each = parts.map((p) => `${p.name} ${p.line.replace(/  \d+ subscribers?$/, '')}`)
  return [...each, `${subscribers} subscriber${subscribers === 1 ? '' : 's'}`].join(' │ ')
}

/** What the terminal knows at one moment: each symbol's checkpoint (last id, its trade time in ms) and the subscribers. */
export interface Snapshot { at: number; symbols: Record<string, { id: number; tsMs: number } | undefined>; subscribers: number }

export interface ProgressLine { phase: 'starting' | 'backfill' | 'live'; line: string; trades: number }

/**
 * Follows snapshots and says what the one progress line shows: the backfill while any symbol's
 * checkpoint is far behind and closing in faster than real time, else the live status. `trades`
 * counts the ids the checkpoints moved since the first snapshot that had them (or since `initial`).
 */
export function progress(initial: Record<string, number | undefined> = {}, o: Partial<typeof defaults> = {}) {
  const s = { ...defaults, ...o }
  const history: Snapshot[] = []
  const first: Record<string, number> = {}
  for (const [sym, id] of Object.entries(initial)) if (id !== undefined) first[sym] = id
  let last: ProgressLine['phase'] = 'starting'
  return {
    /** Takes a snapshot; returns the line to show now. */
    update(snap: Snapshot): ProgressLine {
      history.push(snap)
      while (history.length > 2 && history[1].at <= snap.at - s.rateWindowMs) history.shift()
      const old = history[0]
      const dt = (snap.at - old.at) / 1000
      let trades = 0
      let ids = 0
      let catching = false
      let leftMs: number | undefined
      let lag: number | undefined
      for (const [sym, cp] of Object.entries(snap.symbols)) {
        if (!cp) continue
        // the first id seen counts as already there (ingest's first checkpoint follows its first batch)
        first[sym] ??= cp.id
        trades += cp.id - first[sym]
        const symLag = snap.at - cp.tsMs
        lag = lag === undefined ? symLag : Math.max(lag, symLag)
        const was = old.symbols[sym]
        // far behind at the first sight of it: a backfill whose pace is not known yet
        if (!was || dt <= 0) { if (symLag > s.backfillLagMs) catching = true; continue }
        ids += (cp.id - was.id) / dt
        const speed = (cp.tsMs - was.tsMs) / 1000 / dt
        if (symLag > s.backfillLagMs && speed > s.catchUpSpeed) {
          catching = true
          // the lag shrinks by (speed - 1) ms each ms
          leftMs = Math.max(leftMs ?? 0, symLag / (speed - 1))
        }
      }
      if (!Object.values(snap.symbols).some(Boolean)) return { phase: 'starting', line: 'starting: waiting for the first trades to reach the lake…', trades }
      if (catching) { last = 'backfill'; return { phase: 'backfill', line: formatBackfill({ trades, idsPerSec: ids, leftMs }), trades } }
      // the backfill's pace is no live rate: the window starts again when the backfill ends
      if (last === 'backfill') { history.splice(0, history.length - 1); ids = 0 }
      last = 'live'
      return { phase: 'live', line: formatStatus({ tradesPerSec: ids, lakeLagMs: lag, subscribers: snap.subscribers }), trades }
    },
  }
}

export interface Screen {
  /** A log line (filtered for noise); on a TTY it is printed above the status line. */
  log(line: string): void
  /** The progress line: redrawn in place on a TTY, printed as a line otherwise. */
  status(line: string): void
  /** Clears the status line (TTY) before the last lines. */
  end(): void
}

/**
 * The terminal of `ticklake start`: log lines through `noiseFilter`, and on a TTY one status line
 * kept at the bottom (`\r` and erase-line), else plain lines.
 */
export function screen(o: { write(s: string): void; tty: boolean; now?: () => number; quietMs?: number }): Screen {
  const show = noiseFilter(o)
  let current = ''
  const clear = () => { if (current) o.write('\r\x1b[2K') }
  return {
    log(line) {
      if (!show(line)) return
      if (!o.tty) return o.write(`  ${line}\n`)
      clear()
      o.write(`  ${line}\n`)
      if (current) o.write(current)
    },
    status(line) {
      if (!o.tty) return o.write(`${line}\n`)
      clear()
      current = line
      o.write(line)
    },
    end() {
      if (o.tty && current) { clear(); current = '' }
    },
  }
}
