import {mkdir, mkdtemp, writeFile} from 'node:fs/promises'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as delay} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {LEASE} from '../../src/apply/lease.js'
import type {RunningEmulator} from '../../src/emulator/server.js'
import {listSealedFiles} from '../../src/seal/seal-dir.js'
import {uidOfSealedFileName} from '../../src/seal/sealed-file.js'
import {type CliResult, clockOff, runCli} from '../support/cli.js'
import {demoRecipient} from '../support/demo.js'
import {ADMIN_KEY, startTestEmulator} from '../support/emulator.js'
import {recordAndRemove} from '../support/leaks.js'

/**
 * Two applies of one tenant at once (issue 10, item 7): the lease lets one go on and stops the
 * other before any change; whatever runs, every declared key ends up live once, with exactly
 * one sealed value in one of the two checkouts.
 */
const KEYS = 8
let emu: RunningEmulator
let work: string
let recipient: string
beforeAll(async () => {
  // Latency makes each apply take long enough for the runs to overlap.
  emu = await startTestEmulator({latencyMs: 40})
  work = await mkdtemp(join(tmpdir(), 'pk-concurrent-'))
  recipient = await demoRecipient()
})
afterAll(async () => {
  await emu.close()
  await recordAndRemove(work)
})

async function checkout(name: string, round: number): Promise<string> {
  const dir = join(work, name)
  await mkdir(dir, {recursive: true})
  const keys = Array.from({length: KEYS}, (_, i) => `      r${round}-k${i}: {}\n`).join('')
  await writeFile(join(dir, 'keys.yaml'), `version: 1\nseal:\n  recipients: [${recipient}]\nusers:\n  bob@example.com:\n    keys:\n${keys}`)
  return dir
}

const apply = (dir: string, extra: string[] = []): Promise<CliResult> =>
  runCli(['apply', '-f', join(dir, 'keys.yaml'), '--auto-approve', ...extra], {env: {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN_KEY, PALETTE_KEYS_LEASE_SETTLE_MS: '1000'}})

async function expectOneSealedKeyEach(round: number, dirs: string[]): Promise<void> {
  const live = emu.state.allKeys().filter((k) => k.name.startsWith(`r${round}-`))
  expect(live.map((k) => k.name).sort()).toEqual(Array.from({length: KEYS}, (_, i) => `r${round}-k${i}`).sort())
  const sealed = (await Promise.all(dirs.map((d) => listSealedFiles(join(d, 'sealed'))))).flat().map((f) => uidOfSealedFileName(f))
  expect(sealed.sort()).toEqual(live.map((k) => k.uid).sort())
  expect(emu.state.allKeys().filter((k) => k.annotations[LEASE] !== undefined)).toEqual([])
}

