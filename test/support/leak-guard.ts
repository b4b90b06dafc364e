/**
 * Setup file of every suite (vitest.config.ts): feeds the suite-wide leak scanner. Each
 * in-process emulator registers the values it is seeded with and the ones it issues, and
 * the values of the seed files emulator processes are started from are registered too.
 */
import {readFileSync} from 'node:fs'
import {expect} from 'vitest'
import {parseSeed, type Seed} from '../../src/emulator/seed.js'
import {EmulatorState} from '../../src/emulator/state.js'
import {nameTestsWith, registerSecret, registerSeed} from './leaks.js'

nameTestsWith(() => {
  const s = expect.getState()
  const file = s.testPath?.replace(/^.*?\/test\//, 'test/')
  return [file, s.currentTestName].filter(Boolean).join(' > ') || undefined
})

const patched = EmulatorState as unknown as {__leakGuard?: boolean}
if (!patched.__leakGuard) {
  patched.__leakGuard = true
  const fromSeed = EmulatorState.fromSeed.bind(EmulatorState)
  EmulatorState.fromSeed = (seed: Seed, now: Date) => {
    registerSeed(seed, 'an in-process emulator')
    return fromSeed(seed, now)
  }
  const createKey = EmulatorState.prototype.createKey
  EmulatorState.prototype.createKey = function (this: EmulatorState, ...args: Parameters<EmulatorState['createKey']>) {
    const created = createKey.apply(this, args)
    registerSecret(created.value, 'issued')
    return created
  }
}

// The demo's tenant: the demo command and several tests start emulator processes from it.
registerSeed(parseSeed(readFileSync(new URL('../../examples/tenant.yaml', import.meta.url), 'utf8'), 'examples/tenant.yaml'), 'examples/tenant.yaml')
