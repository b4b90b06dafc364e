import {mkdtemp, readFile, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {RunningEmulator} from '../../src/emulator/server.js'
import {newIdentity} from '../../src/seal/identity.js'
import {type CliResult, clockOff, runCli} from '../support/cli.js'
import {demoRecipient} from '../support/demo.js'
import {ADMIN_KEY, startTestEmulator} from '../support/emulator.js'
import {recordAndRemove} from '../support/leaks.js'

/**
 * A saved plan is a review token, not a program (issue 10, item 2). In CI a pull-request job
 * writes it, so anyone who controls that job can edit it. Each field is changed in turn; every
 * edit must end in exit 4 with zero mutations, and the untouched plan must still apply.
 */
type Doc = Record<string, any>

let emu: RunningEmulator
let work: string
let recipient: string
let original: Doc
let refusedOriginal: Doc
const env = () => ({PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN_KEY})
const keys = () => join(work, 'keys.yaml')

const USERS = `users:
  alice@example.com:
    keys:
      laptop: {adopt: true, description: Alice's laptop}
      new: {description: made by apply, expiresIn: 30d}
  bob@example.com:
    exclusive: true
    keys: {}
`
const file = (users = USERS) => `version: 1\nseal:\n  recipients: [${recipient}]\n  dir: sealed\n${users}`

async function cli(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runCli(args, {cwd: work, env: {...env(), ...extraEnv}})
}

beforeAll(async () => {
  emu = await startTestEmulator()
  work = await mkdtemp(join(tmpdir(), 'pk-tamper-'))
  recipient = await demoRecipient()
  // A plan the self-lockout brake refuses (revoking the caller's only key), to tamper with its brakes.
  await writeFile(keys(), file('users:\n  admin@example.com:\n    keys:\n      bootstrap: {adopt: true, active: false}\n'))
  const refused = await cli(['plan', '-f', keys(), '--out', join(work, 'refused.json')])
  expect(refused.code, refused.stdout + refused.stderr).toBe(3)
  refusedOriginal = JSON.parse(await readFile(join(work, 'refused.json'), 'utf8')) as Doc
  await writeFile(keys(), file())
  const r = await cli(['plan', '-f', keys(), '--out', join(work, 'plan.json')])
  expect(r.code, r.stdout + r.stderr).toBe(0)
  original = JSON.parse(await readFile(join(work, 'plan.json'), 'utf8')) as Doc
  expect(original.actions.map((a: Doc) => `${a.kind} ${a.address}`)).toEqual(['update alice@example.com/laptop', 'create alice@example.com/new', 'delete bob@example.com/ci'])
})
afterAll(async () => {
  await emu.close()
  await recordAndRemove(work)
})

const clone = (d: Doc): Doc => structuredClone(d)
const action = (d: Doc, kind: string): Doc => d.actions.find((a: Doc) => a.kind === kind)

const TAMPERS: Array<[string, (d: Doc, attacker: string) => void, RegExp]> = [
  ['actions: a delete of the caller\'s own key added (past the self-lockout brake)', (d) => {
    const admin = emu.state.allKeys().find((k) => k.name === 'bootstrap')!
    d.actions.push({kind: 'delete', address: 'admin@example.com/bootstrap', reason: 'cleanup', key: {email: 'admin@example.com', userUid: admin.userUid, uid: admin.uid, name: 'bootstrap'}})
    d.summary.delete++
  }, /differs at .*actions\b/],
  ['actions: one removed', (d) => void d.actions.splice(0, 1), /differs at/],
  ['actions: a kind changed (update → delete)', (d) => {
    const a = action(d, 'update')
    a.kind = 'delete'
    delete a.changes
  }, /differs at actions\[0\]/],
  ['targets: the created key given to another user', (d) => {
    const a = action(d, 'create')
    a.target.userUid = emu.state.allUsers().find((u) => u.email === 'bob@example.com')!.uid
    a.target.email = 'bob@example.com'
  }, /differs at actions\[1\]\.target/],
  ['targets: the created key\'s expiry moved', (d) => void (action(d, 'create').target.expiresAt = '2099-01-01T00:00:00.000Z'), /actions\[1\]\.target\.expiresAt/],
  ['targets: the deleted key swapped for another', (d) => {
    const other = emu.state.allKeys().find((k) => k.name === 'laptop')!
    action(d, 'delete').key.uid = other.uid
  }, /actions\[2\]\.key\.uid/],
  ['seal.recipients: swapped for the attacker\'s', (d, attacker) => void (d.seal.recipients = [attacker]), /seal\.recipients/],
  ['seal.recipients: the attacker\'s added', (d, attacker) => void d.seal.recipients.push(attacker), /seal\.recipients/],
  ['a created value\'s own recipients (target.sealTo): swapped for the attacker\'s', (d, attacker) => void (action(d, 'create').target.sealTo.recipients = [attacker]), /differs at actions\[1\]\.target\.sealTo/],
  ['a created value\'s own recipients (target.sealTo): the attacker\'s added', (d, attacker) => void action(d, 'create').target.sealTo.recipients.push(attacker), /differs at actions\[1\]\.target\.sealTo/],
  ['seal.dir: out of the repository', (d) => void (d.seal.dir = '../../tmp/stolen'), /seal\.dir/],
  ['policy.maxChangeRatio raised', (d) => void (d.policy.maxChangeRatio = 1), /policy\.maxChangeRatio/],
  ['policy.force set', (d) => void (d.policy.force = true), /policy\.force/],
  ['host: another host', (d) => void (d.host = 'https://attacker.example'), /made for https:\/\/attacker\.example.*No request was sent/],
  ['tenant: another tenant', (d) => void (d.tenant = {uid: 'ffffffffffffffffffffffff', orgName: 'other'}), /made for tenant other/],
  ['time: an hour earlier (the expiries it gives differ)', (d) => void (d.createdAt = new Date(Date.parse(d.createdAt) - 3_600_000).toISOString()), /actions\[1\]\.target\.expiresAt/],
  ['time: in the future', (d) => void (d.createdAt = '2099-01-01T00:00:00.000Z'), /after this machine's time/],
  ['desired.sha256: another file', (d) => void (d.desired.sha256 = '0123456789abcdef'.repeat(4)), /made from a desired-state file with SHA-256 0123456789ab/],
  ['live.fingerprint: changed', (d) => void (d.live.fingerprint = 'b'.repeat(64)), /The plan is stale/],
  ['caller: another user', (d) => void (d.caller.email = 'bob@example.com'), /caller\.email/],
  ['toolVersion: another version', (d) => void (d.toolVersion = '9.9.9'), /made by palette-keys 9\.9\.9/],
  ['resource_changes: a derived view edited', (d) => void (d.resource_changes[0].change.actions = ['no-op']), /resource_changes\[0\]/],
  ['findings: one hidden', (d) => void (d.findings = []), /findings/],
  ['summary: rewritten', (d) => void (d.summary.delete = 0), /summary\.delete/],
]

describe('apply PLAN refuses every edit of a saved plan (exit 4, zero mutations)', () => {
  let attacker: string
  beforeAll(async () => {
    attacker = (await newIdentity()).recipient
  })

  it.each(TAMPERS)('%s', async (name, edit, says) => {
    const doc = clone(original)
    edit(doc, attacker)
    const path = join(work, `tampered-${TAMPERS.findIndex((t) => t[0] === name)}.json`)
    await writeFile(path, JSON.stringify(doc, null, 2))
    const before = emu.stats.mutations
    const r = await cli(['apply', path, '-f', keys()])
    expect(r.code, r.stdout + r.stderr).toBe(4)
    expect(r.stderr.replace(/\n/g, ' ')).toMatch(says)
    expect(emu.stats.mutations).toBe(before)
  })

  it('brakes cleared on a plan a brake refused: exit 4, not applied', async () => {
    const doc = clone(refusedOriginal)
    doc.brakes = {refused: false, items: []}
    const path = join(work, 'unbraked.json')
    await writeFile(path, JSON.stringify(doc))
    await writeFile(keys(), file('users:\n  admin@example.com:\n    keys:\n      bootstrap: {adopt: true, active: false}\n'))
    try {
      const before = emu.stats.mutations
      const r = await cli(['apply', path, '-f', keys()])
      expect(r.code, r.stdout + r.stderr).toBe(4)
      expect(r.stderr).toMatch(/differs at brakes/)
      expect(emu.stats.mutations).toBe(before)
    } finally {
      await writeFile(keys(), file())
    }
  })

  it('the desired file edited after `plan`: exit 4; apply PLAN never reads a file the plan names', async () => {
    const doc = clone(original)
    doc.desired.file = join(work, 'elsewhere.yaml')
    await writeFile(join(work, 'elsewhere.yaml'), file(USERS.replace('new: {', 'evil: {}\n      new: {')))
    const path = join(work, 'renamed.json')
    await writeFile(path, JSON.stringify(doc))
    await writeFile(keys(), file(USERS.replace('laptop:', 'other: {}\n      laptop:')))
    try {
      const before = emu.stats.mutations
      const r = await cli(['apply', path, '-f', keys()])
      expect(r.code, r.stdout + r.stderr).toBe(4)
      expect(r.stderr).toContain('Pass the reviewed file with -f FILE')
      expect(emu.stats.mutations).toBe(before)
    } finally {
      await writeFile(keys(), file())
    }
  })

  it('a plan made with --force must be applied with --force', async () => {
    const forced = join(work, 'forced.json')
    expect((await cli(['plan', '-f', keys(), '--force', '--out', forced])).code).toBe(0)
    const before = emu.stats.mutations
    const r = await cli(['apply', forced, '-f', keys()])
    expect(r.code, r.stderr).toBe(4)
    expect(r.stderr).toContain('A plan made with --force is applied with --force')
    expect(emu.stats.mutations).toBe(before)
  })

  it('show renders an edited plan as edited; only apply proves it (and refuses it)', async () => {
    const doc = clone(original)
    doc.seal.recipients = [attacker]
    const path = join(work, 'shown.json')
    await writeFile(path, JSON.stringify(doc))
    const shown = await cli(['show', path, '--format', 'json'])
    expect(shown.code, shown.stderr).toBe(0)
    expect(JSON.parse(shown.stdout).seal.recipients).toEqual([attacker])
    expect((await cli(['apply', path, '-f', keys()])).code).toBe(4)
  })

  it('the untouched plan applies, from another folder too, and seals beside the desired file', async () => {
    const r = await runCli(['apply', join(work, 'plan.json'), '-f', keys()], {cwd: tmpdir(), env: env()})
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toMatch(/create {6}alice@example\.com\/new {2}done, sealed to .*pk-tamper-[^/]+\/sealed\/alice@example\.com\/new--/)
    const again = await cli(['plan', '-f', keys(), '--detailed-exitcode'])
    expect(again.code, again.stdout).toBe(0)
  })
})

describe('a saved plan cannot be backdated (issue 16, item 9)', () => {
  const LATER = USERS.replace('      new: {', '      later: {expiresIn: 30d}\n      new: {')
  const DAY = 86_400_000

  it('a plan made on a machine whose clock is 30 days behind: show says its age, apply refuses it (exit 4, zero mutations)', async () => {
    await writeFile(keys(), file(LATER))
    try {
      const path = join(work, 'backdated.json')
      const made = await cli(['plan', '-f', keys(), '--out', path], clockOff(-30))
      expect(made.code, made.stdout + made.stderr).toBe(0)
      const shown = await cli(['show', path])
      expect(shown.stdout).toMatch(/Plan made \S+, 30d ago; relative times count from now/)
      expect(shown.stdout).toMatch(/create {6}alice@example\.com\/later +declared, not in Palette\n +expires 30d after it is created/)
      const before = emu.stats.mutations
      const r = await cli(['apply', path, '-f', keys()])
      expect(r.code, r.stdout + r.stderr).toBe(4)
      expect(r.stderr).toMatch(/30d before this machine's time .*more than --max-plan-age 7d/s)
      expect(emu.stats.mutations).toBe(before)
    } finally {
      await writeFile(keys(), file())
    }
  })

  it('a plan 3 days old applies, and its created key expires 30d after the apply, not after the plan', async () => {
    await writeFile(keys(), file(LATER))
    try {
      const path = join(work, 'older.json')
      expect((await cli(['plan', '-f', keys(), '--out', path], clockOff(-3))).code).toBe(0)
      const planned = (JSON.parse(await readFile(path, 'utf8')) as Doc).actions.find((a: Doc) => a.address === 'alice@example.com/later').target
      expect(planned.expiresIn).toBe('30d')
      const started = Date.now()
      const r = await cli(['apply', path, '-f', keys()])
      expect(r.code, r.stdout + r.stderr).toBe(0)
      const key = emu.state.allKeys().find((k) => k.name === 'later')!
      const expiry = Date.parse(key.expiry)
      expect(expiry).toBeGreaterThanOrEqual(started + 30 * DAY - 1000)
      expect(expiry).toBeLessThanOrEqual(Date.now() + 30 * DAY)
      expect(expiry - Date.parse(planned.expiresAt)).toBeGreaterThan(2.9 * DAY)
    } finally {
      await writeFile(keys(), file())
    }
  })
})
