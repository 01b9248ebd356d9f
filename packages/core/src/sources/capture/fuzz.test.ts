/** Property and fuzz tests: a corrupt capture file gives messages or one clear error, and no message gives a throw downstream. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { aggTradesOfCapture, coinbaseTradesOfCapture, parseCapture } from './index'

describe('captures under hostile input', () => {
  it('reads any bytes, as text lines or a zstd-looking header, into messages or a plain Error with a message', () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 400 }),
      fc.uint8Array({ maxLength: 200 }).map((b) => new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, ...b])),
      fc.array(fc.oneof(fc.string({ maxLength: 80 }), fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v))), { maxLength: 20 }).map((l) => new TextEncoder().encode(l.join('\n'))),
    )
    fc.assert(fc.property(bytes, (b) => {
      let messages
      try { messages = parseCapture(b) } catch (e) {
        expect(e).toBeInstanceOf(Error)
        expect(e).not.toBeInstanceOf(TypeError)
        expect((e as Error).message.length).toBeGreaterThan(0)
        return
      }
      expect(() => aggTradesOfCapture(messages)).not.toThrow()
      expect(() => coinbaseTradesOfCapture(messages)).not.toThrow()
    }), { numRuns: 1_000 })
  })
})
