// The demo: the real CLI against a local Palette emulator, in plain steps.
//   validate -> plan -> apply -> plan (no changes) -> unseal -> a sealed key authenticates
// Everything happens in a temporary folder; the repository is left as it was.
import {spawn} from 'node:child_process'
import {copyFile, mkdtemp, readFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {request} from 'undici'
import {parseSeed} from '../dist/emulator/seed.js'
import {startEmulator} from '../dist/emulator/server.js'
import {EmulatorState} from '../dist/emulator/state.js'

const ADMIN_KEY = 'demo-admin-key-0001' // DEMO ONLY: public, from examples/tenant.yaml
const IDENTITY = 'examples/demo-identity.txt' // DEMO ONLY: a public age identity
let failed = false

const step = (n, text) => console.log(`\n\u001b[1m[${n}] ${text}\u001b[0m`.replace(/\u001b\[[0-9;]*m/g, process.stdout.isTTY && !process.env.NO_COLOR ? '$&' : ''))

/** Runs the real CLI (asynchronously: the emulator lives in this process and must keep answering). */
async function cli(args, env, {expect = [0], capture = false} = {}) {
  console.log(`    $ palette-keys ${args.join(' ')}`)
  const child = spawn(process.execPath, ['bin/run.js', ...args], {env: {...process.env, ...env}, stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit']})
  let stdout = ''
  child.stdout?.on('data', (d) => (stdout += d))
  const status = await new Promise((resolve) => child.on('close', resolve))
  const r = {status, stdout}
  if (!expect.includes(r.status)) {
    console.log(`    !! exit ${r.status}, expected ${expect.join(' or ')}`)
    failed = true
  } else console.log(`    (exit ${r.status})`)
  return r
}

step(1, 'Start a local Palette emulator, seeded from examples/tenant.yaml (Palette\'s rate limit on)')
const seed = parseSeed(await readFile('examples/tenant.yaml', 'utf8'), 'examples/tenant.yaml')
const emulator = await startEmulator({state: EmulatorState.fromSeed(seed, new Date())})
const env = {PALETTE_HOST: emulator.url, PALETTE_API_KEY: ADMIN_KEY}
const work = await mkdtemp(join(tmpdir(), 'palette-keys-demo-'))
const keys = join(work, 'keys.yaml')
await copyFile('examples/keys.yaml', keys)
console.log(`    emulator at ${emulator.url}; PALETTE_HOST and PALETTE_API_KEY point at it`)
console.log(`    working copy of examples/keys.yaml: ${keys}`)

try {
  step(2, 'Validate the desired-state file (offline)')
  await cli(['validate', '-f', keys], env)

  step(3, 'Plan: what would change (exit 2 = changes, with --detailed-exitcode)')
  await cli(['plan', '-f', keys, '--detailed-exitcode'], env, {expect: [2]})

  step(4, 'Apply: make it so; every new key value is sealed at once (age, to seal.recipients)')
  await cli(['apply', '-f', keys, '--auto-approve'], env)

  step(5, 'Plan again: nothing left to do (exit 0)')
  await cli(['plan', '-f', keys, '--detailed-exitcode'], env)

  step(6, `Unseal with the demo identity (${IDENTITY}); values are not shown here`)
  const r = await cli(['unseal', join(work, 'sealed'), '-i', IDENTITY, '--format', 'json'], env, {capture: true})
  const sealed = r.status === 0 ? JSON.parse(r.stdout) : {}

  step(7, 'Each sealed value authenticates against the emulator as its owner (GET /v1/users/info)')
  const meta = await (await request(`${emulator.url}/v1/users/meta`, {headers: {ApiKey: ADMIN_KEY}})).body.json()
  let count = 0
  for (const [user, byName] of Object.entries(sealed)) {
    for (const [name, v] of Object.entries(byName)) {
      const res = await request(`${emulator.url}/v1/users/info`, {headers: {ApiKey: v.apiKey}})
      const info = res.statusCode === 200 ? await res.body.json() : (await res.body.text(), {})
      const owner = meta.items.find((u) => u.uid === info.userUid)?.emailId
      const ok = owner === user
      if (!ok) failed = true
      count++
      console.log(`    ${user}/${name} (uid ${v.uid}): ${ok ? `authenticates as ${owner}` : `FAILED (HTTP ${res.statusCode})`}`)
    }
  }
  if (count === 0) {
    console.log('    no sealed value found')
    failed = true
  }
} finally {
  await emulator.close()
}
console.log(failed ? '\nDemo FAILED.' : `\nDemo done: validate, plan, apply, plan (no changes), unseal, and every sealed key works.\nThe sealed files are in ${join(work, 'sealed')}.`)
process.exitCode = failed ? 1 : 0
