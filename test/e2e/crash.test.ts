import {spawn} from 'node:child_process'
import {copyFile, mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {request} from 'undici'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {listSealedFiles} from '../../src/seal/seal-dir.js'
import {uidOfSealedFileName} from '../../src/seal/sealed-file.js'
import {BIN, type EmulatorProcess, ROOT, runCli, startEmulatorProcess} from '../support/cli.js'
import {demoRecipient} from '../support/demo.js'
import {LIST_CUT_AT} from '../support/fidelity.js'
import {recordAndRemove, recordOutput} from '../support/leaks.js'

const ADMIN = 'demo-admin-key-0001'
const IDENTITY = 'examples/demo-identity.txt'
const KEYS = 32
/** Keys a killed run left without a sealed file (created, value not kept): proves recovery was exercised. */
const unsealedAfterKill: number[] = []
const rerunsToConverge: number[] = []
/** Seal-folder events put on top of the kills: sealed files lost, stale files planted. */
const events = {lost: 0, planted: 0}

let work: string
let recipient: string
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pk-crash-'))
  recipient = await demoRecipient()
})
afterAll(async () => {
  await recordAndRemove(work)
})

/**
 * The desired file: 32 keys of bob, `keyFields` on each. custodyGrace 0h: a key without its sealed file
 * is replaced by the very next plan (with the default 1h it would wait for a commit-back in flight).
 */
async function checkout(name: string, keyFields = '{description: crash test}'): Promise<string> {
  const dir = join(work, name)
  await mkdir(dir, {recursive: true})
  await writeKeys(dir, keyFields)
  return dir
}

