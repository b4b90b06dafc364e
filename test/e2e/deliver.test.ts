import {spawn} from 'node:child_process'
import {once} from 'node:events'
import {existsSync} from 'node:fs'
import {mkdtemp, readFile, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import type {RunningEmulator} from '../../src/emulator/server.js'
import {DELIVERED, GENERATION, SUCCEEDS} from '../../src/plan/ownership.js'
import {BIN, type CliResult, clockOff, ROOT, runCli} from '../support/cli.js'
import {demoRecipient} from '../support/demo.js'
import {call, startTestEmulator} from '../support/emulator.js'
import {type RunningGithubFake, startGithubFake} from '../support/github-fake.js'
import {type RunningGitlabFake, startGitlabFake} from '../support/gitlab-fake.js'
import {recordAndRemove, recordOutput, registerSecret, sha256} from '../support/leaks.js'
import {havePyNacl, openSealedBox} from '../support/pynacl.js'

/**
 * Delivery and overlap (issue 18), through the real CLI against the emulator, a GitHub fake
 * built from GitHub's OpenAPI description and a GitLab fake built from GitLab's documented
 * variables API. A GitHub secret is opened with PyNaCl (not the libsodium build palette-keys
 * seals with); every delivered value must authenticate against the emulator as its owner.
 */
const ADMIN = 'deliver-admin-key-00001'
const GH_TOKEN = 'github-fine-grained-token-000000000001'
const GL_TOKEN = 'gitlab-project-token-0000000000000001'
const SEED = `
tenant: {uid: 5f0c4e2a9d1b3c4d5e6f7a8b, orgName: deliver}
users:
  - email: admin@example.com
    roles: [Tenant Admin]
    apiKeys: [{name: bootstrap, value: ${ADMIN}, expiry: 2099-01-01T00:00:00Z}]
  - email: alice@example.com
`
const IDENTITY = join(ROOT, 'examples/demo-identity.txt')
const RECORDER = join(ROOT, 'test/support/exec-recorder.mjs')
const naclAvailable = havePyNacl()

let recipient: string
let emu: RunningEmulator
let gh: RunningGithubFake
let gl: RunningGitlabFake
let work: string
beforeAll(async () => {
  recipient = await demoRecipient()
  registerSecret(GH_TOKEN, 'github token (deliver.test)')
  registerSecret(GL_TOKEN, 'gitlab token (deliver.test)')
})
beforeEach(async () => {
  emu = await startTestEmulator({}, SEED)
  gh = await startGithubFake(GH_TOKEN)
  gl = await startGitlabFake(GL_TOKEN)
  work = await mkdtemp(join(tmpdir(), 'pk-deliver-'))
})
afterEach(async () => {
  // Every answer the fakes gave is one their spec declares, with a body that validates.
  expect(gh.contractViolations).toEqual([])
  expect(gl.contractViolations).toEqual([])
  // The fakes' request logs go to the leak scan (with the folder).
  await writeFile(join(work, 'github-fake.log.json'), JSON.stringify(gh.log))
  await writeFile(join(work, 'gitlab-fake.log.json'), JSON.stringify(gl.log))
  await Promise.all([emu.close(), gh.close(), gl.close()])
  await recordAndRemove(work)
})

const DELIVER_ALL = `        deliver:
          - github: {repository: acme/app, secret: PALETTE_API_KEY}
          - gitlab: {project: acme/app, variable: PALETTE_API_KEY}
          - exec: {command: [node, ${JSON.stringify(RECORDER)}, exec.jsonl]}
`

function keysYaml(fields: string, deliver = DELIVER_ALL): string {
  return `version: 1\nseal:\n  recipients: [${recipient}]\n  custodyGrace: 0h\nusers:\n  alice@example.com:\n    keys:\n      ci:\n        description: deploys\n${fields}${deliver}`
}

const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  PALETTE_HOST: emu.url,
  PALETTE_API_KEY: ADMIN,
  GITHUB_API_URL: gh.url,
  PALETTE_KEYS_GITHUB_TOKEN: GH_TOKEN,
  PALETTE_KEYS_GITLAB_URL: gl.url,
  PALETTE_KEYS_GITLAB_TOKEN: GL_TOKEN,
  GITHUB_TOKEN: '',
  ...extra,
})

