/**
 * The toolbar's look controls: the theme button, the time zone, the four candle colours and the
 * indicators with their periods. Built once (`lookControls`), shown from the viewer's choices
 * (`showLook`), and read back as a change of choice for the page to apply and keep.
 */
import { INDICATOR_KINDS, PERIODS, validZone, type Indicator, type IndicatorKind, type Prefs } from './prefs'

export const defaults = {
  /** Zones offered besides the browser's list, which gives some under their old names (Asia/Calcutta). */
  zones: ['Asia/Kolkata', 'Asia/Kathmandu', 'Asia/Ho_Chi_Minh', 'Asia/Yangon', 'Europe/Kyiv', 'America/Nuuk', 'Pacific/Kanton'],
}

const KINDS: Record<IndicatorKind, string> = { sma: 'SMA', ema: 'EMA', bb: 'Bollinger', vwap: 'VWAP', rsi: 'RSI (pane)', macd: 'MACD (pane)' }
const $ = (id: string) => document.getElementById(id)!
const input = (id: string) => document.getElementById(id) as HTMLInputElement | null

/** Builds the look controls (the zone `tz` listed even when the browser does not list it); each change goes to `change`. */
export function lookControls(tz: string, prefs: () => Prefs, change: (p: Partial<Prefs>) => void) {
  const tzSel = $('tz') as HTMLSelectElement
  const local = Intl.DateTimeFormat().resolvedOptions().timeZone
  // every zone the browser lists (ICU's canonical names: Asia/Calcutta), with today's names of the renamed ones
  const listed = [...(Intl.supportedValuesOf?.('timeZone') ?? []), ...defaults.zones.filter(validZone)].sort()
  const zones = new Set(['UTC', ...(local && local !== 'UTC' ? [local] : []), ...(validZone(tz) ? [tz] : []), ...listed])
  for (const z of zones) tzSel.add(new Option(z === local && z !== 'UTC' ? `${z} (this browser)` : z, z))
  tzSel.onchange = () => { if (validZone(tzSel.value)) change({ tz: tzSel.value }) }
  $('theme').onclick = () => change({ theme: prefs().theme === 'dark' ? 'light' : 'dark' })
  for (const k of ['up', 'down', 'upWick', 'downWick'] as const) input(`c-${k}`)!.oninput = (e) => change({ [k]: (e.target as HTMLInputElement).value })
  const list = $('ind-list')
  for (const kind of INDICATOR_KINDS) {
    const row = document.createElement('label')
    row.innerHTML = `<input type="checkbox" id="ind-${kind}"> ${KINDS[kind]}` + (PERIODS[kind] ? ` <input type="number" id="ind-${kind}-p" min="2" max="500" value="${PERIODS[kind]}" aria-label="${KINDS[kind]} period">` : '')
    list.append(row)
  }
  list.onchange = () => {
    const ind: Indicator[] = []
    for (const kind of INDICATOR_KINDS) {
      if (!input(`ind-${kind}`)!.checked) continue
      const p = Number(input(`ind-${kind}-p`)?.value ?? 0)
      ind.push({ kind, period: PERIODS[kind] ? Math.min(500, Math.max(2, Math.round(p) || PERIODS[kind])) : 0 })
    }
    change({ ind })
  }
}

/** Shows `prefs` in the controls and the page's theme and colours. */
export function showLook(prefs: Prefs) {
  document.documentElement.dataset.theme = prefs.theme
  const other = prefs.theme === 'dark' ? 'light' : 'dark'
  $('theme').textContent = prefs.theme === 'dark' ? '☀ Light' : '☾ Dark'
  $('theme').setAttribute('aria-label', `Switch to the ${other} theme`)
  for (const k of ['up', 'down', 'upWick', 'downWick'] as const) input(`c-${k}`)!.value = prefs[k]
  document.documentElement.style.setProperty('--up', prefs.up)
  document.documentElement.style.setProperty('--down', prefs.down)
  ;($('tz') as HTMLSelectElement).value = prefs.tz
  for (const kind of INDICATOR_KINDS) {
    const on = prefs.ind.find((i) => i.kind === kind)
    input(`ind-${kind}`)!.checked = !!on
    const per = input(`ind-${kind}-p`)
    if (per && on) per.value = String(on.period)
  }
}
