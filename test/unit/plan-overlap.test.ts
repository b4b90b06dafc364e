import {describe, expect, it} from 'vitest'
import {makePlan} from '../../src/cli/planning.js'
import {checkDesiredState, parseDesiredState} from '../../src/config/desired-state.js'
import {EmulatorState} from '../../src/emulator/state.js'
import {MemoryPalette} from '../support/memory-api.js'

/**
 * Issue 21: plan checks the whole file before any request, then normalises its users while the
 * tenant's first answers are on their way (a tenth of a second at 100,000 keys). Seen here through
 * the order of things at an in-memory API: the key list is asked for before the users are made,
 * the plan is the one the fully normalised file gives, and with --replace (which names declared
 * keys, checked before any request) the users are made first.
 */
const NOW = new Date('2026-06-01T00:00:00.000Z')
const TEXT = `version: 1
seal: {recipients: [age1kdnug0g69q26qvlaysykz582z2lucrrewkjdyhwmnyucrm6f2fyqangs4c]}
users:
  alice@example.com:
    keys:
      ci: {description: build, adopt: true}
      web: {}
  bob@example.com:
    keys:
      deploy: {expiresIn: 30d}
`

function tenant(): MemoryPalette {
  const state = EmulatorState.fromSeed({tenant: {orgName: 'overlap'}, users: [{email: 'admin@example.com', roles: ['Tenant Admin'], apiKeys: [{name: 'bootstrap', value: 'overlap-admin-key-01'}]}, {email: 'alice@example.com', roles: [], apiKeys: [{name: 'ci', value: 'overlap-alice-ci-001'}]}, {email: 'bob@example.com', roles: []}]}, NOW)
  return new MemoryPalette(state, state.allUsers().find((u) => u.email === 'admin@example.com')!.uid, () => NOW)
}

/** The checked file, with when (in requests made so far) its users were made. */
function watched(api: MemoryPalette) {
  const checked = checkDesiredState(TEXT, 'keys.yaml', NOW)
  const finishedAfter: number[] = []
  const finish = checked.finish
  checked.finish = () => {
    finishedAfter.push(api.calls.length)
    return finish()
  }
  return {checked, finishedAfter}
}

describe('plan makes the users of a checked file while the tenant answers', () => {
  it('asks for the keys first, makes the users once, and plans what the normalised file plans', async () => {
    const api = tenant()
    const {checked, finishedAfter} = watched(api)
    const run = await makePlan({desired: checked, api, host: 'mem', force: true, toolVersion: 't', now: NOW, sealFiles: []})
    expect(finishedAfter.length).toBeGreaterThan(0)
    // Every call of finish() came after the key list was asked for (the first round was on its way).
    expect(Math.min(...finishedAfter)).toBeGreaterThan(0)
    expect(run.desired).toBe(checked.finish())
    const whole = await makePlan({desired: parseDesiredState(TEXT, 'keys.yaml', NOW), api: tenant(), host: 'mem', force: true, toolVersion: 't', now: NOW, sealFiles: []})
    expect(run.plan.actions).toEqual(whole.plan.actions)
    expect(run.plan.actions.map((a) => `${a.kind} ${a.address}`).sort()).toEqual(['create alice@example.com/web', 'create bob@example.com/deploy', 'update alice@example.com/ci'])
    expect(run.plan.desired.sha256).toBe(whole.plan.desired.sha256)
  })

  it('with --replace the users are made before any request (the addresses are checked against them)', async () => {
    const api = tenant()
    const {checked, finishedAfter} = watched(api)
    await makePlan({desired: checked, api, host: 'mem', force: true, toolVersion: 't', now: NOW, sealFiles: [], replace: ['ALICE@example.com/ci']})
    expect(finishedAfter[0]).toBe(0)
    const again = watched(tenant())
    await expect(makePlan({desired: again.checked, api: tenant(), host: 'mem', force: true, toolVersion: 't', now: NOW, sealFiles: [], replace: ['alice@example.com/nope']})).rejects.toThrow(/not a key keys.yaml declares/)
  })
})