async function cli(args: string[], fields = '', extra: NodeJS.ProcessEnv = {}, deliver = DELIVER_ALL): Promise<CliResult> {
  await writeFile(join(work, 'keys.yaml'), keysYaml(fields, deliver))
  return runCli(args, {cwd: work, env: env(extra)})
}
const file = ['-f', 'keys.yaml']

function aliceKeys() {
  const alice = emu.state.allUsers().find((u) => u.email === 'alice@example.com')!
  return emu.state.allKeys().filter((k) => k.userUid === alice.uid)
}

/** The one key named `ci` (the declared name). */
function current() {
  const keys = aliceKeys().filter((k) => k.name === 'ci')
  expect(keys, 'one key named ci').toHaveLength(1)
  return keys[0]!
}

/** alice/ci's value, from the sealed folder, through `unseal`. */
async function sealedValue(): Promise<{apiKey: string; uid: string}> {
  const r = await runCli(['unseal', join(work, 'sealed'), '-i', IDENTITY, '--format', 'json'], {cwd: work})
  expect(r.code, r.stderr).toBe(0)
  return (JSON.parse(r.stdout) as Record<string, Record<string, {apiKey: string; uid: string}>>)['alice@example.com']!.ci!
}

async function authenticatesAsAlice(value: string): Promise<boolean> {
  const r = await call(emu, 'GET', '/v1/users/info', {key: value})
  return r.status === 200 && r.body.userUid === emu.state.allUsers().find((u) => u.email === 'alice@example.com')!.uid
}

interface ExecRecord {
  argv: string[]
  env: Record<string, string>
  cwd: string
  stdinSha256: string
  stdinBytes: number
}
async function execRecords(): Promise<ExecRecord[]> {
  const path = join(work, 'exec.jsonl')
  if (!existsSync(path)) return []
  return (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as ExecRecord)
}

/** What each target holds now: the GitHub secret opened with PyNaCl, the GitLab variable, the exec stand-in's last stdin hash. */
function githubValue(): string | undefined {
  const s = gh.secret('repos/acme/app', 'PALETTE_API_KEY')
  return s && openSealedBox(gh.privateKey('repos/acme/app'), s.encrypted_value)
}

async function expectEveryTargetHolds(value: string): Promise<void> {
  expect(githubValue() === value, 'the GitHub secret holds the value').toBe(true)
  const variable = gl.variable('projects/acme/app', 'PALETTE_API_KEY')
  expect(variable?.value === value, 'the GitLab variable holds the value').toBe(true)
  expect(variable).toMatchObject({masked: true, protected: true, raw: true, environment_scope: '*'})
  const last = (await execRecords()).at(-1)
  expect(last?.stdinSha256).toBe(sha256(value))
  expect(await authenticatesAsAlice(value)).toBe(true)
}

