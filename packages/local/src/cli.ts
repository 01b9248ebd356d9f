/**
 * The `ticklake` command line: `start` runs the local cloud (live Binance when reachable, else the
 * clearly labelled simulated exchange), `candles` answers from the lake with DuckDB, `verify`
 * compares the lake's candles with the exchange's klines, `symbols` refreshes `gold/dim_symbols`,
 * `import`, `record` and `replay` bring archives and captures in, and `sql` opens DuckDB over the
 * lake. Every command exits 0 (success), 1 (a problem found), 2 (bad usage or input) or 3 (a source
 * unreachable), its error once on stderr (`cli/errors.ts`); the helpers live in `cli/`.
 */
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import { basename } from 'node:path'
import { EXCHANGES, endpointsOf } from '@ticklake/core/sources/venues'
import { CANDLE_COLUMNS, TIMEFRAMES, simulatedOf, type Timeframe } from '@ticklake/core/market'
import { candlesQuery } from '@ticklake/core/serve/query'
import { defaults as cloudDefaults } from './cloud/index'
import { EXIT, UnreachableError, UsageError, exitCodeOf, isUnreachable } from './cli/errors'
import { existingDataDir, inputFile, lakeExchangeArg, oneOf, symbolArg, timeArg } from './cli/args'
import { acquireLock } from './cli/lock'
import { ensurePage } from './cli/web'
import { defaults as terminalDefaults, formatDuration, formatSourcesLine, progress, screen } from './cli/terminal'
import { COINGECKO, pricesSource, reachable, startConfig, startSources, type SourceMode } from './cli/sources'
import { defaults as configDefaults } from '@ticklake/core/sources/config'

export { reachable }

