/** `keys add` and `keys list`: the API keys that may POST to `/api/ingest`. */
import { parseArgs } from 'node:util'
import { defaults as cloudDefaults } from '../cloud/index'
import { UsageError } from './errors'
import { existingDataDir } from './args'

/** `keys add NAME` / `keys list`: API keys in <data>/state/api-keys.json, stored hashed; a new key is printed once. */
export async function keys(argv: string[]) {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { data: { type: 'string', default: cloudDefaults.dataDir }, exchange: { type: 'string' } } })
  const [action, name] = positionals
  const { fileStore } = await import('../store/index')
  const { addApiKey, listApiKeys } = await import('@ticklake/core/serve/api')
  const store = fileStore(values.data!)
  if (action === 'list' && positionals.length === 1) {
    existingDataDir(values.data!)
    for (const k of await listApiKeys(store)) process.stdout.write(`${k.name}\t${k.id}\t${k.created_at}\t${(k.exchanges ?? []).join(',') || '(no exchange: writes nothing)'}\n`)
    return 0
  }
  if (action !== 'add' || !name || positionals.length !== 2) throw new UsageError('usage: ticklake keys add NAME --exchange X[,Y] | ticklake keys list')
  const exchanges = (values.exchange ?? '').split(',').map((x) => x.trim()).filter(Boolean)
  const { key } = await addApiKey(store, name, exchanges).catch((e) => { throw new UsageError(e.message) })
  process.stdout.write(`${key}\n`)
  process.stderr.write(`API key ${name} added to ${values.data}/state/api-keys.json (stored hashed; this is the only time it is shown), for exchange ${exchanges.join(', ')}. Send it as the x-api-key header of POST /api/ingest.\n`)
  return 0
}
