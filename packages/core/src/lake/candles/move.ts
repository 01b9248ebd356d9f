/**
 * Moves gold candle files written before issue 10 to their keys at the `dt` depth (see
 * `moveOldCandleFiles`).
 */
import type { Candle } from '../../market/index'
import { CANDLE_COLUMNS } from '../../market/index'
import { relocatedCandleKey } from '../layout/index'
import { readParquet, writeTable } from '../parquet/index'
import { updateObject, type ObjectStore } from '../../ports/index'
import { defaults } from './defaults'
import { GOLD } from './derive'

/** What `moveOldCandleFiles` did: old keys moved as they were, old keys merged into a newer file, and files it left where they were, with why. */
export interface CandleFileMoves { moved: string[]; merged: string[]; failed: { key: string; error: string }[] }

/**
 * Moves the gold candle files of a lake written before issue 10 (`tf=4h/dt=D.parquet`,
 * `tf=1d/year=YYYY.parquet`) to their keys at the `dt` depth (`relocatedCandleKey`), so that the
 * whole gold tree reads as one Hive table again. A file whose new key is free is copied as it is;
 * where the candle job wrote the new file meanwhile, the two are merged by open time, the new
 * file's candles kept (the old year file holds the other days of the year). The old file is deleted
 * only once its candles are in the new one; a file that cannot be read as candles is left where it
 * is and named in `failed` (no view reads that depth). Running it again does nothing.
 * @example await moveOldCandleFiles(store) // { moved: ['gold/candles/.../tf=1d/year=2026.parquet'], merged: [], failed: [] }
 */
export async function moveOldCandleFiles(store: ObjectStore, options: Partial<typeof defaults> = {}): Promise<CandleFileMoves> {
  const o = { ...defaults, ...options }
  const out: CandleFileMoves = { moved: [], merged: [], failed: [] }
  for (const { key } of await store.list('gold/candles/')) {
    const to = relocatedCandleKey(key)
    if (!to) continue
    try {
      const bytes = await store.get(key)
      if (!bytes) continue // moved by another run meanwhile
      const old = await readParquet<Candle>(bytes)
      const { result } = await updateObject(store, to, async (cur) => {
        const newer = cur && await store.get(to)
        if (!newer) return { body: bytes, result: 'moved' as const } // none there: copied as it is (one gone since its head fails its If-Match; the next try finds none)
        const rows = await readParquet<Candle>(newer)
        const kept = new Set(rows.map((c) => c.open_time))
        const merged = [...old.filter((c) => !kept.has(c.open_time)), ...rows].sort((a, b) => a.open_time - b.open_time)
        return { body: writeTable(CANDLE_COLUMNS, merged, GOLD), result: 'merged' as const }
      }, { retries: o.writeRetries })
      out[result].push(key)
      await store.delete(key)
    } catch (e) {
      out.failed.push({ key, error: (e as Error).message })
    }
  }
  return out
}