const HELP = `ticklake — near-real-time crypto market data, locally

Usage:
  ticklake start [options]        run the whole pipeline and serve the page
  ticklake candles [options]      print candles from the lake (DuckDB)
  ticklake gaps [options]         list trade-id gaps, stream disconnects and stalls recorded by ingest
  ticklake record [options]       capture an exchange stream's raw frames to a file
  ticklake replay CAPTURE [opts]  play a capture through the fake exchange and the real ingest
  ticklake verify [options]       compare the lake's candles with the exchange's own klines
  ticklake symbols [options]      refresh gold/dim_symbols from exchangeInfo / Coinbase products
  ticklake import FILE... [opts]  import Binance public-data archives (trades, aggTrades) and build their candles
  ticklake keys add NAME --exchange X[,Y] [--data DIR]  make an API key for POST /api/ingest that may write
                                  exchange X (never a built-in venue's name; printed once; stored hashed)
  ticklake keys list [--data DIR]      list API key names (never the keys)
  ticklake sql ["SELECT …"] [opts]  DuckDB over the lake with the analyst views (a prompt without a statement)
  ticklake help                   this text

From a checkout, npm start runs ticklake start; pass flags after --: npm start -- --port 8760 --source sim

Exit codes (every command):
  0  success
  1  the work found a problem (verify found differences, an archive failed its checksum)
  2  bad usage or input (unknown flag or value, a file or --data folder that does not exist,
     a port in use, a data folder another start or replay is using, a bad SQL statement)
  3  a source unreachable (the exchange, CoinGecko)
Errors go to stderr, once. Symbols are accepted in any case (btc-usdt is BTC-USDT).

start:
  --sources LIST         every source at once into one lake, e.g.
                         "binance:BTC-USDT,ETH-USDT;coinbase:BTC-USD,ETH-USD;coingecko:bitcoin,ethereum"
                         (default: those three, or ticklake.config.json in the working directory)
  --config FILE          the sources as JSON: {"exchanges":[{"exchange":"coinbase","feed":"exchange",
                         "symbols":["BTC-USD"]}],"coingecko":{"coins":["bitcoin"],"currencies":["usd"]}}
  --source sim|live      where trades come from (default: each exchange live if reachable within
                         a few seconds, else its simulated twin, labelled SIMULATED; live insists
                         on the live exchanges; binance and coinbase are accepted for live)
  --symbols LIST         one exchange's symbols, comma-separated, e.g. BTC-USDT,ETH-USDT (default ${cloudDefaults.symbols.join(',')});
                         --exchange, --symbols, --rest-url or --source alone run that one exchange
  --port N               port of the page, API and WebSocket (default ${cloudDefaults.port}; 0 = any free port)
  --data DIR             lake folder (default ./${cloudDefaults.dataDir}); one start per folder
                         (ticklake.lock in it holds the pid; a crashed run's lock is taken over)
  --backfill DURATION    history to backfill on a first run, e.g. 30m, 3h, 0 (default 3h)
  --keep-bronze DURATION delete compacted bronze of hours older than this, e.g. 7d (default: keep;
                         gold and silver always stay; closed hours are compacted every 10 min)
  --exchange NAME        binance, binance-us, binance-futures or coinbase (default binance);
                         coinbase symbols are product ids like BTC-USD (default BTC-USD,ETH-USD)
  --rest-url URL         Binance-compatible REST endpoint (default https://api.binance.com;
                         e.g. https://api.binance.us; with --source sim, a fake exchange run
                         elsewhere, labelled SIMULATED)
  --ws-url URL           its WebSocket endpoint (default wss://stream.binance.com:9443)
  --coins LIST           CoinGecko coin ids polled into bronze/prices, e.g. bitcoin,ethereum
                         (default bitcoin,ethereum; none turns polling off)
  --currencies LIST      vs_currencies for them (default usd,brl)
  --coingecko-url URL    CoinGecko host (default https://api.coingecko.com; the simulated one when
                         the source is sim or CoinGecko is unreachable). A Demo key is read from
                         TICKLAKE_COINGECKO_KEY

candles:
  --exchange NAME        default binance
  --symbol SYMBOL        e.g. BTC-USDT (required)
  --tf TF                ${Object.keys(TIMEFRAMES).join(' ')} (default 1m)
  --from ISO             open time, inclusive (e.g. 2026-11-24T15:00:00Z)
  --to ISO               open time, exclusive
  --limit N              at most N candles (default 100000)
  --format csv|json      default csv
  --data DIR             lake folder (default ./${cloudDefaults.dataDir})

record:
  --symbols LIST         e.g. BTC-USDT,ETH-USDT, or Coinbase product ids BTC-USD,ETH-USD (required)
  --out FILE             capture file (default capture-<time>.jsonl), JSON lines appended
  --duration DURATION    stop after this long (default: at Ctrl+C)
  --exchange NAME        binance, binance-us, binance-futures or coinbase (default binance;
                         coinbase records Advanced Trade market_trades and heartbeats)
  --ws-url URL           another stream endpoint speaking the same protocol

replay:
  CAPTURE                ticklake's own capture, or a cryptofeed recording (*.0, *.jsonl.zst),
                         Binance or Coinbase (told from the capture; Coinbase trades land
                         under --exchange coinbase with the recorded trade ids)
  --speed N|max          N times as fast as recorded, or all at once (default max)
  --data DIR             lake folder (default ./${cloudDefaults.dataDir})

import:
  FILE...                daily or monthly trades/aggTrades archives from data.binance.vision,
                         .csv or .zip, e.g. BTCUSDT-aggTrades-2025-01-01.zip; checked against
                         FILE.CHECKSUM when it lies beside the file
  --exchange NAME        binance, binance-us or binance-futures (default binance)
  --symbol SYMBOL        BTC-USDT or BTCUSDT, when the file name does not say (or says otherwise)
  --kind trades|aggTrades  when the file name does not say
  --data DIR             lake folder (default ./${cloudDefaults.dataDir})

verify:
  --exchange NAME        binance, binance-us or binance-futures (default binance)
  --symbol SYMBOL        e.g. BTC-USDT (required)
  --from ISO, --to ISO   open times, from inclusive, to exclusive (required)
  --tf TF                ${Object.keys(TIMEFRAMES).join(' ')} (default 1m)
  --rest-url URL         the exchange's REST host (default: the venue's public one)
  --format text|json     default text; exit code 0 when all candles match, 1 when any differs,
                         3 when the exchange cannot be reached
  --data DIR             lake folder (default ./${cloudDefaults.dataDir})

symbols:
  --exchange LIST        comma-separated: binance, binance-us, binance-futures, coinbase (default binance)
  --rest-url URL         REST host for a single exchange (default: its public one)
  --data DIR             lake folder (default ./${cloudDefaults.dataDir})

gaps:
  --exchange NAME        only this exchange
  --symbol SYMBOL        only this symbol
  --format text|json     default text
  --data DIR             lake folder (default ./${cloudDefaults.dataDir})

sql:
  "SELECT …"             one statement (in quotes); without it, a prompt (statements end in ;,
                         .tables lists the views, .quit leaves) or statements piped on stdin
  --format table|csv|json  default table
  --data DIR             lake folder (default ./${cloudDefaults.dataDir})
  views: candles, trades (silver), bronze_trades, quotes, dim_symbols, features_trades,
         features_candles, and the analyst views fact_trades, fact_candles (facts with dim_symbols)

start shows one progress line (the backfill: trades, ids/s, time left; then trades/s, lake lag,
subscribers), redrawn in place on a terminal and printed now and then otherwise, and a last line
saying what was flushed. Reading commands (candles, gaps, verify, sql, keys list) refuse a --data
folder that does not exist.
`

