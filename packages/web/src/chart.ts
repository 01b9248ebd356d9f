/**
 * The candlestick chart: one uPlot instance whose OHLC and volume series draw nothing themselves
 * (they drive the scales, the cursor and the legend); a plugin paints volume bars in the bottom
 * fifth, wicks and bodies in the viewer's four colours, and a dashed last-price line boxed on the
 * price axis. Indicator overlays (SMA, EMA, Bollinger, VWAP, from core's indicator math) are uPlot
 * lines; RSI and MACD go to a lower pane, a second uPlot kept on the same time range. A compared
 * series (compare.ts) is one more line: its closes aligned on open time, a gap where either side
 * has no candle, its close and the spread in the legend. The x range
 * is the chart's own "view": candle-sized from the first candle (a lone candle is drawn at a
 * sensible width among `minBars` steps), following the newest candle until the viewer moves away.
 * Navigation: wheel zoom around the cursor, drag pan, shift-drag zoom to a selection, touch swipe
 * and pinch, double-click reset; `pan`/`zoom`/`reset` for the keyboard. Moving before the first
 * loaded candle asks for older ones (`onNeedOlder`), which arrive without moving the view.
 */
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import type { Series } from './series'
import { allLines, refreshLines, type Line } from './lines'
import { alignCloses, spreadOf } from './compare'
import { zoneLabel, minuteTime, type Indicator, type Theme } from './prefs'

export const defaults = {
  /** Candles in view after a reset (fewer when fewer are loaded, but never narrower than `minBars`). */
  viewBars: 120,
  /** The narrowest view, in candles: one or a few candles are drawn at this width, not stretched. */
  minBars: 40,
  /** The widest view, in candles (the drawing stays within a frame). */
  maxBars: 3_000,
  /** Empty candle steps right of the newest candle. */
  rightBars: 4,
  /** Zoom per wheel notch (deltaY 100) and per +/- key. */
  zoomStep: 1.2,
  /** Ask for older candles when the view's left edge comes within this share of a view of the first one. */
  olderMargin: 0.5,
  /** Height of the lower (RSI/MACD) pane as a share of the chart. */
  paneShare: 0.24,
}

export interface Look { theme: Theme; up: string; down: string; upWick: string; downWick: string; tz: string; ind: Indicator[] }

const THEMES = {
  dark: { grid: 'rgba(255,255,255,0.06)', axis: '#8a93a6', label: '#ffffff', cursor: '#5d6678', compare: '#e8eaed' },
  light: { grid: 'rgba(0,0,0,0.08)', axis: '#4b5565', label: '#ffffff', cursor: '#9aa3b2', compare: '#1b2230' },
}
const LINE_COLORS = ['#f0b429', '#5b8def', '#c17ef0', '#ef8a5b', '#3fb6c9', '#9ccc65']
const FONT = '11px system-ui, sans-serif'

/** Decimals that show a price's tick: 2 above 100, more below. */
export const decimalsFor = (p: number) => (p >= 100 ? 2 : p >= 1 ? 4 : 6)

