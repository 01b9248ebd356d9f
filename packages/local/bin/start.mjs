#!/usr/bin/env node
// `npm start`: runs `ticklake start` in a child process (as the tsx command it replaces did) with
// glibc's allocator told to give memory back. Node's threads (the lake thread, tsx's loaders,
// libuv's pool) each get a 64 MB malloc arena, and buffers freed there stay in the process: with
// two arenas, mmap for every block over 128 KB and trimming past 128 KB free, the pipeline keeps
// about 45 MB less (docs/ARCHITECTURE.md, "What ticklake start spends"). Elsewhere than glibc the
// variables mean nothing. Ctrl+C reaches both processes; this one waits for the pipeline to stop.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { allocator } from './allocator.mjs'

const bin = fileURLToPath(new URL('./ticklake.mjs', import.meta.url))
const child = spawn(process.execPath, [bin, 'start', ...process.argv.slice(2)], { stdio: 'inherit', env: { ...allocator, ...process.env } })
// a terminal's Ctrl+C goes to both: the pipeline flushes and stops, this one waits for it
process.on('SIGINT', () => {})
process.on('SIGTERM', () => child.kill('SIGTERM'))
process.on('SIGHUP', () => child.kill('SIGHUP'))
child.on('exit', (code, signal) => { process.exitCode = code ?? (signal ? 1 : 0) })