/** Milliseconds of `30m`, `3h`, `90s`, `1d` or a bare number of minutes. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)?$/.exec(s.trim())
  if (!m) throw new Error(`not a duration: ${JSON.stringify(s)} (use e.g. 30m, 3h, 0)`)
  return Number(m[1]) * { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[m[2] ?? 'm']!
}

/** `parseDuration` of a flag's value, or a `UsageError` naming the flag. */
function durationArg(flag: string, value: string): number {
  try { return parseDuration(value) } catch (e: any) { throw new UsageError(`--${flag}: ${e.message}`) }
}

/** Throws a `UsageError` at once when `port` is taken on `host` (before anything else starts). */
async function assertPortFree(port: number, host: string) {
  const { createServer } = await import('node:net')
  await new Promise<void>((resolve, reject) => {
    const probe = createServer()
    probe.once('error', (e: any) => reject(e?.code === 'EADDRINUSE' ? portInUse(port) : e))
    probe.listen(port, host, () => probe.close(() => resolve()))
  })
}
const portInUse = (port: number) => new UsageError(`port ${port} is in use: pass --port with another number (npm start -- --port 8760), or --port 0 for any free one`)

/**
 * `start`: the flags, the sources (cli/sources.ts), the lock, the cloud, the progress line and the
 * flush at Ctrl+C. Long because the run's lifetime (what to close on each failure) shares its scope.
 */