/** A number with grouping and a fixed count of decimals; a dash for none. */
export const fmt = (v: number | null | undefined, d = 2) => (v == null || !isFinite(v) ? '—' : numberFormat(d).format(v))
const formats: Intl.NumberFormat[] = []
/** One formatter per count of decimals: `toLocaleString` builds one each call, which cost 0.7 ms a redraw. */
const numberFormat = (d: number) => (formats[d] ??= new Intl.NumberFormat('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }))

/** A volume, short: 1,234.5 · 12.3K · 4.56M. */
export const fmtVol = (v: number) => (v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1e4 ? `${(v / 1e3).toFixed(1)}K` : fmt(v, v >= 100 ? 1 : 4))

/** `#rrggbb` with an alpha, as rgba(). */
const alpha = (hex: string, a: number) => `rgba(${parseInt(hex.slice(1, 3), 16)},${parseInt(hex.slice(3, 5), 16)},${parseInt(hex.slice(5, 7), 16)},${a})`

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const two = (n: number) => String(n).padStart(2, '0')

export interface View { min: number; max: number }
export interface Chart {
  /** Draws `s` (a new series: the view resets; the same one grown: the view stays, or follows the newest candle). */
  setSeries(s: Series, stepSeconds: number): void
  /** Redraws after candles of the current series changed. */
  update(): void
  setLook(look: Look): void
  /** The x range in view, epoch seconds. */
  view(): View
  setView(v: View): void
  /** Moves the view by `fraction` of its width (negative: back in time). */
  pan(fraction: number): void
  /** Zooms by `factor` (> 1 zooms out) around `at` (seconds; default the view's centre). */
  zoom(factor: number, at?: number): void
  reset(): void
  /** Draws `other`'s closes over the candles (undefined: none), named `label` in the legend. */
  setCompare(other: Series | undefined, label: string): void
  /** The compared closes per candle as last aligned, null where either side has no candle (for tests and monitors). */
  compared(): (number | null)[]
  /** Labels of the time axis as last drawn (for tests and monitors). */
  xLabels(): string[]
  /** Called with the first loaded open time (ms) when the view nears it: load older candles. */
  onNeedOlder?: (beforeMs: number) => void
  destroy(): void
}

/** A chart filling `el` (the lower pane in `paneEl`), with the hovered (or else the last) candle written into `legend`. */
export function createChart(el: HTMLElement, paneEl: HTMLElement, legend: HTMLElement, initial: Look): Chart {
  // Long by design (uPlot's style): the chart's state lives in this closure; its parts are the small named functions inside.
  let look = initial
  let series: Series | undefined
  let step = 60
  let lines: Line[] = []
  let view: View = { min: 0, max: 1 }
  let follow = true
  /** The viewer has not moved the view since the series began or since a reset: it stays at home as history arrives. */
  let auto = true
  let labels: string[] = []
  let u: uPlot
  let pane: uPlot | undefined
  let olderAsked = -1
  let other: Series | undefined
  let otherLabel = ''
  let compared: (number | null)[] = []
  const chart = {} as Chart

  const paneLines = () => lines.filter((l) => l.pane)
  const size = () => {
    // the chart box holds the main chart and the pane: its height is shared, not the main chart's own
    const box = el.parentElement ?? el
    const w = Math.max(200, el.clientWidth || 800), total = Math.max(240, box.clientHeight || 480)
    const ph = paneLines().length ? Math.round(total * defaults.paneShare) : 0
    return { main: { width: w, height: total - ph }, pane: { width: w, height: ph } }
  }
  const tzDate = (ts: number) => (look.tz === 'UTC' ? uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC') : uPlot.tzDate(new Date(ts * 1000), look.tz))
  /** Time-axis labels in the chosen zone, 24 h: `14:05`, the day (`24 Nov`) at midnight or when ticks are days apart. */
  const timeLabels = (_u: uPlot, splits: number[], _ax: number, _space: number, incr: number) => (labels = splits.map((s) => {
    const d = tzDate(s)
    const hm = `${two(d.getHours())}:${two(d.getMinutes())}`
    if (incr >= 86_400 || (hm === '00:00' && d.getSeconds() === 0)) return incr >= 28 * 86_400 && d.getDate() === 1 ? `${MONTHS[d.getMonth()]} ${d.getFullYear()}` : `${d.getDate()} ${MONTHS[d.getMonth()]}`
    return incr < 60 ? `${hm}:${two(d.getSeconds())}` : hm
  }))

  const showLegend = () => {
    const c = series?.cols
    const n = c?.t.length ?? 0
    const i = u.cursor.idx ?? n - 1
    if (!c || i == null || i < 0 || i >= n) { legend.textContent = ''; return }
    const d = decimalsFor(c.c[i])
    const chg = ((c.c[i] - c.o[i]) / c.o[i]) * 100
    const cls = c.c[i] >= c.o[i] ? 'up' : 'down'
    let html = `<span>${minuteTime(c.t[i] * 1000, look.tz)} ${zoneLabel(look.tz)}</span> O <b class="${cls}">${fmt(c.o[i], d)}</b> H <b class="${cls}">${fmt(c.h[i], d)}</b> L <b class="${cls}">${fmt(c.l[i], d)}</b> C <b class="${cls}">${fmt(c.c[i], d)}</b> <b class="${cls}">${chg >= 0 ? '+' : ''}${chg.toFixed(2)}%</b> V <b>${fmtVol(c.v[i])}</b>`
    for (const [k, l] of lines.entries()) if (!l.dash) html += ` <span style="color:${LINE_COLORS[k % LINE_COLORS.length]}">${l.label} ${fmt(l.values[i], l.pane ? 2 : d)}</span>`
    if (other) {
      const oc = compared[i]
      const sp = oc == null ? undefined : spreadOf(c.c[i], oc)
      const sign = (v: number) => (v >= 0 ? '+' : '')
      html += ` <span data-testid="compare">${otherLabel} C <b>${fmt(oc, d)}</b></span><span data-testid="spread">spread ${sp ? `<b>${sign(sp.abs)}${fmt(sp.abs, d)}</b><b>${sign(sp.bps)}${sp.bps.toFixed(1)} bps</b>` : '<b>— no candle</b>'}</span>`
    }
    legend.innerHTML = html
  }

  /** Paints volume, wicks, bodies and the last-price line for the visible candles. */
  const candlesPlugin: uPlot.Plugin = {
    hooks: {
      draw: (u) => {
        const k = series?.cols
        if (!k || !k.t.length) return
        const { t, o, h, l, c, v } = k
        const ctx = u.ctx, px = uPlot.pxRatio, { left, top, width, height } = u.bbox
        const i0 = Math.max(0, lowerBound(t, u.scales.x.min!) - 1), i1 = Math.min(t.length - 1, lowerBound(t, u.scales.x.max!))
        const span = u.valToPos(t[0] + step, 'x', true) - u.valToPos(t[0], 'x', true)
        const body = Math.max(1, Math.round(Math.min(span * 0.7, 24 * px)))
        const wick = Math.max(1, Math.round(px))
        const y = (val: number, scale = 'y') => Math.round(u.valToPos(val, scale, true))
        ctx.save()
        ctx.beginPath(); ctx.rect(left, top, width, height); ctx.clip()
        const v0 = y(0, 'vol')
        const upVol = alpha(look.up, 0.4), downVol = alpha(look.down, 0.4)
        for (let i = i0; i <= i1; i++) {
          const up = c[i] >= o[i]
          const x = Math.round(u.valToPos(t[i], 'x', true))
          const bx = x - Math.floor(body / 2)
          ctx.fillStyle = up ? upVol : downVol
          const vy = y(v[i] ?? 0, 'vol')
          ctx.fillRect(bx, vy, body, Math.max(0, v0 - vy))
          const [yo, yc, yh, yl] = [y(o[i]), y(c[i]), y(h[i]), y(l[i])]
          const top = Math.min(yo, yc), bh = Math.max(wick, Math.abs(yc - yo))
          ctx.fillStyle = up ? look.upWick : look.downWick
          ctx.fillRect(x - Math.floor(wick / 2), yh, wick, Math.max(1, yl - yh))
          // the border in the wick colour, the body inside it (the whole body when too narrow for a border)
          if (body >= 3 * wick && bh >= 3 * wick) {
            ctx.fillRect(bx, top, body, bh)
            ctx.fillStyle = up ? look.up : look.down
            ctx.fillRect(bx + wick, top + wick, body - 2 * wick, bh - 2 * wick)
          } else { ctx.fillStyle = up ? look.up : look.down; ctx.fillRect(bx, top, body, bh) }
        }
        ctx.restore()
        // the last price: a dashed line across the plot and its value boxed on the price axis
        const n = t.length - 1
        const ly = y(c[n])
        if (ly < top || ly > top + height) return
        const color = c[n] >= o[n] ? look.up : look.down
        ctx.save()
        ctx.strokeStyle = color; ctx.lineWidth = px; ctx.setLineDash([2 * px, 3 * px])
        ctx.beginPath(); ctx.moveTo(left, ly + 0.5); ctx.lineTo(left + width, ly + 0.5); ctx.stroke()
        ctx.font = FONT.replace(/\d+px/, (s) => `${parseInt(s) * px}px`)
        const label = fmt(c[n], decimalsFor(c[n]))
        const lw = ctx.measureText(label).width + 10 * px, lh = 16 * px
        ctx.fillStyle = color; ctx.fillRect(left + width, ly - lh / 2, lw, lh)
        ctx.fillStyle = THEMES[look.theme].label; ctx.textBaseline = 'middle'; ctx.fillText(label, left + width + 5 * px, ly)
        ctx.restore()
      },
    },
  }

  const data = (): uPlot.AlignedData => {
    const k = series?.cols ?? { t: [], o: [], h: [], l: [], c: [], v: [] }
    return [k.t, k.o, k.h, k.l, k.c, k.v, ...lines.filter((l) => !l.pane).map((l) => l.values), ...(other ? [compared] : [])] as uPlot.AlignedData
  }
  const paneData = (): uPlot.AlignedData => [series?.cols.t ?? [], ...paneLines().map((l) => l.values)] as uPlot.AlignedData

  /** The view a reset gives: the newest `viewBars` candles, never narrower than `minBars`. */
  const home = (): View => {
    const t = series?.cols.t ?? []
    const last = t.length ? t[t.length - 1] : Math.floor(Date.now() / 1000 / step) * step
    const bars = Math.max(defaults.minBars, Math.min(defaults.viewBars, t.length + defaults.rightBars))
    const max = last + defaults.rightBars * step
    return { min: max - bars * step, max }
  }

  /** Sets the x range (clamped to `minBars`..`maxBars` candles wide) and notes whether it follows the newest candle. */
  const apply = (v: View) => {
    let w = Math.min(defaults.maxBars * step, Math.max(10 * step, v.max - v.min))
    if (!isFinite(w) || w <= 0) w = defaults.minBars * step
    const mid = (v.min + v.max) / 2
    view = v.max - v.min === w ? { ...v } : { min: mid - w / 2, max: mid + w / 2 }
    const t = series?.cols.t ?? []
    // not beyond half a view right of the newest candle
    if (t.length && view.min > t[t.length - 1] - w / 2) { view = { min: t[t.length - 1] - w / 2, max: t[t.length - 1] + w / 2 } }
    follow = !t.length || view.max >= t[t.length - 1] + step
    u.setScale('x', view)
  }

  const onScale = (_u: uPlot, key: string) => {
    if (key !== 'x') return
    view = { min: u.scales.x.min!, max: u.scales.x.max! }
    pane?.setScale('x', view)
    const first = series?.first
    if (first && chart.onNeedOlder && view.min - (view.max - view.min) * defaults.olderMargin < first.open_time / 1000 && olderAsked !== first.open_time) {
      olderAsked = first.open_time
      chart.onNeedOlder(first.open_time)
    }
  }

  const axes = (): uPlot.Axis[] => {
    const th = THEMES[look.theme]
    return [
      { stroke: th.axis, grid: { stroke: th.grid }, ticks: { stroke: th.grid }, font: FONT, values: timeLabels },
      { scale: 'y', side: 1, stroke: th.axis, grid: { stroke: th.grid }, ticks: { stroke: th.grid }, font: FONT, size: 78, values: (_u, vals) => vals.map((v) => fmt(v, decimalsFor(Math.abs(v)))) },
    ]
  }

  const build = () => {
    u?.destroy(); pane?.destroy(); pane = undefined
    const th = THEMES[look.theme]
    const sz = size()
    const hidden = { paths: () => null, points: { show: false } }
    const colorOf = (l: (typeof lines)[number]) => LINE_COLORS[lines.indexOf(l) % LINE_COLORS.length]
    let panX0 = NaN, panView = view
    const opts: uPlot.Options = {
      ...sz.main,
      tzDate,
      legend: { show: false },
      cursor: {
        drag: { x: true, y: false, setScale: true },
        points: { show: false },
        sync: { key: 'ticklake' },
        bind: {
          // plain drag pans; shift-drag selects a range to zoom to (uPlot's own drag)
          mousedown: (_u, _t, handler) => (e: MouseEvent) => {
            if (e.shiftKey) return handler(e)
            if (e.button !== 0) return null
            panX0 = e.clientX; panView = view; auto = false
            const move = (m: MouseEvent) => { const dv = ((m.clientX - panX0) / u.over.clientWidth) * (panView.max - panView.min); apply({ min: panView.min - dv, max: panView.max - dv }) }
            const up = () => { window.removeEventListener('mousemove', move); window.removeEventListener('mouseup', up) }
            window.addEventListener('mousemove', move); window.addEventListener('mouseup', up)
            return null
          },
          dblclick: () => () => { chart.reset(); return null },
        },
      },
      scales: {
        x: { time: true, auto: false },
        // candles in the top four fifths, volume bars in the bottom fifth
        y: { range: (_u, min, max) => { const s = max - min || Math.abs(max) * 0.002 || 1; return [min - s * 0.3, max + s * 0.06] } },
        vol: { range: (_u, _min, max) => [0, (max || 1) * 5] },
      },
      axes: axes(),
      series: [
        {},
        { label: 'Open', scale: 'y', ...hidden },
        { label: 'High', scale: 'y', ...hidden },
        { label: 'Low', scale: 'y', ...hidden },
        { label: 'Close', scale: 'y', ...hidden },
        { label: 'Volume', scale: 'vol', ...hidden },
        ...lines.filter((l) => !l.pane).map((l) => ({ label: l.label, scale: 'y', stroke: colorOf(l), width: 1.25, dash: l.dash, points: { show: false } })),
        // a null is a missing candle on one side: a gap in the line, never bridged
        ...(other ? [{ label: otherLabel, scale: 'y', stroke: th.compare, width: 1.5, spanGaps: false, points: { show: false } }] : []),
      ],
      plugins: [candlesPlugin],
      hooks: { setCursor: [showLegend], setScale: [onScale], setSelect: [(u) => { if (u.select.width > 0) { auto = false; follow = false; u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false) } }] },
    }
    u = new uPlot(opts, data(), el)
    u.over.addEventListener('wheel', (e) => {
      e.preventDefault()
      const r = u.over.getBoundingClientRect()
      chart.zoom(Math.pow(defaults.zoomStep, (e.deltaMode === 1 ? e.deltaY * 33 : e.deltaY) / 100), u.posToVal(e.clientX - r.left, 'x'))
    }, { passive: false })
    touch(u)
    if (sz.pane.height) {
      pane = new uPlot({
        ...sz.pane, tzDate, legend: { show: false },
        cursor: { drag: { x: false, y: false }, points: { show: false }, sync: { key: 'ticklake' } },
        scales: { x: { time: true, auto: false }, p: { auto: true, range: paneRange } },
        axes: [{ show: false }, { ...axes()[1], scale: 'p', size: 78, values: (_u, vals) => vals.map((v) => fmt(v, Math.abs(v) >= 100 ? 0 : 2)) }],
        series: [{}, ...paneLines().map((l) => ({ label: l.label, scale: 'p', stroke: colorOf(l), width: 1.25, dash: l.dash, points: { show: false } }))],
      }, paneData(), paneEl)
    }
    paneEl.hidden = !pane
    apply(view)
    el.style.setProperty('--cursor', th.cursor)
    showLegend()
  }

  /** The pane's value range over the candles in view (RSI always 0..100). */
  function paneRange(p: uPlot): uPlot.Range.MinMax {
    if (look.ind.some((i) => i.kind === 'rsi') && !look.ind.some((i) => i.kind === 'macd')) return [0, 100]
    const t = p.data[0] as number[]
    const i0 = lowerBound(t, view.min), i1 = Math.min(t.length, lowerBound(t, view.max) + 1)
    let lo = Infinity, hi = -Infinity
    for (let s = 1; s < p.data.length; s++) for (let i = i0; i < i1; i++) { const v = p.data[s][i]; if (v != null) { if (v < lo) lo = v; if (v > hi) hi = v } }
    if (!isFinite(lo)) return [-1, 1]
    const pad = (hi - lo) * 0.1 || Math.abs(hi) * 0.1 || 1
    return [lo - pad, hi + pad]
  }

  /** One finger swipes the view, two pinch it. */
  function touch(u: uPlot) {
    let start: { x: number; d: number; view: View; at: number } | undefined
    const pos = (t: TouchList) => { const r = u.over.getBoundingClientRect(); return t.length > 1 ? { x: (t[0].clientX + t[1].clientX) / 2 - r.left, d: Math.abs(t[0].clientX - t[1].clientX) } : { x: t[0].clientX - r.left, d: 0 } }
    const begin = (e: TouchEvent) => { auto = false; const p = pos(e.touches); start = { ...p, view, at: u.posToVal(p.x, 'x') } }
    u.over.addEventListener('touchstart', (e) => { e.preventDefault(); begin(e) }, { passive: false })
    u.over.addEventListener('touchend', (e) => { if (e.touches.length) begin(e); else start = undefined })
    u.over.addEventListener('touchmove', (e) => {
      e.preventDefault()
      if (!start) return
      const p = pos(e.touches), w = start.view.max - start.view.min, perPx = w / u.over.clientWidth
      if (e.touches.length > 1 && start.d > 0 && p.d > 0) {
        const f = start.d / p.d, nw = w * f
        const at = start.at, left = (at - start.view.min) / w
        const shift = (p.x - start.x) * perPx * f
        apply({ min: at - left * nw - shift, max: at + (1 - left) * nw - shift })
      } else {
        const dv = (p.x - start.x) * perPx
        apply({ min: start.view.min - dv, max: start.view.max - dv })
      }
    }, { passive: false })
  }

  const ro = new ResizeObserver(() => {
    const s = size()
    if (s.main.width !== u.width || s.main.height !== u.height) u.setSize(s.main)
    if (pane && (s.pane.width !== pane.width || s.pane.height !== pane.height)) pane.setSize(s.pane)
  })
  ro.observe(el.parentElement ?? el)

  /** Aligns the compared closes again from main candle `d` on, or from where the compared series changed if earlier. */
  const realign = (d: number) => {
    if (!other || !series) return
    const od = other.takeDirty()
    const t = series.cols.t
    const from = Math.min(d, od < other.length ? lowerBound(t, other.cols.t[od]) : t.length, compared.length)
    if (from < t.length || compared.length !== t.length) alignCloses(t, other, compared, from)
  }

  Object.assign(chart, {
    setSeries(s: Series, stepSeconds: number) {
      const fresh = s !== series || step !== stepSeconds
      series = s; step = stepSeconds
      if (fresh) { olderAsked = -1; auto = true; s.takeDirty(); lines = allLines(look.ind, s); compared = []; realign(Infinity); view = home(); build(); return }
      chart.update()
    },
    update() {
      if (!series) return
      const t = series.cols.t
      // a live update changes the newest candle or adds one: the indicators recompute only there
      const d = series.takeDirty()
      if (d >= t.length) { /* nothing changed (a redraw) */ }
      else if (d >= t.length - 2 && lines.every((l) => l.values.length >= d)) refreshLines(lines, look.ind, series, d)
      else lines = allLines(look.ind, series)
      realign(d)
      const w = view.max - view.min
      u.batch(() => {
        u.setData(data(), false)
        pane?.setData(paneData(), false)
        // following: the newest candle keeps its place at the right; else the view stays where it is
        if (auto) apply(home())
        else if (follow && t.length) apply({ min: t[t.length - 1] + defaults.rightBars * step - w, max: t[t.length - 1] + defaults.rightBars * step })
        else apply(view)
      })
      showLegend()
    },
    setLook(next: Look) {
      const rebuild = next.theme !== look.theme || next.tz !== look.tz || JSON.stringify(next.ind) !== JSON.stringify(look.ind)
      look = next
      if (!rebuild) return void u.redraw(false)
      if (series) { series.takeDirty(); lines = allLines(look.ind, series) }
      build()
    },
    setCompare(s: Series | undefined, label: string) {
      const rebuild = !s !== !other || label !== otherLabel
      if (s !== other) compared = []
      other = s; otherLabel = label
      if (!rebuild) return chart.update()
      realign(Infinity)
      build()
    },
    compared: () => [...compared],
    view: () => ({ ...view }),
    setView: (v: View) => { auto = false; apply(v) },
    pan(fraction: number) { auto = false; const d = (view.max - view.min) * fraction; apply({ min: view.min + d, max: view.max + d }) },
    zoom(factor: number, at = (view.min + view.max) / 2) {
      auto = false
      const w = view.max - view.min
      const nw = Math.min(defaults.maxBars * step, Math.max(10 * step, w * factor))
      const left = (at - view.min) / w
      apply({ min: at - left * nw, max: at + (1 - left) * nw })
    },
    reset() { auto = true; view = home(); apply(view) },
    xLabels: () => [...labels],
    destroy() { ro.disconnect(); u.destroy(); pane?.destroy() },
  })
  view = home()
  build()
  return chart
}

/** First index of sorted `a` whose value is at least `v`. */
function lowerBound(a: number[], v: number) {
  let lo = 0, hi = a.length
  while (lo < hi) { const m = (lo + hi) >> 1; if (a[m] < v) lo = m + 1; else hi = m }
  return lo
}
