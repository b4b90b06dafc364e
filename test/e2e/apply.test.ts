import {execFileSync} from 'node:child_process'
import {chmod, mkdir, mkdtemp, readFile, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {request} from 'undici'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {applyResultValidator} from '../../src/apply/result.js'
import {listSealedFiles} from '../../src/seal/seal-dir.js'
import {haveAgeCli} from '../support/age-cli.js'
import {type CliResult, type EmulatorProcess, ROOT as ROOT_DIR, runCli, startEmulatorProcess} from '../support/cli.js'
import {demoRecipient} from '../support/demo.js'
import {recordAndRemove, recordOutput} from '../support/leaks.js'
import {refusedKeyStatus} from '../support/fidelity.js'

const ADMIN = 'demo-admin-key-0001'
const IDENTITY = 'examples/demo-identity.txt'
const SEED_VALUES = [ADMIN, 'demo-alice-key-0001', 'demo-carol-key-0001']

/** Everything the tool printed or wrote, except unseal's output (printing values is its job). */
const transcripts: string[] = []
/** Every key value the emulator issued that the suite learnt (via unseal). */
const issued = new Set<string>()

let work: string
let recipient: string
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pk-apply-'))
  recipient = await demoRecipient()
})
afterAll(async () => {
  await recordAndRemove(work)
})

