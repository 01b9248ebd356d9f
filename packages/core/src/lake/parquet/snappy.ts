/**
 * Snappy for the lake's codec. Decompression is our own (`snappyUncompress`), into the buffer the
 * decoder (`decode.ts`) gives: eight-byte values straight into their rows. Compression, for the
 * writer (`write.ts`), is hysnappy's (snappy's C code as WebAssembly), five times faster than
 * hyparquet-writer's JavaScript. hysnappy decompressed about as fast alone (0.91x ours), but in the
 * candle job, with its copies into and out of WebAssembly memory, it cost 25-30% more CPU: the
 * `parquet` and `candles` bench sections; figures in docs/ARCHITECTURE.md.
 *
 * Module state: hysnappy's compressor, one WebAssembly instance per thread, made at first use.
 */
import { snappyCompressor } from 'hysnappy'

let compressor: ((input: Uint8Array) => Uint8Array) | undefined

/** A snappy block of `input`. */
export function snappyCompress(input: Uint8Array): Uint8Array {
  return (compressor ??= snappyCompressor())(input)
}

/**
 * Snappy block decompression of `size` bytes (by default all of `output`) into `output`, never
 * writing past `size`. Integer arithmetic only, so V8 stays on small-integer code. While both
 * buffers have 68 bytes left, literals and copies up to 64 bytes move as 32-bit words (a word may
 * run up to 3 bytes past the op; what follows overwrites them); near the ends, and for long ops,
 * bytes or native `set`/`copyWithin`.
 */
export function snappyUncompress(input: Uint8Array, output: Uint8Array, size = output.length) {
  const n = input.length | 0
  const dv = new DataView(output.buffer, output.byteOffset, output.byteLength)
  const iv = new DataView(input.buffer, input.byteOffset, input.byteLength)
  let pos = 0, len = 0, shift = 0, b = 0
  do { b = input[pos++] | 0; len |= (b & 0x7f) << shift; shift += 7 } while (b & 0x80 && shift < 35)
  if (len >>> 0 !== size || size > output.length) throw new Error(`snappy length ${len >>> 0} differs from the page's ${size}`)
  let out = 0
  // the fast loop moves literals and copies of up to 64 bytes as 32-bit words; it stops 68 bytes
  // short of either end so that whole words never read or write past the buffers
  const inStop = n - 68, outStop = size - 68
  while (pos < n) {
    while (pos < inStop && out < outStop) {
      const c = input[pos]
      const tag = c & 3
      if (tag === 0) {
        const l = (c >>> 2) + 1
        if (l > 60) break
        pos++
        for (let k = 0; k < l; k += 4) dv.setInt32(out + k, iv.getInt32(pos + k, true), true)
        pos += l
        out += l
        continue
      }
      let l = 0, off = 0
      if (tag === 1) { l = ((c >>> 2) & 7) + 4; off = ((c >>> 5) << 8) | input[pos + 1] }
      else if (tag === 2) { l = (c >>> 2) + 1; off = input[pos + 1] | (input[pos + 2] << 8) }
      else break
      if (off < 8 || off > out) break
      pos += 1 + tag
      // words in order read bytes at least 8 back, already final even where the copy overlaps itself
      const from = out - off
      dv.setInt32(out, dv.getInt32(from, true), true)
      dv.setInt32(out + 4, dv.getInt32(from + 4, true), true)
      for (let k = 8; k < l; k += 4) dv.setInt32(out + k, dv.getInt32(from + k, true), true)
      out += l
    }
    if (pos >= n) break
    const c = input[pos++]
    const tag = c & 3
    if (tag === 0) {
      let l = (c >>> 2) + 1
      if (l > 60) {
        const extra = l - 60
        l = input[pos] | 0
        if (extra > 1) l |= input[pos + 1] << 8
        if (extra > 2) l |= input[pos + 2] << 16
        if (extra > 3) l |= input[pos + 3] << 24
        l = (l + 1) | 0
        pos += extra
      }
      if (l <= 0 || pos + l > n || out + l > size) throw new Error('snappy literal runs past its buffer')
      if (l < 32) for (let k = 0; k < l; k++) output[out + k] = input[pos + k]
      else output.set(input.subarray(pos, pos + l), out)
      pos += l
      out += l
      continue
    }
    let l = 0, off = 0
    if (tag === 1) { l = ((c >>> 2) & 7) + 4; off = ((c >>> 5) << 8) | input[pos++] }
    else if (tag === 2) { l = (c >>> 2) + 1; off = input[pos] | (input[pos + 1] << 8); pos += 2 }
    else { l = (c >>> 2) + 1; off = input[pos] | (input[pos + 1] << 8) | (input[pos + 2] << 16) | (input[pos + 3] << 24); pos += 4 }
    if (off <= 0 || off > out || out + l > size) throw new Error('snappy copy out of range')
    let from = out - off
    if (off >= l && l > 32) { output.copyWithin(out, from, from + l); out += l }
    else for (const stop = out + l; out < stop;) output[out++] = output[from++]
  }
  if (pos !== n || out !== size) throw new Error(`snappy produced ${out} bytes, expected ${size}`)
}