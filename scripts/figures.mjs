// Writes the README's test figures from the last run's reports, so they are measured, not typed:
//   npm test && npm run figures
// reports/vitest.json (vitest's JSON report: counts, start and end times) and
// reports/leak-scan.json (written by test/leaks/scan.test.ts: counts only) fill the block
// between <!-- figures:begin --> and <!-- figures:end --> in README.md.
import {readFileSync, writeFileSync} from 'node:fs'
import {cpus} from 'node:os'

const report = JSON.parse(readFileSync('reports/vitest.json', 'utf8'))
const scan = JSON.parse(readFileSync('reports/leak-scan.json', 'utf8'))
// Only a whole run's figures: the leak scan ran last in it, and its counts are from that run.
if (!report.testResults.some((f) => f.name.endsWith('test/leaks/scan.test.ts')) || report.testResults.length < 20) {
  throw new Error('reports/vitest.json is not from a whole `npm test` (no leak scan, or a few files only): run npm test first')
}
if (Date.parse(scan.at) < report.startTime) throw new Error('reports/leak-scan.json is older than reports/vitest.json: run npm test first')
const files = report.testResults.length
const end = Math.max(...report.testResults.map((f) => f.endTime))
const seconds = Math.round((end - report.startTime) / 1000)
const when = new Date(report.startTime).toISOString().slice(0, 10)
const row = (k, v) => `| ${k} | ${v} |`
const block = [
  '<!-- figures:begin -->',
  `Last measured ${when} by \`npm run figures\` from that run's reports (Node ${process.version}, ${cpus().length} cores):`,
  '',
  '| figure | value |',
  '|---|---|',
  row('`npm test`', `${report.numPassedTests} passed, ${report.numFailedTests} failed, ${report.numPendingTests} skipped, in ${files} files`),
  row('its wall time', `${seconds} s (tests only, after the build; it follows the machine's load)`),
  row('leak scan', `${scan.outputs} outputs (${(scan.bytes / 1e6).toFixed(1)} MB), ${scan.known} known key values, ${scan.leaks} leaks`),
  '<!-- figures:end -->',
].join('\n')
const readme = readFileSync('README.md', 'utf8')
const at = readme.indexOf('<!-- figures:begin -->')
const to = readme.indexOf('<!-- figures:end -->')
if (at < 0 || to < at) throw new Error('README.md has no <!-- figures:begin --> … <!-- figures:end --> block')
writeFileSync('README.md', readme.slice(0, at) + block + readme.slice(to + '<!-- figures:end -->'.length))
console.log(block)
