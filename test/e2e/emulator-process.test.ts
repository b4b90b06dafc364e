import {mkdtemp, readFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {PaletteApiError} from '../../src/palette/errors.js'
import {PaletteHttpClient} from '../../src/palette/http-client.js'
import {Secret} from '../../src/util/secret.js'
import {type EmulatorProcess, startEmulatorProcess} from '../support/cli.js'
import {recordAndRemove} from '../support/leaks.js'

const ADMIN = 'demo-admin-key-0001'

function clientFor(url: string, key: string) {
  return new PaletteHttpClient({host: url, apiKey: new Secret(key), retry: {maxRetries: 0}})
}

describe('palette-keys emulator as a real process', () => {
  let emu: EmulatorProcess
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pk-e2e-'))
    // Several clients share one source address here; the limit itself is tested in contract/.
    emu = await startEmulatorProcess(['--seed', 'examples/tenant.yaml', '--state', join(dir, 'state.json'), '--rate-limit', '0'])
  })
  afterAll(async () => {
    await emu.stop()
    await recordAndRemove(dir)
  })

  it('listens on 127.0.0.1 and serves who-am-I to the seed admin', async () => {
    expect(emu.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const me = await clientFor(emu.url, ADMIN).whoAmI()
    expect(me.orgName).toBe('demo')
  })

  it('a key created with the client authenticates as its owner, then stops after revocation', async () => {
    const admin = clientFor(emu.url, ADMIN)
    const alice = (await admin.listUsersMeta()).find((u) => u.emailId === 'alice@example.com')!
    const created = await admin.createApiKey({
      metadata: {name: 'e2e', annotations: {description: 'made by the e2e test'}},
      spec: {expiry: new Date(Date.now() + 86_400_000).toISOString(), userUid: alice.uid!},
    })
    const asAlice = clientFor(emu.url, created.apiKey.reveal())
    expect((await asAlice.whoAmI()).userUid).toBe(alice.uid)
    // Alice sees only her own keys, the new one among them.
    expect((await asAlice.listApiKeys()).map((k) => k.metadata?.name).sort()).toEqual(['e2e', 'laptop'])

    await admin.setApiKeyActive(created.uid, false)
    const refused = await asAlice.whoAmI().catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(PaletteApiError)
    expect((refused as PaletteApiError).status).toBe(401)
    expect((await admin.getApiKey(created.uid)).status?.isActive).toBe(false)

    await admin.setApiKeyActive(created.uid, true)
    expect((await asAlice.whoAmI()).userUid).toBe(alice.uid)
    await admin.deleteApiKey(created.uid)
    await expect(asAlice.whoAmI()).rejects.toMatchObject({status: 401})
  })

  it('stops cleanly on SIGTERM, and a restart with --state keeps the keys', async () => {
    const admin = clientFor(emu.url, ADMIN)
    const me = await admin.whoAmI()
    const created = await admin.createApiKey({metadata: {name: 'survivor'}, spec: {expiry: new Date(Date.now() + 86_400_000).toISOString(), userUid: me.userUid!}})
    expect(await emu.stop()).toBe(0)
    const state = await readFile(join(dir, 'state.json'), 'utf8')
    expect(state).not.toContain(created.apiKey.reveal())

    emu = await startEmulatorProcess(['--state', join(dir, 'state.json'), '--rate-limit', '0'])
    const again = clientFor(emu.url, created.apiKey.reveal())
    expect((await again.whoAmI()).userUid).toBe(me.userUid)
    expect((await again.getApiKey(created.uid)).metadata?.name).toBe('survivor')
  })
})

describe('fault flags on the real process', () => {
  it('--fail-rate 1 answers 500/503 to everything and --drop-after-commit-rate 1 drops committed mutations', async () => {
    const failing = await startEmulatorProcess(['--seed', 'examples/tenant.yaml', '--fail-rate', '1', '--rate-limit', '0'])
    try {
      const e = (await clientFor(failing.url, ADMIN).whoAmI().catch((x: unknown) => x)) as PaletteApiError
      expect([500, 503]).toContain(e.status)
    } finally {
      expect(await failing.stop()).toBe(0)
    }
    const dropping = await startEmulatorProcess(['--seed', 'examples/tenant.yaml', '--drop-after-commit-rate', '1', '--rate-limit', '0'])
    try {
      const admin = clientFor(dropping.url, ADMIN)
      const me = await admin.whoAmI()
      const e = (await admin
        .createApiKey({metadata: {name: 'lost-reply'}, spec: {expiry: new Date(Date.now() + 86_400_000).toISOString(), userUid: me.userUid!}})
        .catch((x: unknown) => x)) as PaletteApiError
      expect(e.ambiguous).toBe(true)
      // The key was committed although the caller never saw its value: re-listing finds it.
      expect((await admin.listApiKeys()).some((k) => k.metadata?.name === 'lost-reply')).toBe(true)
    } finally {
      await dropping.stop()
    }
  })
})
