/**
 * How the fake exchanges hold their trade history: one set of growable typed-array columns per
 * book (ids and times as Float64, flags as bytes) instead of one object per trade. Decimal strings
 * are held as an exact integer of units and a count of decimals (`'60000.12000000'` is 6000012000000
 * and 8), which print back to the very same string; a string that would not (a leading zero, an
 * exponent, more than 15 significant digits, or any other spelling) is kept as it is in a sparse
 * fallback column, as are strings a column derives from others when they differ (a replayed
 * Coinbase time). A trade takes about 50 bytes instead of about 600; objects are made only for the
 * few trades a REST page or a stream frame carries (`liveView` for the whole history, tests' ground truth).
 */

/** Largest integer of units a Float64 holds exactly. */
const SAFE = Number.MAX_SAFE_INTEGER

/** A decimal string as [units, decimals] when `formatDecimal` prints it back identically, else undefined. */
export function encodeDecimal(s: string): [number, number] | undefined {
  const dot = s.indexOf('.')
  const digits = dot < 0 ? s : s.slice(0, dot) + s.slice(dot + 1)
  if (!digits.length || digits.length > 16 || !/^\d+$/.test(digits)) return undefined
  const units = Number(digits)
  const decimals = dot < 0 ? 0 : s.length - dot - 1
  if (units > SAFE || decimals > 255 || formatDecimal(units, decimals) !== s) return undefined
  return [units, decimals]
}

/** Units and decimals printed as a decimal string: `formatDecimal(150, 2) === '1.50'`, `formatDecimal(5, 0) === '5'`. */
export function formatDecimal(units: number, decimals: number): string {
  if (!decimals) return String(units)
  const s = String(units).padStart(decimals + 1, '0')
  return `${s.slice(0, -decimals)}.${s.slice(-decimals)}`
}

/**
 * Growable columns of one book: `num` (Float64) and `byte` (Uint8) columns by name, decimal columns
 * (`setDec`/`dec`, fallback strings for what units cannot hold) and string-only fallbacks
 * (`setOdd`/`odd`). Rows are appended with `add` and dropped oldest first with `dropOldest`;
 * capacity doubles up to `bigRows` rows and grows by a quarter past them (a large book holds at most
 * a quarter of slack: the default `npm start`'s books of 86,400 trades held 131,072 rows each), and
 * never past `limit` rows (the book's count cap) unless a row needs it.
 */
export class Columns<N extends string, B extends string, D extends string> {
  /** Past this many rows, capacity grows by a quarter instead of doubling. */
  static bigRows = 65_536
  length = 0
  /** Rows dropped so far: fallback strings are keyed by `dropped + row`, which trims do not move. */
  private dropped = 0
  private cap = 0
  readonly num = {} as Record<N | `${D}Units`, Float64Array>
  readonly byte = {} as Record<B | `${D}Places`, Uint8Array>
  private readonly odds = new Map<string, Map<number, string>>()

  constructor(private readonly nums: readonly N[], private readonly bytes: readonly B[], private readonly decs: readonly D[], private readonly limit = Infinity) {
    this.grow(256)
  }

  private grow(need: number) {
    const grown = this.cap < Columns.bigRows ? this.cap * 2 : Math.ceil(this.cap * 1.25)
    const cap = need <= this.limit ? Math.max(need, Math.min(grown, this.limit)) : Math.max(need, Math.ceil(this.cap * 1.25))
    const copy = <A extends Float64Array | Uint8Array>(old: A | undefined, make: (n: number) => A) => { const a = make(cap); if (old) a.set(old.subarray(0, this.length)); return a }
    for (const n of [...this.nums, ...this.decs.map((d) => `${d}Units`)] as (N | `${D}Units`)[]) this.num[n] = copy(this.num[n], (k) => new Float64Array(k))
    for (const b of [...this.bytes, ...this.decs.map((d) => `${d}Places`)] as (B | `${D}Places`)[]) this.byte[b] = copy(this.byte[b], (k) => new Uint8Array(k))
    this.cap = cap
  }

  /** Appends an empty row; returns its index. */
  add() {
    if (this.length === this.cap) this.grow(this.length + 1)
    return this.length++
  }