async function writeKeys(dir: string, keyFields: string): Promise<void> {
  const keys = Array.from({length: KEYS}, (_, i) => `      k${String(i).padStart(2, '0')}: ${keyFields}\n`).join('')
  // maxChangeRatio 1: rotating (or replacing) every key at once is what these runs are for.
  await writeFile(join(dir, 'keys.yaml'), `version: 1\nseal:\n  recipients: [${recipient}]\n  custodyGrace: 0h\npolicy:\n  maxChangeRatio: 1\nusers:\n  bob@example.com:\n    keys:\n${keys}`)
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

interface LiveKey {
  metadata: {uid: string; name: string; annotations: Record<string, string>}
  spec: {user: {uid: string}}
  status: {isActive: boolean}
}

async function liveKeys(emu: EmulatorProcess): Promise<LiveKey[]> {
  return ((await (await request(`${emu.url}/v1/apiKeys`, {headers: {ApiKey: ADMIN}})).body.json()) as {items: LiveKey[]}).items
}

/** Active keys palette-keys made whose value has no sealed file in `dir`: what a kill between a create and its seal leaves. */
async function unsealedKeys(emu: EmulatorProcess, dir: string): Promise<number> {
  const files = new Set((await listSealedFiles(join(dir, 'sealed'))).map(uidOfSealedFileName))
  return (await liveKeys(emu)).filter((k) => k.metadata.annotations.managedBy === 'palette-keys' && k.status.isActive && !files.has(k.metadata.uid)).length
}

/**
 * The invariant after recovery: each declared key has exactly one active key palette-keys made
 * (no duplicate), whose value is in exactly one sealed file across `dirs` (none lost) and
 * authenticates as bob; nothing is pending; and (for `noStaleIn`) no sealed file names a key that
 * no longer exists or was retired (revoked).
 */
async function expectInvariant(emu: EmulatorProcess, dirs: string[], noStaleIn: string[]): Promise<void> {
  const all = await liveKeys(emu)
  const managed = all.filter((k) => k.metadata.annotations.managedBy === 'palette-keys' && k.status.isActive)
  expect(managed.filter((k) => k.metadata.annotations.paletteKeysPending !== undefined)).toEqual([])
  expect(managed.map((k) => k.metadata.name).sort()).toEqual(Array.from({length: KEYS}, (_, i) => `k${String(i).padStart(2, '0')}`))
  const files = (await Promise.all(dirs.map((d) => listSealedFiles(join(d, 'sealed'))))).flat()
  const live = new Set(managed.map((k) => k.metadata.uid))
  for (const k of managed) expect(files.filter((f) => uidOfSealedFileName(f) === k.metadata.uid), k.metadata.name).toHaveLength(1)
  for (const d of noStaleIn) {
    for (const f of await listSealedFiles(join(d, 'sealed'))) expect(live.has(uidOfSealedFileName(f)!), `stale ${f}`).toBe(true)
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

/** On top of a kill, what a team's seal folder may suffer: a sealed file lost (never committed) and a stale one planted. */
async function disturbFolder(dir: string, random: () => number): Promise<void> {
  const files = await listSealedFiles(join(dir, 'sealed'))
  if (files.length > 0 && random() < 0.5) {
    await rm(files.splice(Math.floor(random() * files.length), 1)[0]!)
    events.lost++
  }
  if (files.length > 0 && random() < 0.5) {
    // A copy of a real sealed file under the uid of a key that does not exist (a key deleted by hand, say).
    const some = files[Math.floor(random() * files.length)]!
    await copyFile(some, some.replace(/--[0-9a-f]{24}\.age$/, `--${'e'.repeat(23)}${Math.floor(random() * 10)}.age`))
    events.planted++
  }
}

describe('crash safety: SIGKILL during an apply of 32 creates or 32 rotations, then re-run', () => {
  // Kill points spread over the run (a create is its POST alone; a rotation a PUT renaming the
  // predecessor, the POST, and a PUT revoking it), and after each kill the seal folder may lose a
  // file and gain a stale one. CRASH_RUNS=N (npm run test:crash: 50) draws N kill points at random,
  // half over creates and half over rotations (seeded, reproducible).
  const runs = Number(process.env.CRASH_RUNS ?? 0)
  let seed = 20261126
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648)
  const createKills = runs > 0 ? Array.from({length: Math.ceil(runs / 2)}, () => 1 + Math.floor(random() * KEYS)) : [1, 9, 17, 30]
  const rotateKills = runs > 0 ? Array.from({length: Math.floor(runs / 2)}, () => 1 + Math.floor(random() * 3 * KEYS)) : [2, 41, 95]

  /** Kill the apply after mutation `n`, disturb the seal folder, then one apply must converge and keep the invariant. */
  async function killDisturbRecover(emu: EmulatorProcess, env: NodeJS.ProcessEnv, dir: string, n: number): Promise<void> {
    const {killed} = await applyKilledAfter(dir, env, n)
    expect(killed).toBe(true)
    unsealedAfterKill.push(await unsealedKeys(emu, dir))
    await disturbFolder(dir, random)
    const reruns = await applyUntilConverged(dir, env)
    rerunsToConverge.push(reruns)
    expect(reruns).toBe(1)
    expect((await runCli(['plan', '-f', join(dir, 'keys.yaml'), '--detailed-exitcode'], {env})).code).toBe(0)
    await expectInvariant(emu, [dir], [dir])
  }

  it.each(createKills.map((n, i) => [i + 1, n]))('create run %i, killed after mutation %i: re-run converges, every value sealed once, no duplicate, no stale file', async (_run, n) => {
    const emu = await startEmulatorProcess(['--seed', 'examples/tenant.yaml', '--rate-limit', '0', '--latency', '10', '--key-limit', '50'])
    try {
      const env = {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN}
      await killDisturbRecover(emu, env, await checkout(`same-${_run}-${n}`), n)
    } finally {
      await emu.stop()
    }
  })

  // 32 keys and their 32 retired predecessors are more than a list cut at 50 shows: that mode blocks the creates, by design.
  it.skipIf(LIST_CUT_AT > 0 && LIST_CUT_AT < 2 * KEYS + 5).each(rotateKills.map((n, i) => [i + 1, n]))('rotation run %i, killed after mutation %i: re-run converges, every key rotated once, no value lost, no stale file', async (_run, n) => {
    // Room for 32 keys, their 32 retired predecessors (kept for policy.deleteRetiredAfter) and the seed's.
    const emu = await startEmulatorProcess(['--seed', 'examples/tenant.yaml', '--rate-limit', '0', '--latency', '10', '--key-limit', '100'])
    try {
      const env = {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN}
      const dir = await checkout(`rotate-${_run}-${n}`, '{expiresIn: 30d}')
      expect(await applyUntilConverged(dir, env)).toBe(1)
      // Every key is now inside its rotation window.
      await writeKeys(dir, '{expiresIn: 90d, rotateBefore: 60d}')
      await killDisturbRecover(emu, env, dir, n)
      // Every predecessor is retired (revoked, kept for policy.deleteRetiredAfter) or deleted: none still works.
      const retired = (await liveKeys(emu)).filter((k) => k.metadata.annotations.managedBy === 'palette-keys' && !k.status.isActive)
      for (const k of retired) expect(k.metadata.name, 'a retired key keeps a name out of the way').toMatch(/-retired-/)
    } finally {
      await emu.stop()
    }
  })

  it('re-run from a fresh checkout without the killed run\'s files: custody is that checkout\'s folder, so each key whose file is not there is replaced', async () => {
    const emu = await startEmulatorProcess(['--seed', 'examples/tenant.yaml', '--rate-limit', '0', '--latency', '10', '--key-limit', '50'])
    try {
      const env = {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN}
      const first = await checkout('runner-1')
      expect((await applyKilledAfter(first, env, 23)).killed).toBe(true)
      const fresh = await checkout('runner-2')
      const plan = await runCli(['plan', '-f', join(fresh, 'keys.yaml'), '--json'], {env})
      const actions = (JSON.parse(plan.stdout) as {actions: Array<{kind: string; cause?: string}>}).actions
      // The keys the killed run made (sealed in runner-1 only) are value-lost here; the rest are created.
      expect(actions.filter((a) => a.kind === 'rotate' && a.cause === 'value-lost').length).toBeGreaterThan(10)
      expect(await applyUntilConverged(fresh, env)).toBe(1)
      expect((await runCli(['plan', '-f', join(fresh, 'keys.yaml'), '--detailed-exitcode'], {env})).code).toBe(0)
      await expectInvariant(emu, [fresh], [fresh])
    } finally {
      await emu.stop()
    }
  })

  it('the kills did leave keys whose values were not sealed, and the folder events happened (the recovery paths ran)', () => {
    const kills = createKills.length + (LIST_CUT_AT > 0 && LIST_CUT_AT < 2 * KEYS + 5 ? 0 : rotateKills.length)
    expect(unsealedAfterKill).toHaveLength(kills)
    expect(unsealedAfterKill.some((n) => n > 0)).toBe(true)
    expect(events.lost + events.planted).toBeGreaterThan(0)
    console.log(
      `crash figures: ${kills} kills (${createKills.length} over 32 creates, ${rotateKills.length} over 32 rotations); ` +
        `re-runs to converge: ${[...new Set(rerunsToConverge)].sort().join(', ')} (max ${Math.max(...rerunsToConverge)}); ` +
        `kills that left a key without its sealed file: ${unsealedAfterKill.filter((n) => n > 0).length}, ${unsealedAfterKill.reduce((a, b) => a + b, 0)} such keys in all, all replaced; ` +
        `sealed files lost ${events.lost}, stale files planted ${events.planted}; ` +
        `0 duplicates, every declared key sealed exactly once, no stale file, every value authenticates`,
    )
  })
})
