// Prints "N passed, N failed" from vitest's JSON report (written by vitest.config.ts).
import {readFileSync} from 'node:fs'

const file = process.argv[2] ?? 'reports/vitest.json'
let report
try {
  report = JSON.parse(readFileSync(file, 'utf8'))
} catch {
  console.log('0 passed, 1 failed') // no report: the build or the runner itself failed
  process.exit(1)
}
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
console.log(`${report.numPassedTests} passed, ${report.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`)
if (report.numTotalTests === 0 || report.numFailedTests > 0 || report.numFailedTestSuites > 0) process.exit(1)
