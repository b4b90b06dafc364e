// npm run test:fidelity: the apply suites once per emulator mode (issue 12), with a table of results.
// Each mode is a reading of Palette's spec that NOTES.md marks UNCERTAIN; see README "What is uncertain".
import {spawnSync} from 'node:child_process'


const MODES = ['', 'create-uid=user', 'create-uid=absent', 'update-annotations=replace', 'update-annotations=reject', 'auth-failure=403', 'auth-failure=404', 'key-limit=5']
const chosen = process.argv.slice(2)
const SUITES = ['test/property/convergence.test.ts', 'test/e2e/apply.test.ts', 'test/e2e/crash.test.ts', 'test/e2e/concurrent-apply.test.ts', 'test/e2e/hostile-tenant.test.ts', 'test/e2e/export-audit.test.ts', 'test/e2e/saved-plan-tamper.test.ts', 'test/unit/executor.test.ts']
const rows = []
let failed = 0
for (const mode of chosen.length > 0 ? chosen : MODES) {
  const started = Date.now()
  // The property test's model of the API plays the mode too (create uid, update annotations), over 2,000 cases.
  const env = {...process.env, PALETTE_KEYS_TEST_FIDELITY: mode, PROPERTY_RUNS: process.env.PROPERTY_RUNS ?? '2000'}
  const vitest = spawnSync('npx', ['vitest', 'run', ...SUITES, 'test/leaks'], {env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit']})
  const faults = spawnSync('npx', ['vitest', 'run', '--config', 'vitest.reliability.config.ts'], {env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit']})
  const count = (out) => {
    const s = out.replace(/\x1b\[[0-9;]*m/g, '')
    return {passed: Number(/(\d+) passed/.exec(s)?.[1] ?? 0), failed: Number(/(\d+) failed/.exec(s)?.[1] ?? 0), names: [...s.matchAll(/^\s*FAIL\s+.*?> (.*)$/gm)].map((m) => m[1])}
  }
  const a = count(vitest.stdout)
  const f = count(faults.stdout)
  failed += a.failed + f.failed + (vitest.status !== 0 && a.failed === 0 ? 1 : 0) + (faults.status !== 0 && f.failed === 0 ? 1 : 0)
  rows.push([mode || '(defaults)', `${a.passed} passed, ${a.failed} failed`, `${f.passed} passed, ${f.failed} failed`, `${Math.round((Date.now() - started) / 1000)} s`, [...a.names, ...f.names].slice(0, 5).join('; ')])
}
console.log('| mode | apply suites | faults | time | failures |')
console.log('|---|---|---|---|---|')
for (const r of rows) console.log(`| ${r.join(' | ')} |`)
process.exitCode = failed > 0 ? 1 : 0

