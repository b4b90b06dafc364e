import {defineConfig} from 'vitest/config'
import {recordOutput} from './test/support/leaks.js'

export default defineConfig({
  test: {
    // The JSON report is what .ci/run counts ("N passed, N failed"); test:fidelity names one per mode.
    reporters: ['default', ['json', {outputFile: process.env.VITEST_JSON_REPORT ?? 'reports/vitest.json'}]],
    // Two files at a time, also on 2 cores (vitest's default there is one): most of a suite's time
    // is spent waiting on the CLI and emulator processes it starts. Fresh clone, 2 cores: 404 s, was 660 s.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Console output of tests is an output too: the leak scan reads it.
    onConsoleLog(log, type) {
      recordOutput(`console (${type})`, log)
    },
    projects: [
      {
        extends: true,
        test: {
          name: 'suites',
          include: ['test/**/*.test.ts'],
          exclude: ['test/leaks/**', '**/node_modules/**'],
          setupFiles: ['test/support/leak-guard.ts'],
          globalSetup: ['test/support/leak-reset.ts'],
          sequence: {groupOrder: 0},
        },
      },
      // After every suite: the scan of everything they printed and wrote.
      {extends: true, test: {name: 'leak-scan', include: ['test/leaks/**/*.test.ts'], sequence: {groupOrder: 1}}},
    ],
  },
})
