/** The entry of the bundle `npm start` runs (`packages/local/bin/runtime.mjs`): `ticklake` with this process's arguments. */
import { main } from './cli'

process.exitCode = await main(process.argv.slice(2))
