import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll} from 'vitest'
import type {EmulatorOptions, RunningEmulator} from '../../src/emulator/server.js'
import {demoRecipient} from './demo.js'
import {ADMIN_KEY, startTestEmulator} from './emulator.js'
import {recordAndRemove} from './leaks.js'

export interface TestTenant {
  emu: RunningEmulator
  /** A fresh folder for this file's keys.yaml and sealed files, scanned for leaks and removed at the end. */
  work: string
  /** The demo identity's age recipient. */
  recipient: string
}

/**
 * The setup most end-to-end files share: one in-process emulator seeded with `seed` (and
 * `options`: a fidelity mode, say) for the whole file, a work folder and the demo recipient. Read the fields inside tests (they are set
 * in beforeAll).
 */
export function useTestTenant(seed: string, prefix: string, options: Partial<EmulatorOptions> = {}): TestTenant {
  const tenant = {} as TestTenant
  beforeAll(async () => {
    tenant.recipient = await demoRecipient()
    tenant.emu = await startTestEmulator(options, seed)
    tenant.work = await mkdtemp(join(tmpdir(), prefix))
  })
  afterAll(async () => {
    await tenant.emu?.close()
    if (tenant.work) await recordAndRemove(tenant.work)
  })
  return tenant
}

/** The smallest tenant most end-to-end files need: an admin (ADMIN_KEY) and alice, who has no key yet. */
export function adminAndAlice(orgName: string, tenantUid = '5f0c0c0c0c0c0c0c0c0c0c00'): string {
  return `
tenant: {uid: ${tenantUid}, orgName: ${orgName}}
users:
  - email: admin@example.com
    roles: [Tenant Admin]
    apiKeys: [{name: bootstrap, value: ${ADMIN_KEY}, expiry: 2099-01-01T00:00:00Z}]
  - email: alice@example.com
`
}

/**
 * A folder for identities and private keys, outside every work folder (whose files the leak scan
 * reads: a key file is the one place its secret belongs), removed at the end. Read `.dir` inside tests.
 */
export function useKeyring(prefix: string): {dir: string} {
  const keyring = {dir: ''}
  beforeAll(async () => {
    keyring.dir = await mkdtemp(join(tmpdir(), `${prefix}keyring-`))
  })
  afterAll(async () => {
    if (keyring.dir) await rm(keyring.dir, {recursive: true, force: true})
  })
  return keyring
}
