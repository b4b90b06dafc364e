import {defineConfig} from 'vitest/config'
import {recordOutput} from './test/support/leaks.js'

// The slower reliability suites (npm run test:faults): not part of npm test. The leak scan
// runs after them, over everything they printed and wrote, as it does after npm test.
export default defineConfig({
  test: {
    // test:fidelity reads the counts and failed tests' names from the JSON report.
    reporters: ['default', ['json', {outputFile: process.env.VITEST_JSON_REPORT ?? 'reports/vitest-faults.json'}]],
    testTimeout: 600_000,
    hookTimeout: 60_000,
    // No fileParallelism: false (or maxWorkers: 1) here: vitest 4.1 then ignores
    // sequence.groupOrder and runs the leak scan first. There is one file, so its
    // scenarios run one after another anyway.
    onConsoleLog(log, type) {
      recordOutput(`console (${type})`, log)
    },
    projects: [
      {
        extends: true,
        test: {
          name: 'reliability',
          include: ['test/reliability/**/*.reliability.ts'],
          setupFiles: ['test/support/leak-guard.ts'],
          globalSetup: ['test/support/leak-reset.ts'],
          sequence: {groupOrder: 0},
        },
      },
      {extends: true, test: {name: 'leak-scan', include: ['test/leaks/**/*.test.ts'], sequence: {groupOrder: 1}}},
    ],
  },
})
