/**
 * The candlestick chart: one uPlot instance with OHLC drawn by a small plugin (wicks and bodies,
 * green up, red down), volume bars in the bottom fifth on their own scale, a UTC time axis, a
 * legend of the hovered candle, drag to zoom and double-click to reset. `setCandles` updates it in
 * place and keeps the user's zoom.
 */
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import type { Candle } from '../../core/src/market/index'

const UP = '#26a69a'
const DOWN = '#ef5350'
const GRID = 'rgba(255,255,255,0.06)'
const AXIS = '#8a93a6'

type Data = [number[], number[], number[], number[], number[], number[]]

/** Draws wicks and bodies for every visible candle. */
function candlesPlugin(): uPlot.Plugin {
  return {
    hooks: {
      draw: (u) => {
        const [t, o, h, l, c] = u.data as unknown as Data
        const [i0, i1] = [u.series[0].idxs?.[0] ?? 0, u.series[0].idxs?.[1] ?? t.length - 1]
        const ctx = u.ctx
        const step = t.length > 1 ? u.valToPos(t[1], 'x', true) - u.valToPos(t[0], 'x', true) : 10
        const body = Math.max(1, Math.min(step * 0.7, 24))
        ctx.save()
        for (let i = i0; i <= i1; i++) {
          if (o[i] == null) continue
          const x = Math.round(u.valToPos(t[i], 'x', true))
          const [yo, yc, yh, yl] = [o[i], c[i], h[i], l[i]].map((v) => u.valToPos(v, 'y', true))
          ctx.fillStyle = ctx.strokeStyle = c[i] >= o[i] ? UP : DOWN
          ctx.fillRect(x - 0.5 * devicePixelRatio, Math.min(yh, yl), Math.max(1, devicePixelRatio), Math.abs(yl - yh))
          ctx.fillRect(Math.round(x - body / 2), Math.min(yo, yc), Math.round(body), Math.max(1, Math.abs(yc - yo)))
        }
        ctx.restore()
      },
    },
  }
}

const fmt = (v: number | null | undefined, d = 2) => (v == null ? '—' : v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }))

/** Decimals that show a price's tick: 2 above 100, more below. */
export const decimalsFor = (p: number) => (p >= 100 ? 2 : p >= 1 ? 4 : 6)

export interface Chart { setCandles(candles: Candle[]): void; destroy(): void }

/** A chart in `el`, with its legend written into `legend`. */
export function createChart(el: HTMLElement, legend: HTMLElement): Chart {
  let zoomed = false
  let data: Data = [[], [], [], [], [], []]
  const size = () => ({ width: el.clientWidth || 800, height: Math.max(320, el.clientHeight || 480) })

  const showLegend = (u: uPlot) => {
    const i = u.cursor.idx ?? data[0].length - 1
    if (i == null || i < 0 || data[0][i] == null) { legend.textContent = ''; return }
    const d = decimalsFor(data[4][i])
    const time = new Date(data[0][i] * 1000).toISOString().slice(0, 16).replace('T', ' ')
    const up = data[4][i] >= data[1][i]
    legend.innerHTML = `<span>${time} UTC</span> O <b>${fmt(data[1][i], d)}</b> H <b>${fmt(data[2][i], d)}</b> L <b>${fmt(data[3][i], d)}</b> C <b class="${up ? 'up' : 'down'}">${fmt(data[4][i], d)}</b> V <b>${fmt(data[5][i], 4)}</b>`
  }

  const opts: uPlot.Options = {
    ...size(),
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    legend: { show: false },
    cursor: { drag: { x: true, y: false, setScale: true }, points: { show: false } },
    scales: {
      x: { time: true },
      y: { range: (_u, min, max) => { const pad = (max - min || max * 0.001 || 1) * 0.08; return [min - pad, max + pad] } },
      vol: { range: (_u, _min, max) => [0, (max || 1) * 5] },
    },
    axes: [
      { stroke: AXIS, grid: { stroke: GRID }, ticks: { stroke: GRID } },
      { stroke: AXIS, grid: { stroke: GRID }, ticks: { stroke: GRID }, size: 80, values: (_u, vals) => vals.map((v) => fmt(v, decimalsFor(v))) },
      { scale: 'vol', show: false },
    ],
    series: [
      {},
      { label: 'Open', scale: 'y', paths: () => null, points: { show: false } },
      { label: 'High', scale: 'y', paths: () => null, points: { show: false } },
      { label: 'Low', scale: 'y', paths: () => null, points: { show: false } },
      { label: 'Close', scale: 'y', paths: () => null, points: { show: false } },
      { label: 'Volume', scale: 'vol', paths: uPlot.paths.bars!({ size: [0.7, 24] }), fill: 'rgba(138,147,166,0.35)', stroke: 'transparent', points: { show: false } },
    ],
    plugins: [candlesPlugin()],
    hooks: {
      setCursor: [showLegend],
      setSelect: [(u) => { if (u.select.width > 0) zoomed = true }],
    },
  }
  const u = new uPlot(opts, data as unknown as uPlot.AlignedData, el)
  u.over.addEventListener('dblclick', () => { zoomed = false; u.setData(u.data, true) })
  const ro = new ResizeObserver(() => u.setSize(size()))
  ro.observe(el)

  return {
    setCandles(candles) {
      data = [[], [], [], [], [], []]
      for (const c of candles) {
        data[0].push(c.open_time / 1000); data[1].push(c.open); data[2].push(c.high)
        data[3].push(c.low); data[4].push(c.close); data[5].push(c.volume)
      }
      u.setData(data as unknown as uPlot.AlignedData, !zoomed)
      showLegend(u)
    },
    destroy() { ro.disconnect(); u.destroy() },
  }
}
