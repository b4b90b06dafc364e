import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The JSON report is what .ci/run counts ("N passed, N failed").
    reporters: ['default', ['json', {outputFile: 'reports/vitest.json'}]],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