async function cli(args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<CliResult> {
  const r = await runCli(args, {env, cwd})
  if (args[0] !== 'unseal') transcripts.push(r.stdout, r.stderr)
  return r
}

async function api(emu: EmulatorProcess, method: string, path: string, key = ADMIN, body?: unknown) {
  const res = await request(emu.url + path, {method: method as 'GET', headers: {ApiKey: key, 'Content-Type': 'application/json'}, body: body === undefined ? undefined : JSON.stringify(body)})
  const text = await res.body.text()
  return {status: res.statusCode, body: text ? JSON.parse(text) : undefined}
}

async function mutations(emu: EmulatorProcess): Promise<number> {
  const res = await request(`${emu.url}/__emulator/stats`)
  return ((await res.body.json()) as {mutations: number}).mutations
}

interface Unsealed {
  [user: string]: {[name: string]: {apiKey: string; uid: string}}
}

/** Unseals a folder and proves every value authenticates as its owner (GET /v1/users/info). */
async function expectValuesAuthenticate(emu: EmulatorProcess, sealDir: string, identity = IDENTITY): Promise<Unsealed> {
  const r = await cli(['unseal', sealDir, '-i', identity, '--format', 'json'], {})
  expect(r.code, r.stderr).toBe(0)
  const tree = JSON.parse(r.stdout) as Unsealed
  const meta = (await api(emu, 'GET', '/v1/users/meta')).body.items as Array<{emailId: string; uid: string}>
  for (const [user, keys] of Object.entries(tree)) {
    for (const [name, v] of Object.entries(keys)) {
      issued.add(v.apiKey)
      const who = await api(emu, 'GET', '/v1/users/info', v.apiKey)
      expect(who.status, `${user}/${name}`).toBe(200)
      expect(who.body.userUid).toBe(meta.find((m) => m.emailId === user)!.uid)
    }
  }
  return tree
}

function desired(users: string, policy = ''): string {
  return `version: 1\nseal:\n  recipients: [${recipient}]\n  dir: sealed\n${policy}users:\n${users}`
}

describe('apply, each action kind, then plan shows no changes (real CLI and emulator processes)', () => {
  let emu: EmulatorProcess
  let env: NodeJS.ProcessEnv
  let keys: string
  beforeAll(async () => {
    // Palette's rate limit stays on (10/s, burst 5): the client must live with it.
    emu = await startEmulatorProcess(['--seed', 'examples/tenant.yaml'])
    env = {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN}
    keys = join(work, 'keys.yaml')
  })
  afterAll(async () => {
    await emu.stop()
  })

  async function applyAndConverge(text: string, expectDone: RegExp[]): Promise<CliResult> {
    await writeFile(keys, text)
    const r = await cli(['apply', '-f', keys, '--auto-approve'], env)
    expect(r.code, r.stdout + r.stderr).toBe(0)
    for (const re of expectDone) expect(r.stdout).toMatch(re)
    const again = await cli(['plan', '-f', keys, '--detailed-exitcode'], env)
    expect(again.code, again.stdout).toBe(0)
    expect(again.stdout).toContain('No changes.')
    return r
  }

  const step1 = `  alice@example.com:
    keys:
      ci-deploy: {description: Deploys from CI, expiresIn: 30d}
      laptop-2024: {renamedFrom: laptop, adopt: true, description: Made by hand in the console, expiresAt: "2029-06-30T00:00:00Z", active: false}
  bob@example.com:
    exclusive: true
    keys:
      monitoring: {movedFrom: carol@example.com, description: Reads cluster status}
`

  it('without a terminal and without --auto-approve: exit 64, nothing changed', async () => {
    await writeFile(keys, desired(step1))
    const before = await mutations(emu)
    const r = await cli(['apply', '-f', keys], env)
    expect(r.code).toBe(64)
    expect(r.stderr).toContain('--auto-approve')
    expect(await mutations(emu)).toBe(before)
  })

  it('create, update (rename, adopt), revoke and replace; values sealed and working', async () => {
    const r = await applyAndConverge(desired(step1), [
      /\+ {3}create {6}alice@example\.com\/ci-deploy {2}done, sealed to /,
      /~ {3}update {6}alice@example\.com\/laptop-2024 {2}done/,
      /- {3}revoke {6}alice@example\.com\/laptop-2024 {2}done/,
      /\+\/- replace {5}bob@example\.com\/monitoring {2}done, sealed to .*old key \w+ deleted/,
    ])
    expect(r.stdout).toContain('Apply complete: 4 done. 2 values sealed')
    const tree = await expectValuesAuthenticate(emu, join(work, 'sealed'))
    expect(Object.keys(tree).sort()).toEqual(['alice@example.com', 'bob@example.com'])
    for (const f of await listSealedFiles(join(work, 'sealed'))) expect(execFileSync('stat', ['-c', '%a', f]).toString().trim()).toBe('600')
    // carol's old key is gone, and the renamed laptop is revoked.
    const list = (await api(emu, 'GET', '/v1/apiKeys')).body.items as Array<{metadata: {name: string}; status: {isActive: boolean}}>
    expect(list.find((k) => k.metadata.name === 'laptop-2024')!.status.isActive).toBe(false)
    expect((await api(emu, 'GET', '/v1/users/info', 'demo-carol-key-0001')).status).toBe(refusedKeyStatus())
  })

  it('reactivate and update a description (--json result valid against its schema)', async () => {
    await writeFile(keys, desired(step1.replace('active: false', 'active: true').replace('Reads cluster status', 'Reads everything')))
    const r = await cli(['apply', '-f', keys, '--auto-approve', '--json'], env)
    expect(r.code, r.stderr).toBe(0)
    const result = JSON.parse(r.stdout)
    expect(applyResultValidator()(result), JSON.stringify(applyResultValidator().errors)).toBe(true)
    expect(result.outcomes.map((o: {kind: string; status: string}) => `${o.kind}:${o.status}`).sort()).toEqual(['reactivate:done', 'update:done'])
    expect((await cli(['plan', '-f', keys, '--detailed-exitcode'], env)).code).toBe(0)
    expect((await api(emu, 'GET', '/v1/users/info', 'demo-alice-key-0001')).status).toBe(200)
  })

  const step3 = `  alice@example.com:
    keys:
      laptop-2024: {renamedFrom: laptop, adopt: true, description: Made by hand in the console, expiresAt: "2029-06-30T00:00:00Z"}
      rotor: {expiresIn: 30d}
  bob@example.com:
    exclusive: true
    keys:
      monitoring: {movedFrom: carol@example.com, description: Reads everything}
`

  it('delete (no longer declared) removes the key and its sealed file; create of another', async () => {
    const before = await expectValuesAuthenticate(emu, join(work, 'sealed'))
    const ciValue = before['alice@example.com']!['ci-deploy']!.apiKey
    await applyAndConverge(desired(step3), [/- {3}delete {6}alice@example\.com\/ci-deploy {2}done \(1 sealed file of it removed\)/, /\+ {3}create {6}alice@example\.com\/rotor {2}done/])
    expect((await api(emu, 'GET', '/v1/users/info', ciValue)).status).toBe(refusedKeyStatus())
    const after = await expectValuesAuthenticate(emu, join(work, 'sealed'))
    expect(after['alice@example.com']!['ci-deploy']).toBeUndefined()
  })

  it('rotate: successor created and sealed, predecessor revoked and kept (retired)', async () => {
    const old = (await expectValuesAuthenticate(emu, join(work, 'sealed')))['alice@example.com']!.rotor!
    await applyAndConverge(desired(step3.replace('rotor: {expiresIn: 30d}', 'rotor: {expiresIn: 90d, rotateBefore: 60d}')), [/\+\/- rotate {6}alice@example\.com\/rotor {2}done, sealed to .*predecessor \w+ renamed rotor-retired-\w+ and revoked/])
    const fresh = (await expectValuesAuthenticate(emu, join(work, 'sealed')))['alice@example.com']!.rotor!
    expect(fresh.uid).not.toBe(old.uid)
    expect((await api(emu, 'GET', '/v1/users/info', old.apiKey)).status).toBe(refusedKeyStatus())
    const plan = await cli(['plan', '-f', keys], env)
    expect(plan.stdout).toMatch(/retired {5}alice@example\.com\/rotor/)
  })

  it('a retired predecessor is deleted once deleteRetiredAfter has passed (0d)', async () => {
    await applyAndConverge(desired(step3.replace('rotor: {expiresIn: 30d}', 'rotor: {expiresIn: 90d, rotateBefore: 60d}'), 'policy:\n  deleteRetiredAfter: 0d\n'), [/- {3}delete {6}alice@example\.com\/rotor-retired-[0-9a-f]{8} {2}done/])
    const names = ((await api(emu, 'GET', '/v1/apiKeys')).body.items as Array<{metadata: {name: string}}>).map((k) => k.metadata.name)
    expect(names.filter((n) => n === 'rotor')).toHaveLength(1)
  })

  it('a saved plan applies without asking; a stale one exits 4 and changes nothing', async () => {
    const text = desired(step3.replace('rotor: {expiresIn: 30d}', 'rotor: {expiresIn: 90d, rotateBefore: 60d}\n      extra: {}'), 'policy:\n  deleteRetiredAfter: 0d\n')
    await writeFile(keys, text)
    const planFile = join(work, 'plan.json')
    expect((await cli(['plan', '-f', keys, '--out', planFile], env)).code).toBe(0)
    transcripts.push(await readFile(planFile, 'utf8'))

    // Someone changes a key out of band: the plan is stale.
    const list = (await api(emu, 'GET', '/v1/apiKeys')).body.items as Array<{metadata: {name: string; uid: string}}>
    const laptop = list.find((k) => k.metadata.name === 'laptop-2024')!
    await api(emu, 'PUT', `/v1/apiKeys/${laptop.metadata.uid}`, ADMIN, {metadata: {name: 'laptop-2024', annotations: {description: 'changed by hand', managedBy: 'palette-keys'}}, spec: {expiry: '2029-06-30T00:00:00.000Z'}})
    const before = await mutations(emu)
    const stale = await cli(['apply', planFile, '-f', keys], env)
    expect(stale.code).toBe(4)
    expect(stale.stderr).toContain('The plan is stale')
    expect(await mutations(emu)).toBe(before)

    // Planned again, it applies (no prompt: a saved plan was reviewed).
    expect((await cli(['plan', '-f', keys, '--out', planFile], env)).code).toBe(0)
    const applied = await cli(['apply', planFile, '-f', keys], env)
    expect(applied.code, applied.stdout + applied.stderr).toBe(0)
    expect(applied.stdout).toMatch(/\+ {3}create {6}alice@example\.com\/extra {2}done/)
    expect((await cli(['plan', '-f', keys, '--detailed-exitcode'], env)).code).toBe(0)
  })

  it('on a terminal, apply asks and only "yes" goes ahead', async () => {
    // `script` gives the CLI a pseudo-terminal; the answer is typed on its stdin.
    const text = await readFile(keys, 'utf8')
    await writeFile(keys, text.replace('      extra: {}', '      extra: {}\n      asked: {}'))
    const viaTty = async (answer: string) => {
      const {spawn} = await import('node:child_process')
      const {BIN, ROOT} = await import('../support/cli.js')
      const child = spawn('script', ['-qec', `${process.execPath} ${BIN} apply -f ${keys}`, '/dev/null'], {cwd: ROOT, env: {...process.env, ...env, NO_COLOR: '1'}})
      let out = ''
      let typed = false
      // Typed once; a child that has already exited must not turn the write into an EPIPE of the test run.
      child.stdin.on('error', () => undefined)
      child.stdout.on('data', (d) => {
        out += d
        if (!typed && out.includes("Only 'yes' is accepted")) {
          typed = true
          child.stdin.write(`${answer}\n`)
        }
      })
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
      transcripts.push(out)
      recordOutput('apply on a terminal', out)
      return {code, out}
    }
    const before = await mutations(emu)
    const no = await viaTty('no')
    expect(no.code).toBe(1)
    expect(no.out).toContain('Apply cancelled; nothing was changed.')
    expect(await mutations(emu)).toBe(before)
    const yes = await viaTty('yes')
    expect(yes.code, yes.out).toBe(0)
    expect(yes.out).toMatch(/create +alice@example\.com\/asked +done/)
    expect((await cli(['plan', '-f', keys, '--detailed-exitcode'], env)).code).toBe(0)
  })

  it('plan output in every format after all this holds no key value (scanned at the end)', async () => {
    for (const format of ['text', 'json', 'markdown']) transcripts.push((await cli(['plan', '-f', keys, '--format', format], env)).stdout)
    transcripts.push((await cli(['apply', '-f', keys, '--auto-approve', '--json'], env)).stdout)
  })

  it('a saved plan for another host exits 4', async () => {
    const planFile = join(work, 'plan.json')
    const other = await startEmulatorProcess(['--seed', 'examples/tenant.yaml', '--rate-limit', '0'])
    try {
      const r = await cli(['apply', planFile, '-f', keys], {PALETTE_HOST: other.url, PALETTE_API_KEY: ADMIN})
      expect(r.code).toBe(4)
      expect(r.stderr).toContain(`This plan was made for ${emu.url}`)
    } finally {
      await other.stop()
    }
  })
})

describe('interop with Debian\'s age CLI', () => {
  const ageAvailable = haveAgeCli()
  let emu: EmulatorProcess
  beforeAll(async () => {
    emu = await startEmulatorProcess(['--seed', 'examples/tenant.yaml', '--rate-limit', '0'])
  })
  afterAll(async () => {
    await emu.stop()
  })

  it.skipIf(!ageAvailable)('`age -d -i` opens the files apply writes, and an age-keygen identity unseals them', async () => {
    const dir = join(work, 'interop')
    await mkdir(dir, {recursive: true})
    const id = join(dir, 'age-keygen-identity.txt')
    execFileSync('age-keygen', ['-o', id], {stdio: 'ignore'})
    const theirs = execFileSync('age-keygen', ['-y', id]).toString().trim()
    const keys = join(dir, 'keys.yaml')
    await writeFile(keys, `version: 1\nseal:\n  recipients: [${recipient}, ${theirs}]\nusers:\n  bob@example.com:\n    keys:\n      interop: {}\n`)
    const r = await cli(['apply', '-f', keys, '--auto-approve'], {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN})
    expect(r.code, r.stderr).toBe(0)
    const [file] = await listSealedFiles(join(dir, 'sealed'))
    // The reference CLI decrypts our armored file, with our demo identity and with age-keygen's.
    for (const identity of [IDENTITY, id]) {
      const plain = JSON.parse(execFileSync('age', ['-d', '-i', identity, file!]).toString()) as Record<string, string>
      expect(Object.keys(plain).sort()).toEqual(['apiKey', 'createdAt', 'expiry', 'host', 'name', 'uid', 'user'])
      expect(plain.user).toBe('bob@example.com')
      issued.add(plain.apiKey!)
    }
    // Our unseal reads age-keygen's identity file.
    const tree = await expectValuesAuthenticate(emu, join(dir, 'sealed'), id)
    expect(tree['bob@example.com']!.interop).toBeDefined()
    const one = await cli(['unseal', join(dir, 'sealed'), '-i', id, '--key', 'bob@example.com/interop'], {})
    expect(one.stdout.trim()).toBe(tree['bob@example.com']!.interop!.apiKey)
  })

  it.skipIf(!ageAvailable)('an identity from `palette-keys keygen` (0600) decrypts with `age -d`', async () => {
    const file = join(work, 'keygen-identity.txt')
    const r = await cli(['keygen', '-o', file], {})
    expect(r.code).toBe(0)
    const ours = r.stdout.trim()
    expect(execFileSync('stat', ['-c', '%a', file]).toString().trim()).toBe('600')
    const cipher = execFileSync('age', ['-r', ours, '-a'], {input: 'hello'}).toString()
    await writeFile(join(work, 'hello.age'), cipher)
    expect(execFileSync('age', ['-d', '-i', file, join(work, 'hello.age')]).toString()).toBe('hello')
    const again = await cli(['keygen', '-o', file], {})
    expect(again.code).toBe(64)
    expect((await cli(['keygen', '-o', file, '--force'], {})).code).toBe(0)
  })
})

describe('the seal folder is checked before any change', () => {
  async function refusedCase(name: string, prepare: (sealDir: string) => Promise<void>, run: (args: string[], env: NodeJS.ProcessEnv) => Promise<CliResult>, says: RegExp) {
    const emu = await startEmulatorProcess(['--seed', 'examples/tenant.yaml', '--rate-limit', '0'])
    const dir = join(work, name)
    try {
      await mkdir(join(dir, 'sealed'), {recursive: true})
      await writeFile(join(dir, 'keys.yaml'), `version: 1\nseal:\n  recipients: [${recipient}]\nusers:\n  bob@example.com:\n    keys:\n      doomed: {}\n      never: {}\n`)
      await prepare(join(dir, 'sealed'))
      const before = await mutations(emu)
      const r = await run(['apply', '-f', join(dir, 'keys.yaml'), '--auto-approve', '--parallelism', '1'], {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN})
      transcripts.push(r.stdout, r.stderr)
      expect(r.code, r.stdout + r.stderr).toBe(64)
      expect(r.stderr).toMatch(says)
      expect(await mutations(emu)).toBe(before)
    } finally {
      await emu.stop()
    }
  }

  it('a file stands where the user\'s folder must go: refused (64), zero mutations', async () => {
    await refusedCase('blocked', (sealDir) => writeFile(join(sealDir, 'bob@example.com'), 'in the way'), (args, env) => cli(args, env), /bob@example\.com is not a folder/)
  })

  it('a world-writable seal folder is refused before any change (64), unless --force', async () => {
    const emu = await startEmulatorProcess(['--seed', 'examples/tenant.yaml', '--rate-limit', '0'])
    const dir = join(work, 'world-writable')
    try {
      await mkdir(join(dir, 'sealed'), {recursive: true})
      await chmod(join(dir, 'sealed'), 0o777)
      await writeFile(join(dir, 'keys.yaml'), `version: 1\nseal:\n  recipients: [${recipient}]\nusers:\n  bob@example.com:\n    keys:\n      k: {}\n`)
      const env = {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN}
      const before = await mutations(emu)
      const r = await cli(['apply', '-f', join(dir, 'keys.yaml'), '--auto-approve'], env)
      expect(r.code).toBe(64)
      expect(r.stderr).toContain('is writable by every user')
      expect(await mutations(emu)).toBe(before)
      expect((await cli(['apply', '-f', join(dir, 'keys.yaml'), '--auto-approve', '--force'], env)).code).toBe(0)
    } finally {
      await emu.stop()
    }
  })

  // File modes do not bind root: as root, run the CLI as nobody, as a CI job without write
  // access would be. That needs the checkout to be readable by nobody; where it is not (a
  // private temporary clone), the case above covers the same path.
  const asNobody = process.getuid?.() === 0 ? readableByNobody() : true
  it.skipIf(!asNobody)('a read-only seal folder fails the write probe: refused (64), zero mutations', async () => {
    await refusedCase(
      'readonly',
      async (sealDir) => {
        await mkdir(join(sealDir, 'bob@example.com'), {recursive: true})
        await chmod(join(sealDir, 'bob@example.com'), 0o555)
        await chmod(sealDir, 0o555)
        await chmod(work, 0o755)
        await chmod(join(sealDir, '..'), 0o755)
      },
      (args, env) => (process.getuid?.() === 0 ? runAs('nobody', args, env) : cli(args, env)),
      /cannot hold key values: writing a file there failed \(EACCES\)/,
    )
  })
})

function readableByNobody(): boolean {
  try {
    execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'test', '-r', join(ROOT_DIR, 'dist', 'commands', 'apply.js')], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
}

/** Runs the CLI as another user (setpriv), for tests that need file modes to bite. */
async function runAs(user: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const {spawn} = await import('node:child_process')
  const {BIN, ROOT} = await import('../support/cli.js')
  const uid = execFileSync('id', ['-u', user]).toString().trim()
  const gid = execFileSync('id', ['-g', user]).toString().trim()
  const child = spawn('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', process.execPath, BIN, ...args], {
    cwd: ROOT,
    env: {...process.env, HOME: '/tmp', NO_COLOR: '1', ...env},
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return {code, stdout, stderr}
}

describe('secret hygiene', () => {
  it('no issued key value and no tool key in any output, plan file or JSON of this suite', () => {
    // The age-interop tests add one value; without Debian's age installed (outside CI) they skip.
    expect(issued.size).toBeGreaterThanOrEqual(haveAgeCli() ? 5 : 4)
    expect(transcripts.length).toBeGreaterThan(20)
    const all = transcripts.join('\n')
    for (const value of [...issued, ...SEED_VALUES]) expect(all.includes(value), `a key value leaked`).toBe(false)
  })
})
