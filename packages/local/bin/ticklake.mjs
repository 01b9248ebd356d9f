#!/usr/bin/env node
// The `ticklake` command: runs the TypeScript CLI through tsx, so no build step stands between a
// clone and a working command.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../src/cli.ts')
process.exitCode = await main(process.argv.slice(2))
