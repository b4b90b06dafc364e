import {spawn} from 'node:child_process'
import {mkdir, mkdtemp, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {request} from 'undici'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {listSealedFiles} from '../../src/seal/seal-dir.js'
import {uidOfSealedFileName} from '../../src/seal/sealed-file.js'
import {BIN, type EmulatorProcess, ROOT, runCli, startEmulatorProcess} from '../support/cli.js'
import {demoRecipient} from '../support/demo.js'
import {recordAndRemove, recordOutput} from '../support/leaks.js'

const ADMIN = 'demo-admin-key-0001'
const IDENTITY = 'examples/demo-identity.txt'
const KEYS = 32
/** Keys left pending (created, value not known sealed) by each killed run: proves recovery was exercised. */
const pendingAfterKill: number[] = []
const rerunsToConverge: number[] = []

let work: string
let recipient: string
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pk-crash-'))
  recipient = await demoRecipient()
})
afterAll(async () => {
  await recordAndRemove(work)
})

async function checkout(name: string): Promise<string> {
  const dir = join(work, name)
  await mkdir(dir, {recursive: true})
  const keys = Array.from({length: KEYS}, (_, i) => `      k${String(i).padStart(2, '0')}: {description: crash test}\n`).join('')
  await writeFile(join(dir, 'keys.yaml'), `version: 1\nseal:\n  recipients: [${recipient}]\nusers:\n  bob@example.com:\n    keys:\n${keys}`)
  return dir
}

/** Runs apply and SIGKILLs it after its `n`-th mutation (counted on --trace lines). */
async function applyKilledAfter(dir: string, env: NodeJS.ProcessEnv, n: number): Promise<{killed: boolean; mutationsSeen: number}> {
  const child = spawn(process.execPath, [BIN, 'apply', '-f', join(dir, 'keys.yaml'), '--auto-approve', '--trace', '--rate-limit', '0'], {cwd: ROOT, env: {...process.env, NO_COLOR: '1', PALETTE_KEYS_LEASE_SETTLE_MS: '0', ...env}})
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  let seen = 0
  createInterface({input: child.stderr}).on('line', (line) => {
    stderr += line + '\n'
    if (/^trace: (POST|PUT|DELETE) /.test(line) && ++seen === n) child.kill('SIGKILL')
  })
  const [, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (code, sig) => resolve([code, sig])))
  recordOutput(`killed apply after ${n} mutations (stdout)`, stdout)
  recordOutput(`killed apply after ${n} mutations (stderr)`, stderr)
  return {killed: signal === 'SIGKILL', mutationsSeen: seen}
}

async function applyUntilConverged(dir: string, env: NodeJS.ProcessEnv): Promise<number> {
  for (let run = 1; run <= 3; run++) {
    // The killed run's lease holds for its 2 minutes (no process id decides: issue 16, item 8); we know it is dead.
    const r = await runCli(['apply', '-f', join(dir, 'keys.yaml'), '--auto-approve', '--rate-limit', '0', '--break-lease'], {env})
    if (r.code === 0) return run
  }
  throw new Error('apply did not converge in 3 runs')
}

async function pendingKeys(emu: EmulatorProcess): Promise<number> {
  const list = (await (await request(`${emu.url}/v1/apiKeys`, {headers: {ApiKey: ADMIN}})).body.json()) as {items: LiveKey[]}
  return list.items.filter((k) => k.metadata.annotations.paletteKeysPending !== undefined).length
}

interface LiveKey {
  metadata: {uid: string; name: string; annotations: Record<string, string>}
  spec: {user: {uid: string}}
}

/**
 * The invariant after recovery: every live key apply created (managed) has its value in
 * exactly one sealed file across `dirs`, that value authenticates, nothing is pending, and
 * (for `noOrphansIn`) no sealed file names a key that no longer exists.
 */
