/**
 * Fault injection of the fake exchanges, for the fault suites: what can go wrong (`Faults`: stream
 * frames dropped, doubled, swapped or held back, trade ids that never existed, REST storms), and the
 * stream faults applied to a batch of frames. Every draw comes from the fake's own seeded `chance`,
 * so a seed replays the same faults; the stream, book and REST parts of each fake draw in the order
 * the fault tests were written against.
 */

/**
 * Faults to inject, for the fault suite: shares are probabilities per frame or request. Ids removed
 * by `idGap` never existed (REST lacks them too), so `aggTrades()` stays the ground truth.
 */
export interface Faults {
  /** Stream frames not sent (REST still has the trades: a gap ingest can fill). */
  drop: number
  /** Stream frames sent twice. */
  duplicate: number
  /** Stream frames swapped with the next one. */
  reorder: number
  /** Aggregate trade ids skipped by the exchange altogether. */
  idGap: number
  /** Until this time (ms) the stream sends nothing, connections stay open. */
  stallUntil: number
  /** REST requests answered 429 (with Retry-After) or 418 (banned, with Retry-After). */
  rest429: number
  rest418: number
}
export const noFaults: Faults = { drop: 0, duplicate: 0, reorder: 0, idGap: 0, stallUntil: 0, rest429: 0, rest418: 0 }

/** Faults of the fake Binance, plus sequence numbers skipped without losing any frame. */
export interface CoinbaseFaults extends Faults {
  /** Share of frames sent with a `sequence_num` one higher than due (nothing lost: the client cannot know that). */
  seqGap: number
}
export const noCoinbaseFaults: CoinbaseFaults = { ...noFaults, seqGap: 0 }

/** What the stream faults need: the faults in force (changed by `setFaults`), the fake's seeded draw and clock. */
export interface FaultSource { faults: Faults; chance: () => number; now: () => number }

/**
 * The fake Binance's stream faults on one batch of frames: nothing while stalled, else each frame
 * dropped, doubled or swapped with the one before by its share (drawing for all three once any is on).
 */
export function binanceFrameFaults({ faults, chance, now }: FaultSource) {
  return function faulty(frames: string[]): string[] {
    if (now() < faults.stallUntil) return []
    if (!faults.drop && !faults.duplicate && !faults.reorder) return frames
    const out: string[] = []
    for (const f of frames) {
      if (chance() < faults.drop) continue
      out.push(f)
      if (chance() < faults.duplicate) out.push(f)
      if (out.length > 1 && chance() < faults.reorder) out.push(out.splice(out.length - 2, 1)[0])
    }
    return out
  }
}

/**
 * The fake Coinbase ws-feed's stream faults on a batch of frames (dropped, doubled, swapped), unless
 * stalled; it draws only for the faults that are on.
 */
export function feedFrameFaults({ faults, chance, now }: FaultSource) {
  return function faulty(frames: string[]): string[] {
    if (now() < faults.stallUntil) return []
    const out: string[] = []
    for (const f of frames) {
      if (faults.drop && chance() < faults.drop) continue
      out.push(f)
      if (faults.duplicate && chance() < faults.duplicate) out.push(f)
      if (out.length > 1 && faults.reorder && chance() < faults.reorder) out.push(out.splice(out.length - 2, 1)[0])
    }
    return out
  }
}
