/**
 * The status page (`/status`): the pipeline at a glance, from `/api/status` (each source's last
 * trade, lag, ingest rate, gaps; DLQ files; newest gold object), `/api/health` (WebSocket
 * subscribers, locally) and each symbol's 1m serving window (`updated_at`: how fresh the lake's
 * view of that symbol is), and one row per exchange (`exchanges`: simulated or live, its lag,
 * stalled and idle symbols, its lake freshness). A symbol or exchange is up while its freshest
 * lag is under `lagMs`; a figure beyond its threshold turns red (class `bad`). Read again every `everyMs`.
 */
import { fmt } from './chart'

export const defaults = {
  everyMs: 5_000,
  /** A source whose newest trade is older than this is down. */
  lagMs: 60_000,
  /** A symbol whose serving window was last written longer ago than this is stale. */
  freshnessMs: 180_000,
}

interface Source { exchange: string; symbol: string; source: string; last_trade_time: string; lag_ms: number; ingest_rate_per_s: number; records_24h: number; gaps: { found: number; filled: number; deferred: number; unfillable: number } }
interface Exchange { exchange: string; simulated: boolean; symbols: string[]; lag_ms: number | null; max_lag_ms: number | null; idle: string[]; stalled: string[]; freshness_ms: number | null }
interface Status { time: string; sources: Source[]; exchanges?: Exchange[]; dlq: { files: number; by_source: Record<string, number>; conversion_errors: number }; lake: { newest_gold_time: string | null; freshness_ms: number | null } }

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)
/** `12 s`, `4.2 min`, `3.1 h`. */
export const age = (ms: number | null | undefined) => (ms == null ? '—' : ms < 60_000 ? `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s` : ms < 3_600_000 ? `${(ms / 60_000).toFixed(1)} min` : `${(ms / 3_600_000).toFixed(1)} h`)
const cell = (text: string, bad: boolean, label: string) => `<td class="${bad ? 'bad' : 'ok'}" data-label="${label}">${esc(text)}</td>`

