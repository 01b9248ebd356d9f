/**
 * The encodings the column writer (`write.ts`) packs values with: DELTA_BINARY_PACKED integers,
 * the RLE/bit-packed hybrid (definition levels, dictionary indexes), dictionary code pages and
 * PLAIN strings. Integer arithmetic on doubles where values pass 32 bits (exact below 2^53).
 *
 * Module state: the delta encoder's scratch arrays, reused from page to page.
 */

const TWO32 = 4294967296
const utf8 = new TextEncoder()

/** ULEB128 of a non-negative integer below 2^54 (plain arithmetic: bit operations stop at 32 bits). */
function uleb(v: number, out: number[]) {
  do { const b = v % 128; v = Math.floor(v / 128); out.push(v ? b | 0x80 : b) } while (v)
}
const zigzag = (v: number) => (v >= 0 ? 2 * v : -2 * v - 1)

/**
 * Integer values of rows `[from, to)` as a DELTA_BINARY_PACKED page body (blocks of 128, four
 * miniblocks of 32): consecutive ids pack to almost nothing and times to two or three bytes.
 * Undefined when a block would need more than 32 bits a delta (then PLAIN is written).
 */
export function deltaNumbers(x: Float64Array, rows: Uint32Array | undefined, from: number, to: number): Uint8Array | undefined {
  const n = to - from
  // every delta at once; per block, the least delta and each miniblock's greatest in one pass
  if (scratch.deltas.length < n) scratch.deltas = new Float64Array(Math.max(n, scratch.deltas.length * 2))
  const d = scratch.deltas
  if (rows) { let prev = x[rows[from]]; for (let i = 1; i < n; i++) { const v = x[rows[from + i]]; d[i] = v - prev; prev = v } } else deltasOf(x, from, n, d)
  const first = x[rows ? rows[from] : from]
  const head: number[] = []
  uleb(128, head); uleb(4, head); uleb(n, head); uleb(zigzag(first), head)
  const room = head.length + Math.ceil((n - 1) / 128) * (12 + 4 + 4 * 32 * 4) + 16
  if (scratch.packed.length < room) scratch.packed = new Uint8Array(Math.max(room, scratch.packed.length * 2))
  const out = scratch.packed
  out.set(head)
  let p = head.length
  const h: number[] = []
  const tops = new Float64Array(4)
  for (let b = 1; b < n; b += 128) {
    const m = Math.min(128, n - b)
    const min = blockRange(d, b, b + m, tops)
    h.length = 0
    uleb(zigzag(min), h)
    for (let k = 0; k < h.length; k++) out[p++] = h[k]
    const widthsAt = p
    p += 4
    for (let k = 0; k < 4; k++) {
      const lo = b + k * 32
      if (lo >= b + m) { out[widthsAt + k] = 0; continue }
      const hi = Math.min(b + m, lo + 32)
      const top = tops[k] - min
      if (top >= TWO32) return undefined
      const width = top === 0 ? 0 : 32 - Math.clz32(top)
      out[widthsAt + k] = width
      if (width > 24) p = packWide(d, lo, hi, min, width, out, p)
      else if (width > 0) p = packSmall(d, lo, hi, min, width, out, p)
    }
  }
  return out.slice(0, p)
}

/** Scratch of the delta encoder, reused from page to page (pages are packed one at a time). */
const scratch = { deltas: new Float64Array(1 << 16), packed: new Uint8Array(1 << 18) }

function deltasOf(x: Float64Array, from: number, n: number, d: Float64Array) {
  for (let i = 1; i < n; i++) d[i] = x[from + i] - x[from + i - 1]
}

/** The least of `d[lo, hi)`; the greatest of each 32 of them into `tops`. */
function blockRange(d: Float64Array, lo: number, hi: number, tops: Float64Array) {
  let min = d[lo]
  for (let k = 0; k < 4; k++) {
    const a = lo + k * 32, z = Math.min(hi, a + 32)
    let top = a < hi ? d[a] : 0
    for (let i = a; i < z; i++) { const v = d[i]; if (v > top) top = v; if (v < min) min = v }
    tops[k] = top
  }
  return min
}

/** Values `d[lo, hi)` less `min` (and zeros up to 32 of them) bit-packed at `width` <= 24, LSB first; returns the next offset. */
function packSmall(d: Float64Array, lo: number, hi: number, min: number, width: number, out: Uint8Array, p: number) {
  let acc = 0, bits = 0
  for (let i = lo; i < lo + 32; i++) {
    acc |= (i < hi ? d[i] - min : 0) << bits
    bits += width
    while (bits >= 8) { out[p++] = acc & 0xff; acc >>>= 8; bits -= 8 }
  }
  return p
}

