/**
 * The integer encodings of Parquet pages, decoded for the column decoder (`decode.ts`): the
 * RLE/bit-packed hybrid (definition levels, dictionary indices) and DELTA_BINARY_PACKED, into
 * typed arrays, integer arithmetic only. Bit widths above `MAX_BIT_WIDTH` and deltas wider than 32
 * bits throw `Unsupported` (the file is then read by hyparquet).
 */

/** A file (or part of one) the column decoder does not cover; hyparquet reads it instead. */
export class Unsupported extends Error {}

/** Bit widths above this (dictionary indices, levels) are left to hyparquet. */
export const MAX_BIT_WIDTH = 24

/** A ULEB128 at `r.p` (values below 2^53), moving `r.p` past it. */
function readUleb(buf: Uint8Array, r: { p: number }, end: number) {
  let v = 0, scale = 1, b = 0
  do {
    if (r.p >= end) throw new Error('parquet delta header runs past its page')
    b = buf[r.p++]; v += (b & 0x7f) * scale; scale *= 128
  } while (b & 0x80)
  return v
}
const unzigzag = (v: number) => (v % 2 === 0 ? v / 2 : -(v + 1) / 2)

/**
 * DELTA_BINARY_PACKED integers (as written by this codebase's silver writer, parquet-mr or DuckDB)
 * into doubles: miniblock widths up to 32 bits; wider ones are left to hyparquet.
 */
export function decodeDelta(page: Uint8Array, p: number, end: number, name: string, out: Float64Array, at: number, count: number) {
  const r = { p }
  const block = readUleb(page, r, end), minis = readUleb(page, r, end), total = readUleb(page, r, end)
  let v = unzigzag(readUleb(page, r, end))
  const per = block / minis
  if (!(per > 0 && per % 8 === 0)) throw new Error(`parquet column ${name}: delta block of ${block} in ${minis} miniblocks`)
  if (total < count) throw new Error(`parquet column ${name}: delta page holds ${total} values, expected ${count}`)
  if (count > 0) out[at] = v
  let i = 1
  while (i < count) {
    const min = unzigzag(readUleb(page, r, end))
    const widths = r.p
    r.p += minis
    for (let k = 0; k < minis && i < count; k++) {
      const width = page[widths + k]
      if (width > 32) throw new Unsupported(`column ${name}: delta width ${width}`)
      const n = Math.min(per, count - i)
      if (r.p + (per * width) / 8 > end && r.p + Math.ceil((n * width) / 8) > end) throw new Error(`parquet column ${name}: delta miniblock runs past its page`)
      if (width === 0) { for (let j = 0; j < n; j++) out[at + i + j] = v += min } else if (width <= 24) v = unpackSmall(page, r.p, width, n, min, v, out, at + i)
      else v = unpackWide(page, r.p, width, n, min, v, out, at + i)
      i += n
      r.p += (per * width) / 8
    }
  }
}

function unpackSmall(buf: Uint8Array, q: number, width: number, n: number, min: number, v: number, out: Float64Array, at: number) {
  const mask = (1 << width) - 1
  let acc = 0, bits = 0
  for (let j = 0; j < n; j++) {
    while (bits < width) { acc |= buf[q++] << bits; bits += 8 }
    v += min + (acc & mask)
    out[at + j] = v
    acc >>>= width
    bits -= width
  }
  return v
}

function unpackWide(buf: Uint8Array, q: number, width: number, n: number, min: number, v: number, out: Float64Array, at: number) {
  // a bit buffer of up to 39 bits kept in a double (bit operations stop at 32)
  const size = 2 ** width
  let acc = 0, bits = 0, scale = 1
  for (let j = 0; j < n; j++) {
    while (bits < width) { acc += buf[q++] * scale; scale *= 256; bits += 8 }
    const u = acc % size
    acc = (acc - u) / size
    scale /= size
    bits -= width
    v += min + u
    out[at + j] = v
  }
  return v
}

/**
 * Decodes `count` values of the RLE/bit-packed hybrid in `buf[p, end)` into `out`; returns how
 * many equal `match` (pass -1 to skip counting).
 */
