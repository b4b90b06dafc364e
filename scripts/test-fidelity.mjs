// npm run test:fidelity: the apply suites once per emulator mode (issue 12), with a table of results.
// Each mode is a reading of Palette's spec that NOTES.md marks UNCERTAIN; see README "What is uncertain".
import {spawnSync} from 'node:child_process'


const MODES = ['', 'create-uid=user', 'create-uid=absent', 'update-annotations=replace', 'update-annotations=reject', 'auth-failure=403', 'auth-failure=404', 'key-limit=5', 'list-keys-with=apiKey.list', 'list-limit=50', 'unique-key-names=user', 'unique-key-names=tenant']
const chosen = process.argv.slice(2)
const SUITES = ['test/property/convergence.test.ts', 'test/e2e/apply.test.ts', 'test/e2e/crash.test.ts', 'test/e2e/concurrent-apply.test.ts', 'test/e2e/hostile-tenant.test.ts', 'test/e2e/hostile-real-tenant.test.ts', 'test/e2e/export-audit.test.ts', 'test/e2e/saved-plan-tamper.test.ts', 'test/unit/executor.test.ts']
/**
 * Under a cap of 5 keys a user, three scenarios cannot be set up at all: concurrent-apply creates 8
 * keys for one user, hostile-tenant has one user forge 7, the fault campaign applies 20 for one
 * user; plan refuses them (key-limit), as it should. The cap itself is covered by the fidelity
 * matrix, the key-limit unit tests and the property test (a random cap of 2 to 9).
 */
const SKIP = {'key-limit=5': ['test/e2e/concurrent-apply.test.ts', 'test/e2e/hostile-tenant.test.ts', 'faults']}
const rows = []
let failed = 0
for (const mode of chosen.length > 0 ? chosen : MODES) {
  const started = Date.now()
  // The property test's model of the API plays the mode too (create uid, update annotations), over 2,000 cases.
  const env = {...process.env, PALETTE_KEYS_TEST_FIDELITY: mode, PROPERTY_RUNS: process.env.PROPERTY_RUNS ?? '2000'}
  const skip = SKIP[mode] ?? []
  const suites = SUITES.filter((f) => !skip.includes(f))
  const vitest = spawnSync('npx', ['vitest', 'run', ...suites, 'test/leaks'], {env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit']})
  const faults = skip.includes('faults') ? {stdout: 'Tests  0 passed (0)', status: 0} : spawnSync('npx', ['vitest', 'run', '--config', 'vitest.reliability.config.ts'], {env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit']})
  // vitest's own summary line: "Tests  2 failed | 40 passed (42)".
  const count = (out) => {
    const s = out.replace(/\x1b\[[0-9;]*m/g, '')
    const line = /^\s*Tests\s+(.*)$/m.exec(s)?.[1] ?? ''
    return {passed: Number(/(\d+) passed/.exec(line)?.[1] ?? 0), failed: Number(/(\d+) failed/.exec(line)?.[1] ?? 0), names: [...s.matchAll(/^\s*FAIL\s+.*?> (.*)$/gm)].map((m) => m[1])}
  }
  const a = count(vitest.stdout)
  const f = count(faults.stdout)
  failed += a.failed + f.failed + (vitest.status !== 0 && a.failed === 0 ? 1 : 0) + (faults.status !== 0 && f.failed === 0 ? 1 : 0)
  rows.push([mode || '(defaults)', `${a.passed} passed, ${a.failed} failed${skip.length > 0 ? ` (not run: ${skip.filter((x) => x !== 'faults').map((x) => x.split('/').pop()).join(', ')})` : ''}`, skip.includes('faults') ? 'not run' : `${f.passed} passed, ${f.failed} failed`, `${Math.round((Date.now() - started) / 1000)} s`, [...a.names, ...f.names].slice(0, 5).join('; ')])
}
console.log('| mode | apply suites | faults | time | failures |')
console.log('|---|---|---|---|---|')
for (const r of rows) console.log(`| ${r.join(' | ')} |`)
process.exitCode = failed > 0 ? 1 : 0