/** The same at 25..32 bits: each value as its low 16 bits, then the rest. */
function packWide(d: Float64Array, lo: number, hi: number, min: number, width: number, out: Uint8Array, p: number) {
  let acc = 0, bits = 0
  for (let i = lo; i < lo + 32; i++) {
    const x = i < hi ? d[i] - min : 0
    acc |= (x & 0xffff) << bits
    bits += 16
    while (bits >= 8) { out[p++] = acc & 0xff; acc >>>= 8; bits -= 8 }
    acc |= Math.floor(x / 65536) << bits
    bits += width - 16
    while (bits >= 8) { out[p++] = acc & 0xff; acc >>>= 8; bits -= 8 }
  }
  return p
}

/** The strings of a dictionary as a PLAIN BYTE_ARRAY page body. */
export function plainStrings(dict: string[]) {
  const parts = dict.map((s) => utf8.encode(s))
  const out = new Uint8Array(parts.reduce((s, p) => s + 4 + p.length, 0))
  const view = new DataView(out.buffer)
  let at = 0
  for (const p of parts) { view.setUint32(at, p.length, true); out.set(p, at + 4); at += 4 + p.length }
  return out
}

/**
 * Codes of rows `[from, to)` as an RLE_DICTIONARY page body: the bit width, then one RLE run when
 * every row has the same code, else bit-packed groups of eight.
 */
export function dictionaryIndexes(codes: Uint8Array, rows: Uint32Array | undefined, from: number, to: number, size: number) {
  const n = to - from
  const width = Math.max(1, Math.ceil(Math.log2(Math.max(2, size))))
  // the codes in row order, gathered once (a view, without `rows`)
  let x = codes.subarray(from, to)
  if (rows) { x = new Uint8Array(n); for (let i = 0; i < n; i++) x[i] = codes[rows[from + i]] }
  const first = n ? x[0] : 0
  let same = true
  for (let i = 1; i < n && same; i++) same = x[i] === first
  const head = (v: number, out: number[]) => { do { let b = v & 0x7f; v = Math.floor(v / 128); if (v) b |= 0x80; out.push(b) } while (v) }
  if (same) {
    const h: number[] = [width]
    head(n * 2, h)
    h.push(first) // width <= 8: one byte holds the value
    return new Uint8Array(h)
  }
  const groups = Math.ceil(n / 8)
  const h: number[] = [width]
  head(groups * 2 + 1, h)
  const out = new Uint8Array(h.length + groups * width)
  out.set(h)
  let p = h.length
  if (width === 1) {
    // flags (such as side): eight rows a byte
    const whole = n >> 3
    for (let g = 0; g < whole; g++) {
      const i = g << 3
      out[p++] = x[i] | (x[i + 1] << 1) | (x[i + 2] << 2) | (x[i + 3] << 3) | (x[i + 4] << 4) | (x[i + 5] << 5) | (x[i + 6] << 6) | (x[i + 7] << 7)
    }
    if (whole < groups) { let b = 0; for (let i = whole << 3; i < n; i++) b |= x[i] << (i & 7); out[p++] = b }
    return out
  }
  let acc = 0, bits = 0
  for (let i = 0; i < groups * 8; i++) {
    acc |= (i < n ? x[i] : 0) << bits
    bits += width
    while (bits >= 8) { out[p++] = acc & 0xff; acc >>>= 8; bits -= 8 }
  }
  return out
}

/** RLE/bit-packed hybrid of `n` values of `width` bits (levels or dictionary indexes): one RLE run when all are equal, else bit-packed groups of eight. */
export function hybrid(values: ArrayLike<number>, n: number, width: number): Uint8Array {
  const head: number[] = []
  let same = n > 0
  for (let i = 1; i < n && same; i++) same = values[i] === values[0]
  if (same) {
    uleb(n * 2, head)
    const v = values[0], bytes = Math.ceil(width / 8)
    for (let b = 0; b < bytes; b++) head.push(Math.floor(v / 2 ** (8 * b)) & 0xff)
    return new Uint8Array(head)
  }
  const groups = Math.ceil(n / 8)
  uleb(groups * 2 + 1, head)
  const out = new Uint8Array(head.length + groups * width)
  out.set(head)
  let p = head.length, acc = 0, bits = 0
  if (width <= 24) {
    for (let i = 0; i < groups * 8; i++) {
      acc |= (i < n ? values[i] : 0) << bits
      bits += width
      while (bits >= 8) { out[p++] = acc & 0xff; acc >>>= 8; bits -= 8 }
    }
    return out
  }
  for (let i = 0; i < groups * 8; i++) {
    let v = i < n ? values[i] : 0
    // up to 32 bits a value: feed them 16 at a time (bit operations stop at 32 bits)
    for (let left = width; left > 0;) {
      const take = Math.min(16, left)
      acc += (v % (1 << take)) * 2 ** bits
      v = Math.floor(v / (1 << take))
      bits += take
      left -= take
      while (bits >= 8) { out[p++] = acc % 256; acc = Math.floor(acc / 256); bits -= 8 }
    }
  }
  return out
}