async function expectInvariant(emu: EmulatorProcess, dirs: string[], noOrphansIn: string[]): Promise<void> {
  const list = (await (await request(`${emu.url}/v1/apiKeys`, {headers: {ApiKey: ADMIN}})).body.json()) as {items: LiveKey[]}
  const managed = list.items.filter((k) => k.metadata.annotations.managedBy === 'palette-keys')
  expect(managed.filter((k) => k.metadata.annotations.paletteKeysPending !== undefined)).toEqual([])
  expect(managed).toHaveLength(KEYS)
  const files = (await Promise.all(dirs.map((d) => listSealedFiles(join(d, 'sealed'))))).flat()
  const live = new Set(managed.map((k) => k.metadata.uid))
  for (const k of managed) expect(files.filter((f) => uidOfSealedFileName(f) === k.metadata.uid), k.metadata.name).toHaveLength(1)
  for (const d of noOrphansIn) {
    for (const f of await listSealedFiles(join(d, 'sealed'))) expect(live.has(uidOfSealedFileName(f)!), `orphan ${f}`).toBe(true)
  }
  // Each sealed value of a live key authenticates as bob.
  const bob = ((await (await request(`${emu.url}/v1/users/meta`, {headers: {ApiKey: ADMIN}})).body.json()) as {items: Array<{emailId: string; uid: string}>}).items.find((u) => u.emailId === 'bob@example.com')!.uid
  for (const d of dirs) {
    const r = await runCli(['unseal', join(d, 'sealed'), '-i', IDENTITY, '--format', 'json'], {})
    expect(r.code, r.stderr).toBe(0)
    const tree = JSON.parse(r.stdout) as Record<string, Record<string, {apiKey: string; uid: string}>>
    for (const v of Object.values(tree['bob@example.com'] ?? {})) {
      if (!live.has(v.uid)) continue
      const who = (await (await request(`${emu.url}/v1/users/info`, {headers: {ApiKey: v.apiKey}})).body.json()) as {userUid: string}
      expect(who.userUid).toBe(bob)
    }
  }
}

describe('crash safety: SIGKILL during an apply of 32 creates, then re-run', () => {
  // Kill points spread over the run: right after the first create, mid-way, near the end
  // (each create is a POST then a PUT clearing its pending mark).
  // CRASH_RUNS=N (npm run test:crash: 50) draws N kill points at random (seeded, reproducible).
  const runs = Number(process.env.CRASH_RUNS ?? 0)
  let seed = 20261126
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648)
  const killPoints = runs > 0 ? Array.from({length: runs}, () => 1 + Math.floor(random() * 64)) : [1, 6, 17, 29, 44, 58]

  it.each(killPoints.map((n, i) => [i + 1, n]))('run %i, killed after mutation %i: re-run converges, every value sealed once, no orphan', async (_run, n) => {
    const emu = await startEmulatorProcess(['--seed', 'examples/tenant.yaml', '--rate-limit', '0', '--latency', '10', '--key-limit', '50'])
    try {
      const env = {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN}
      const dir = await checkout(`same-${_run}-${n}`)
      const {killed} = await applyKilledAfter(dir, env, n)
      expect(killed).toBe(true)
      pendingAfterKill.push(await pendingKeys(emu))
      const runs = await applyUntilConverged(dir, env)
      rerunsToConverge.push(runs)
      expect(runs).toBe(1)
      expect((await runCli(['plan', '-f', join(dir, 'keys.yaml'), '--detailed-exitcode'], {env})).code).toBe(0)
      await expectInvariant(emu, [dir], [dir])
    } finally {
      await emu.stop()
    }
  })

  it('re-run from a fresh checkout without the killed run\'s files: recovery needs only the keys\' own marks', async () => {
    const emu = await startEmulatorProcess(['--seed', 'examples/tenant.yaml', '--rate-limit', '0', '--latency', '10', '--key-limit', '50'])
    try {
      const env = {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN}
      const first = await checkout('runner-1')
      expect((await applyKilledAfter(first, env, 23)).killed).toBe(true)
      const fresh = await checkout('runner-2')
      expect(await applyUntilConverged(fresh, env)).toBe(1)
      expect((await runCli(['plan', '-f', join(fresh, 'keys.yaml'), '--detailed-exitcode'], {env})).code).toBe(0)
      // Keys the killed run finished are sealed in its folder, the rest in the new one: each exactly once.
      await expectInvariant(emu, [first, fresh], [fresh])
    } finally {
      await emu.stop()
    }
  })

  it('the kills did leave keys whose values were not known to be sealed (the recovery path ran)', () => {
    expect(pendingAfterKill).toHaveLength(killPoints.length)
    expect(pendingAfterKill.some((n) => n > 0)).toBe(true)
    console.log(
      `crash figures: ${killPoints.length} kills (after mutations ${Math.min(...killPoints)} to ${Math.max(...killPoints)} of 64); ` +
        `re-runs to converge: ${[...new Set(rerunsToConverge)].sort().join(', ')} (max ${Math.max(...rerunsToConverge)}); ` +
        `kills that left a key pending: ${pendingAfterKill.filter((n) => n > 0).length}, ${pendingAfterKill.reduce((a, b) => a + b, 0)} pending keys in all, all recovered; ` +
        `every created key sealed exactly once, no orphan file, every value authenticates`,
    )
  })
})
