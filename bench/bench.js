// npm run bench: the figures of README "Guarantees". Prints a table; not part of npm test.
// Times are medians of repeated runs on this machine; ratios are what to compare.
import {spawn} from 'node:child_process'
import {mkdir, mkdtemp, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {performance} from 'node:perf_hooks'
import {fileURLToPath} from 'node:url'
import {Agent, request} from 'undici'
import {execute} from '../dist/apply/executor.js'
import {makePlan} from '../dist/cli/planning.js'
import {diff} from '../dist/plan/diff.js'
import {liveFingerprint} from '../dist/plan/fingerprint.js'
import {parseDesiredState} from '../dist/config/desired-state.js'
import {parseSeed} from '../dist/emulator/seed.js'
import {startEmulator} from '../dist/emulator/server.js'
import {EmulatorState} from '../dist/emulator/state.js'
import {PaletteHttpClient} from '../dist/palette/http-client.js'
import {Secret} from '../dist/util/secret.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIN = join(ROOT, 'bin/run.js')
const ADMIN = 'bench-admin-key-000001'
const rows = []
const row = (what, value, target, ok) => rows.push({what, value, target, ok: ok === undefined ? '' : ok ? 'yes' : 'NO'})
/** A full collection when the bench runs with --expose-gc (npm run bench does). */
const settle = () => globalThis.gc?.()
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const work = await mkdtemp(join(tmpdir(), 'pk-bench-'))
// `npm run bench -- plan startup` runs only those sections; no argument runs them all.
const SECTIONS = ['axes', 'requests', 'plan', 'rss', 'apply', 'startup', 'validate', 'tenant']
const chosen = process.argv.slice(2)
for (const c of chosen) if (!SECTIONS.includes(c)) throw new Error(`bench: unknown section ${c} (sections: ${SECTIONS.join(', ')})`)
const want = (section) => chosen.length === 0 || chosen.includes(section)

function seedText(keys) {
  const users = Math.max(2, Math.ceil(keys / 10))
  const lines = ['tenant: {orgName: bench}', 'users:', '  - email: admin@example.com', '    roles: [Tenant Admin]', '    apiKeys:', `      - {name: bootstrap, value: ${ADMIN}}`]
  for (let u = 0; u < users; u++) {
    lines.push(`  - email: user${u}@example.com`)
    const mine = []
    for (let k = u; k < keys; k += users) mine.push(k)
    if (mine.length) lines.push('    apiKeys:')
    for (const k of mine) lines.push(`      - {name: key-${k}, value: bench-value-${String(k).padStart(6, '0')}, annotations: {managedBy: palette-keys}}`)
  }
  return {text: lines.join('\n') + '\n', users}
}

/** The converged case: the file declares every key of the seed (so the plan is all no-ops). */
function desiredFor(users, keys) {
  const lines = ['version: 1', 'users:']
  for (let u = 0; u < users; u++) {
    const mine = []
    for (let k = u; k < keys; k += users) mine.push(k)
    lines.push(`  user${u}@example.com:`, mine.length ? '    keys:' : '    keys: {}', ...mine.map((k) => `      key-${k}: {}`))
  }
  return lines.join('\n') + '\n'
}

/**
 * A tenant as a real one looks (issue 12.7): 10,000 keys over users holding 1 to 19 each (under
 * Palette's cap of 20), descriptions of 20 to 90 characters on most, expiries spread over two
 * years, a tenth revoked, every key made by palette-keys (so the exported file plans to nothing).
 */
function realisticSeed(keys) {
  let r = 12345
  const rand = () => ((r = (r * 1103515245 + 12345) % 2147483648) / 2147483648)
  const words = ['deploys', 'the', 'cluster', 'profile', 'nightly', 'backup', 'of', 'edge', 'hosts', 'reads', 'metrics', 'for', 'team', 'platform', 'CI', 'runner', 'in', 'eu-west-1', 'staging', 'production']
  const managed = {managedBy: 'palette-keys'}
  const seed = {tenant: {orgName: 'realistic'}, limits: {apiKeysPerUser: 20}, users: [{email: 'admin@example.com', roles: ['Tenant Admin'], apiKeys: [{name: 'bootstrap', value: ADMIN, expiry: '2099-01-01T00:00:00Z', annotations: managed}]}]}
  let made = 0
  let revoked = 0
  let withDescription = 0
  const day = 86_400_000
  while (made < keys) {
    const n = Math.min(keys - made, 1 + Math.floor(rand() * 19))
    const u = seed.users.length - 1
    const apiKeys = []
    for (let i = 0; i < n; i++, made++) {
      const description = rand() < 0.85 ? Array.from({length: 3 + Math.floor(rand() * 12)}, () => words[Math.floor(rand() * words.length)]).join(' ') : ''
      if (description) withDescription++
      const active = rand() >= 0.1
      if (!active) revoked++
      const expiry = new Date(Date.now() + (30 + Math.floor(rand() * 700)) * day).toISOString()
      apiKeys.push({name: `${['ci', 'deploy', 'backup', 'metrics', 'laptop'][i % 5]}-${i}-${made}`, value: `real-value-${String(made).padStart(6, '0')}`, expiry, active, description, annotations: managed})
    }
    seed.users.push({email: `person.${String(u).padStart(5, '0')}@example.com`, firstName: 'Person', lastName: `Number ${u}`, apiKeys})
  }
  return {seed, users: seed.users.length - 1, revoked, withDescription}
}

/** The emulator's state file of a seed (a seed file of 100,000 keys is over the 16 MiB a YAML input may be). */
async function stateFile(seed, name) {
  const file = join(work, `${name}.state.json`)
  await writeFile(file, JSON.stringify(EmulatorState.fromSeed(seed, new Date()).snapshot()))
  return file
}

/** A process that only fetches what plan reads (6 answers), as fast as node can: plan's floor. */
function bareFetchScript() {
  return `const h = process.env.PALETTE_HOST, k = {ApiKey: process.env.PALETTE_API_KEY}
const info = await (await fetch(h + '/v1/users/info', {headers: k})).json()
await Promise.all([
  fetch(h + '/v1/users/meta', {headers: k}).then((r) => r.json()),
  fetch(h + '/v1/apiKeys', {headers: k}).then((r) => r.json()),
  fetch(h + '/v1/users/summary', {method: 'POST', headers: {...k, 'Content-Type': 'application/json'}, body: '{}'}).then((r) => r.json()),
  fetch(h + '/v1/tenants/' + info.tenantUid + '/resourceLimits', {headers: k}).then((r) => r.json()),
  fetch(h + '/v1/users/' + info.userUid + '/roles', {headers: k}).then((r) => r.json()),
])
`
}

function run(cmd, args, env = {}) {
  return new Promise((resolve) => {
    const t = performance.now()
    const child = spawn(cmd, args, {cwd: ROOT, env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('close', (code) => resolve({code, ms: performance.now() - t, out, err}))
  })
}

/** The emulator as its own process, so its work (and garbage) is not measured with the client's. */
async function emulatorProcess(seedFile, {state = false} = {}) {
  const child = spawn(process.execPath, [BIN, 'emulator', state ? '--state' : '--seed', seedFile, '--rate-limit', '0', '--port', '0'], {cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore']})
  const url = await new Promise((resolve, reject) => {
    let buf = ''
    child.stdout.on('data', (d) => {
      buf += d
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(buf)
      if (m) resolve(m[1])
    })
    child.on('close', () => reject(new Error('emulator exited')))
  })
  const counted = async () => {
    const s = await (await request(`${url}/__emulator/stats`)).body.json()
    return Object.values(s.byOperation).reduce((a, b) => a + b, 0)
  }
  return {url, counted, close: () => new Promise((resolve) => (child.once('close', resolve), child.kill('SIGTERM')))}
}

// 0. Growth per axis (issue 21.1): each axis grown 10x, the rest held, through the file's parse and
// checks and the pure diff (no network: the live state is built in memory). Time is the median of
// 3 runs; memory is what the parsed file and the plan hold once made (heap after a collection;
// the smaller size is large enough for that to be above the heap's noise of about a megabyte).
// Linear is 10x; the targets allow for noise (< 15x).
if (want('axes')) {
  const uid = (prefix, i) => `${prefix}${i.toString(16).padStart(24 - prefix.length, '0')}`
  const NOW = new Date()
  const later = new Date(NOW.getTime() + 300 * 86_400_000).toISOString()
  /** users × keysPerUser keys, all made by palette-keys and declared (a plan of no-ops; with `renames` each live under its old name: a plan of renames); `creates` more declared, none live; `unknown` declared users the tenant does not have; `pastExpiries` users whose key has a past expiresAt (validate only). */
  const scenario = ({users, keysPerUser, creates = 0, renames = false, unknown = 0}) => {
    const lines = ['version: 1', 'seal: {recipients: [age1kdnug0g69q26qvlaysykz582z2lucrrewkjdyhwmnyucrm6f2fyqangs4c]}', 'users:']
    const liveUsers = [{uid: uid('a', 0), email: 'admin@example.com', name: 'Admin'}]
    const keys = []
    for (let u = 0; u < users; u++) {
      const email = `user${u}@example.com`
      liveUsers.push({uid: uid('b', u), email, name: `User ${u}`})
      lines.push(`  ${email}:`, '    keys:')
      for (let k = 0; k < keysPerUser; k++) {
        lines.push(`      key-${k}: {description: "key ${k} of user ${u}", expiresAt: "${later}"${renames ? `, renamedFrom: old-${k}` : ''}}`)
        keys.push({uid: uid('c', u * keysPerUser + k), name: renames ? `old-${k}` : `key-${k}`, userUid: uid('b', u), description: `key ${k} of user ${u}`, expiry: later, isActive: true, annotations: {managedBy: 'palette-keys'}, createdAt: NOW.toISOString()})
      }
      if (u < creates) lines.push('      new-key: {}')
    }
    // Declared users who are not users of the tenant (an SSO purge, a file for another tenant): each blocks its own keys.
    for (let u = 0; u < unknown; u++) lines.push(`  gone${u}@example.com:`, '    keys:', '      ci: {}')
    const live = {host: 'https://bench', tenant: {uid: uid('d', 0), orgName: 'bench'}, caller: {uid: uid('a', 0), email: 'admin@example.com'}, callerIsAdmin: true, users: liveUsers, keys, keyLimit: {perUser: 100_000, source: 'tenant'}, unlistedOwners: {}, listsCut: {keys: false}, requests: 6}
    return {text: lines.join('\n') + '\n', live}
  }
  const pastExpiries = (n) => ['version: 1', 'users:', ...Array.from({length: n}, (_, i) => [`  u${i}@example.com:`, '    keys:', '      k: {expiresAt: "2020-01-01T00:00:00Z"}']).flat()].join('\n') + '\n'
  const measure = (work) => {
    const times = []
    let held = work() // warm-up: compiled code and caches are not the input's memory
    const heaps = []
    for (let i = 0; i < 3; i++) {
      held = undefined
      settle()
      settle()
      const before = process.memoryUsage().heapUsed
      const t = performance.now()
      held = work()
      times.push(performance.now() - t)
      settle()
      settle()
      heaps.push(process.memoryUsage().heapUsed - before)
    }
    held = undefined
    return {ms: median(times), mb: Math.max(median(heaps), 0) / 1048576}
  }
  const planOf = (sc) => () => {
    const desired = parseDesiredState(sc.text, 'axes.yaml', NOW)
    return {desired, plan: diff(desired, sc.live, {force: true, toolVersion: 'bench'}, NOW)}
  }
  const validateOf = (text) => () => {
    try {
      parseDesiredState(text, 'axes.yaml', NOW)
    } catch (error) {
      return error.diagnostics
    }
    throw new Error('bench: the past expiries were not reported')
  }
  const AXES = [
    ['keys (100 users)', (n) => planOf(scenario({users: 100, keysPerUser: n / 100})), 5_000],
    ['users (1 key each)', (n) => planOf(scenario({users: n, keysPerUser: 1})), 5_000],
    ['keys of one user', (n) => planOf(scenario({users: 1, keysPerUser: n})), 5_000],
    ['creates (1 a user)', (n) => planOf(scenario({users: n, keysPerUser: 0, creates: n})), 5_000],
    ['renames (1 a user)', (n) => planOf(scenario({users: n, keysPerUser: 1, renames: true})), 5_000],
    ['declared users not in the tenant (1 key each)', (n) => planOf(scenario({users: 0, keysPerUser: 0, unknown: n})), 5_000],
    ['located errors (past expiries)', (n) => validateOf(pastExpiries(n)), 3_200],
  ]
  for (const [axis, make, n] of AXES) {
    const small = measure(make(n))
    const big = measure(make(10 * n))
    const t = big.ms / small.ms
    const m = big.mb / Math.max(small.mb, 0.01)
    row(`axis ${axis}: ${n.toLocaleString('en')} -> ${(10 * n).toLocaleString('en')}, time / memory held`, `${small.ms.toFixed(0)} -> ${big.ms.toFixed(0)} ms = ${t.toFixed(1)}x / ${small.mb.toFixed(1)} -> ${big.mb.toFixed(1)} MB = ${m.toFixed(1)}x`, 'linear: 10x (< 15x)', t < 15 && m < 15)
  }
}

// 1. plan: requests and time at 10 / 1,000 / 10,000 keys, against a bare fetch of the same six answers.
for (const size of want('plan') ? [10, 1000, 10000] : []) {
  const {text, users} = seedText(size)
  const seedFile = join(work, `seed-${size}.yaml`)
  await writeFile(seedFile, text)
  const emu = await emulatorProcess(seedFile)
  const desired = parseDesiredState(desiredFor(users, size), 'bench.yaml', new Date())
  const agent = new Agent()
  const bare = async () => {
    const get = (p) => request(emu.url + p, {headers: {ApiKey: ADMIN}, dispatcher: agent}).then((r) => r.body.json())
    // What plan reads: who am I, users, keys, users/summary, then the tenant's resource limits and the caller's roles
    // (asked for when the file declares another user's keys: rights come from roles, issue 16).
    const post = (p) => request(emu.url + p, {method: 'POST', headers: {ApiKey: ADMIN, 'Content-Type': 'application/json'}, body: '{}', dispatcher: agent}).then((r) => r.body.json())
    const [info] = await Promise.all([get('/v1/users/info'), get('/v1/users/meta'), get('/v1/apiKeys'), post('/v1/users/summary')])
    await Promise.all([get(`/v1/tenants/${info.tenantUid}/resourceLimits`), get(`/v1/users/${info.userUid}/roles`)])
  }
  const client = new PaletteHttpClient({host: emu.url, apiKey: new Secret(ADMIN), rateLimit: {ratePerSecond: 0, burst: 5}})
  const plan = () => makePlan({desired, api: client, host: emu.url, force: true, toolVersion: 'bench', now: new Date()})
  await bare()
  await plan()
  const bareMs = []
  const planMs = []
  const reps = size >= 10000 ? 5 : 15
  for (let i = 0; i < reps; i++) {
    // Each timed run starts from a collected heap, so neither pays for the other's garbage.
    settle()
    let t = performance.now()
    await bare()
    bareMs.push(performance.now() - t)
    settle()
    t = performance.now()
    await plan()
    planMs.push(performance.now() - t)
  }
  const before = await emu.counted()
  const {plan: p, live} = await plan()
  if (p.changes || p.errors.length > 0) throw new Error(`bench: the plan at ${size} keys is not all no-ops`)
  const requests = (await emu.counted()) - before
  const ratio = median(planMs) / median(bareMs)
  row(`plan at ${size} keys (${users} users): requests`, String(requests), 'constant (6)', requests === 6)
  row(`plan at ${size} keys: time vs bare fetch of the same 6 answers`, `${median(planMs).toFixed(1)} ms / ${median(bareMs).toFixed(1)} ms = ${ratio.toFixed(2)}x`, size === 10000 ? '<= 1.5x' : '', size === 10000 ? ratio <= 1.5 : undefined)
  if (size === 10000) {
    // Where the difference goes: the pure diff (matching, brakes) on its own, and the stale-plan
    // fingerprint (computed when the plan is saved, printed as JSON, or applied).
    const diffMs = []
    for (let i = 0; i < reps; i++) {
      settle()
      const t = performance.now()
      diff(desired, live, {force: true, toolVersion: 'bench'}, new Date())
      diffMs.push(performance.now() - t)
    }
    const fpMs = []
    for (let i = 0; i < reps; i++) {
      const t = performance.now()
      liveFingerprint(live.keys)
      fpMs.push(performance.now() - t)
    }
    row(`plan at ${size} keys: of which the diff / the stale-plan fingerprint (when saved, --json or applied)`, `${median(diffMs).toFixed(1)} ms (${((median(diffMs) * 1000) / size).toFixed(1)} µs a key) / ${median(fpMs).toFixed(1)} ms`, '')
  }
  await client.close()
  await agent.close()
  await emu.close()
}

// 2. peak RSS of a plan process at 10,000 keys.
if (want('rss')) {
  const {text, users} = seedText(10000)
  const seed = join(work, 'seed-10k.yaml')
  const keys = join(work, 'keys-10k.yaml')
  await writeFile(seed, text)
  await writeFile(keys, desiredFor(users, 10000))
  const emu = await startEmulator({state: EmulatorState.fromSeed(parseSeed(text, 'seed'), new Date()), rateLimit: {ratePerSecond: 0, burst: 5}})
  const preload = join(ROOT, 'bench/peak-rss.mjs')
  const r = await run(process.execPath, ['--import', preload, BIN, 'plan', '-f', keys, '--rate-limit', '0'], {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN})
  const kb = Number(/bench-peak-rss-kb (\d+)/.exec(r.err)?.[1])
  if (r.code !== 0 || !Number.isFinite(kb)) throw new Error(`bench: the 10k plan failed (exit ${r.code}): ${r.err.slice(0, 500)}`)
  row('plan at 10,000 keys: peak RSS of the CLI process', `${(kb / 1024).toFixed(0)} MB`, '< 200 MB', kb / 1024 < 200)
  await emu.close()
}

// 3. apply: 500 creates against the emulator at Palette's limit (10/s, burst 5), as a share of
// what one request a create allows, (N - 5) / 10 s (issue 17), with the answer's uid the key's
// and the owner's (--create-uid user: each uid looked up by nonce, lists shared); then the CPU of
// unthrottled applies of 50 to 2,000 creates (linear: the scrubber and the seal index grow by one).
const applyRun = async ({creates, rateLimit, createUid = 'key', parallelism = 4, emulator = 'in-process'}) => {
  const users = Math.ceil(creates / 10)
  const text = `tenant: {orgName: bench}\nusers:\n  - email: admin@example.com\n    roles: [Tenant Admin]\n    apiKeys:\n      - {name: bootstrap, value: ${ADMIN}}\n${Array.from({length: users}, (_, u) => `  - email: user${u}@example.com\n`).join('')}`
  const body = Array.from({length: users}, (_, u) => `  user${u}@example.com:\n    keys:\n${Array.from({length: Math.min(10, creates - 10 * u)}, (_, i) => `      key-${i}: {}\n`).join('')}`).join('')
  const desired = parseDesiredState(`version: 1\nseal: {recipients: [age1kdnug0g69q26qvlaysykz582z2lucrrewkjdyhwmnyucrm6f2fyqangs4c]}\nusers:\n${body}`, 'apply.yaml', new Date())
  let emu
  if (emulator === 'process') {
    const seedFile = join(work, `apply-seed-${creates}.yaml`)
    await writeFile(seedFile, text)
    emu = await emulatorProcess(seedFile)
  } else emu = await startEmulator({state: EmulatorState.fromSeed(parseSeed(text, 'seed'), new Date()), fidelity: {createUid}, ...(rateLimit ? {} : {rateLimit: {ratePerSecond: 0, burst: 5}})})
  const client = new PaletteHttpClient({host: emu.url, apiKey: new Secret(ADMIN), ...(rateLimit ? {} : {rateLimit: {ratePerSecond: 0, burst: 5}})})
  const {plan, live} = await makePlan({desired, api: client, host: emu.url, force: true, toolVersion: 'bench', now: new Date()})
  if (plan.summary.create !== creates) throw new Error(`bench: planned ${plan.summary.create} creates, not ${creates}`)
  const {SealDir} = await import('../dist/seal/seal-dir.js')
  const sealer = new SealDir(join(work, `sealed-${creates}-${createUid}-${parallelism}-${Date.now()}`))
  await sealer.prepare()
  const onKeys = () => Object.entries(emu.stats?.byOperation ?? {}).filter(([k]) => k.includes('/v1/apiKeys')).reduce((a, [, v]) => a + v, 0)
  const requestsBefore = onKeys()
  settle()
  const cpu = process.cpuUsage()
  const t = performance.now()
  const outcomes = await execute(plan.actions, {api: client, sealer, live, parallelism})
  const seconds = (performance.now() - t) / 1000
  const used = process.cpuUsage(cpu)
  const failed = outcomes.filter((o) => o.status !== 'done').length
  const result = {seconds, cpu: (used.user + used.system) / 1e6, failed, requests: onKeys() - requestsBefore, rateLimited: emu.stats?.rateLimited ?? 0}
  await client.close()
  await emu.close()
  return result
}
if (want('apply')) {
  const N = 500
  const bound = (N - 5) / 10
  for (const [label, options] of [['answer names the key', {}], ['--create-uid user', {createUid: 'user'}], ['--create-uid user, --parallelism 16', {createUid: 'user', parallelism: 16}]]) {
    const r = await applyRun({creates: N, rateLimit: true, ...options})
    const share = bound / r.seconds
    row(`apply ${N} creates at 10 req/s, burst 5 (${label}): /v1/apiKeys requests, failed, 429s`, `${r.requests} (${(r.requests / N).toFixed(3)} a create), ${r.failed} failed, ${r.rateLimited} answered 429`, '0 failed', r.failed === 0)
    row(`apply ${N} creates (${label}): wall time vs one request a create, (N - 5) / 10 s = ${bound.toFixed(1)} s`, `${r.seconds.toFixed(1)} s = ${(share * 100).toFixed(1)} % of the bound`, '>= 90 %', share >= 0.9)
  }
  // CPU of this process (the executor, the client, the sealing) with the emulator in its own process, unthrottled.
  const perCreate = {}
  for (const n of [50, 200, 500, 2000]) {
    const r = await applyRun({creates: n, rateLimit: false, emulator: 'process'})
    if (r.failed > 0) throw new Error(`bench: ${r.failed} of ${n} unthrottled creates failed`)
    perCreate[n] = r.cpu / n
    row(`apply ${n.toLocaleString('en')} creates, unthrottled: CPU of the apply (emulator apart)`, `${r.cpu.toFixed(2)} s = ${((r.cpu / n) * 1000).toFixed(2)} ms a create; ${r.seconds.toFixed(1)} s wall`, '')
  }
  const growth = perCreate[2000] / perCreate[50]
  row('apply CPU a create at 2,000 ÷ at 50 creates', `${growth.toFixed(2)}x (40x creates)`, 'linear: < 2x', growth < 2)
}

// 3b. requests per action (issue 17): one action planned and applied against the emulator, each
// request counted by route. /v1/apiKeys and /v1/users are apart in Palette's rate limit.
if (want('requests')) {
  const RECIPIENT = 'age1kdnug0g69q26qvlaysykz582z2lucrrewkjdyhwmnyucrm6f2fyqangs4c'
  const soon = new Date(Date.now() + 3 * 86_400_000).toISOString()
  const later = new Date(Date.now() + 60 * 86_400_000).toISOString()
  const seedOf = (key) => `tenant: {orgName: bench}\nusers:\n  - email: admin@example.com\n    roles: [Tenant Admin]\n    apiKeys:\n      - {name: bootstrap, value: ${ADMIN}}\n  - email: alice@example.com\n${key ? `    apiKeys:\n      - ${key}\n` : ''}`
  const managed = (expiry, extra = '') => `{name: app, value: bench-alice-app-0001, expiry: ${expiry}, annotations: {managedBy: palette-keys${extra}}}`
  const cases = [
    ['create', seedOf(), 'app: {}', ''],
    ['rotation (predecessor revoked, kept)', seedOf(managed(soon)), 'app: {rotateBefore: 14d}', ''],
    ['rotation (predecessor deleted)', seedOf(managed(soon)), 'app: {rotateBefore: 14d}', 'policy: {deleteRetiredAfter: 0d}\n'],
    ['delete', seedOf(managed(later)), '{}', ''],
    ['value-lost replacement', seedOf(managed(later, ', paletteKeysCustody: folder')), 'app: {}', ''],
  ]
  const {SealDir} = await import('../dist/seal/seal-dir.js')
  for (const [what, seed, keys, policy] of cases) {
    const emu = await startEmulator({state: EmulatorState.fromSeed(parseSeed(seed, 'seed'), new Date()), rateLimit: {ratePerSecond: 0, burst: 5}})
    const dir = join(work, `requests-${what.replace(/\W+/g, '-')}`)
    const desired = parseDesiredState(`version: 1\nseal: {recipients: [${RECIPIENT}], dir: ${dir}, custodyGrace: 0h}\n${policy}users:\n  alice@example.com:\n    keys: ${keys.startsWith('{') ? keys : `\n      ${keys}`}\n`, join(work, 'requests.yaml'), new Date())
    const client = new PaletteHttpClient({host: emu.url, apiKey: new Secret(ADMIN)})
    const {plan, live} = await makePlan({desired, api: client, host: emu.url, force: true, toolVersion: 'bench', now: new Date()})
    const acting = plan.actions.filter((a) => a.kind !== 'no-op')
    if (acting.length !== 1) throw new Error(`bench: ${what} planned ${acting.map((a) => a.kind).join(', ') || 'nothing'}`)
    const sealer = new SealDir(dir)
    await sealer.prepare()
    const before = {...emu.stats.byOperation}
    const outcomes = await execute(plan.actions, {api: client, sealer, live, parallelism: 4})
    if (outcomes.some((o) => o.status !== 'done')) throw new Error(`bench: ${what} failed: ${outcomes.map((o) => o.error).join('; ')}`)
    const spent = Object.entries(emu.stats.byOperation).map(([op, n]) => [op, n - (before[op] ?? 0)]).filter(([, n]) => n > 0)
    const on = (prefix) => spent.filter(([op]) => op.split(' ')[1].startsWith(prefix)).reduce((a, [, n]) => a + n, 0)
    const detail = spent.filter(([op]) => op.includes('/v1/apiKeys')).map(([op, n]) => `${n > 1 ? `${n}x ` : ''}${op.split(' ')[0]} ${op.split(' ')[1].replace('/v1/apiKeys', '') || '/'}`).join(', ')
    // A batch of creates ends with one key list confirming their uids: counted here, shared by every create of a batch.
    const lists = spent.filter(([op]) => op === 'GET /v1/apiKeys').reduce((a, [, n]) => a + n, 0)
    const own = on('/v1/apiKeys') - lists
    const goal = what === 'create' ? 1 : what.startsWith('rotation') || what.startsWith('value-lost') ? 3 : 1
    row(`requests per ${what}: /v1/apiKeys (+ the batch's key list) + /v1/users`, `${own} + ${lists} (${detail}) + ${on('/v1/users')}`, what === 'delete' ? '1' : `${goal === 1 ? '1' : '<= 3'} + one list a batch + proof`, own <= goal && lists <= 1)
    await client.close()
    await emu.close()
  }
}

// 4. start-up: --version and validate, against `node -e 0`.
if (want('startup')) {
  // Interleaved, 21 rounds: the machine's drift hits the three alike.
  const samples = {node: [], version: [], validate: []}
  const argsOf = {node: ['-e', '0'], version: [BIN, '--version'], validate: [BIN, 'validate', '-f', 'examples/keys.yaml']}
  for (let i = 0; i < 21; i++) for (const k of Object.keys(samples)) samples[k].push((await run(process.execPath, argsOf[k])).ms)
  const node = median(samples.node)
  const version = median(samples.version)
  const validate = median(samples.validate)
  row('start-up: node -e 0', `${node.toFixed(0)} ms`, '')
  row('start-up: palette-keys --version', `${version.toFixed(0)} ms = ${(version / node).toFixed(2)}x node`, '<= 2x', version / node <= 2)
  row('start-up: palette-keys validate examples/keys.yaml', `${validate.toFixed(0)} ms = ${(validate / node).toFixed(2)}x node`, '<= 3x', validate / node <= 3)
}

// 5. validate is linear in the entries of one mapping (yaml's own duplicate-key check was quadratic).
if (want('validate')) {
  const per = {}
  for (const n of [25_000, 50_000, 100_000]) {
    const oneUser = ['version: 1', 'users:', '  user@example.com:', '    keys:', ...Array.from({length: n}, (_, i) => `      k${i}: {}`)].join('\n') + '\n'
    const manyUsers = ['version: 1', 'users:', ...Array.from({length: n}, (_, i) => `  u${i}@example.com: {keys: {}}`)].join('\n') + '\n'
    for (const [kind, text] of [['keys of one user', oneUser], ['users', manyUsers]]) {
      const file = join(work, `validate-${kind.length}-${n}.yaml`)
      await writeFile(file, text)
      const times = []
      for (let i = 0; i < 3; i++) {
        const r = await run(process.execPath, [BIN, 'validate', '-f', file])
        if (r.code !== 0) throw new Error(`validate of ${n} ${kind} failed: ${r.err}`)
        times.push(r.ms)
      }
      const ms = median(times)
      per[`${kind} ${n}`] = ms
      row(`validate: ${n.toLocaleString('en')} ${kind} in one mapping (${(text.length / 1e6).toFixed(1)} MB)`, `${ms.toFixed(0)} ms = ${((ms * 1000) / n).toFixed(1)} µs an entry`, '')
    }
  }
  for (const kind of ['keys of one user', 'users']) {
    const ratio = per[`${kind} 100000`] / per[`${kind} 25000`]
    row(`validate: ${kind}, time at 100k ÷ time at 25k`, `${ratio.toFixed(2)}x (4x entries)`, 'linear: < 6x', ratio < 6)
  }
}

// 6. a realistic tenant of 10,000 and 100,000 keys: export -> validate -> plan (no changes), as whole
// processes, against a bare process that fetches the same answers; and the plan's peak RSS. The 100k
// export is written without comments: with them it passes the 16 MiB a desired file may be.
for (const size of want('tenant') ? [10_000, 100_000] : []) {
  const big = size > 10_000
  const label = `tenant of ${size.toLocaleString('en')} realistic keys`
  const seed = realisticSeed(size)
  const emu = await emulatorProcess(await stateFile(seed.seed, `real-${size}`), {state: true})
  const env = {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN}
  // Each tenant in a folder of its own: its seal folder (sealed/, beside the file) is its own.
  const dir = join(work, `tenant-${size}`)
  await mkdir(dir)
  const file = join(dir, 'keys.yaml')
  const exported = await run(process.execPath, [BIN, 'export', '-o', file, '--rate-limit', '0', ...(big ? ['--no-comments'] : [])], env)
  if (exported.code !== 0) throw new Error(`bench: export of the realistic tenant failed: ${exported.err.slice(0, 500)}`)
  const {size: bytes} = await stat(file)
  row(`${label} (${seed.users} users, ${seed.revoked} revoked, ${seed.withDescription} with descriptions): export${big ? ' --no-comments' : ''}`, `${exported.ms.toFixed(0)} ms, ${(bytes / 1e6).toFixed(2)} MB = ${(bytes / size).toFixed(0)} bytes a key`, `< ${(16 * 1024 * 1024 / 1e6).toFixed(1)} MB cap`, bytes < 16 * 1024 * 1024)
  const validated = await run(process.execPath, [BIN, 'validate', '-f', file])
  row(`${label}: validate of the exported file`, `${validated.ms.toFixed(0)} ms, exit ${validated.code}`, 'exit 0', validated.code === 0)
  const bareScript = join(work, 'bare-fetch.mjs')
  await writeFile(bareScript, bareFetchScript())
  const samples = {plan: [], bare: []}
  const phases = {startup: [], parse: [], reads: [], diff: [], render: []}
  let planResult
  for (let i = 0; i < (big ? 5 : 7); i++) {
    const b = await run(process.execPath, [bareScript], env)
    if (b.code !== 0) throw new Error(`bench: bare fetch failed: ${b.err}`)
    samples.bare.push(b.ms)
    planResult = await run(process.execPath, [BIN, 'plan', '-f', file, '--rate-limit', '0', '--detailed-exitcode'], {...env, PALETTE_KEYS_PHASES: '1'})
    samples.plan.push(planResult.ms)
    for (const [, k, v] of /phases: (.*)/.exec(planResult.err)?.[1].matchAll(/(\w+) (\d+(?:\.\d+)?) ms/g) ?? []) phases[k]?.push(Number(v))
  }
  if (phases.parse.length === 0) throw new Error(`bench: the plan printed no phases (exit ${planResult.code}): ${planResult.err.slice(0, 800)}`)
  const changes = /(\d+) to create/.exec(planResult.out)
  row(`${label}: plan of the exported file`, `exit ${planResult.code}${planResult.code === 0 ? ' (no changes)' : `: ${planResult.err.slice(0, 200)}`}`, 'exit 0', planResult.code === 0 && !changes)
  const ratio = median(samples.plan) / median(samples.bare)
  const goal = big ? 2.5 : 3
  row(`${label}: plan process vs a bare process fetching the same 6 answers`, `${median(samples.plan).toFixed(0)} ms / ${median(samples.bare).toFixed(0)} ms = ${ratio.toFixed(2)}x`, `<= ${goal}x`, ratio <= goal)
  const total = Object.values(phases).reduce((a, xs) => a + median(xs), 0)
  row(`${label}: plan phases (share of the process)`, Object.entries(phases).map(([k, xs]) => `${k} ${median(xs).toFixed(0)} ms (${((median(xs) / total) * 100).toFixed(0)} %)`).join(', '), '')
  const rss = await run(process.execPath, ['--import', join(ROOT, 'bench/peak-rss.mjs'), BIN, 'plan', '-f', file, '--rate-limit', '0'], env)
  const kb = Number(/bench-peak-rss-kb (\d+)/.exec(rss.err)?.[1])
  if (rss.code !== 0 || !Number.isFinite(kb)) throw new Error(`bench: the plan for peak RSS failed (exit ${rss.code}): ${rss.err.slice(0, 500)}`)
  row(`${label}: peak RSS of the plan process`, `${(kb / 1024).toFixed(0)} MiB`, big ? '' : '< 200 MiB', big ? undefined : kb / 1024 < 200)
  if (!big) {
    // The same tenant with its seal folder: one sealed file a key, whose header plan reads (whom the
    // value is sealed to) while the tenant's answers are on their way.
    const get = (path) => request(emu.url + path, {headers: {ApiKey: ADMIN}}).then((r) => r.body.json())
    const [{items: users}, {items: keys}] = await Promise.all([get('/v1/users/meta'), get('/v1/apiKeys')])
    const emailOf = new Map(users.map((u) => [u.uid, u.emailId]))
    const {SealDir} = await import('../dist/seal/seal-dir.js')
    const sealer = new SealDir(join(dir, 'sealed'))
    await sealer.prepare()
    const RECIPIENT = 'age1kdnug0g69q26qvlaysykz582z2lucrrewkjdyhwmnyucrm6f2fyqangs4c'
    let sealed = 0
    const t = performance.now()
    for (const k of keys) {
      const email = emailOf.get(k.spec.user.uid)
      if (email === undefined || email === 'admin@example.com') continue
      await sealer.seal({user: email, name: k.metadata.name, uid: k.metadata.uid, expiry: k.spec.expiry, host: emu.url, createdAt: k.metadata.creationTimestamp, apiKey: `bench-sealed-${sealed}`}, [RECIPIENT])
      sealed++
    }
    const sealMs = performance.now() - t
    const sealedFile = join(dir, 'keys-sealed.yaml')
    const {readFile} = await import('node:fs/promises')
    await writeFile(sealedFile, (await readFile(file, 'utf8')).replace('recipients: []', `recipients: [${RECIPIENT}]`))
    const withFolder = {plan: [], bare: [], reads: []}
    let last
    for (let i = 0; i < 7; i++) {
      withFolder.bare.push((await run(process.execPath, [bareScript], env)).ms)
      last = await run(process.execPath, [BIN, 'plan', '-f', sealedFile, '--rate-limit', '0', '--detailed-exitcode'], {...env, PALETTE_KEYS_PHASES: '1'})
      withFolder.plan.push(last.ms)
      withFolder.reads.push(Number(/reads (\d+(?:\.\d+)?) ms/.exec(last.err)?.[1]))
    }
    row(`${label}, with a seal folder of ${sealed.toLocaleString('en')} sealed files (sealing them took ${(sealMs / 1000).toFixed(1)} s): plan vs the bare fetch`, `exit ${last.code}; ${median(withFolder.plan).toFixed(0)} ms / ${median(withFolder.bare).toFixed(0)} ms = ${(median(withFolder.plan) / median(withFolder.bare)).toFixed(2)}x; reads phase ${median(withFolder.reads).toFixed(0)} ms (${median(phases.reads).toFixed(0)} ms without the folder)`, 'exit 0', last.code === 0)
  }
  await emu.close()
}

if (process.env.BENCH_KEEP) console.error(`bench: kept ${work}`)
else await rm(work, {recursive: true, force: true})
const w = [Math.max(...rows.map((r) => r.what.length)), Math.max(...rows.map((r) => r.value.length)), Math.max(6, ...rows.map((r) => r.target.length))]
const line = (a, b, c, d) => `| ${a.padEnd(w[0])} | ${b.padEnd(w[1])} | ${c.padEnd(w[2])} | ${d.padEnd(3)} |`
console.log(line('measure', 'value', 'target', 'met'))
console.log(`|${'-'.repeat(w[0] + 2)}|${'-'.repeat(w[1] + 2)}|${'-'.repeat(w[2] + 2)}|-----|`)
for (const r of rows) console.log(line(r.what, r.value, r.target, r.ok))
