import {request} from 'undici'
import {parseSeed} from '../../src/emulator/seed.js'
import {type EmulatorOptions, type RunningEmulator, startEmulator} from '../../src/emulator/server.js'
import {EmulatorState} from '../../src/emulator/state.js'
import {fidelityOptions} from './fidelity.js'
import {expectResponseConforms} from './spec-check.js'

export const ADMIN_KEY = 'test-admin-key-000001'
export const ALICE_KEY = 'test-alice-key-000001'
export const BOB_KEY = 'test-bob-key-0000001'
export const REVOKED_KEY = 'test-alice-revoked-01'
export const EXPIRED_KEY = 'test-alice-expired-01'

/** A tenant with an admin, two users with keys, and a revoked and an expired key. */
export const TEST_SEED = `
tenant: {uid: 5f0c4e2a9d1b3c4d5e6f7a8b, orgName: test}
users:
  - email: admin@example.com
    firstName: Ada
    lastName: Admin
    roles: [Tenant Admin]
    apiKeys:
      - {name: bootstrap, value: ${ADMIN_KEY}, expiry: 2099-01-01T00:00:00Z}
  - email: alice@example.com
    firstName: Alice
    lastName: Anders
    apiKeys:
      - {name: laptop, value: ${ALICE_KEY}, expiry: 2099-01-01T00:00:00Z, description: Alice's laptop}
      - {name: old, value: ${REVOKED_KEY}, active: false}
      - {name: ancient, value: ${EXPIRED_KEY}, expiry: 2020-01-01T00:00:00Z}
  - email: bob@example.com
    firstName: Bob
    lastName: Berg
    roles: [Project Viewer]
    apiKeys:
      - {name: ci, value: ${BOB_KEY}, expiry: 2099-01-01T00:00:00Z}
`

export async function startTestEmulator(options: Partial<EmulatorOptions> = {}, seed = TEST_SEED): Promise<RunningEmulator> {
  const state = options.state ?? EmulatorState.fromSeed(parseSeed(seed, 'test-seed.yaml'), new Date())
  return startEmulator({rateLimit: {ratePerSecond: 0, burst: 5}, ...fidelityOptions(options), state})
}

export interface Exchange {
  status: number
  text: string
  body: any
  headers: Record<string, string | string[] | undefined>
}

/**
 * One raw HTTP call to the emulator. Every response is checked against the official
 * spec before it is returned, so no test can see a non-conforming answer unnoticed.
 */
export async function call(
  emu: {url: string},
  method: string,
  path: string,
  options: {key?: string; body?: unknown; rawBody?: string; headers?: Record<string, string>; checkSpec?: boolean} = {},
): Promise<Exchange> {
  const headers: Record<string, string> = {...options.headers}
  if (options.key !== undefined) headers.ApiKey = options.key
  let body: string | undefined = options.rawBody
  if (options.body !== undefined) {
    body = JSON.stringify(options.body)
    headers['Content-Type'] = 'application/json'
  }
  const res = await request(emu.url + path, {method: method as 'GET', headers, body})
  const text = await res.body.text()
  if (options.checkSpec !== false) expectResponseConforms(method, path, res.statusCode, text)
  return {status: res.statusCode, text, body: text === '' ? undefined : JSON.parse(text), headers: res.headers}
}

export function futureExpiry(days = 30): string {
  return new Date(Date.now() + days * 24 * 3600 * 1000).toISOString()
}