async function start(argv: string[]) {
  // The SDK clients here talk to local emulators; its Node-version notice is for Lambda's runtime
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const { values } = parseArgs({ args: argv, options: { sources: { type: 'string' }, config: { type: 'string' }, source: { type: 'string' }, symbols: { type: 'string' }, port: { type: 'string' }, data: { type: 'string' }, backfill: { type: 'string' }, exchange: { type: 'string' }, 'rest-url': { type: 'string' }, 'ws-url': { type: 'string' }, coins: { type: 'string' }, currencies: { type: 'string' }, 'coingecko-url': { type: 'string' }, 'keep-bronze': { type: 'string' } } })
  if (values.exchange !== undefined) oneOf('exchange', values.exchange, EXCHANGES)
  if (values.source) oneOf('source', values.source, ['sim', 'live', 'binance', 'coinbase'])
  const { config, single } = startConfig(values)
  const port = values.port !== undefined ? Number(values.port) : cloudDefaults.port
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: ${values.port} is not a port number`)
  const backfillMs = values.backfill !== undefined ? durationArg('backfill', values.backfill) : cloudDefaults.backfillMs
  const keepBronzeMs = values['keep-bronze'] !== undefined ? durationArg('keep-bronze', values['keep-bronze']) : undefined
  const dataDir = values.data ?? cloudDefaults.dataDir
  const mode: SourceMode = values.source === 'sim' ? 'sim' : values.source ? 'live' : 'auto'
  // CoinGecko: --coins when given, else the configuration's (the one-exchange start polls bitcoin,ethereum as before)
  const cg = config.coingecko ?? (single ? configDefaults.config.coingecko : undefined)
  const coins = values.coins ?? cg?.coins.join(',') ?? 'none'
  const currencies = values.currencies ?? cg?.currencies.join(',') ?? 'usd,brl'
  // refused at once, before any probe or fake exchange: a port in use, a folder another start holds
  if (port !== 0) await assertPortFree(port, cloudDefaults.host)
  const lock = acquireLock(dataDir, 'start')
  try { return await run() } finally { lock.release() }

  async function run() {
    // CoinGecko is probed beside the exchanges, so an offline start waits for one timeout, not two
    const cgProbe = mode === 'sim' || coins === 'none' ? undefined : reachable(`${values['coingecko-url'] ?? COINGECKO}/api/v3/ping`)
    const started = await startSources(config, { mode, dataDir, single, log: (l) => console.log(l) })
    const prices = await ensurePage(cloudDefaults.webDist, (l) => console.log(l))
      .then(() => pricesSource(coins, currencies, values['coingecko-url'], mode === 'sim' ? undefined : cgProbe))
      .catch(async (e) => { await started.close(); throw e })
    const [{ startCloud }, { fileStore }, { readCheckpoint }] = await Promise.all([import('./cloud/index'), import('./store/index'), import('@ticklake/core/sources/checkpoint')])
    const sources = started.sources
    // simulated trades go under their own venue name (sim-binance, sim-coinbase, ...), never a market's
    const names = sources.map((s) => (s.source === 'sim' ? simulatedOf(s.exchange) : s.exchange))
    const store = fileStore(dataDir)
    /** Each symbol's checkpoint of the `i`th source (under the exchange the cloud says it writes under). */
    const checkpoints = async (i: number) => Object.fromEntries(await Promise.all(sources[i].symbols.map(async (sym) => {
      const cp = await readCheckpoint(store, names[i], sym).catch(() => undefined)
      return [sym, cp && { id: cp.checkpoint.last_trade_id, tsMs: cp.checkpoint.ts / 1000 }] as const
    })))
    const allCheckpoints = () => Promise.all(sources.map((_, i) => checkpoints(i)))
    const initial = await allCheckpoints()
    const term = screen({ write: (x) => process.stdout.write(x), tty: !!process.stdout.isTTY })
    const cloud = await startCloud({ sources, port, dataDir, backfillMs, keepBronzeMs, prices: prices?.config, lakeThread: true, log: (l) => term.log(l) }).catch(async (e) => {
      await started.close()
      await prices?.close()
      throw e?.code === 'EADDRINUSE' ? portInUse(port) : e
    })
    const running = single ? `${sources[0].label}: ${sources[0].symbols.join(', ')}` : `${sources.length} exchanges:\n${sources.map((s, i) => `  ${names[i]}:  ${s.label}: ${s.symbols.join(', ')}`).join('\n')}${prices ? `\n  coingecko:  ${coins} in ${currencies}` : ''}`
    console.log(`\nTicklake is running on ${running}\n  page:  ${cloud.url}\n  lake:  ${cloud.dataDir}\n  stop:  Ctrl+C\n`)

    // the one progress line: backfill, then live status, from the checkpoints and /api/health (one part per exchange)
    const follows = initial.map((cps) => progress(Object.fromEntries(Object.entries(cps).map(([k, v]) => [k, v?.id]))))
    const tty = !!process.stdout.isTTY
    const phases = sources.map(() => '')
    const backfillStarted = sources.map(() => 0)
    let phase = ''
    let printed = 0
    let refreshing = false
    const refresh = async () => {
      if (refreshing) return
      refreshing = true
      try {
        const health: any = await fetch(`${cloud.url}api/health`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.json()).catch(() => ({}))
        const now = Date.now()
        const subscribers = Number(health.connections) || 0
        const cps = await allCheckpoints()
        const ps = follows.map((f, i) => f.update({ at: now, symbols: cps[i], subscribers }))
        ps.forEach((p, i) => {
          if (p.phase === 'backfill' && phases[i] !== 'backfill') backfillStarted[i] = now
          if (phases[i] === 'backfill' && p.phase === 'live') { term.end(); console.log(`${single ? '' : `${names[i]} `}backfill done: ${p.trades.toLocaleString('en-US')} trades in ${formatDuration(now - backfillStarted[i])}`); printed = 0 }
          phases[i] = p.phase
        })
        const now_ = ps.some((p) => p.phase === 'backfill') ? 'backfill' : ps.every((p) => p.phase === 'live') ? 'live' : 'starting'
        const line = single ? ps[0].line : formatSourcesLine(ps.map((p, i) => ({ name: names[i], line: p.line })), subscribers)
        const every = now_ === 'backfill' ? terminalDefaults.plainBackfillEveryMs : terminalDefaults.plainStatusEveryMs
        if (tty || now_ !== phase || now - printed >= every) { term.status(line); printed = now }
        phase = now_
      } finally { refreshing = false }
    }
    const timer = setInterval(() => void refresh(), terminalDefaults.refreshMs)
    await new Promise<void>((resolve) => {
      const stop = () => { resolve() }
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
    clearInterval(timer)
    term.end()
    console.log(`${tty ? '\n' : ''}stopping: flushing records and checkpoints…`)
    await cloud.close()
    await started.close()
    await prices?.close()
    const last = await allCheckpoints()
    const saved = sources.flatMap((s, i) => s.symbols.filter((sym) => last[i][sym]).map((sym) => `${single ? '' : `${names[i]} `}${sym} at trade id ${last[i][sym]!.id} (${new Date(last[i][sym]!.tsMs).toISOString()})`))
    const moved = follows.reduce((n, f, i) => n + f.update({ at: Date.now(), symbols: last[i], subscribers: 0 }).trades, 0)
    console.log(`stopped: records flushed to the lake in ${cloud.dataDir}${saved.length ? `; checkpoints saved: ${saved.join(', ')}; ${moved.toLocaleString('en-US')} trade ids checkpointed this run` : '; no checkpoint written yet'}`)
    return 0
  }
}

/** `upgradeLake` on the lake in `dataDir`, its lines on stderr (stdout may be data). */
async function upgradeLake(dataDir: string) {
  const [{ fileStore }, { upgradeLake: upgrade }] = await Promise.all([import('./store/index'), import('./cloud/index')])
  await upgrade(fileStore(dataDir), (line) => process.stderr.write(line + '\n'))
}

async function candles(argv: string[]) {
  const { values } = parseArgs({ args: argv, options: { exchange: { type: 'string', default: 'binance' }, symbol: { type: 'string' }, tf: { type: 'string', default: '1m' }, from: { type: 'string' }, to: { type: 'string' }, limit: { type: 'string' }, format: { type: 'string', default: 'csv' }, data: { type: 'string', default: cloudDefaults.dataDir } } })
  if (!values.symbol) throw new UsageError('--symbol is required, e.g. --symbol BTC-USDT')
  const data = existingDataDir(values.data!)
  const exchange = lakeExchangeArg(values.exchange!, EXCHANGES, data)
  const tf = oneOf('tf', values.tf!, Object.keys(TIMEFRAMES) as Timeframe[])
  const format = oneOf('format', values.format!, ['csv', 'json'])
  const limit = values.limit !== undefined ? Number(values.limit) : undefined
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new UsageError(`--limit is a positive whole number (got ${JSON.stringify(values.limit)})`)
  const st = candlesQuery({ exchange, symbol: symbolArg('symbol', values.symbol), tf, from: values.from === undefined ? undefined : timeArg('from', values.from), to: values.to === undefined ? undefined : timeArg('to', values.to), limit })
  const { duckdbEngine, UNBOUNDED } = await import('./duckdb/index')
  await upgradeLake(data)
  const engine = await duckdbEngine(data, UNBOUNDED)
  try {
    const rows = await engine.query(st)
    const cols = CANDLE_COLUMNS.map((c) => c.name)
    if (format === 'json') process.stdout.write(JSON.stringify(rows.map((r) => Object.fromEntries(cols.map((c) => [c, r[c]]))), null, 1) + '\n')
    else process.stdout.write([cols.join(','), ...rows.map((r) => cols.map((c) => String(r[c])).join(','))].join('\n') + '\n')
  } finally { engine.close() }
  return EXIT.ok
}

async function gaps(argv: string[]) {
  const { values } = parseArgs({ args: argv, options: { exchange: { type: 'string' }, symbol: { type: 'string' }, format: { type: 'string', default: 'text' }, data: { type: 'string', default: cloudDefaults.dataDir } } })
  const data = existingDataDir(values.data!)
  const format = oneOf('format', values.format!, ['text', 'json'])
  const exchange = values.exchange === undefined ? undefined : lakeExchangeArg(values.exchange, EXCHANGES, data)
  const symbol = values.symbol === undefined ? undefined : symbolArg('symbol', values.symbol)
  const { fileStore } = await import('./store/index')
  const { listQuality } = await import('@ticklake/core/lake/quality')
  const q = await listQuality(fileStore(data), { exchange, symbol })
  if (format === 'json') { process.stdout.write(JSON.stringify(q, null, 1) + '\n'); return 0 }
  const iso = (ms?: number) => (ms === undefined ? '—' : new Date(ms).toISOString())
  const lines = [`${q.gaps.length} gap(s), ${q.disconnects.length} disconnect(s), ${q.stalls.length} stall(s)`]
  for (const g of q.gaps) lines.push(`gap         ${iso(g.detected_at)}  ${g.exchange} ${g.symbol}  ids ${g.from_id}..${g.to_id} (${g.to_id - g.from_id + 1})  ${g.kind}: ${g.reason}`)
  for (const d of q.disconnects) lines.push(`disconnect  ${iso(d.disconnected_at)} .. ${iso(d.reconnected_at)}  ${d.exchange} ${d.symbols.join(',')}  ${d.reason}`)
  for (const x of q.stalls) lines.push(`stall       ${iso(x.since)} .. ${iso(x.resumed_at ?? x.ended_at)}  ${x.exchange} ${x.symbol}  ${x.resumed_at ? 'resumed' : x.ended_at ? 'run ended stalled' : 'open'}, ${x.fetched} fetched over REST: ${x.reason}`)
  process.stdout.write(lines.join('\n') + '\n')
  return 0
}

async function record(argv: string[]) {
  const { values } = parseArgs({ args: argv, options: { symbols: { type: 'string' }, out: { type: 'string' }, duration: { type: 'string' }, exchange: { type: 'string', default: 'binance' }, 'ws-url': { type: 'string' } } })
  if (!values.symbols) throw new UsageError('--symbols is required, e.g. --symbols BTC-USDT')
  const exchange = oneOf('exchange', values.exchange!, EXCHANGES)
  const coinbase = exchange === 'coinbase'
  const venue = endpointsOf(exchange)!
  const symbols = values.symbols.split(',').filter((x) => x.trim()).map((x) => symbolArg('symbols', x, coinbase ? 'BTC-USD' : 'BTC-USDT'))
  const durationMs = values.duration ? durationArg('duration', values.duration) : undefined
  const out = values.out ?? `capture-${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`
  const stop = new AbortController()
  process.once('SIGINT', () => stop.abort())
  const { recordCapture } = await import('./replay/index')
  const wsUrl = values['ws-url'] ?? venue.ws
  const frames = await recordCapture({ exchange, wsUrl, symbols, out, durationMs, signal: stop.signal, onOpen: () => console.log(`recording ${symbols.join(',')} into ${out}${values.duration ? ` for ${values.duration}` : ' until Ctrl+C'}`) })
    .catch((e) => { throw isUnreachable(e) ? new UnreachableError(`cannot reach ${wsUrl} (${e?.code ?? e?.message ?? e}); nothing recorded`) : e })
  console.log(`${frames} frames recorded in ${out}`)
  return EXIT.ok
}

async function replay(argv: string[]) {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { speed: { type: 'string', default: 'max' }, data: { type: 'string', default: cloudDefaults.dataDir } } })
  if (positionals.length !== 1) throw new UsageError('name one capture file: ticklake replay CAPTURE')
  const speed = values.speed === 'max' ? 'max' : Number(values.speed)
  if (speed !== 'max' && !(speed > 0)) throw new UsageError(`--speed is a positive number or max (got ${JSON.stringify(values.speed)})`)
  inputFile(positionals[0])
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const { replayCapture } = await import('./replay/index')
  // the replay runs ingest with checkpoints and the Firehose spool of the folder: never beside a start
  const lock = acquireLock(values.data!, 'replay')
  try {
    const counts = await replayCapture({ file: positionals[0], speed, dataDir: values.data! })
    for (const [symbol, n] of Object.entries(counts)) console.log(`replayed ${n} trades of ${symbol} into ${values.data}`)
  } finally { lock.release() }
  return EXIT.ok
}

async function importFiles(argv: string[]) {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { exchange: { type: 'string' }, symbol: { type: 'string' }, kind: { type: 'string' }, data: { type: 'string', default: cloudDefaults.dataDir } } })
  if (!positionals.length) throw new UsageError('name one or more archive files: ticklake import BTCUSDT-aggTrades-2025-01-01.zip')
  const kind = values.kind === undefined ? undefined : oneOf('kind', values.kind, ['trades', 'aggTrades'])
  const { importArchives, buildCandles, progressBar, ARCHIVE_EXCHANGES } = await import('./import/index')
  if (values.exchange !== undefined) oneOf('exchange', values.exchange, ARCHIVE_EXCHANGES)
  const { fileStore } = await import('./store/index')
  const store = fileStore(values.data!)
  await upgradeLake(values.data!)
  const tty = process.stderr.isTTY
  let last = 0
  const summaries = await importArchives(positionals, {
    store, exchange: values.exchange, symbol: values.symbol, kind,
    onProgress(p) {
      const now = Date.now()
      if (now - last < (tty ? 100 : 5_000) && p.bytes < p.totalBytes) return
      last = now
      process.stderr.write(tty ? `\r${progressBar(p)}` : `${progressBar(p)}\n`)
    },
  })
  if (tty && last) process.stderr.write('\n')
  for (const s of summaries) {
    // what went wrong goes to stderr, what was imported to stdout
    const say = s.status === 'imported' ? (l: string) => console.log(l) : (l: string) => process.stderr.write(l + '\n')
    const reason = (s.reason ?? '').replace(`${basename(s.file)}: `, '')
    say(`${s.file}: ${s.status === 'imported' ? `imported ${s.trades.toLocaleString('en-US')} trades of ${s.symbol} (${s.kind}) into ${s.hours} hour(s), checksum ${s.checksum}` : `${s.status}: ${reason}`}`)
    if (s.errors.count && s.trades) say(`  ${s.errors.count.toLocaleString('en-US')} bad row(s), e.g. line ${s.errors.first[0]?.line}: ${s.errors.first[0]?.reason}${s.dlq ? ` (all in ${s.dlq})` : ''}`)
    for (const w of s.warnings) say(`  warning: ${w}`)
  }
  const files = summaries.flatMap((s) => s.files)
  if (files.length) {
    const hours = await buildCandles(store, files, (h, done, total) => { if (tty) process.stderr.write(`\rcandles: ${done}/${total} hours (${h})`) })
    if (tty) process.stderr.write('\n')
    console.log(`candles built for ${hours} hour(s) in ${values.data}`)
  }
  // a file that could not be used as given is bad input (2); one that failed its checksum or part way, a problem found (1)
  if (summaries.some((s) => s.status === 'refused' && s.checksum !== 'mismatch')) return EXIT.usage
  return summaries.every((s) => s.status === 'imported') ? EXIT.ok : EXIT.problem
}

async function verify(argv: string[]) {
  const { values } = parseArgs({ args: argv, options: { exchange: { type: 'string', default: 'binance' }, symbol: { type: 'string' }, tf: { type: 'string', default: '1m' }, from: { type: 'string' }, to: { type: 'string' }, 'rest-url': { type: 'string' }, format: { type: 'string', default: 'text' }, data: { type: 'string', default: cloudDefaults.dataDir } } })
  for (const k of ['symbol', 'from', 'to'] as const) if (!values[k]) throw new UsageError(`--${k} is required, e.g. ticklake verify --symbol BTC-USDT --from 2026-11-24T15:00:00Z --to 2026-11-24T16:00:00Z`)
  const format = oneOf('format', values.format!, ['text', 'json'])
  const tf = oneOf('tf', values.tf!, Object.keys(TIMEFRAMES) as Timeframe[])
  const o = { exchange: values.exchange!, symbol: symbolArg('symbol', values.symbol!), tf, from: timeArg('from', values.from!), to: timeArg('to', values.to!), restUrl: values['rest-url'] }
  const data = existingDataDir(values.data!)
  const { verifyCandles, formatReport } = await import('@ticklake/core/serve/verify')
  const { duckdbEngine, UNBOUNDED } = await import('./duckdb/index')
  await upgradeLake(data)
  const engine = await duckdbEngine(data, UNBOUNDED)
  try {
    const report = await verifyCandles({ ...o, engine })
    process.stdout.write(format === 'json' ? JSON.stringify(report, null, 1) + '\n' : formatReport(report).join('\n') + '\n')
    return report.ok ? EXIT.ok : EXIT.problem
  } finally { engine.close() }
}

async function symbols(argv: string[]) {
  const { values } = parseArgs({ args: argv, options: { exchange: { type: 'string', default: 'binance' }, 'rest-url': { type: 'string' }, data: { type: 'string', default: cloudDefaults.dataDir } } })
  const exchanges = values.exchange!.split(',').map((s) => s.trim()).filter(Boolean)
  if (values['rest-url'] && exchanges.length !== 1) throw new UsageError('--rest-url goes with one --exchange')
  const { refreshDimSymbols, DIM_EXCHANGES } = await import('@ticklake/core/sources/symbols')
  for (const x of exchanges) oneOf('exchange', x, DIM_EXCHANGES)
  const { fileStore } = await import('./store/index')
  const store = fileStore(values.data!)
  for (const x of exchanges) {
    const r = await refreshDimSymbols(store, x, values['rest-url'])
    console.log(`${x}: ${r.rows} symbol${r.rows === 1 ? "" : "s"} written to gold/dim_symbols (${r.total} in all)${r.rejected.length ? `; ${r.rejected.length} left out, e.g. ${r.rejected[0]}` : ''}`)
  }
  return 0
}

/** `keys add NAME` / `keys list`: API keys in <data>/state/api-keys.json, stored hashed; a new key is printed once. */
async function keys(argv: string[]) {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { data: { type: 'string', default: cloudDefaults.dataDir }, exchange: { type: 'string' } } })
  const [action, name] = positionals
  const { fileStore } = await import('./store/index')
  const { addApiKey, listApiKeys } = await import('@ticklake/core/serve/api')
  const store = fileStore(values.data!)
  if (action === 'list' && positionals.length === 1) {
    existingDataDir(values.data!)
    for (const k of await listApiKeys(store)) process.stdout.write(`${k.name}\t${k.id}\t${k.created_at}\t${(k.exchanges ?? []).join(',') || '(no exchange: writes nothing)'}\n`)
    return 0
  }
  if (action !== 'add' || !name || positionals.length !== 2) throw new UsageError('usage: ticklake keys add NAME --exchange X[,Y] | ticklake keys list')
  const exchanges = (values.exchange ?? '').split(',').map((x) => x.trim()).filter(Boolean)
  const { key } = await addApiKey(store, name, exchanges).catch((e) => { throw new UsageError(e.message) })
  process.stdout.write(`${key}\n`)
  process.stderr.write(`API key ${name} added to ${values.data}/state/api-keys.json (stored hashed; this is the only time it is shown), for exchange ${exchanges.join(', ')}. Send it as the x-api-key header of POST /api/ingest.\n`)
  return 0
}

/** `sql [QUERY]`: DuckDB over the lake with the analyst views; a prompt (or piped statements) without QUERY. */
async function sql(argv: string[]) {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { format: { type: 'string', default: 'table' }, data: { type: 'string', default: cloudDefaults.dataDir } } })
  const format = oneOf('format', values.format!, ['table', 'csv', 'json'])
  if (positionals.length > 1) throw new UsageError('put the statement in one argument, in quotes: ticklake sql "select tf, count(*) from candles group by tf"')
  const data = existingDataDir(values.data!)
  const [{ duckdbEngine, UNBOUNDED }, { runSql, formatResult, sqlRepl }] = await Promise.all([import('./duckdb/index'), import('./cli/sql')])
  await upgradeLake(data)
  const engine = await duckdbEngine(data, UNBOUNDED)
  try {
    if (positionals.length) { process.stdout.write(formatResult(await runSql(engine, positionals[0]), format)); return EXIT.ok }
    return await sqlRepl({ engine, input: process.stdin, format, interactive: !!process.stdin.isTTY, write: (x) => process.stdout.write(x), writeError: (x) => process.stderr.write(x) })
  } finally { engine.close() }
}

/** Runs the CLI with its arguments; resolves with the exit code (see `EXIT`: 0 ok, 1 a problem found, 2 bad usage or input, 3 a source unreachable). */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  if (rest.includes('--help') || rest.includes('-h')) { process.stdout.write(HELP); return 0 }
  try {
    if (cmd === 'start') return await start(rest)
    if (cmd === 'candles') return await candles(rest)
    if (cmd === 'gaps') return await gaps(rest)
    if (cmd === 'record') return await record(rest)
    if (cmd === 'replay') return await replay(rest)
    if (cmd === 'verify') return await verify(rest)
    if (cmd === 'symbols') return await symbols(rest)
    if (cmd === 'import') return await importFiles(rest)
    if (cmd === 'keys') return await keys(rest)
    if (cmd === 'sql') return await sql(rest)
    if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') { process.stdout.write(HELP); return 0 }
    process.stderr.write(`ticklake: unknown command ${JSON.stringify(cmd)} (ticklake help lists them)\n`)
    return EXIT.usage
  } catch (e: any) {
    process.stderr.write(`ticklake ${cmd}: ${e?.message ?? e}\n`)
    return exitCodeOf(e)
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = await main(process.argv.slice(2))
