/**
 * Snappy for the lake's codec, by hysnappy (snappy's C code as WebAssembly): pages are
 * decompressed into the buffer the decoder (`decode.ts`) gives, eight-byte values straight into
 * their rows, and compressed for the writer (`write.ts`). It replaced a hand-written JavaScript
 * decompressor, which it matched (0.91x its time) and which matched it by no margin that mattered,
 * and hyparquet-writer's JavaScript compressor, five times slower (the `parquet` bench section;
 * figures in docs/ARCHITECTURE.md). A page's declared length is checked before it is
 * decompressed, so a corrupt page is an error, never a write past its size.
 *
 * Module state: one WebAssembly instance of each per thread, made at first use.
 */
import { snappyCompressor, snappyUncompressor } from 'hysnappy'

const wasm: { uncompress?: (input: Uint8Array, size: number) => Uint8Array; compress?: (input: Uint8Array) => Uint8Array } = {}

/**
 * Decompresses the snappy block `input` of `size` bytes (by default all of `output`) into `output`,
 * never writing past `size`; throws a clear error for a corrupt block.
 */
export function snappyUncompress(input: Uint8Array, output: Uint8Array, size = output.length) {
  let len = 0, shift = 0, pos = 0, b = 0
  do { b = input[pos++] | 0; len |= (b & 0x7f) << shift; shift += 7 } while (b & 0x80 && shift < 35)
  if (len >>> 0 !== size || size > output.length) throw new Error(`snappy length ${len >>> 0} differs from the page's ${size}`)
  let bytes: Uint8Array
  try { bytes = (wasm.uncompress ??= snappyUncompressor())(input, size) } catch (e) { throw new Error(`snappy block is corrupt: ${(e as Error).message}`) }
  output.set(bytes)
}

/** A snappy block of `input`. */
export function snappyCompress(input: Uint8Array): Uint8Array {
  return (wasm.compress ??= snappyCompressor())(input)
}
