import {mkdtemp, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {request} from 'undici'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {planValidator} from '../../src/plan/plan-file.js'
import {type CliResult, type EmulatorProcess, runCli, startEmulatorProcess} from '../support/cli.js'
import {ADMIN_KEY, seedWithKeys} from '../support/tenants.js'
import {recordAndRemove} from '../support/leaks.js'

const DEMO_ADMIN = 'demo-admin-key-0001'
const DEMO_ALICE = 'demo-alice-key-0001'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pk-plan-'))
})
afterAll(async () => {
  await recordAndRemove(dir)
})

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, text)
  return path
}

function expectNoLeak(r: CliResult, ...secrets: string[]) {
  for (const s of secrets) {
    expect(r.stdout).not.toContain(s)
    expect(r.stderr).not.toContain(s)
  }
}

/** Palette API calls the emulator answered (its own stats path is not one). */
async function apiCalls(emu: EmulatorProcess): Promise<number> {
  const res = await request(`${emu.url}/__emulator/stats`)
  const s = (await res.body.json()) as {byOperation: Record<string, number>}
  return Object.values(s.byOperation).reduce((a, b) => a + b, 0)
}

describe('plan against the demo tenant (real CLI process and emulator process)', () => {
  let emu: EmulatorProcess
  const as = (key: string) => ({PALETTE_HOST: emu.url, PALETTE_API_KEY: key})
  beforeAll(async () => {
    emu = await startEmulatorProcess(['--seed', 'examples/tenant.yaml', '--rate-limit', '0'])
  })
  afterAll(async () => {
    await emu.stop()
  })

  it('exit 2 with --detailed-exitcode when examples/keys.yaml has changes; the text plan lists them', async () => {
    const r = await runCli(['plan', '-f', 'examples/keys.yaml', '--detailed-exitcode'], {env: as(DEMO_ADMIN)})
    expect(r.code, r.stderr).toBe(2)
    expect(r.stdout).toContain('+   create      alice@example.com/ci-deploy')
    expect(r.stdout).toContain('+/- replace     bob@example.com/monitoring')
    expect(r.stdout).toContain('Plan: 1 to create, 2 to update, 1 to revoke, 0 to delete, 0 to rotate, 1 to replace.')
    expectNoLeak(r, DEMO_ADMIN)
  })

  it('exit 0 without --detailed-exitcode, even with changes', async () => {
    expect((await runCli(['plan', '-f', 'examples/keys.yaml'], {env: as(DEMO_ADMIN)})).code).toBe(0)
  })

  it('exit 0 with --detailed-exitcode when nothing changes (unmanaged keys are findings only)', async () => {
    const f = await file('clean.yaml', 'version: 1\nusers:\n  alice@example.com:\n    keys: {}\n')
    const r = await runCli(['plan', '-f', f, '--detailed-exitcode'], {env: as(DEMO_ADMIN)})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('No changes.')
    expect(r.stdout).toContain('unmanaged   alice@example.com/laptop')
  })

  it('--json and --format json validate against schemas/plan.schema.json and hold no key value', async () => {
    for (const args of [['--json'], ['--format', 'json']]) {
      const r = await runCli(['plan', '-f', 'examples/keys.yaml', ...args], {env: as(DEMO_ADMIN)})
      expect(r.code, r.stderr).toBe(0)
      const doc = JSON.parse(r.stdout)
      const validate = planValidator()
      expect(validate(doc), JSON.stringify(validate.errors)).toBe(true)
      expect(doc.resource_changes.map((c: any) => c.change.actions)).toContainEqual(['create', 'delete'])
      expectNoLeak(r, DEMO_ADMIN, DEMO_ALICE, 'demo-carol-key-0001')
    }
  })

  it('--format markdown is a PR comment with the hidden marker', async () => {
    const r = await runCli(['plan', '-f', 'examples/keys.yaml', '--format', 'markdown'], {env: as(DEMO_ADMIN)})
    expect(r.stdout.startsWith('<!-- palette-keys:plan -->\n')).toBe(true)
    expect(r.stdout).toContain('| `+/-` | replace | bob@example.com/monitoring |')
  })

  it('exit 1 naming every unknown e-mail as blocked, the others still planned', async () => {
    const f = await file('unknown.yaml', 'version: 1\nusers:\n  zed@example.com:\n    keys: {}\n  yan@example.com:\n    keys: {}\n')
    const r = await runCli(['plan', '-f', f], {env: as(DEMO_ADMIN)})
    expect(r.code).toBe(1)
    expect(r.stdout).toContain('Blocked, nothing done for 2 declared users')
    expect(r.stdout).toMatch(/x yan@example\.com: unknown-user: yan@example\.com is not a user of tenant demo/)
    expect(r.stdout).toMatch(/x zed@example\.com: unknown-user/)
  })

  it('exit 3 when the plan would revoke every active key of the caller, even with --force', async () => {
    const f = await file('lockout.yaml', 'version: 1\nusers:\n  admin@example.com:\n    keys:\n      bootstrap:\n        adopt: true\n        active: false\n        description: Bootstrap key of the demo admin\n        expiresAt: 2030-01-01T00:00:00Z\n')
    for (const extra of [[], ['--force']]) {
      const r = await runCli(['plan', '-f', f, ...extra], {env: as(DEMO_ADMIN)})
      expect(r.code).toBe(3)
      expect(r.stdout).toContain('Refused (self-lockout): The plan would revoke or delete all 1 active key of admin@example.com')
    }
  })

  it('exit 65 with every diagnostic for an invalid file, before any request', async () => {
    const before = await apiCalls(emu)
    const r = await runCli(['plan', '-f', 'test/fixtures/invalid-desired/35-many-problems-at-once.yaml'], {env: as(DEMO_ADMIN)})
    expect(r.code).toBe(65)
    expect(r.stderr.match(/35-many-problems-at-once\.yaml:\d+:\d+: /g)).toHaveLength(5)
    expect(await apiCalls(emu)).toBe(before)
    // …and before looking for credentials.
    expect((await runCli(['plan', '-f', 'test/fixtures/invalid-desired/13-expiry-in-past.yaml'], {env: {PALETTE_API_KEY: ''}})).code).toBe(65)
  })

  it('exit 64 for a missing file or no API key; exit 1 for a refused API key (never printed)', async () => {
    expect((await runCli(['plan', '-f', join(dir, 'nope.yaml')], {env: as(DEMO_ADMIN)})).code).toBe(64)
    expect((await runCli(['plan', '-f', 'examples/keys.yaml'], {env: {PALETTE_HOST: emu.url, PALETTE_API_KEY: ''}})).code).toBe(64)
    const wrong = 'wrong-key-value-0000000001'
    const r = await runCli(['plan', '-f', 'examples/keys.yaml'], {env: as(wrong)})
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('HTTP 401')
    expectNoLeak(r, wrong)
  })

  it('refuses http:// to a non-loopback host (64) without sending anything', async () => {
    const r = await runCli(['plan', '-f', 'examples/keys.yaml', '--host', 'http://palette.example.com'], {env: {PALETTE_API_KEY: DEMO_ADMIN}})
    expect(r.code).toBe(64)
    expect(r.stderr).toContain('Refusing plain http://')
  })

  it('--trace logs every call (method, path, status) and never the key', async () => {
    const r = await runCli(['plan', '-f', 'examples/keys.yaml', '--trace'], {env: as(DEMO_ADMIN)})
    expect(r.stderr).toMatch(/trace: GET \/v1\/apiKeys -> 200 \(\d+ ms\)/)
    expect(r.stderr).toMatch(/trace: GET \/v1\/users\/meta -> 200/)
    expectNoLeak(r, DEMO_ADMIN)
  })

  it('as a non-admin: planning your own keys works', async () => {
    const f = await file('alice.yaml', 'version: 1\nseal: {recipients: [age1kdnug0g69q26qvlaysykz582z2lucrrewkjdyhwmnyucrm6f2fyqangs4c]}\nusers:\n  alice@example.com:\n    keys:\n      laptop:\n        adopt: true\n        description: Made by hand in the console\n        expiresAt: 2029-06-30T00:00:00Z\n      ci: {}\n')
    const r = await runCli(['plan', '-f', f, '--detailed-exitcode'], {env: as(DEMO_ALICE)})
    expect(r.code, r.stdout + r.stderr).toBe(2)
    expect(r.stdout).toContain('as alice@example.com')
    expect(r.stdout).toContain('+   create      alice@example.com/ci')
  })

  it('as a non-admin: declaring someone else\'s keys fails with the named error', async () => {
    const f = await file('alice-and-bob.yaml', 'version: 1\nusers:\n  alice@example.com:\n    keys: {}\n  bob@example.com:\n    keys:\n      ci: {}\n')
    const r = await runCli(['plan', '-f', f], {env: as(DEMO_ALICE)})
    expect(r.code).toBe(1)
    expect(r.stdout).toContain('not-tenant-admin: alice@example.com is not a tenant admin (their roles hold no apiKey.list over other users\' keys), so may see and manage only their own keys, but the file declares keys of bob@example.com')
  })
})

