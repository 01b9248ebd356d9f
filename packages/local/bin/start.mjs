#!/usr/bin/env node
// `npm start`: runs `ticklake start` in a child process as runtime.mjs says (from the bundle of
// the sources, glibc's allocator told to give memory back). Ctrl+C reaches both processes; this
// one waits for the pipeline to stop.
import { spawn } from 'node:child_process'
import { pipelineCommand } from './runtime.mjs'

const { file, args, env, fallback } = await pipelineCommand(['start', ...process.argv.slice(2)])
if (fallback) process.stderr.write(`ticklake: ${fallback}\n`)
const child = spawn(file, args, { stdio: 'inherit', env })
// a terminal's Ctrl+C goes to both: the pipeline flushes and stops, this one waits for it
process.on('SIGINT', () => {})
process.on('SIGTERM', () => child.kill('SIGTERM'))
process.on('SIGHUP', () => child.kill('SIGHUP'))
child.on('exit', (code, signal) => { process.exitCode = code ?? (signal ? 1 : 0) })
