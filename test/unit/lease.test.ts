import {setTimeout as delay} from 'node:timers/promises'
import {describe, expect, it} from 'vitest'
import {acquireLease, LEASE, type Lease} from '../../src/apply/lease.js'
import {makePlan} from '../../src/cli/planning.js'
import {parseDesiredState} from '../../src/config/desired-state.js'
import {EmulatorState} from '../../src/emulator/state.js'
import type {ApiKeyUpdate} from '../../src/palette/types.js'
import {PaletteKeysError} from '../../src/util/errors.js'
import {MemoryPalette} from '../support/memory-api.js'

/**
 * The apply lease's gap rule (issue 21.3): a run goes on only if the time from reading the key
 * that holds the lease to Palette's answer to its write is under the settle time. Two runs are
 * played against one in-memory tenant, with the second run's write held back so that it lands
 * after the first has read its lease back: the race a bare settle wait lets through.
 */
const NOW = new Date('2026-06-01T00:00:00.000Z')
const RECIPIENT = 'age1kdnug0g69q26qvlaysykz582z2lucrrewkjdyhwmnyucrm6f2fyqangs4c'

async function tenant() {
  const state = EmulatorState.fromSeed(
    {tenant: {orgName: 'lease'}, users: [{email: 'admin@example.com', roles: ['Tenant Admin'], apiKeys: [{name: 'bootstrap', value: 'lease-admin-key-0001'}]}, {email: 'bob@example.com', roles: []}]},
    NOW,
  )
  const admin = state.allUsers().find((u) => u.email === 'admin@example.com')!.uid
  const api = new MemoryPalette(state, admin, () => NOW)
  const desired = parseDesiredState(`version: 1\nseal: {recipients: [${RECIPIENT}]}\nusers:\n  bob@example.com:\n    keys:\n      ci: {}\n`, 'keys.yaml', NOW)
  const {plan, live} = await makePlan({desired, api, host: 'mem', force: true, toolVersion: 't', now: NOW})
  expect(plan.summary.create).toBe(1)
  return {state, api, plan, live}
}

/** The same API, with every update answered `ms` later than it lands (or held before it lands). */
function slowWrites(api: MemoryPalette, ms: number, when: 'before' | 'after'): MemoryPalette {
  return new Proxy(api, {
    get(target, prop, receiver) {
      if (prop !== 'updateApiKey') return Reflect.get(target, prop, receiver)
      return async (uid: string, update: ApiKeyUpdate) => {
        if (when === 'before') await delay(ms)
        await target.updateApiKey(uid, update)
        if (when === 'after') await delay(ms)
      }
    },
  })
}

const outcome = (p: Promise<Lease>) => p.then(async (l) => (await l.release(), 'went on'), (error: unknown) => (error instanceof PaletteKeysError ? error.code : String(error)))

describe('apply lease', () => {
  it('a run whose write lands after the other read its lease back stops (lease-too-slow): never both go on', async () => {
    const {state, api, plan, live} = await tenant()
    const settleMs = 150
    const warnings: string[] = []
    const a = acquireLease({api, plan, live, settleMs, breakLease: false, now: () => NOW, warn: (m) => warnings.push(m)})
    // B reads with A, then its write (on the same key: same caller, same plan) lands 400 ms later, after A's read-back.
    const b = acquireLease({api: slowWrites(api, 400, 'before'), plan, live, settleMs, breakLease: false, now: () => NOW, warn: (m) => warnings.push(m)})
    const results = await Promise.all([outcome(a), outcome(b)])
    expect(results).toEqual(['went on', 'lease-too-slow'])
    expect(state.allKeys().filter((k) => k.annotations[LEASE] !== undefined)).toEqual([])
    expect(warnings).toEqual([])
  })

  it('a write answered slowly (the gap counts to the answer, not to when it landed) stops the run too; a quick one goes on', async () => {
    const {api, plan, live} = await tenant()
    await expect(outcome(acquireLease({api: slowWrites(api, 200, 'after'), plan, live, settleMs: 100, breakLease: false, now: () => NOW, warn: () => undefined}))).resolves.toBe('lease-too-slow')
    await expect(outcome(acquireLease({api, plan, live, settleMs: 100, breakLease: false, now: () => NOW, warn: () => undefined}))).resolves.toBe('went on')
    // 0 turns the wait and the rule off (tests, a single runner).
    await expect(outcome(acquireLease({api: slowWrites(api, 50, 'after'), plan, live, settleMs: 0, breakLease: false, now: () => NOW, warn: () => undefined}))).resolves.toBe('went on')
  })

  it('the message says what took how long and what to do, and the run changed nothing', async () => {
    const {state, api, plan, live} = await tenant()
    const before = JSON.stringify(state.allKeys())
    const error = await acquireLease({api: slowWrites(api, 120, 'after'), plan, live, settleMs: 60, breakLease: false, now: () => NOW, warn: () => undefined}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PaletteKeysError)
    const e = error as PaletteKeysError
    expect(e.exitCode).toBe(1)
    expect(e.message).toMatch(/^Taking the lease took \d+ ms .* not less than --lease-settle \(60 ms\).*Nothing was changed/)
    expect(e.hints.join(' ')).toContain('raise --lease-settle')
    expect(JSON.stringify(state.allKeys())).toBe(before)
  })
})
