import {execFileSync} from 'node:child_process'
import {mkdir, mkdtemp, readFile, rename, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {armor, Encrypter, Stanza} from 'age-encryption'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {identityFileText, newIdentity} from '../../src/seal/identity.js'
import {DEMO_RECIPIENT} from '../../src/seal/recipients.js'
import {type SealedRecord, SEALED_TO_STANZA} from '../../src/seal/sealed-file.js'
import {SealDir} from '../../src/seal/seal-dir.js'
import {runCli} from '../support/cli.js'
import {recordAndRemove, registerSecret} from '../support/leaks.js'
import {useKeyring} from '../support/tenant.js'

/**
 * reseal reads the seal folder, which reaches the repository through pull requests: its files
 * and names are data. It makes no request, writes only regular files inside the folder, never
 * launders a planted file, and shows what a file's header says inertly.
 */
let work: string
/** Identity files live outside the work folder, whose every file the leak scan reads. */
const ring = useKeyring('pk-reseal-')
const ID = (name: string) => join(ring.dir, `${name}.txt`)
let ops: {identity: string; recipient: string}
let newcomer: {identity: string; recipient: string}
const UID = '0123456789abcdef01234567'
const record = (over: Partial<SealedRecord> = {}): SealedRecord => ({user: 'alice@example.com', name: 'ci', uid: UID, expiry: '2027-01-01T00:00:00.000Z', host: 'https://palette.example.com', createdAt: '2026-06-01T00:00:00.000Z', apiKey: 'reseal-attack-value-0001', ...over})
const keys = (recipients: string[]) => `version: 1\nseal: {recipients: [${recipients.join(', ')}], dir: sealed}\nusers:\n  alice@example.com:\n    keys:\n      ci: {}\n      web: {}\n`
// No Palette anywhere: reseal must not need one.
const offline = {PALETTE_HOST: 'http://127.0.0.1:9', PALETTE_API_KEY: ''}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pk-reseal-'))
  execFileSync('git', ['init', '-q', work])
  ops = await newIdentity()
  newcomer = await newIdentity()
  for (const [name, id] of [['ops', ops], ['newcomer', newcomer]] as const) {
    registerSecret(id.identity, `${name} identity (reseal-attacks.test)`)
    await writeFile(ID(name), identityFileText(id, new Date()), {mode: 0o600})
  }
  registerSecret(record().apiKey, 'reseal-attacks value')
  registerSecret(record({apiKey: 'planted-value-000000001'}).apiKey, 'reseal-attacks planted value')
})
afterAll(async () => {
  if (work) await recordAndRemove(work)
})

