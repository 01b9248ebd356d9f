/**
 * The bytes of a serving window (`serving/<exchange>/<symbol>/<tf>.json`), made from JSON kept from
 * one run to the next: most of a window's candles are the same as in the window written before.
 */
import type { ServingWindow } from '../layout/index'
import { candleCache } from './cache'

const utf8 = new TextEncoder()

/**
 * The bytes of `JSON.stringify(w)`, from the candles' JSON in `cache` (each made once: a serving
 * window keeps most of its candles from one run to the next); candles that follow each other in
 * `previous` (a window made with the same cache before) are copied from its bytes in one piece.
 */
export function servingJson(w: ServingWindow, previous?: ServingWindow, cache = candleCache()): Uint8Array {
  const head = utf8.encode(`{"exchange":${JSON.stringify(w.exchange)},"symbol":${JSON.stringify(w.symbol)},"tf":${JSON.stringify(w.tf)},"updated_at":${JSON.stringify(w.updated_at)},"candles":[`)
  const prev = previous && cache.layouts.get(previous)
  const n = w.candles.length
  // pieces: [source bytes, from, to) in order, each a run of candles with the commas between them
  const pieces: [Uint8Array, number, number][] = []
  const runs: number[] = [] // candles per piece
  let size = head.length + 2 + Math.max(0, n - 1)
  for (let i = 0; i < n;) {
    const j = prev?.index.get(w.candles[i])
    if (prev && j !== undefined) {
      let k = 1
      while (i + k < n && j + k < prev.start.length && w.candles[i + k] === previous!.candles[j + k]) k++
      pieces.push([prev.bytes, prev.start[j], prev.end[j + k - 1]]); runs.push(k)
      size += prev.end[j + k - 1] - prev.start[j] - (k - 1)
      i += k
      continue
    }
    const c = w.candles[i]
    let json = cache.json.get(c)
    if (json === undefined) cache.json.set(c, (json = utf8.encode(JSON.stringify(c))))
    pieces.push([json, 0, json.length]); runs.push(1)
    size += json.length
    i++
  }
  const out = new Uint8Array(size)
  const start = new Uint32Array(n), end = new Uint32Array(n)
  out.set(head)
  let at = head.length, c = 0
  for (let p = 0; p < pieces.length; p++) {
    if (p > 0) out[at++] = 44 // ,
    const [src, from, to] = pieces[p]
    out.set(src.subarray(from, to), at)
    if (runs[p] === 1) { start[c] = at; end[c] = at + to - from; c++ } else {
      // a run copied whole: its candles moved by the same distance
      const j = prev!.index.get(w.candles[c])!, shift = at - from
      for (let k = 0; k < runs[p]; k++, c++) { start[c] = prev!.start[j + k] + shift; end[c] = prev!.end[j + k] + shift }
    }
    at += to - from
  }
  out[at++] = 93; out[at] = 125 // ]}
  cache.layouts.set(w, { bytes: out, start, end, index: new Map(w.candles.map((x, i) => [x, i])) })
  return out
}
