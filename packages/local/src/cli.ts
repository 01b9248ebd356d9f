/**
 * The `ticklake` command line: `start` runs the local cloud (live Binance when reachable, else the
 * clearly labelled simulated exchange), `candles` answers from the lake with DuckDB, `verify`
 * compares the lake's candles with the exchange's klines and `symbols` refreshes `gold/dim_symbols`.
 */
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import { EXCHANGES, endpointsOf } from '@ticklake/core/ingest'
import { CANDLE_COLUMNS, TIMEFRAMES, isSymbol, symbolFromInput, type Exchange, type Timeframe } from '@ticklake/core/market'
import { candlesQuery, QueryInputError } from '@ticklake/core/query'
import { defaults as cloudDefaults } from './cloud/index'

const HELP = `ticklake — near-real-time crypto market data, locally

Usage:
  ticklake start [options]        run the whole pipeline and serve the page
  ticklake candles [options]      print candles from the lake (DuckDB)
  ticklake gaps [options]         list trade-id gaps and stream disconnects recorded by ingest
  ticklake record [options]       capture an exchange stream's raw frames to a file
  ticklake replay CAPTURE [opts]  play a capture through the fake exchange and the real ingest
  ticklake verify [options]       compare the lake's candles with the exchange's own klines
  ticklake symbols [options]      refresh gold/dim_symbols from exchangeInfo / Coinbase products
  ticklake import FILE... [opts]  import Binance public-data archives (trades, aggTrades) and build their candles
  ticklake keys add NAME [--data DIR]  make an API key for POST /api/ingest (printed once; stored hashed)
  ticklake keys list [--data DIR]      list API key names (never the keys)
  ticklake help                   this text

start:
  --source sim|live      where trades come from (default: the live exchange if reachable within
                         a few seconds, else the simulated one, labelled SIMULATED; live insists
                         on the live exchange; binance and coinbase are accepted for live)
  --symbols LIST         comma-separated, e.g. BTC-USDT,ETH-USDT (default ${cloudDefaults.symbols.join(',')})
  --port N               port of the page, API and WebSocket (default ${cloudDefaults.port}; 0 = any free port)
  --data DIR             lake folder (default ./${cloudDefaults.dataDir})
  --backfill DURATION    history to backfill on a first run, e.g. 30m, 3h, 0 (default 3h)
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
  --format text|json     default text; exit code 0 when all candles match, 1 when any differs
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
`

/** Milliseconds of `30m`, `3h`, `90s`, `1d` or a bare number of minutes. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)?$/.exec(s.trim())
  if (!m) throw new Error(`not a duration: ${JSON.stringify(s)} (use e.g. 30m, 3h, 0)`)
  return Number(m[1]) * { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[m[2] ?? 'm']!
}

/**
 * True when `url` answers within `timeoutMs` (Binance's and CoinGecko's `/ping`, Coinbase's
 * `/time`); else the reason, in one line.
 */
export async function reachable(url: string, timeoutMs = 4_000): Promise<true | string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    if (res.ok) return true
    return res.status === 451 ? 'HTTP 451: this region is refused' : `HTTP ${res.status}`
  } catch (e: any) {
    return e?.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : (e?.cause?.code ?? e?.message ?? String(e))
  }
}

