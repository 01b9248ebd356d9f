/**
 * Thrift's compact protocol, just what Parquet page headers and footers need: fields written in
 * order by small methods into one growing byte list, numbers as plain doubles (i64 exact below
 * 2^53), no intermediate objects. Used by the lake's writer (`./write.ts`, `./footer.ts`).
 */

/** Compact protocol types of list elements (`list`). */
export const I32 = 5, BINARY = 8, STRUCT = 12

const utf8 = new TextEncoder()
/** UTF-8 of the strings written so far (column names, mostly: the same few in every file). */
const encoded = new Map<string, Uint8Array>()
const utf8Of = (v: string) => {
  let b = encoded.get(v)
  if (b === undefined) {
    b = utf8.encode(v)
    if (encoded.size < 4096) encoded.set(v, b)
  }
  return b
}

export class Thrift {
  bytes: number[] = []
  private last: number[] = [0]
  varint(n: number) { while (n > 127) { this.bytes.push((n % 128) | 128); n = Math.floor(n / 128) } this.bytes.push(n) }
  zigzag(n: number) { this.varint(n >= 0 ? n * 2 : -n * 2 - 1) }
  private field(id: number, type: number) {
    const delta = id - this.last[this.last.length - 1]
    if (delta > 0 && delta <= 15) this.bytes.push((delta << 4) | type)
    else { this.bytes.push(type); this.zigzag(id) }
    this.last[this.last.length - 1] = id
  }
  i32(id: number, v: number) { this.field(id, 5); this.zigzag(v) }
  i64(id: number, v: number) { this.field(id, 6); this.zigzag(v) }
  bool(id: number, v: boolean) { this.field(id, v ? 1 : 2) }
  /** A string's UTF-8 bytes, length first (a list element when `id` is absent). */
  string(id: number | undefined, v: string) {
    const b = utf8Of(v)
    if (id !== undefined) this.field(id, 8)
    this.varint(b.length)
    for (let i = 0; i < b.length; i++) this.bytes.push(b[i])
  }
  /** Raw bytes, length first (statistics' min and max). */
  binary(id: number, b: Uint8Array) {
    this.field(id, 8)
    this.varint(b.length)
    for (let i = 0; i < b.length; i++) this.bytes.push(b[i])
  }
  struct(id: number, body: () => void) { this.field(id, 12); this.begin(); body(); this.end() }
  list(id: number, type: number, n: number, each: (i: number) => void) {
    this.field(id, 9)
    if (n < 15) this.bytes.push((n << 4) | type); else { this.bytes.push(0xf0 | type); this.varint(n) }
    for (let i = 0; i < n; i++) each(i)
  }
  begin() { this.last.push(0) }
  end() { this.bytes.push(0); this.last.pop() }
  /** A list of structs: `each` writes one struct's fields. */
  structs(id: number, n: number, each: (i: number) => void) { this.list(id, STRUCT, n, (i) => { this.begin(); each(i); this.end() }) }
}