describe('concurrent applies', () => {
  it.each([0, 150, 600])('started %i ms apart: one goes on, the other stops before any change (exit 1) or finds nothing to do; no twins', async (gap) => {
    const round = gap
    const a = await checkout(`a-${round}`, round)
    const b = await checkout(`b-${round}`, round)
    const first = apply(a)
    await delay(gap)
    const second = apply(b)
    const results = await Promise.all([first, second])
    const codes = results.map((r) => r.code).sort()
    const stopped = results.find((r) => r.code !== 0)
    if (stopped) {
      // 1: it met the other's lease; 4: the other had ended, and changed what this one had planned against.
      expect(codes[0], results.map((r) => r.stdout + r.stderr).join('\n---\n')).toBe(0)
      expect([1, 4]).toContain(codes[1])
      expect(stopped.stderr).toMatch(/Another apply .*holds the lease|Another apply took the lease|The live keys changed since the plan was made|Taking the lease took/)
      expect(stopped.stdout).not.toContain('Applying:')
    } else {
      // The second came after the first ended: it saw everything done.
      expect(results.some((r) => r.stdout.includes('No changes'))).toBe(true)
    }
    await expectOneSealedKeyEach(round, [a, b])
    const again = await runCli(['plan', '-f', join(a, 'keys.yaml'), '--detailed-exitcode'], {env: {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN_KEY}})
    expect(again.code, again.stdout).toBe(0)
  })

  it('a live lease stops the run whatever host and process it names (another container may share the host name); --break-lease goes on and removes it', async () => {
    const dir = await checkout('stale', 7)
    const boot = emu.state.allKeys().find((k) => k.name === 'bootstrap')!
    const until = new Date(Date.now() + 60_000).toISOString()
    // What another container of this host name leaves: a pid that does not exist in this pid namespace.
    emu.state.updateKey(boot.uid, {annotations: {...boot.annotations, [LEASE]: `run=00000000000000aa until=${until} host=${hostname()} pid=4194303`}}, new Date())
    const before = emu.stats.mutations
    const blocked = await apply(dir)
    expect(blocked.code, blocked.stdout + blocked.stderr).toBe(1)
    expect(blocked.stderr).toMatch(new RegExp(`Another apply \\(run 00000000000000aa on ${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\) holds the lease`))
    expect(emu.stats.mutations).toBe(before)
    // A forged lease on another user's key counts for nothing: only the caller's keys hold leases.
    const alice = emu.state.allKeys().find((k) => k.name === 'laptop')!
    emu.state.updateKey(alice.uid, {annotations: {...alice.annotations, [LEASE]: `run=00000000000000bb until=${until}`}}, new Date())
    const broken = await apply(dir, ['--break-lease'])
    expect(broken.code, broken.stdout + broken.stderr).toBe(0)
    expect(broken.stderr).toContain('Breaking the lease of apply run 00000000000000aa')
    expect(broken.stderr).not.toContain('00000000000000bb')
    expect(emu.state.key(boot.uid)!.annotations[LEASE]).toBeUndefined()
    const {[LEASE]: _forged, ...rest} = emu.state.key(alice.uid)!.annotations
    emu.state.updateKey(alice.uid, {annotations: rest}, new Date())
  })

  it('a run that takes longer to write its lease than the settle time stops before any change (exit 1): another run could have missed it', async () => {
    const dir = await checkout('slow-lease', 10)
    const before = emu.stats.mutations
    // Every answer takes 40 ms here: reading the lease's key and writing the lease take at least 80 ms.
    const r = await runCli(['apply', '-f', join(dir, 'keys.yaml'), '--auto-approve'], {env: {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN_KEY, PALETTE_KEYS_LEASE_SETTLE_MS: '30'}})
    expect(r.code, r.stdout + r.stderr).toBe(1)
    expect(r.stderr).toMatch(/Taking the lease took \d+ ms .*not less than --lease-settle \(30 ms\)/)
    expect(r.stdout).not.toContain('Applying:')
    // The lease written and removed, nothing else.
    expect(emu.stats.mutations - before).toBe(2)
    expect(emu.state.allKeys().filter((k) => k.annotations[LEASE] !== undefined)).toEqual([])
    expect(emu.state.allKeys().filter((k) => k.name.startsWith('r10-'))).toEqual([])
  })

  it('a lease that claims to last longer than the protocol allows (a day) counts as expired', async () => {
    const dir = await checkout('forever', 8)
    const boot = emu.state.allKeys().find((k) => k.name === 'bootstrap')!
    emu.state.updateKey(boot.uid, {annotations: {...boot.annotations, [LEASE]: `run=00000000000000cc until=${new Date(Date.now() + 86_400_000).toISOString()}`}}, new Date())
    const r = await apply(dir)
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(emu.state.key(boot.uid)!.annotations[LEASE]).toBeUndefined()
  })

  it('a run whose clock is 3 minutes behind holds the lease by Palette\'s clock: a run with a right clock that starts meanwhile stops (exit 1), no twins', async () => {
    const a = await checkout('slow-clock', 9)
    const b = await checkout('right-clock', 9)
    const env = {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN_KEY}
    const first = runCli(['apply', '-f', join(a, 'keys.yaml'), '--auto-approve'], {env: {...env, ...clockOff(-3 / 1440), PALETTE_KEYS_LEASE_SETTLE_MS: '4000'}})
    // Once the slow run's lease is written, the other starts.
    const boot = emu.state.allKeys().find((k) => k.name === 'bootstrap')!
    for (let i = 0; i < 200 && emu.state.key(boot.uid)!.annotations[LEASE] === undefined; i++) await delay(25)
    expect(emu.state.key(boot.uid)!.annotations[LEASE]).toBeDefined()
    const second = await runCli(['apply', '-f', join(b, 'keys.yaml'), '--auto-approve'], {env: {...env, PALETTE_KEYS_LEASE_SETTLE_MS: '0'}})
    expect(second.code, second.stdout + second.stderr).toBe(1)
    expect(second.stderr).toMatch(/Another apply \(run [0-9a-f]{16}\) holds the lease/)
    expect(second.stdout).not.toContain('Applying:')
    const done = await first
    expect(done.code, done.stdout + done.stderr).toBe(0)
    await expectOneSealedKeyEach(9, [a, b])
  })
})
