// Prints one plain closing line, "N passed, N failed, N skipped", after vitest's own summary, so
// any CI that reads closing lines can count the run.
import type { Reporter, TestModule } from 'vitest/node'

export default class Summary implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>) {
    const n = { passed: 0, failed: 0, skipped: 0 }
    for (const m of modules) for (const t of m.children.allTests()) {
      const state = t.result().state
      if (state === 'passed' || state === 'failed' || state === 'skipped') n[state]++
    }
    console.log(`\n${n.passed} passed, ${n.failed} failed, ${n.skipped} skipped`)
  }
}