async function start(argv: string[]) {
  // The SDK clients here talk to local emulators; its Node-version notice is for Lambda's runtime
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const { values } = parseArgs({ args: argv, options: { source: { type: 'string' }, symbols: { type: 'string' }, port: { type: 'string' }, data: { type: 'string' }, backfill: { type: 'string' }, exchange: { type: 'string', default: 'binance' }, 'rest-url': { type: 'string' }, 'ws-url': { type: 'string' }, coins: { type: 'string', default: 'bitcoin,ethereum' }, currencies: { type: 'string', default: 'usd,brl' }, 'coingecko-url': { type: 'string' } } })
  const coinbase = values.exchange === 'coinbase'
  // checked before case folding: `ßtc-usdt` is refused, not read as SSTC-USDT
  const symbols = values.symbols ? values.symbols.split(',').map((s) => s.trim()).filter(Boolean).map((s) => symbolFromInput(s) ?? s) : coinbase ? ['BTC-USD', 'ETH-USD'] : cloudDefaults.symbols
  for (const s of symbols) if (!isSymbol(s)) throw new Error(`--symbols: ${s} is not BASE-QUOTE like ${coinbase ? 'BTC-USD' : 'BTC-USDT'}`)
  if (values.source && !['sim', 'live', 'binance', 'coinbase'].includes(values.source)) throw new Error('--source is sim or live')
  const port = values.port !== undefined ? Number(values.port) : cloudDefaults.port
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: ${values.port} is not a port number`)
  const backfillMs = values.backfill !== undefined ? parseDuration(values.backfill) : cloudDefaults.backfillMs

  let source: 'sim' | 'binance' | 'coinbase' = values.source === 'sim' ? 'sim' : coinbase ? 'coinbase' : 'binance'
  // CoinGecko is probed beside the exchange, so an offline start waits for one timeout, not two
  const cgProbe = source === 'sim' || values.coins === 'none' ? undefined : reachable(`${values['coingecko-url'] ?? COINGECKO}/api/v3/ping`)
  if (!values['rest-url'] !== !values['ws-url']) throw new Error('--rest-url and --ws-url go together')
  const venue = endpointsOf(values.exchange!)
  if (!venue) throw new Error(`--exchange is one of ${EXCHANGES.join(', ')}`)
  const venueName = coinbase ? 'Coinbase' : 'Binance'
  let restUrl = values['rest-url'] ?? venue.rest
  let wsUrl = values['ws-url'] ?? venue.ws
  let fake: { restUrl: string; wsUrl: string; close(): Promise<void> } | undefined
  if (source !== 'sim') {
    const ok = await reachable(coinbase ? `${restUrl}/time` : `${restUrl}${venue.api}/ping`)
    if (ok !== true) {
      if (values.source) throw new Error(`${venueName} is unreachable (${ok}); run without --source to fall back to the simulated exchange`)
      console.log(`${venueName} is unreachable (${ok}): running on the SIMULATED exchange instead.`)
      source = 'sim'
    }
  }
  if (source === 'sim' && values['rest-url']) {
    // a simulated exchange run elsewhere (the load test's, in its own process): still SIMULATED
    console.log(`using the SIMULATED exchange at ${restUrl}`)
  } else if (source === 'sim') {
    fake = coinbase
      ? await (await import('./exchange/coinbase')).startFakeCoinbase({ symbols, port: 0 })
      : await (await import('./exchange/index')).startFakeExchange({ symbols, port: 0 })
    restUrl = fake.restUrl
    wsUrl = fake.wsUrl
  }
  const prices = await pricesSource(values.coins!, values.currencies!, values['coingecko-url'], source === 'sim' ? undefined : cgProbe)
  const { startCloud } = await import('./cloud/index')
  const exchange = source === 'sim' ? (coinbase ? 'coinbase' : 'binance') : (values.exchange as Exchange)
  const cloud = await startCloud({ exchange, source, restUrl, wsUrl, symbols, port, dataDir: values.data ?? cloudDefaults.dataDir, backfillMs, prices: prices?.config, lakeThread: true, log: (l) => console.log(`  ${l}`) }).catch(async (e) => {
    await fake?.close()
    await prices?.close()
    throw e?.code === 'EADDRINUSE' ? new Error(`port ${port} is in use: pass --port with another number, or --port 0 for any free one`) : e
  })
  const label = source === 'sim' ? `SIMULATED ${coinbase ? 'Coinbase ' : ''}exchange (fake trades, not market data)` : `live ${venueName} (${restUrl})`
  console.log(`\nTicklake is running on ${label}: ${symbols.join(', ')}\n  page:  ${cloud.url}\n  lake:  ${cloud.dataDir}\n  stop:  Ctrl+C\n`)
  await new Promise<void>((resolve) => {
    const stop = () => { console.log('\nstopping: flushing records and checkpoints…'); resolve() }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  await cloud.close()
  await fake?.close()
  await prices?.close()
  return 0
}

const COINGECKO = 'https://api.coingecko.com'

/**
 * CoinGecko polling for `start`: the real API when `probe` (started beside the exchange's) found it,
 * the simulated one when the exchange is simulated (no probe) or CoinGecko is unreachable.
 */
async function pricesSource(coinList: string, currencyList: string, url: string | undefined, probe: Promise<true | string> | undefined) {
  const list = (s: string) => s.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean)
  const coins = list(coinList)
  const currencies = list(currencyList)
  if (coinList.trim() === 'none' || !coins.length) return undefined
  if (!currencies.length) throw new QueryInputError('--currencies names at least one, e.g. usd')
  if (probe) {
    const ok = await probe
    if (ok === true) return { config: { coins, currencies, baseUrl: url ?? COINGECKO, apiKey: process.env.TICKLAKE_COINGECKO_KEY }, close: async () => {} }
    if (url) throw new Error(`CoinGecko at ${url} is unreachable (${ok})`)
    console.log(`CoinGecko is unreachable (${ok}): prices come from the SIMULATED CoinGecko instead.`)
  }
  const { startFakeCoinGecko } = await import('./coingecko/index')
  const fake = await startFakeCoinGecko({ coins, currencies })
  return { config: { coins, currencies, baseUrl: fake.url }, close: () => fake.close() }
}

/** `upgradeLake` on the lake in `dataDir`, its lines on stderr (stdout may be data). */
async function upgradeLake(dataDir: string) {
  const [{ fileStore }, { upgradeLake: upgrade }] = await Promise.all([import('./store/index'), import('./cloud/index')])
  await upgrade(fileStore(dataDir), (line) => process.stderr.write(line + '\n'))
}

async function candles(argv: string[]) {
  const { values } = parseArgs({ args: argv, options: { exchange: { type: 'string', default: 'binance' }, symbol: { type: 'string' }, tf: { type: 'string', default: '1m' }, from: { type: 'string' }, to: { type: 'string' }, limit: { type: 'string' }, format: { type: 'string', default: 'csv' }, data: { type: 'string', default: cloudDefaults.dataDir } } })
  const time = (name: string, s?: string) => {
    if (s === undefined) return undefined
    const t = Date.parse(s)
    if (Number.isNaN(t)) throw new QueryInputError(`--${name} is not an ISO-8601 time: ${JSON.stringify(s)}`)
    return t
  }
  if (!values.symbol) throw new QueryInputError('--symbol is required, e.g. --symbol BTC-USDT')
  if (values.format !== 'csv' && values.format !== 'json') throw new QueryInputError('--format is csv or json')
  const st = candlesQuery({ exchange: values.exchange!, symbol: values.symbol, tf: values.tf as Timeframe, from: time('from', values.from), to: time('to', values.to), limit: values.limit !== undefined ? Number(values.limit) : undefined })
  const { duckdbEngine } = await import('./duckdb/index')
  await upgradeLake(values.data!)
  const engine = await duckdbEngine(values.data!)
  try {
    const rows = await engine.query(st)
    const cols = CANDLE_COLUMNS.map((c) => c.name)
    if (values.format === 'json') process.stdout.write(JSON.stringify(rows.map((r) => Object.fromEntries(cols.map((c) => [c, r[c]]))), null, 1) + '\n')
    else process.stdout.write([cols.join(','), ...rows.map((r) => cols.map((c) => String(r[c])).join(','))].join('\n') + '\n')
  } finally { engine.close() }
  return 0
}

async function gaps(argv: string[]) {
  const { values } = parseArgs({ args: argv, options: { exchange: { type: 'string' }, symbol: { type: 'string' }, format: { type: 'string', default: 'text' }, data: { type: 'string', default: cloudDefaults.dataDir } } })
  const { fileStore } = await import('./store/index')
  const { listQuality } = await import('@ticklake/core/quality')
  const q = await listQuality(fileStore(values.data!), { exchange: values.exchange, symbol: values.symbol })
  if (values.format === 'json') { process.stdout.write(JSON.stringify(q, null, 1) + '\n'); return 0 }
  const iso = (ms?: number) => (ms === undefined ? '—' : new Date(ms).toISOString())
  const lines = [`${q.gaps.length} gap(s), ${q.disconnects.length} disconnect(s)`]
  for (const g of q.gaps) lines.push(`gap         ${iso(g.detected_at)}  ${g.exchange} ${g.symbol}  ids ${g.from_id}..${g.to_id} (${g.to_id - g.from_id + 1})  ${g.kind}: ${g.reason}`)
  for (const d of q.disconnects) lines.push(`disconnect  ${iso(d.disconnected_at)} .. ${iso(d.reconnected_at)}  ${d.exchange} ${d.symbols.join(',')}  ${d.reason}`)
  process.stdout.write(lines.join('\n') + '\n')
  return 0
}

async function record(argv: string[]) {
  const { values } = parseArgs({ args: argv, options: { symbols: { type: 'string' }, out: { type: 'string' }, duration: { type: 'string' }, exchange: { type: 'string', default: 'binance' }, 'ws-url': { type: 'string' } } })
  if (!values.symbols) throw new QueryInputError('--symbols is required, e.g. --symbols BTC-USDT')
  const coinbase = values.exchange === 'coinbase'
  const venue = endpointsOf(values.exchange!)
  if (!venue) throw new QueryInputError(`--exchange is one of ${EXCHANGES.join(', ')}`)
  const symbols = values.symbols.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    if (!/^[A-Za-z0-9-]{1,41}$/.test(s)) throw new QueryInputError(`--symbols: ${JSON.stringify(s)} is not ASCII letters, digits and '-'`) // before case folding (ß would become SS)
    return s.toUpperCase()
  })
  if (coinbase) for (const s of symbols) if (!/^[A-Z0-9]+-[A-Z0-9]+$/.test(s)) throw new QueryInputError(`--symbols: ${s} is not a Coinbase product id like BTC-USD`)
  const out = values.out ?? `capture-${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`
  const stop = new AbortController()
  process.once('SIGINT', () => stop.abort())
  const { recordCapture } = await import('./replay/index')
  console.log(`recording ${values.symbols} into ${out}${values.duration ? ` for ${values.duration}` : ' until Ctrl+C'}`)
  const frames = await recordCapture({ exchange: values.exchange, wsUrl: values['ws-url'] ?? venue.ws, symbols, out, durationMs: values.duration ? parseDuration(values.duration) : undefined, signal: stop.signal })
  console.log(`${frames} frames recorded in ${out}`)
  return 0
}

async function replay(argv: string[]) {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { speed: { type: 'string', default: 'max' }, data: { type: 'string', default: cloudDefaults.dataDir } } })
  if (positionals.length !== 1) throw new QueryInputError('name one capture file: ticklake replay CAPTURE')
  const speed = values.speed === 'max' ? 'max' : Number(values.speed)
  if (speed !== 'max' && !(speed > 0)) throw new QueryInputError('--speed is a positive number or max')
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const { replayCapture } = await import('./replay/index')
  const counts = await replayCapture({ file: positionals[0], speed, dataDir: values.data! })
  for (const [symbol, n] of Object.entries(counts)) console.log(`replayed ${n} trades of ${symbol} into ${values.data}`)
  return 0
}

async function importFiles(argv: string[]) {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { exchange: { type: 'string' }, symbol: { type: 'string' }, kind: { type: 'string' }, data: { type: 'string', default: cloudDefaults.dataDir } } })
  if (!positionals.length) throw new QueryInputError('name one or more archive files: ticklake import BTCUSDT-aggTrades-2025-01-01.zip')
  if (values.kind && values.kind !== 'trades' && values.kind !== 'aggTrades') throw new QueryInputError('--kind is trades or aggTrades')
  const { importArchives, buildCandles, progressBar } = await import('./import/index')
  const { fileStore } = await import('./store/index')
  const store = fileStore(values.data!)
  await upgradeLake(values.data!)
  const tty = process.stderr.isTTY
  let last = 0
  const summaries = await importArchives(positionals, {
    store, exchange: values.exchange, symbol: values.symbol, kind: values.kind as 'trades' | 'aggTrades' | undefined,
    onProgress(p) {
      const now = Date.now()
      if (now - last < (tty ? 100 : 5_000) && p.bytes < p.totalBytes) return
      last = now
      process.stderr.write(tty ? `\r${progressBar(p)}` : `${progressBar(p)}\n`)
    },
  })
  if (tty) process.stderr.write('\n')
  for (const s of summaries) {
    const what = s.status === 'imported' ? `imported ${s.trades.toLocaleString('en-US')} trades of ${s.symbol} (${s.kind}) into ${s.hours} hour(s), checksum ${s.checksum}` : `${s.status}: ${s.reason}`
    console.log(`${s.file}: ${what}`)
    if (s.errors.count) console.log(`  ${s.errors.count} bad row(s), e.g. line ${s.errors.first[0]?.line}: ${s.errors.first[0]?.reason}${s.dlq ? ` (all in ${s.dlq})` : ''}`)
    for (const w of s.warnings) console.log(`  warning: ${w}`)
  }
  const hours = await buildCandles(store, summaries.flatMap((s) => s.files), (h, done, total) => { if (tty) process.stderr.write(`\rcandles: ${done}/${total} hours (${h})`) })
  if (tty) process.stderr.write('\n')
  console.log(`candles built for ${hours} hour(s) in ${values.data}`)
  return summaries.every((s) => s.status === 'imported') ? 0 : 1
}

async function verify(argv: string[]) {
  const { values } = parseArgs({ args: argv, options: { exchange: { type: 'string', default: 'binance' }, symbol: { type: 'string' }, tf: { type: 'string', default: '1m' }, from: { type: 'string' }, to: { type: 'string' }, 'rest-url': { type: 'string' }, format: { type: 'string', default: 'text' }, data: { type: 'string', default: cloudDefaults.dataDir } } })
  for (const k of ['symbol', 'from', 'to'] as const) if (!values[k]) throw new QueryInputError(`--${k} is required, e.g. ticklake verify --symbol BTC-USDT --from 2026-11-24T15:00:00Z --to 2026-11-24T16:00:00Z`)
  const time = (name: string, s: string) => { const t = Date.parse(s); if (Number.isNaN(t)) throw new QueryInputError(`--${name} is not an ISO-8601 time: ${JSON.stringify(s)}`); return t }
  if (values.format !== 'text' && values.format !== 'json') throw new QueryInputError('--format is text or json')
  const { verifyCandles, formatReport } = await import('@ticklake/core/verify')
  const { duckdbEngine } = await import('./duckdb/index')
  await upgradeLake(values.data!)
  const engine = await duckdbEngine(values.data!)
  try {
    const report = await verifyCandles({ exchange: values.exchange!, symbol: values.symbol!, tf: values.tf as Timeframe, from: time('from', values.from!), to: time('to', values.to!), restUrl: values['rest-url'], engine })
    process.stdout.write(values.format === 'json' ? JSON.stringify(report, null, 1) + '\n' : formatReport(report).join('\n') + '\n')
    return report.ok ? 0 : 1
  } finally { engine.close() }
}

async function symbols(argv: string[]) {
  const { values } = parseArgs({ args: argv, options: { exchange: { type: 'string', default: 'binance' }, 'rest-url': { type: 'string' }, data: { type: 'string', default: cloudDefaults.dataDir } } })
  const exchanges = values.exchange!.split(',').map((s) => s.trim()).filter(Boolean)
  if (values['rest-url'] && exchanges.length !== 1) throw new QueryInputError('--rest-url goes with one --exchange')
  const { refreshDimSymbols, DIM_EXCHANGES } = await import('@ticklake/core/symbols')
  for (const x of exchanges) if (!DIM_EXCHANGES.includes(x)) throw new QueryInputError(`--exchange: ${x} is not one of ${DIM_EXCHANGES.join(', ')}`)
  const { fileStore } = await import('./store/index')
  const store = fileStore(values.data!)
  for (const x of exchanges) {
    const r = await refreshDimSymbols(store, x, values['rest-url'])
    console.log(`${x}: ${r.rows} symbol${r.rows === 1 ? "" : "s"} written to gold/dim_symbols (${r.total} in all)${r.rejected.length ? `; ${r.rejected.length} left out, e.g. ${r.rejected[0]}` : ''}`)
  }
  return 0
}

/** Runs the CLI with its arguments; resolves with the exit code. */
/** `keys add NAME` / `keys list`: API keys in <data>/state/api-keys.json, stored hashed; a new key is printed once. */
async function keys(argv: string[]) {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { data: { type: 'string', default: cloudDefaults.dataDir } } })
  const [action, name] = positionals
  const { fileStore } = await import('./store/index')
  const { addApiKey, listApiKeys } = await import('@ticklake/core/api')
  const store = fileStore(values.data!)
  if (action === 'list' && positionals.length === 1) {
    for (const k of await listApiKeys(store)) process.stdout.write(`${k.name}\t${k.id}\t${k.created_at}\n`)
    return 0
  }
  if (action !== 'add' || !name || positionals.length !== 2) throw new QueryInputError('usage: ticklake keys add NAME | ticklake keys list')
  const { key } = await addApiKey(store, name).catch((e) => { throw new QueryInputError(e.message) })
  process.stdout.write(`${key}\n`)
  process.stderr.write(`API key ${name} added to ${values.data}/state/api-keys.json (stored hashed; this is the only time it is shown). Send it as the x-api-key header of POST /api/ingest.\n`)
  return 0
}

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
    if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') { process.stdout.write(HELP); return 0 }
    process.stderr.write(`ticklake: unknown command ${JSON.stringify(cmd)}\n\n${HELP}`)
    return 2
  } catch (e: any) {
    process.stderr.write(`ticklake ${cmd}: ${e?.message ?? e}\n`)
    return e instanceof QueryInputError || e?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || e?.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' ? 2 : 1
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = await main(process.argv.slice(2))