describe('reseal against a hostile seal folder', () => {
  it('makes no request; a planted file (its uid not its name\'s) and a link out of the folder are left as they are; the run fails and says why', async () => {
    await writeFile(join(work, 'keys.yaml'), keys([ops.recipient, newcomer.recipient]))
    const seal = new SealDir(join(work, 'sealed'))
    await seal.prepare()
    const good = await seal.seal(record(), [ops.recipient])
    // Anyone can seal to a public recipient: a record of another key under ci's name.
    const planted = await seal.seal(record({name: 'web', uid: 'fedcba9876543210fedcba98', apiKey: 'planted-value-000000001'}), [ops.recipient])
    const renamed = join(work, 'sealed', 'alice@example.com', 'web--a1b2c3d4e5f60718293a4b5c.age')
    await rename(planted, renamed)
    const outside = join(work, 'outside.age')
    await writeFile(outside, await readFile(good, 'utf8'))
    await symlink(outside, join(work, 'sealed', 'alice@example.com', 'ci--b1c2d3e4f5061728394a5b6c.age'))
    const before = {renamed: await readFile(renamed, 'utf8'), outside: await readFile(outside, 'utf8')}

    const r = await runCli(['reseal', '-i', ID('ops'), '--json'], {cwd: work, env: offline})
    expect(r.code, r.stderr).toBe(1)
    const report = JSON.parse(r.stdout) as {counts: Record<string, number>; files: Array<{file: string; status: string; note?: string}>}
    expect(report.counts).toEqual({resealed: 1, current: 0, 'not-opened': 0, broken: 1, refused: 0})
    expect(report.files.find((f) => f.status === 'broken')!.file).toBe('alice@example.com/web--a1b2c3d4e5f60718293a4b5c.age')
    const text = await runCli(['reseal', '-i', ID('ops')], {cwd: work, env: offline})
    expect(text.code).toBe(1)
    expect(text.stderr).toContain('1 sealed file could not be re-sealed to its list by this run')
    expect(text.stdout).toMatch(/broken\s+sealed\/alice@example.com\/web--a1b2c3d4e5f60718293a4b5c\.age {2}alice@example.com\/web {2}it holds the record of another key than its name says/)
    expect(await readFile(renamed, 'utf8')).toBe(before.renamed)
    expect(await readFile(outside, 'utf8')).toBe(before.outside)
    // The value's file now opens for the newcomer.
    const open = await runCli(['unseal', good, '-i', ID('newcomer'), '--key', 'alice@example.com/ci'], {cwd: work})
    expect(open.code, open.stderr).toBe(0)
    expect(open.stdout.trim()).toBe(record().apiKey)
  })

  it('a seal folder that is a link is refused (64) before anything is read', async () => {
    const other = await mkdtemp(join(tmpdir(), 'pk-reseal-link-'))
    execFileSync('git', ['init', '-q', other])
    await mkdir(join(other, 'real'))
    await symlink(join(other, 'real'), join(other, 'sealed'))
    await writeFile(join(other, 'keys.yaml'), keys([ops.recipient]))
    const r = await runCli(['reseal', '-i', ID('ops')], {cwd: other, env: offline})
    expect(r.code).toBe(64)
    expect(r.stderr).toContain('is a symbolic link')
    await recordAndRemove(other)
  })

  it('never re-seals a real tenant\'s value to the demo recipient (its identity ships with palette-keys)', async () => {
    await writeFile(join(work, 'keys.yaml'), keys([ops.recipient, DEMO_RECIPIENT]))
    const r = await runCli(['reseal', '-i', ID('ops')], {cwd: work, env: offline})
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/refused\s+sealed\/alice@example.com\/ci--0123456789abcdef01234567\.age {2}alice@example.com\/ci {2}seal\.recipients holds the demo recipient/)
  })

  it('a forged header record with terminal escapes is shown inertly by reseal and unseal', async () => {
    await writeFile(join(work, 'keys.yaml'), keys([ops.recipient, newcomer.recipient]))
    const e = new Encrypter()
    e.addRecipient((await newIdentity()).recipient)
    const body = JSON.stringify({to: [{fp: '0123456789abcdef', label: '\u001b]8;;https://evil.example\u0007click me\u001b[2J', kind: 'x25519'}], was: []})
    e.addRecipient({wrapFileKey: () => [new Stanza([SEALED_TO_STANZA, 'v1'], new TextEncoder().encode(body))]})
    const forged = join(work, 'sealed', 'alice@example.com', 'web--c1d2e3f405162738495a6b7c.age')
    await writeFile(forged, armor.encode(await e.encrypt('{}')))
    const r = await runCli(['reseal', '-i', ID('ops')], {cwd: work, env: offline})
    const u = await runCli(['unseal', 'sealed/alice@example.com/web--c1d2e3f405162738495a6b7c.age', '-i', ID('ops')], {cwd: work})
    for (const out of [r.stdout, r.stderr, u.stdout, u.stderr]) {
      expect(out).not.toContain('\u001b')
      expect(out).not.toContain('\u0007')
    }
    expect(r.stdout).toContain('web--c1d2e3f405162738495a6b7c.age')
    expect(u.stderr).toMatch(/web--c1d2e3f405162738495a6b7c\.age: sealed to .*click me/)
  })
})
