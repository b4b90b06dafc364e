// A stand-in for a delivery command (issue 18): records what it received, never the value
// itself. Usage: node exec-recorder.mjs RECORD_FILE [--exit N]
// It appends one JSON line to RECORD_FILE: its argv, its whole environment (for the leak scan
// and the checks that no credential reached it), the sha256 and length of its stdin, and the
// time. With `--exit N` it exits N after recording. If a file `hang-once` is in its working
// directory, it removes it, writes its pid to `hanging.pid` and sleeps (a run killed mid-delivery).
import {createHash} from 'node:crypto'
import {appendFileSync, existsSync, rmSync, writeFileSync} from 'node:fs'

const [record, ...rest] = process.argv.slice(2)
const chunks = []
for await (const c of process.stdin) chunks.push(c)
const stdin = Buffer.concat(chunks)
appendFileSync(record, JSON.stringify({argv: process.argv.slice(2), env: process.env, cwd: process.cwd(), stdinSha256: createHash('sha256').update(stdin).digest('hex'), stdinBytes: stdin.length, at: Date.now()}) + '\n')
if (existsSync('hang-once')) {
  rmSync('hang-once')
  writeFileSync('hanging.pid', String(process.pid))
  setInterval(() => {}, 60_000)
} else {
  const i = rest.indexOf('--exit')
  process.exit(i >= 0 ? Number(rest[i + 1]) : 0)
}
