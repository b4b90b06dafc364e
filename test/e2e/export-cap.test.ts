import {access, mkdtemp} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {RunningEmulator} from '../../src/emulator/server.js'
import {EmulatorState} from '../../src/emulator/state.js'
import {runCli} from '../support/cli.js'
import {startTestEmulator} from '../support/emulator.js'
import {recordAndRemove} from '../support/leaks.js'

/**
 * export refuses a file no command could read (issue 21.1): over the 16 MiB a desired-state file
 * may be, it writes nothing and says how to split it. 16,000 keys with descriptions of 1,024
 * characters (Palette's console allows that much; the file's schema too) are about 17.9 MB.
 */
const ADMIN = 'cap-admin-key-000001'
const USERS = 800
let emu: RunningEmulator
let work: string
beforeAll(async () => {
  const description = 'd'.repeat(1024)
  const state = EmulatorState.fromSeed(
    {
      tenant: {orgName: 'cap'},
      limits: {apiKeysPerUser: 20},
      users: [
        {email: 'admin@example.com', roles: ['Tenant Admin'], apiKeys: [{name: 'bootstrap', value: ADMIN, expiry: '2099-01-01T00:00:00Z'}]},
        ...Array.from({length: USERS}, (_, u) => ({
          email: `person${u}@example.com`,
          apiKeys: Array.from({length: 20}, (_, k) => ({name: `key-${k}`, value: `cap-value-${u}-${k}-0000`, expiry: '2099-01-01T00:00:00Z', description, annotations: {managedBy: 'palette-keys'}})),
        })),
      ],
    },
    new Date(),
  )
  emu = await startTestEmulator({state})
  work = await mkdtemp(join(tmpdir(), 'pk-export-cap-'))
}, 60_000)
afterAll(async () => {
  await emu.close()
  await recordAndRemove(work)
})

describe('export over the size a desired file may be', () => {
  it('is refused with nothing written, with and without comments; one user at a time is exported', async () => {
    const env = {PALETTE_HOST: emu.url, PALETTE_API_KEY: ADMIN}
    for (const extra of [[], ['--no-comments']]) {
      const out = join(work, `all${extra.length}.yaml`)
      const r = await runCli(['export', '-o', out, ...extra], {env})
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toMatch(/The export of 16000 keys of 800 users is 1\d\.\d MiB, more than the 16 MiB a desired-state file may be: nothing was written/)
      expect(r.stderr).toContain('--user EMAIL')
      await expect(access(out)).rejects.toThrow()
    }
    const one = join(work, 'one.yaml')
    const r = await runCli(['export', '-o', one, '--user', 'person7@example.com'], {env})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain('Exported 20 keys of 1 user to')
  }, 180_000)
})
