/**
 * The candlestick chart: one uPlot instance whose OHLC and volume series draw nothing themselves
 * (they only drive the scales, the cursor and the legend); a small plugin paints wicks, bodies
 * (green up, red down) and volume bars in the bottom fifth on their own scale, plus a dashed
 * last-price line with its label on the right-hand price axis. UTC time axis, crosshair legend of
 * the hovered candle, drag to zoom, double-click to reset. `setCandles` updates the chart in place
 * with `setData` and keeps the user's zoom while new candles arrive.
 */
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import type { Candle } from '@ticklake/core/market'

const UP = '#26a69a'
const DOWN = '#ef5350'
const UP_VOL = 'rgba(38,166,154,0.45)'
const DOWN_VOL = 'rgba(239,83,80,0.45)'
const GRID = 'rgba(255,255,255,0.06)'
const AXIS = '#8a93a6'
const FONT = '11px system-ui, sans-serif'

type Data = [number[], number[], number[], number[], number[], number[]]

/** Decimals that show a price's tick: 2 above 100, more below. */
export const decimalsFor = (p: number) => (p >= 100 ? 2 : p >= 1 ? 4 : 6)

/** A number with grouping and a fixed count of decimals; a dash for none. */
export const fmt = (v: number | null | undefined, d = 2) => (v == null || !isFinite(v) ? '—' : v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }))

