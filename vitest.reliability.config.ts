import {defineConfig} from 'vitest/config'

// The slower reliability suites (npm run test:faults): not part of npm test.
export default defineConfig({
  test: {
    include: ['test/reliability/**/*.reliability.ts'],
    testTimeout: 600_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
})