/** Replaces the page by the status view and keeps it current. */
export async function showStatus() {
  document.title = 'Ticklake — status'
  document.getElementById('app')!.hidden = true
  const root = document.getElementById('status-page')!
  root.hidden = false
  const theme = new URLSearchParams(location.search).get('theme')
  if (theme === 'light' || theme === 'dark') document.documentElement.dataset.theme = theme
  root.innerHTML = `<header><h1 class="brand">Ticklake status</h1><a href="./" class="muted">chart</a><span id="status-time" class="muted"></span></header><div id="status-body" aria-live="polite">loading…</div>`
  const render = async () => {
    try {
      const res = await fetch('/api/status', { cache: 'no-store' })
      if (!res.ok) throw new Error(`/api/status: HTTP ${res.status}`)
      const st = (await res.json()) as Status
      const health = await fetch('/api/health', { cache: 'no-store' }).then((r) => r.json()).catch(() => ({}))
      const bySymbol = new Map<string, Source[]>()
      for (const s of st.sources) bySymbol.set(`${s.exchange}/${s.symbol}`, [...(bySymbol.get(`${s.exchange}/${s.symbol}`) ?? []), s])
      const now = Date.parse(st.time) || Date.now()
      const fresh = await Promise.all([...bySymbol.keys()].map((k) => fetch(`/serving/${k}/1m.json`, { cache: 'no-store' }).then((r) => (r.ok ? r.json() : null)).then((w) => (w?.updated_at ? Math.max(0, now - w.updated_at) : null)).catch(() => null)))
      let bad = 0
      const rows = [...bySymbol.entries()].map(([k, srcs], i) => {
        const lag = Math.min(...srcs.map((s) => s.lag_ms))
        const g = srcs[0].gaps
        const up = lag < defaults.lagMs
        const f = fresh[i]
        const cells = [
          `<th scope="row">${esc(k)}</th>`,
          cell(up ? 'up' : 'down', !up, 'state'),
          cell(srcs.map((s) => s.source).join(', '), false, 'sources'),
          cell(age(lag), lag >= defaults.lagMs, 'lag'),
          cell(fmt(srcs.reduce((a, s) => a + s.ingest_rate_per_s, 0), 1) + '/s', false, 'rate'),
          cell(srcs.reduce((a, s) => a + s.records_24h, 0).toLocaleString('en-US'), false, 'records 24 h'),
          cell(age(f), f == null || f >= defaults.freshnessMs, 'lake freshness'),
          cell(`${g.found} / ${g.filled} / ${g.unfillable}`, g.unfillable > 0 || g.deferred > 0, 'gaps found / filled / unfillable'),
        ]
        bad += cells.filter((c) => c.includes('class="bad"')).length
        return `<tr data-symbol="${esc(k)}">${cells.join('')}</tr>`
      })
      const venues = (st.exchanges ?? []).map((e) => {
        const up = e.lag_ms != null && e.lag_ms < defaults.lagMs
        const cells = [
          `<th scope="row">${esc(e.exchange)}</th>`,
          cell(e.simulated ? 'simulated' : 'live', false, 'kind'),
          cell(up ? 'up' : 'down', !up, 'state'),
          cell(String(e.symbols.length), false, 'symbols'),
          cell(`${age(e.lag_ms)} / ${age(e.max_lag_ms)}`, !up || (e.max_lag_ms ?? 0) >= defaults.lagMs, 'lag freshest / stalest'),
          cell(e.stalled.join(', ') || '—', e.stalled.length > 0, 'stalled'),
          cell(e.idle.join(', ') || '—', false, 'idle 24 h'),
          cell(age(e.freshness_ms), e.freshness_ms == null || e.freshness_ms >= defaults.freshnessMs, 'lake freshness'),
        ]
        bad += cells.filter((c) => c.includes('class="bad"')).length
        return `<tr data-exchange="${esc(e.exchange)}"${e.simulated ? ' data-simulated="true"' : ''}>${cells.join('')}</tr>`
      })
      const dlqBad = st.dlq.files + st.dlq.conversion_errors > 0
      const lakeBad = st.lake.freshness_ms == null || st.lake.freshness_ms >= defaults.freshnessMs
      bad += Number(dlqBad) + Number(lakeBad)
      document.getElementById('status-body')!.innerHTML = `
        <div class="tiles">
          <div class="tile ${dlqBad ? 'bad' : 'ok'}" data-testid="dlq"><span>DLQ files</span><b>${st.dlq.files}</b><small>${st.dlq.conversion_errors} conversion errors</small></div>
          <div class="tile ${lakeBad ? 'bad' : 'ok'}" data-testid="lake"><span>Newest gold</span><b>${age(st.lake.freshness_ms)}</b><small>ago</small></div>
          <div class="tile ok" data-testid="subscribers"><span>WebSocket subscribers</span><b>${typeof health.connections === 'number' ? health.connections : '—'}</b><small>connections</small></div>
        </div>
        ${venues.length ? `<table class="status-table" data-testid="exchanges"><caption class="sr">Exchanges</caption>
          <thead><tr><th scope="col">exchange</th><th scope="col">kind</th><th scope="col">state</th><th scope="col">symbols</th><th scope="col">lag freshest / stalest</th><th scope="col">stalled</th><th scope="col">idle 24 h</th><th scope="col">lake freshness</th></tr></thead>
          <tbody>${venues.join('')}</tbody>
        </table>` : ''}
        <table class="status-table"><caption class="sr">Sources</caption>
          <thead><tr><th scope="col">symbol</th><th scope="col">state</th><th scope="col">sources</th><th scope="col">lag</th><th scope="col">ingest rate</th><th scope="col">records 24 h</th><th scope="col">lake freshness</th><th scope="col">gaps found / filled / unfillable</th></tr></thead>
          <tbody>${rows.join('') || '<tr><td colspan="8">no source has reported yet</td></tr>'}</tbody>
        </table>`
      document.body.dataset.status = bad ? 'bad' : 'ok'
      document.getElementById('status-time')!.textContent = `as of ${st.time.slice(11, 19)} UTC · thresholds: lag ${age(defaults.lagMs)}, freshness ${age(defaults.freshnessMs)}`
      document.getElementById('error')!.textContent = ''
    } catch (e) {
      document.body.dataset.status = 'error'
      document.getElementById('error')!.textContent = `cannot read the status: ${(e as Error).message}`
    }
  }
  await render()
  setInterval(() => void render(), defaults.everyMs)
}