/** A volume, short: 1,234.5 · 12.3K · 4.56M. */
const fmtVol = (v: number) => (v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1e4 ? `${(v / 1e3).toFixed(1)}K` : fmt(v, v >= 100 ? 1 : 4))

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const two = (n: number) => String(n).padStart(2, '0')
/** Time-axis labels in UTC, 24 h: `14:05`, the day (`24 Nov`) at midnight or when ticks are days apart. */
const timeLabels = (_u: uPlot, splits: number[], _ax: number, _space: number, incr: number) => splits.map((s) => {
  const d = new Date(s * 1000)
  const hm = `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}`
  if (incr >= 86_400 || hm === '00:00' && d.getUTCSeconds() === 0) return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`
  return incr < 60 ? `${hm}:${two(d.getUTCSeconds())}` : hm
})

/** Seconds between two candles: the smallest gap in the first few, 60 when unknown. */
const stepOf = (t: number[]) => { let s = Infinity; for (let i = 1; i < Math.min(t.length, 10); i++) s = Math.min(s, t[i] - t[i - 1]); return isFinite(s) && s > 0 ? s : 60 }

/** Paints volume, wicks, bodies and the last-price line for the visible candles. */
function candlesPlugin(): uPlot.Plugin {
  return {
    hooks: {
      draw: (u) => {
        const [t, o, h, l, c, v] = u.data as unknown as Data
        if (!t.length) return
        const ctx = u.ctx, px = uPlot.pxRatio, { left, top, width, height } = u.bbox
        const [i0, i1] = [Math.max(0, (u.series[0].idxs?.[0] ?? 0) - 1), Math.min(t.length - 1, (u.series[0].idxs?.[1] ?? t.length - 1) + 1)]
        const span = u.valToPos(t[0] + stepOf(t), 'x', true) - u.valToPos(t[0], 'x', true)
        const body = Math.max(1, Math.round(Math.min(span * 0.7, 24 * px)))
        const wick = Math.max(1, Math.round(px))
        const y = (val: number, scale = 'y') => Math.round(u.valToPos(val, scale, true))
        ctx.save()
        ctx.beginPath(); ctx.rect(left, top, width, height); ctx.clip()
        const v0 = y(0, 'vol')
        for (let i = i0; i <= i1; i++) {
          if (o[i] == null) continue
          const up = c[i] >= o[i]
          const x = Math.round(u.valToPos(t[i], 'x', true))
          const bx = x - Math.floor(body / 2)
          ctx.fillStyle = up ? UP_VOL : DOWN_VOL
          const vy = y(v[i] ?? 0, 'vol')
          ctx.fillRect(bx, vy, body, Math.max(0, v0 - vy))
          ctx.fillStyle = up ? UP : DOWN
          const [yo, yc, yh, yl] = [y(o[i]), y(c[i]), y(h[i]), y(l[i])]
          ctx.fillRect(x - Math.floor(wick / 2), yh, wick, Math.max(1, yl - yh))
          ctx.fillRect(bx, Math.min(yo, yc), body, Math.max(wick, Math.abs(yc - yo)))
        }
        ctx.restore()
        // the last price: a dashed line across the plot and its value boxed on the price axis
        const n = t.length - 1
        const ly = y(c[n])
        if (ly < top || ly > top + height) return
        const color = c[n] >= o[n] ? UP : DOWN
        ctx.save()
        ctx.strokeStyle = color; ctx.lineWidth = px; ctx.setLineDash([2 * px, 3 * px])
        ctx.beginPath(); ctx.moveTo(left, ly + 0.5); ctx.lineTo(left + width, ly + 0.5); ctx.stroke()
        ctx.font = FONT.replace(/\d+px/, (s) => `${parseInt(s) * px}px`)
        const label = fmt(c[n], decimalsFor(c[n]))
        const lw = ctx.measureText(label).width + 10 * px, lh = 16 * px
        ctx.fillStyle = color; ctx.fillRect(left + width, ly - lh / 2, lw, lh)
        ctx.fillStyle = '#fff'; ctx.textBaseline = 'middle'; ctx.fillText(label, left + width + 5 * px, ly)
        ctx.restore()
      },
    },
  }
}

export interface Chart { setCandles(candles: Candle[]): void; destroy(): void }

/** A chart filling `el`, with the hovered (or else the last) candle written into `legend`. */
export function createChart(el: HTMLElement, legend: HTMLElement): Chart {
  let data: Data = [[], [], [], [], [], []]
  let zoomed = false
  const size = () => ({ width: Math.max(200, el.clientWidth || 800), height: Math.max(240, el.clientHeight || 480) })

  const showLegend = (u: uPlot) => {
    const n = data[0].length
    const i = u.cursor.idx ?? n - 1
    if (i == null || i < 0 || i >= n) { legend.textContent = ''; return }
    const d = decimalsFor(data[4][i])
    const time = new Date(data[0][i] * 1000).toISOString().slice(0, 16).replace('T', ' ')
    const chg = ((data[4][i] - data[1][i]) / data[1][i]) * 100
    const cls = data[4][i] >= data[1][i] ? 'up' : 'down'
    legend.innerHTML = `<span>${time} UTC</span> O <b class="${cls}">${fmt(data[1][i], d)}</b> H <b class="${cls}">${fmt(data[2][i], d)}</b> L <b class="${cls}">${fmt(data[3][i], d)}</b> C <b class="${cls}">${fmt(data[4][i], d)}</b> <b class="${cls}">${chg >= 0 ? '+' : ''}${chg.toFixed(2)}%</b> V <b>${fmtVol(data[5][i])}</b>`
  }

  const hidden = { paths: () => null, points: { show: false } }
  const opts: uPlot.Options = {
    ...size(),
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    legend: { show: false },
    cursor: { drag: { x: true, y: false, setScale: true }, points: { show: false } },
    scales: {
      // pads only the automatic range (half a candle left, up to three candles of room right); a zoom is taken as is
      x: { time: true, range: (u, min, max) => { const t = u.data[0], s = stepOf(t as number[]); return t.length && min === t[0] && max === t[t.length - 1] ? [min - s * 0.6, max + Math.max(s * 0.6, Math.min(s * 3, (max - min) * 0.04))] : [min, max] } },
      // candles in the top four fifths, volume bars in the bottom fifth
      y: { range: (_u, min, max) => { const s = max - min || Math.abs(max) * 0.002 || 1; return [min - s * 0.3, max + s * 0.06] } },
      vol: { range: (_u, _min, max) => [0, (max || 1) * 5] },
    },
    axes: [
      { stroke: AXIS, grid: { stroke: GRID }, ticks: { stroke: GRID }, font: FONT, values: timeLabels },
      { scale: 'y', side: 1, stroke: AXIS, grid: { stroke: GRID }, ticks: { stroke: GRID }, font: FONT, size: 78, values: (_u, vals) => vals.map((v) => fmt(v, decimalsFor(Math.abs(v)))) },
    ],
    series: [
      {},
      { label: 'Open', scale: 'y', ...hidden },
      { label: 'High', scale: 'y', ...hidden },
      { label: 'Low', scale: 'y', ...hidden },
      { label: 'Close', scale: 'y', ...hidden },
      { label: 'Volume', scale: 'vol', ...hidden },
    ],
    plugins: [candlesPlugin()],
    hooks: {
      setCursor: [showLegend],
      // zoomed while the view leaves out part of the series (drag); a double-click autoscales back
      setScale: [(u, key) => { if (key === 'x' && data[0].length) zoomed = u.scales.x.min! > data[0][0] || u.scales.x.max! < data[0][data[0].length - 1] }],
    },
  }
  const u = new uPlot(opts, data as unknown as uPlot.AlignedData, el)
  const ro = new ResizeObserver(() => { const s = size(); if (s.width !== u.width || s.height !== u.height) u.setSize(s) })
  ro.observe(el)

  return {
    setCandles(candles) {
      if (!candles.length) zoomed = false // a new series (another symbol or timeframe) starts unzoomed
      data = [[], [], [], [], [], []]
      for (const c of candles) {
        data[0].push(c.open_time / 1000); data[1].push(c.open); data[2].push(c.high)
        data[3].push(c.low); data[4].push(c.close); data[5].push(c.volume)
      }
      if (zoomed) {
        // keep the user's window: new data, same x range (re-setting it re-ranges y and redraws)
        const { min, max } = u.scales.x
        u.setData(data as unknown as uPlot.AlignedData, false)
        u.setScale('x', { min: min!, max: max! })
      } else u.setData(data as unknown as uPlot.AlignedData, true)
      showLegend(u)
    },
    destroy() { ro.disconnect(); u.destroy() },
  }
}