describe.skipIf(!naclAvailable)('delivery (issue 18): GitHub, GitLab and exec targets through the real CLI', () => {
  it('a create and a rotation (rotate: 1) deliver the new value to all three targets; the predecessor works until every target holds it, then it is revoked; plan exit 0 after', async () => {
    const plan = await cli(['plan', ...file, '--detailed-exitcode'])
    expect(plan.code, plan.stdout + plan.stderr).toBe(2)
    expect(plan.stdout).toContain('delivers to github acme/app secret PALETTE_API_KEY')
    expect(plan.stdout).toContain('delivers to gitlab project acme/app variable PALETTE_API_KEY (scope *, masked, protected)')
    expect(plan.stdout).toMatch(/delivers to exec node .*exec-recorder\.mjs.* exec\.jsonl/)

    const first = await cli(['apply', ...file, '--auto-approve'])
    expect(first.code, first.stdout + first.stderr).toBe(0)
    expect(first.stdout).toMatch(/delivered to 3 targets/)
    const v1 = await sealedValue()
    await expectEveryTargetHolds(v1.apiKey)
    expect(current().annotations[DELIVERED]?.split(',')).toHaveLength(3)
    const settled = await cli(['plan', ...file, '--detailed-exitcode'])
    expect(settled.code, settled.stdout + settled.stderr).toBe(0)

    // While a target is written, the predecessor still works: that is the outage this avoids.
    const seenActive: boolean[] = []
    gh.onWrite = () => seenActive.push(emu.state.key(v1.uid)?.isActive === true)
    gl.onWrite = () => seenActive.push(emu.state.key(v1.uid)?.isActive === true)
    const rotation = await cli(['plan', ...file, '--detailed-exitcode'], '        rotate: 1\n')
    expect(rotation.code, rotation.stdout + rotation.stderr).toBe(2)
    expect(rotation.stdout.match(/rotate \(generation 1, was 0\)/g), rotation.stdout).toHaveLength(1)
    const second = await cli(['apply', ...file, '--auto-approve'], '        rotate: 1\n')
    expect(second.code, second.stdout + second.stderr).toBe(0)
    expect(seenActive).toEqual([true, true])
    const v2 = await sealedValue()
    expect(v2.uid).not.toBe(v1.uid)
    await expectEveryTargetHolds(v2.apiKey)
    // Delivered everywhere, so the predecessor went in the same apply (no revokeAfter: default retirement).
    expect(await authenticatesAsAlice(v1.apiKey)).toBe(false)
    const after = await cli(['plan', ...file, '--detailed-exitcode'], '        rotate: 1\n')
    expect(after.code, after.stdout + after.stderr).toBe(0)

    // The exec target got the value on stdin only: not in argv, not in its environment, no credential.
    const records = await execRecords()
    expect(records).toHaveLength(2)
    for (const r of records) {
      expect(r.argv).toEqual(['exec.jsonl'])
      expect(r.cwd).toBe(await import('node:fs/promises').then((fs) => fs.realpath(work)))
      expect(r.env).toMatchObject({PALETTE_KEYS_USER: 'alice@example.com', PALETTE_KEYS_KEY_NAME: 'ci'})
      expect(r.env.PALETTE_KEYS_KEY_UID).toMatch(/^[0-9a-f]{24}$/)
      expect(Date.parse(r.env.PALETTE_KEYS_KEY_EXPIRY!)).toBeGreaterThan(Date.now())
      for (const name of ['PALETTE_API_KEY', 'PALETTE_KEYS_GITHUB_TOKEN', 'PALETTE_KEYS_GITLAB_TOKEN', 'GITHUB_TOKEN']) expect(r.env[name], name).toBeUndefined()
      const everything = JSON.stringify(r)
      for (const secret of [v1.apiKey, v2.apiKey, ADMIN, GH_TOKEN, GL_TOKEN]) expect(everything.includes(secret), 'a secret reached the exec target outside stdin').toBe(false)
    }
    expect(records.map((r) => r.env.PALETTE_KEYS_KEY_UID)).toEqual([v1.uid, v2.uid])
    // Nothing the CLI printed holds a value or a token.
    for (const out of [plan, first, settled, rotation, second, after]) for (const secret of [v1.apiKey, v2.apiKey, ADMIN, GH_TOKEN, GL_TOKEN]) expect((out.stdout + out.stderr).includes(secret)).toBe(false)
  })

  it('revokeAfter: 1d keeps the predecessor active after a rotation (plan shows it and when it goes); an apply a day later revokes it', async () => {
    const first = await cli(['apply', ...file, '--auto-approve'], '        revokeAfter: 1d\n')
    expect(first.code, first.stdout + first.stderr).toBe(0)
    const v1 = await sealedValue()
    const rotated = await cli(['apply', ...file, '--auto-approve'], '        revokeAfter: 1d\n        rotate: 1\n')
    expect(rotated.code, rotated.stdout + rotated.stderr).toBe(0)
    const v2 = await sealedValue()
    await expectEveryTargetHolds(v2.apiKey)
    // Both work for the overlap.
    expect(await authenticatesAsAlice(v1.apiKey)).toBe(true)
    const pred = emu.state.key(v1.uid)!
    expect(pred.name).not.toBe('ci')
    const overlap = await cli(['plan', ...file, '--detailed-exitcode'], '        revokeAfter: 1d\n        rotate: 1\n')
    expect(overlap.code, overlap.stdout + overlap.stderr).toBe(0)
    expect(overlap.stdout).toMatch(new RegExp(`overlap +alice@example\\.com/ci-retired-[0-9a-f]{8} +predecessor of key ${v2.uid}, still active so that its consumers can switch: revoked by an apply from \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\dZ \\(in 2[34]h; revokeAfter\\) \\[${v1.uid}\\]`))
    const json = await cli(['plan', ...file, '--json'], '        revokeAfter: 1d\n        rotate: 1\n')
    expect((JSON.parse(json.stdout) as {findings: Array<{kind: string; uid?: string}>}).findings).toContainEqual(expect.objectContaining({kind: 'overlap', uid: v1.uid}))

    // A day and an hour later (the CLI's clock; the emulator keeps real time), the predecessor goes.
    const later = await cli(['apply', ...file, '--auto-approve'], '        revokeAfter: 1d\n        rotate: 1\n', clockOff(1.05))
    expect(later.code, later.stdout + later.stderr).toBe(0)
    expect(later.stdout).toMatch(/revoke +alice@example\.com\/ci-retired-[0-9a-f]{8} +retired by a rotation; its overlap \(revokeAfter\) ended \d{4}-\d\d-\d\d\n +\[[0-9a-f]{24}\]/)
    expect(later.stdout).toContain(`[${v1.uid}]`)
    expect(await authenticatesAsAlice(v1.apiKey)).toBe(false)
    expect(await authenticatesAsAlice(v2.apiKey)).toBe(true)
    expect(current().uid).toBe(v2.uid)
  })

  it('a failing GitHub target leaves the predecessor active and the successor undelivered (apply exit 1); the next apply makes a new value, delivers it everywhere, and only then revokes the predecessor', async () => {
    const first = await cli(['apply', ...file, '--auto-approve'])
    expect(first.code, first.stdout + first.stderr).toBe(0)
    const v1 = await sealedValue()
    gh.failWrites(1, 500)
    const failed = await cli(['apply', ...file, '--auto-approve'], '        rotate: 1\n')
    expect(failed.code, failed.stdout + failed.stderr).toBe(1)
    expect(failed.stdout + failed.stderr).toMatch(/delivery to github acme\/app secret PALETTE_API_KEY failed: GitHub answered PUT \/repos\/acme\/app\/actions\/secrets\/PALETTE_API_KEY with HTTP 500/)
    // The predecessor still works and every target still holds it.
    expect(await authenticatesAsAlice(v1.apiKey)).toBe(true)
    expect(githubValue() === v1.apiKey).toBe(true)
    const successor = aliceKeys().find((k) => k.annotations[SUCCEEDS] === v1.uid)
    expect(successor, 'the successor was made and sealed').toBeDefined()
    expect(successor!.annotations[DELIVERED]).toBeUndefined()

    const plan = await cli(['plan', ...file, '--detailed-exitcode'], '        rotate: 1\n')
    expect(plan.code, plan.stdout + plan.stderr).toBe(2)
    const retry = await cli(['apply', ...file, '--auto-approve'], '        rotate: 1\n')
    expect(retry.code, retry.stdout + retry.stderr).toBe(0)
    const v2 = await sealedValue()
    expect(v2.uid).not.toBe(v1.uid)
    expect(v2.uid).not.toBe(successor!.uid)
    await expectEveryTargetHolds(v2.apiKey)
    expect(await authenticatesAsAlice(v1.apiKey)).toBe(false)
    expect(emu.state.key(successor!.uid)?.isActive ?? false, 'the undelivered successor is retired too').toBe(false)
    const last = await cli(['plan', ...file, '--detailed-exitcode'], '        rotate: 1\n')
    expect(last.code, last.stdout + last.stderr).toBe(0)
  })

  it('a SIGKILL while a target is being delivered to (after the seal) converges on re-run: no key is left undelivered, the predecessor was active until then', async () => {
    const first = await cli(['apply', ...file, '--auto-approve'])
    expect(first.code, first.stdout + first.stderr).toBe(0)
    const v1 = await sealedValue()
    // The exec stand-in hangs once (it sees hang-once in its folder); the apply is killed meanwhile.
    await writeFile(join(work, 'hang-once'), '')
    await writeFile(join(work, 'keys.yaml'), keysYaml('        rotate: 1\n'))
    const child = spawn(process.execPath, [BIN, 'apply', ...file, '--auto-approve'], {cwd: work, env: {...process.env, NO_COLOR: '1', PALETTE_KEYS_LEASE_SETTLE_MS: '0', ...env()}})
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const closed = once(child, 'close')
    const deadline = Date.now() + 60_000
    while (!existsSync(join(work, 'hanging.pid')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(existsSync(join(work, 'hanging.pid')), out).toBe(true)
    child.kill('SIGKILL')
    await closed
    process.kill(Number(await readFile(join(work, 'hanging.pid'), 'utf8')), 'SIGKILL')
    recordOutput('cli apply (killed during delivery)', out)
    const successor = aliceKeys().find((k) => k.annotations[SUCCEEDS] === v1.uid)
    expect(successor, 'killed after the successor was made').toBeDefined()
    expect(successor!.annotations[DELIVERED]).toBeUndefined()
    expect(await authenticatesAsAlice(v1.apiKey)).toBe(true)

    // The killed run's lease holds for its 2 minutes; we know it is dead.
    const rerun = await cli(['apply', ...file, '--auto-approve', '--break-lease'], '        rotate: 1\n')
    expect(rerun.code, rerun.stdout + rerun.stderr).toBe(0)
    const v2 = await sealedValue()
    await expectEveryTargetHolds(v2.apiKey)
    expect(current().annotations[DELIVERED]?.split(',')).toHaveLength(3)
    for (const k of aliceKeys()) if (k.isActive && k.uid !== v2.uid) expect.fail(`key ${k.uid} (${k.name}) is still active`)
    const last = await cli(['plan', ...file, '--detailed-exitcode'], '        rotate: 1\n')
    expect(last.code, last.stdout + last.stderr).toBe(0)
  })
})

describe('forced rotation, reviewed (issue 18.3): --replace and rotate: N rotate exactly once, in every plan format', () => {
  const NONE = ''
  async function formats(fields: string, extra: string[] = []): Promise<{text: string; json: {actions: Array<{kind: string; address: string; cause?: string}>}; markdown: string}> {
    const text = await cli(['plan', ...file, ...extra], fields, {}, NONE)
    expect(text.code, text.stdout + text.stderr).toBe(0)
    const json = await cli(['plan', ...file, '--json', ...extra], fields, {}, NONE)
    expect(json.code, json.stderr).toBe(0)
    const markdown = await cli(['plan', ...file, '--format', 'markdown', ...extra], fields, {}, NONE)
    expect(markdown.code, markdown.stderr).toBe(0)
    // Markdown escapes its punctuation (`\(`): counted as a reader sees it.
    return {text: text.stdout, json: JSON.parse(json.stdout) as never, markdown: markdown.stdout.replace(/\\(.)/g, '$1')}
  }
  const count = (s: string, re: RegExp) => (s.match(new RegExp(re.source, 'g')) ?? []).length

  it('--replace USER/NAME: "rotate (requested)" once in text, JSON and Markdown; apply rotates once; the next plan without the flag has no changes', async () => {
    expect((await cli(['apply', ...file, '--auto-approve'], NONE, {}, NONE)).code).toBe(0)
    const before = current().uid
    // The address matches whatever the case of the e-mail.
    const shown = await formats(NONE, ['--replace', 'Alice@Example.com/ci'])
    expect(count(shown.text, /rotate \(requested\)/)).toBe(1)
    expect(shown.json.actions.filter((a) => a.kind === 'rotate')).toEqual([expect.objectContaining({address: 'alice@example.com/ci', cause: 'requested'})])
    expect(count(shown.markdown, /rotate \(requested\)/)).toBe(1)
    const apply = await cli(['apply', ...file, '--auto-approve', '--replace', 'alice@example.com/ci'], NONE, {}, NONE)
    expect(apply.code, apply.stdout + apply.stderr).toBe(0)
    expect(current().uid).not.toBe(before)
    expect(emu.state.key(before)?.isActive ?? false).toBe(false)
    const plan = await cli(['plan', ...file, '--detailed-exitcode'], NONE, {}, NONE)
    expect(plan.code, plan.stdout).toBe(0)
    // A saved plan made with --replace is applied with the same --replace: the flag is the operator's,
    // never read from the plan file (which a pull-request job wrote).
    const saved = await cli(['plan', ...file, '--replace', 'alice@example.com/ci', '--out', 'plan.json'], NONE, {}, NONE)
    expect(saved.code, saved.stderr).toBe(0)
    const without = await cli(['apply', 'plan.json', ...file], NONE, {}, NONE)
    expect(without.code, without.stdout + without.stderr).toBe(4)
    expect(without.stderr).toMatch(/applied with the same --replace/)
    const rotated = current().uid
    const withFlag = await cli(['apply', 'plan.json', ...file, '--replace', 'alice@example.com/ci'], NONE, {}, NONE)
    expect(withFlag.code, withFlag.stdout + withFlag.stderr).toBe(0)
    expect(current().uid).not.toBe(rotated)
    expect((await cli(['plan', ...file, '--detailed-exitcode'], NONE, {}, NONE)).code).toBe(0)
    // An address the file does not declare is a usage error (64), not a silent no-op.
    const unknown = await cli(['plan', ...file, '--replace', 'alice@example.com/nope'], NONE, {}, NONE)
    expect(unknown.code).toBe(64)
    expect(unknown.stderr).toMatch(/alice@example\.com\/nope/)
  })

  it('rotate: N rotates once when N changes (text, JSON, Markdown), records the generation, and not again while N stays', async () => {
    expect((await cli(['apply', ...file, '--auto-approve'], NONE, {}, NONE)).code).toBe(0)
    const shown = await formats('        rotate: 3\n')
    expect(count(shown.text, /rotate \(generation 3, was 0\)/)).toBe(1)
    expect(shown.json.actions.filter((a) => a.kind === 'rotate')).toEqual([expect.objectContaining({cause: 'generation'})])
    expect(count(shown.markdown, /rotate \(generation 3, was 0\)/)).toBe(1)
    expect((await cli(['apply', ...file, '--auto-approve'], '        rotate: 3\n', {}, NONE)).code).toBe(0)
    const made = current()
    expect(existsSync(join(work, 'sealed', 'alice@example.com', `ci--${made.uid}.g3.age`))).toBe(true)
    for (let i = 0; i < 2; i++) expect((await cli(['plan', ...file, '--detailed-exitcode'], '        rotate: 3\n', {}, NONE)).code).toBe(0)
    // The key's holder rewrites its generation mark (any user can set annotations on their own key):
    // under custody folder the sealed file's name decides, so the next change of N still rotates.
    emu.state.key(made.uid)!.annotations[GENERATION] = '2'
    expect((await cli(['plan', ...file, '--detailed-exitcode'], '        rotate: 3\n', {}, NONE)).code).toBe(0)
    // Lowering it is a change too: a new generation, one rotation.
    const lower = await formats('        rotate: 2\n')
    expect(count(lower.text, /rotate \(generation 2, was 3\)/)).toBe(1)
  })
})

describe('changing targets (issue 18): what a careful user would expect', () => {
  const EXEC = (file: string) => `          - exec: {command: [node, ${JSON.stringify(RECORDER)}, ${file}]}\n`
  const deliver = (...files: string[]) => `        deliver:\n${files.map(EXEC).join('')}`

  it('a new target is owed the value (rotate once, cause undelivered, both targets get the new value); removing a target changes nothing', async () => {
    expect((await cli(['apply', ...file, '--auto-approve'], '', {}, deliver('a.jsonl'))).code).toBe(0)
    const v1 = await sealedValue()
    const json = await cli(['plan', ...file, '--json'], '', {}, deliver('a.jsonl', 'b.jsonl'))
    const rotations = (JSON.parse(json.stdout) as {actions: Array<{kind: string; cause?: string}>}).actions.filter((a) => a.kind === 'rotate')
    expect(rotations).toEqual([expect.objectContaining({cause: 'undelivered'})])
    // A scheduled audit says so (exit 2), naming the target that lacks the value.
    const audit = await cli(['audit', ...file, '--json'], '', {}, deliver('a.jsonl', 'b.jsonl'))
    expect(audit.code, audit.stderr).toBe(2)
    const found = (JSON.parse(audit.stdout) as {findings: Array<{kind: string; message: string}>}).findings.filter((f) => f.kind === 'undelivered')
    expect(found).toHaveLength(1)
    expect(found[0]!.message).toMatch(/b\.jsonl/)
    expect(found[0]!.message).not.toMatch(/a\.jsonl/)
    expect((await cli(['apply', ...file, '--auto-approve'], '', {}, deliver('a.jsonl', 'b.jsonl'))).code).toBe(0)
    const v2 = await sealedValue()
    expect(v2.uid).not.toBe(v1.uid)
    const last = async (f: string) => (await readFile(join(work, f), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as ExecRecord).at(-1)!
    expect((await last('a.jsonl')).stdinSha256).toBe(sha256(v2.apiKey))
    expect((await last('b.jsonl')).stdinSha256).toBe(sha256(v2.apiKey))
    expect((await cli(['plan', ...file, '--detailed-exitcode'], '', {}, deliver('a.jsonl', 'b.jsonl'))).code).toBe(0)
    const fewer = await cli(['plan', ...file, '--detailed-exitcode'], '', {}, deliver('b.jsonl'))
    expect(fewer.code, fewer.stdout).toBe(0)
  })

  it('a saved plan whose targets were edited (a command added by whoever wrote the plan file) is refused, exit 4, nothing changed and nothing run', async () => {
    await writeFile(join(work, 'keys.yaml'), keysYaml('', deliver('a.jsonl')))
    const saved = await runCli(['plan', ...file, '--out', 'plan.json'], {cwd: work, env: env()})
    expect(saved.code, saved.stderr).toBe(0)
    const doc = JSON.parse(await readFile(join(work, 'plan.json'), 'utf8')) as {actions: Array<{target: {deliver: unknown[]}}>}
    doc.actions[0]!.target.deliver.push({kind: 'exec', command: ['node', RECORDER, 'evil.jsonl'], timeoutS: 60})
    await writeFile(join(work, 'plan.json'), JSON.stringify(doc))
    const before = emu.stats.mutations
    const apply = await runCli(['apply', 'plan.json', ...file], {cwd: work, env: env()})
    expect(apply.code, apply.stdout + apply.stderr).toBe(4)
    expect(emu.stats.mutations).toBe(before)
    expect(existsSync(join(work, 'evil.jsonl'))).toBe(false)
    expect(existsSync(join(work, 'a.jsonl'))).toBe(false)
  })
})

describe.skipIf(!naclAvailable)('a delivery that fails after an earlier target got the value (issue 18)', () => {
  it.each(['none', 'user'] as const)('the GitLab target fails after GitHub got the new value: the next apply delivers a newer one; the key GitHub held keeps working until GitHub holds the newer one (unique key names: %s)', async (unique) => {
    if (unique !== 'none') {
      // A server that refuses two keys of one name: the undelivered key steps aside by a rename first.
      await emu.close()
      emu = await startTestEmulator({fidelity: {uniqueKeyNames: unique}}, SEED)
    }
    expect((await cli(['apply', ...file, '--auto-approve'])).code).toBe(0)
    const v1 = await sealedValue()
    gl.failWrites(1, 500)
    const failed = await cli(['apply', ...file, '--auto-approve'], '        rotate: 1\n')
    expect(failed.code, failed.stdout + failed.stderr).toBe(1)
    expect(failed.stdout).toMatch(/\(1 target before it got the value\)/)
    const s1 = aliceKeys().find((k) => k.annotations[SUCCEEDS] === v1.uid)!
    expect(s1.annotations[DELIVERED]).toBeUndefined()
    expect(await authenticatesAsAlice(v1.apiKey)).toBe(true)
    // GitHub holds the undelivered key's value: it must work until GitHub is given the next one.
    const heldByGithub: boolean[] = []
    gh.onWrite = () => heldByGithub.push(emu.state.key(s1.uid)?.isActive === true)
    const retry = await cli(['apply', ...file, '--auto-approve'], '        rotate: 1\n')
    expect(retry.code, retry.stdout + retry.stderr).toBe(0)
    expect(heldByGithub, retry.stdout).toEqual([true])
    const v2 = await sealedValue()
    await expectEveryTargetHolds(v2.apiKey)
    expect(emu.state.key(s1.uid)?.isActive ?? false).toBe(false)
    expect(await authenticatesAsAlice(v1.apiKey)).toBe(false)
    expect((await cli(['plan', ...file, '--detailed-exitcode'], '        rotate: 1\n')).code).toBe(0)
  })
})
