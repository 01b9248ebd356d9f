/**
 * The seeded market both fake exchanges trade: a random walk per symbol with volatility and activity
 * bursts, prices on the tick size and quantities on the lot step, deterministic for (seed, symbol,
 * start, resume). Also the decimal helpers the fakes print with.
 */

/** A Binance aggTrade as REST returns it (WebSocket adds `e`, `E`, `s` in front). */
export interface AggTrade { a: number; p: string; q: string; f: number; l: number; T: number; m: boolean; M: boolean }

/** Where a symbol's trades go on from: the last aggTrade id, its time (ms) and price (a restart on a lake that holds them). */
export interface ResumeAt extends Resume { ts: number }

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
export function prng(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const hash = (s: string) => [...s].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, 7)

/** A decimal string with 8 decimals as an integer of 1e-8 units: `units8('1.5') === 150000000n`. */
export const units8 = (s: string) => {
  const dot = s.indexOf('.')
  if (dot === s.length - 9) return BigInt(s.slice(0, dot) + s.slice(dot + 1))
  const [i, f = ''] = s.split('.')
  return BigInt(i + f.padEnd(8, '0').slice(0, 8))
}
/** 1e-8 units printed as Binance prints decimals: `dec8(150000000n) === '1.50000000'`. */
export const dec8 = (u: bigint) => { const s = (u < 0n ? -u : u).toString().padStart(9, '0'); return `${u < 0n ? '-' : ''}${s.slice(0, -8)}.${s.slice(-8)}` }

/** Market parameters of a normalized symbol: start price, price and quantity decimals, tick size and lot step. */
export function marketOf(symbol: string) {
  const [base, quote = 'USDT'] = symbol.split('-')
  const known: Record<string, [number, number, number]> = { BTC: [60_000, 2, 5], ETH: [3_000, 2, 4], BNB: [550, 2, 3], SOL: [150, 2, 3], XRP: [0.55, 4, 1], DOGE: [0.15, 5, 0], ADA: [0.45, 4, 1], LTC: [80, 2, 3] }
  const [usd, priceDecimals, qtyDecimals] = known[base] ?? [5 + (hash(base) % 200), 3, 2]
  const price = quote === 'BTC' ? usd / 60_000 : quote === 'ETH' ? usd / 3_000 : usd
  const pd = quote === 'BTC' || quote === 'ETH' ? 6 : priceDecimals
  return { base, quote, price, priceDecimals: pd, qtyDecimals, tickSize: dec8(10n ** BigInt(8 - pd)), stepSize: dec8(10n ** BigInt(8 - qtyDecimals)) }
}

/** Time share of activity bursts (15 s mean in 105 s) and their mean multiplier (5.5): the calm rate is scaled so the mean is `ratePerSec`. */
const regime = { calmMs: 90_000, burstMs: 15_000, meanActivity: (90 + 15 * 5.5) / 105 }

/**
 * Where a generator goes on from (a restart on a lake that already holds its trades): the last
 * aggTrade id and, when known, the last price. Times go on from the generator's `start`.
 */
export interface Resume { id: number; price?: number }

/**
 * One symbol's generator, deterministic for (seed, symbol, start, from): the trade sequence does not
 * depend on how often it is called. `generate(until, out)` appends the trades with `T <= until`.
 * With `from` it goes on after that aggTrade id (and price): individual trade ids then start above
 * any the same symbol's generator gave up to that id (a record covers at most 3 of them).
 */
export function generator(symbol: string, seed: number, start: number, ratePerSec: number, bursts = true, from?: Resume) {
  const m = marketOf(symbol)
  const rand = prng(seed ^ hash(symbol) ^ (from ? from.id + 1 : 0))
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())
  const expo = () => -Math.log(1 - rand())
  const priceUnit = 10n ** BigInt(8 - m.priceDecimals)
  const qtyUnit = 10n ** BigInt(8 - m.qtyDecimals)
  const baseRate = bursts ? ratePerSec / regime.meanActivity : ratePerSec
  let price = from?.price && from.price > 0 ? from.price : m.price * (0.9 + 0.2 * rand())
  let t = start
  let activity = 1
  let vol = 1
  let aggId = from ? from.id + 1 : 100_000_000 + (hash(symbol + seed) % 1_000_000) * 100
  // at most 3 individual trades a record: trade ids stay at or below 3 * aggId + 12,345, so a resumed generator starts above them
  let tradeId = aggId * 3 + 12_345
  function draw(): AggTrade {
    const gap = (expo() * 1000) / (baseRate * activity)
    t += gap
    if (rand() < gap / (activity > 1 ? regime.burstMs : regime.calmMs) && bursts) activity = activity > 1 ? 1 : 3 + 5 * rand()
    vol = 1 + (vol - 1) * Math.exp(-gap / 60_000)
    if (rand() < gap / 900_000) vol = 2 + 3 * rand()
    const move = gauss() * 0.00015 * vol * Math.sqrt(Math.max(gap, 1) / 1000)
    price *= Math.exp(move)
    const n = Math.min(3, 1 + Math.floor(expo() * 0.8 * (activity > 1 ? 2 : 1)))
    const notional = n * (5 + Math.exp(gauss() * 1.5 + 4))
    const p = BigInt(Math.max(1, Math.round(price * 10 ** m.priceDecimals)))
    const q = BigInt(Math.max(1, Math.round((notional / price) * 10 ** m.qtyDecimals)))
    const trade = { a: aggId++, p: dec8(p * priceUnit), q: dec8(q * qtyUnit), f: tradeId, l: tradeId + n - 1, T: Math.floor(t), m: rand() < (move < 0 ? 0.65 : 0.35), M: true }
    tradeId += n
    return trade
  }
  let next = draw()
  return function generate(until: number, out: AggTrade[]) {
    while (next.T <= until) { out.push(next); next = draw() }
  }
}

/**
 * When a symbol's generated history starts: `historyMs` before `start`, or where the lake stands
 * (`resume.ts`) when that is later (a restart), never after `start`.
 */
export const resumeStart = (resume: ResumeAt | undefined, start: number, historyMs: number) =>
  resume ? Math.min(start, Math.max(resume.ts, start - historyMs)) : start - historyMs