export function hybrid(buf: Uint8Array, p: number, end: number, width: number, out: Uint32Array, count: number, match: number): number {
  let i = 0
  let matched = 0
  const bytes = (width + 7) >> 3
  if (width > MAX_BIT_WIDTH) throw new Unsupported(`bit width ${width}`)
  const mask = (1 << width) - 1
  while (i < count) {
    if (p >= end) throw new Error('parquet RLE/bit-packed run ends before its values')
    let h = 0
    let s = 1
    let b: number
    do { b = buf[p++]; h += (b & 0x7f) * s; s *= 128 } while (b & 0x80 && p < end)
    if (h % 2 === 0) {
      const run = Math.min(h / 2, count - i)
      let v = 0
      for (let k = 0; k < bytes; k++) v |= buf[p++] << (8 * k)
      out.fill(v, i, i + run)
      if (v === match) matched += run
      i += run
    } else {
      const groups = (h - 1) / 2
      const stop = p + groups * width
      if (stop > end) throw new Error('parquet bit-packed run is longer than its page')
      const n = Math.min(groups * 8, count - i)
      let q = p
      if (width === 1) {
        for (let k = 0; k < n; k++) {
          const v = (buf[q + (k >> 3)] >> (k & 7)) & 1
          out[i + k] = v
          if (v === match) matched++
        }
      } else {
        // width <= 24, so the bit buffer never needs more than 31 bits
        let acc = 0
        let bits = 0
        for (let k = 0; k < n; k++) {
          while (bits < width) { acc |= buf[q++] << bits; bits += 8 }
          const v = acc & mask
          acc >>>= width
          bits -= width
          out[i + k] = v
          if (v === match) matched++
        }
      }
      i += n
      p = stop
    }
  }
  return matched
}

/**
 * Dictionary indices (RLE/bit-packed hybrid in `buf[p, end)`) of a one-byte-per-row column
 * (flags, codes) looked up in `dict` straight into `out[at, at + count)`: runs (a constant
 * column is one) become one fill. Returns the first index past the dictionary, or -1.
 */
export function hybridBytes(buf: Uint8Array, p: number, end: number, width: number, dict: Uint8Array, out: Uint8Array, at: number, count: number): number {
  if (width > MAX_BIT_WIDTH) throw new Unsupported(`bit width ${width}`)
  const bytes = (width + 7) >> 3, mask = (1 << width) - 1, size = dict.length
  let i = 0
  while (i < count) {
    if (p >= end) throw new Error('parquet RLE/bit-packed run ends before its values')
    let h = 0, s = 1, b: number
    do { b = buf[p++]; h += (b & 0x7f) * s; s *= 128 } while (b & 0x80 && p < end)
    if (h % 2 === 0) {
      const run = Math.min(h / 2, count - i)
      let v = 0
      for (let k = 0; k < bytes; k++) v |= buf[p++] << (8 * k)
      if (v >= size) return v
      out.fill(dict[v], at + i, at + i + run)
      i += run
    } else {
      const groups = (h - 1) / 2
      const stop = p + groups * width
      if (stop > end) throw new Error('parquet bit-packed run is longer than its page')
      const n = Math.min(groups * 8, count - i)
      let q = p, acc = 0, bits = 0
      for (let k = 0; k < n; k++) {
        while (bits < width) { acc |= buf[q++] << bits; bits += 8 }
        const v = acc & mask
        acc >>>= width
        bits -= width
        if (v >= size) return v
        out[at + i + k] = dict[v]
      }
      i += n
      p = stop
    }
  }
  return -1
}

/**
 * How many of `count` one-bit definition levels (RLE/bit-packed hybrid in `buf[p, end)`) are 1,
 * without writing them out: a page without nulls needs no levels.
 */
export function definedLevels(buf: Uint8Array, p: number, end: number, count: number): number {
  let i = 0, ones = 0
  while (i < count) {
    if (p >= end) throw new Error('parquet RLE/bit-packed run ends before its values')
    let h = 0, s = 1, b: number
    do { b = buf[p++]; h += (b & 0x7f) * s; s *= 128 } while (b & 0x80 && p < end)
    if (h % 2 === 0) {
      const run = Math.min(h / 2, count - i)
      if (buf[p++] === 1) ones += run
      i += run
    } else {
      const groups = (h - 1) / 2
      if (p + groups > end) throw new Error('parquet bit-packed run is longer than its page')
      const n = Math.min(groups * 8, count - i)
      for (let k = 0; k < n; k++) ones += (buf[p + (k >> 3)] >> (k & 7)) & 1
      i += n
      p += groups
    }
  }
  return ones
}