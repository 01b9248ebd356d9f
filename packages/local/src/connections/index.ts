/**
 * The local `ConnectionStore`: WebSocket connections and their channel subscriptions in memory
 * (DynamoDB holds them in AWS). Lookups by channel are one map read, for the fan-out's hot path.
 */
import type { ConnectionStore } from '@ticklake/core/ports'

/** An empty in-memory ConnectionStore. */
export function memoryConnectionStore(): ConnectionStore & { size(): number } {
  const byConnection = new Map<string, { connectedAt: number; channels: Set<string> }>()
  const byChannel = new Map<string, Set<string>>()
  const tallies = new Map<string, { window: number; count: number }>()
  const drop = (id: string, ch: string) => {
    const set = byChannel.get(ch)
    set?.delete(id)
    if (set && !set.size) byChannel.delete(ch)
  }
  return {
    size: () => byConnection.size,
    async add(id, connectedAt) { if (!byConnection.has(id)) byConnection.set(id, { connectedAt, channels: new Set() }) },
    async remove(id) {
      const c = byConnection.get(id)
      if (!c) return
      for (const ch of c.channels) drop(id, ch)
      byConnection.delete(id)
      for (const k of tallies.keys()) if (k.startsWith(`${id}\n`)) tallies.delete(k)
    },
    async subscribe(id, channels) {
      const c = byConnection.get(id)
      if (!c) return 0
      for (const ch of channels) {
        c.channels.add(ch)
        const set = byChannel.get(ch) ?? new Set()
        set.add(id)
        byChannel.set(ch, set)
      }
      return c.channels.size
    },
    async unsubscribe(id, channels) {
      const c = byConnection.get(id)
      if (!c) return
      for (const ch of channels) { c.channels.delete(ch); drop(id, ch) }
    },
    async subscribers(channel) { return [...(byChannel.get(channel) ?? [])] },
    async channelsOf(id) { return [...(byConnection.get(id)?.channels ?? [])] },
    async tally(id, counter, windowMs, now) {
      const key = `${id}\n${counter}`
      const window = Math.floor(now / windowMs)
      const t = tallies.get(key)
      const next = t && t.window === window ? { window, count: t.count + 1 } : { window, count: 1 }
      tallies.set(key, next)
      return next.count
    },
  }
}
