// npm run test:fidelity: the apply suites once per emulator mode (issue 12), with a table of results.
// Each mode is a reading of Palette's spec that NOTES.md marks UNCERTAIN; see README "What is uncertain".
import {spawnSync} from 'node:child_process'
import {readFileSync, rmSync} from 'node:fs'


const MODES = ['', 'create-uid=user', 'create-uid=absent', 'update-annotations=replace', 'update-annotations=reject', 'auth-failure=403', 'auth-failure=404', 'key-limit=5', 'list-keys-with=apiKey.list', 'list-limit=50', 'unique-key-names=user', 'unique-key-names=tenant']
const chosen = process.argv.slice(2)
const SUITES = ['test/property/convergence.test.ts', 'test/e2e/apply.test.ts', 'test/e2e/crash.test.ts', 'test/e2e/concurrent-apply.test.ts', 'test/e2e/hostile-tenant.test.ts', 'test/e2e/hostile-real-tenant.test.ts', 'test/e2e/export-audit.test.ts', 'test/e2e/saved-plan-tamper.test.ts', 'test/e2e/custody.test.ts', 'test/unit/executor.test.ts']
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
  // Each run writes vitest's JSON report: counts and failed tests' names are read from it, not from
  // the console (whose layout changes between vitest versions).
  const report = (kind) => `reports/fidelity-${(mode || 'defaults').replace(/[^a-z0-9.-]+/gi, '_')}-${kind}.json`
  const run = (args, kind) => {
    rmSync(report(kind), {force: true})
    const r = spawnSync('npx', ['vitest', 'run', ...args], {env: {...env, VITEST_JSON_REPORT: report(kind)}, stdio: ['ignore', 'inherit', 'inherit']})
    let json
    try {
      json = JSON.parse(readFileSync(report(kind), 'utf8'))
    } catch {
      return {passed: 0, failed: 0, names: [`no report (exit ${r.status})`], status: r.status ?? 1}
    }
    const failedTests = json.testResults.flatMap((file) => file.assertionResults.filter((t) => t.status === 'failed').map((t) => `${file.name.split('/').pop()} > ${t.fullName}`))
    return {passed: json.numPassedTests, failed: json.numFailedTests, names: failedTests, status: r.status ?? 1}
  }
  const a = run([...suites, 'test/leaks'], 'suites')
  const f = skip.includes('faults') ? {passed: 0, failed: 0, names: [], status: 0} : run(['--config', 'vitest.reliability.config.ts'], 'faults')
  failed += a.failed + f.failed + (a.status !== 0 && a.failed === 0 ? 1 : 0) + (f.status !== 0 && f.failed === 0 ? 1 : 0)
  rows.push([mode || '(defaults)', `${a.passed} passed, ${a.failed} failed${skip.length > 0 ? ` (not run: ${skip.filter((x) => x !== 'faults').map((x) => x.split('/').pop()).join(', ')})` : ''}`, skip.includes('faults') ? 'not run' : `${f.passed} passed, ${f.failed} failed`, `${Math.round((Date.now() - started) / 1000)} s`, [...a.names, ...f.names].slice(0, 5).join('; ').replaceAll('|', '\\|')])
}
console.log('| mode | apply suites | faults | time | failures |')
console.log('|---|---|---|---|---|')
for (const r of rows) console.log(`| ${r.join(' | ')} |`)
process.exitCode = failed > 0 ? 1 : 0

