/**
 * The venues the page can show: the exchanges the lake holds (`/api/symbols`), each with its
 * symbols and whether it is simulated, joined with the one this server ingests (`/api/health`);
 * and the options of the exchange picker and the compare control made from them. A simulated
 * venue (`sim-binance`, ...) is always labelled so: its trades are fake.
 */
import { isSimulated } from '@ticklake/core/market'
import { formatCompare, type CompareSpec } from './prefs'

export interface Venue { exchange: string; simulated: boolean; symbols: string[] }

interface SymbolsAnswer { symbols?: { exchange: string; symbol: string }[]; exchanges?: { exchange: string; simulated: boolean; symbols: string[] }[] }

/** The exchanges of an `/api/symbols` answer (grouped from its rows when it has no `exchanges`). */
export function venuesOf(answer: SymbolsAnswer | undefined): Venue[] {
  if (Array.isArray(answer?.exchanges)) return answer.exchanges.map((e) => ({ exchange: e.exchange, simulated: !!e.simulated, symbols: [...e.symbols] }))
  const by = new Map<string, Venue>()
  for (const r of answer?.symbols ?? []) {
    const v = by.get(r.exchange) ?? by.set(r.exchange, { exchange: r.exchange, simulated: isSimulated(r.exchange), symbols: [] }).get(r.exchange)!
    v.symbols.push(r.symbol)
  }
  return [...by.values()]
}

/** The lake's venues with the ingested one among them (its symbols first), in name order. */
export function joinVenues(lake: Venue[], ingested: Venue): Venue[] {
  const out = new Map(lake.map((v) => [v.exchange, { ...v, symbols: [...v.symbols] }]))
  const known = out.get(ingested.exchange)
  out.set(ingested.exchange, { ...ingested, simulated: ingested.simulated || !!known?.simulated, symbols: [...new Set([...ingested.symbols, ...(known?.symbols ?? [])])] })
  return [...out.values()].sort((a, b) => a.exchange.localeCompare(b.exchange))
}

/** `sim-binance (simulated)` or `coinbase`. */
export const venueLabel = (v: Pick<Venue, 'exchange' | 'simulated'>) => (v.simulated ? `${v.exchange} (simulated)` : v.exchange)

/** The symbol to show on `v` after `symbol` elsewhere: the same, else one of the same base (BTC-USDT → BTC-USD), else its first. */
export function symbolOn(v: Venue | undefined, symbol: string): string | undefined {
  if (!v?.symbols.length) return undefined
  const base = symbol.split('-')[0]
  return v.symbols.includes(symbol) ? symbol : v.symbols.find((s) => s.split('-')[0] === base) ?? v.symbols[0]
}

/** Fills the exchange picker with `venues`, `current` selected (added when the lake does not list it yet). */
export function fillExchanges(select: HTMLSelectElement, venues: Venue[], current: string) {
  const list = venues.some((v) => v.exchange === current) ? venues : [...venues, { exchange: current, simulated: isSimulated(current), symbols: [] }]
  select.replaceChildren(...list.map((v) => {
    const o = new Option(venueLabel(v), v.exchange, false, v.exchange === current)
    if (v.simulated) o.dataset.simulated = 'true'
    return o
  }))
}

/**
 * Fills the compare control: "none", then every symbol of every venue (grouped by venue) but the
 * one shown; `current` selected (added when the lake does not list it yet).
 */
export function fillCompare(select: HTMLSelectElement, venues: Venue[], shown: CompareSpec, current: CompareSpec | undefined) {
  const none = new Option('compare: none', '', false, !current)
  const groups = venues.map((v) => {
    const g = document.createElement('optgroup')
    g.label = venueLabel(v)
    for (const s of v.symbols) if (v.exchange !== shown.exchange || s !== shown.symbol) g.append(new Option(`${v.exchange}:${s}`, `${v.exchange}:${s}`))
    return g
  }).filter((g) => g.children.length)
  select.replaceChildren(none, ...groups)
  if (current && ![...select.options].some((o) => o.value === formatCompare(current))) select.add(new Option(formatCompare(current), formatCompare(current)))
  select.value = current ? formatCompare(current) : ''
}