describe('plan --out and show', () => {
  let emu: EmulatorProcess
  beforeAll(async () => {
    emu = await startEmulatorProcess(['--seed', 'examples/tenant.yaml', '--rate-limit', '0'])
  })
  afterAll(async () => {
    await emu.stop()
  })

  it('saves a plan without secrets, renders it in every format, and warns (exit 0) once it is stale', async () => {
    const env = {PALETTE_HOST: emu.url, PALETTE_API_KEY: DEMO_ADMIN}
    const out = join(dir, 'saved-plan.json')
    const r = await runCli(['plan', '-f', 'examples/keys.yaml', '--out', out], {env})
    expect(r.code).toBe(0)
    expect(r.stderr).toContain(`Saved the plan to ${out}`)

    const offline = await runCli(['show', out], {env: {PALETTE_API_KEY: ''}})
    expect(offline.code).toBe(0)
    expect(offline.stdout).toBe(r.stdout)
    expect((await runCli(['show', out, '--format', 'markdown'], {env: {PALETTE_API_KEY: ''}})).stdout).toContain('<!-- palette-keys:plan -->')
    const asJson = await runCli(['show', out, '--json'], {env: {PALETTE_API_KEY: ''}})
    expect(planValidator()(JSON.parse(asJson.stdout))).toBe(true)

    const fresh = await runCli(['show', out], {env})
    expect(fresh.stderr).not.toContain('changed since')

    // Change a key out of band: the plan is now stale.
    const keys = (await (await request(`${emu.url}/v1/apiKeys`, {headers: {ApiKey: DEMO_ADMIN}})).body.json()) as {items: Array<{metadata: {uid: string; name: string}}>}
    const laptop = keys.items.find((k) => k.metadata.name === 'laptop')!
    await request(`${emu.url}/v1/apiKeys/${laptop.metadata.uid}/state`, {method: 'PUT', headers: {ApiKey: DEMO_ADMIN, 'Content-Type': 'application/json'}, body: '{"isActive":false}'})
    const stale = await runCli(['show', out], {env})
    expect(stale.code).toBe(0)
    expect(stale.stderr).toContain('the live keys changed since this plan was made')
    expectNoLeak(stale, DEMO_ADMIN)
  })

  it('show refuses a file that is not a plan (65)', async () => {
    const bad = await file('not-a-plan.json', '{"format": "something-else"}')
    const r = await runCli(['show', bad], {env: {PALETTE_API_KEY: ''}})
    expect(r.code).toBe(65)
    const truncated = await file('truncated.json', '{"format": "palette-keys-plan", "formatVers')
    expect((await runCli(['show', truncated], {env: {PALETTE_API_KEY: ''}})).code).toBe(65)
  })
})

describe('plan request count does not grow with the tenant', () => {
  it('is the same at 10 and at 1,000 keys (counted at the emulator)', async () => {
    const counts: number[] = []
    for (const size of [10, 1000]) {
      const seed = await file(`seed-${size}.yaml`, seedWithKeys(size))
      const emu = await startEmulatorProcess(['--seed', seed, '--rate-limit', '0'])
      try {
        const desired = await file(`keys-${size}.yaml`, `version: 1\nusers:\n${Array.from({length: Math.max(2, Math.ceil(size / 10))}, (_, u) => `  user${u}@example.com:\n    keys: {}\n`).join('')}`)
        const r = await runCli(['plan', '-f', desired, '--force'], {env: {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN_KEY}})
        expect(r.code, r.stderr).toBe(0)
        expect(r.stdout).toContain(`${size + 1} keys`)
        counts.push(await apiCalls(emu))
      } finally {
        await emu.stop()
      }
    }
    expect(counts[0]).toBe(counts[1])
    // who am I, users, keys, users/summary (owners' status), resourceLimits (the key cap), and the caller's roles (rights come from roles only)
    expect(counts[0]).toBe(6)
  })
})