  /** Sets a decimal cell: exact units when they print back the same, else the string itself. */
  setDec(d: D, i: number, s: string) {
    const e = encodeDecimal(s)
    if (e) { this.num[`${d}Units`][i] = e[0]; this.byte[`${d}Places`][i] = e[1] } else this.setOdd(d, i, s)
  }

  /** A decimal cell as the string it was set from. */
  dec(d: D, i: number) {
    return this.odd(d, i) ?? formatDecimal(this.num[`${d}Units`][i], this.byte[`${d}Places`][i])
  }

  /** A decimal cell in 1e-8 units (Binance's 8 decimals), exactly; `fromString` reads a fallback string. */
  dec8(d: D, i: number, fromString: (s: string) => bigint) {
    const odd = this.odd(d, i)
    if (odd !== undefined) return fromString(odd)
    const places = this.byte[`${d}Places`][i]
    const u = BigInt(this.num[`${d}Units`][i])
    return places <= 8 ? u * 10n ** BigInt(8 - places) : u / 10n ** BigInt(places - 8)
  }

  /** Keeps a string for a cell whose columns cannot give it back (a fallback). */
  setOdd(col: string, i: number, s: string) { this.oddsOf(col).set(this.dropped + i, s) }

  /** The fallback string of a cell, if it has one. */
  odd(col: string, i: number) { return this.odds.get(col)?.get(this.dropped + i) }

  private oddsOf(col: string) {
    let m = this.odds.get(col)
    if (!m) this.odds.set(col, (m = new Map()))
    return m
  }

  /** Drops the `n` oldest rows. */
  dropOldest(n: number) {
    n = Math.min(n, this.length)
    if (n <= 0) return
    for (const a of [...Object.values<Float64Array>(this.num), ...Object.values<Uint8Array>(this.byte)]) a.copyWithin(0, n, this.length)
    this.length -= n
    this.dropped += n
    for (const m of this.odds.values()) for (const k of m.keys()) if (k < this.dropped) m.delete(k)
  }

  /**
   * Drops the oldest rows: past `maxTrades` down to 15/16 of it, and those more than `retainMs` older
   * (by the `times` column) than the newest once they are a sixteenth of the rows (so trims are rare).
   */
  trim(times: N, o: { maxTrades: number; retainMs: number }) {
    if (this.length > o.maxTrades) this.dropOldest(this.length - o.maxTrades + Math.floor(o.maxTrades / 16))
    if (!this.length || !Number.isFinite(o.retainMs)) return
    const expired = this.lowerBound(times, this.num[times][this.length - 1] - o.retainMs)
    if (expired >= Math.max(1, this.length / 16)) this.dropOldest(expired)
  }

  /** First row whose `col` is >= v (the column sorted ascending). */
  lowerBound(col: N, v: number) {
    const a = this.num[col]
    let lo = 0
    let hi = this.length
    while (lo < hi) { const mid = (lo + hi) >> 1; if (a[mid] < v) lo = mid + 1; else hi = mid }
    return lo
  }

}

/**
 * A read-only array view of a book: `length` and every element are read at each access, so it stays
 * live as the book grows; each element read makes a new object (a whole-array method makes them all:
 * ground truth for tests and benches, not for a serving path).
 */
export function liveView<T>(length: () => number, at: (i: number) => T): ReadonlyArray<T> {
  const index = (p: string | symbol) => (typeof p === 'string' && /^(0|[1-9]\d*)$/.test(p) ? Number(p) : -1)
  return new Proxy([] as T[], {
    get(target, p) {
      if (p === 'length') return length()
      const i = index(p)
      if (i >= 0) return i < length() ? at(i) : undefined
      return Reflect.get(target, p)
    },
    has(target, p) { const i = index(p); return i >= 0 ? i < length() : Reflect.has(target, p) },
    ownKeys() { return [...Array.from({ length: length() }, (_, i) => String(i)), 'length'] },
    getOwnPropertyDescriptor(target, p) {
      if (p === 'length') return { value: length(), writable: true, enumerable: false, configurable: false }
      const i = index(p)
      return i >= 0 && i < length() ? { value: at(i), writable: false, enumerable: true, configurable: true } : undefined
    },
  })
}
