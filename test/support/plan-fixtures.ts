import {parseDesiredState} from '../../src/config/desired-state.js'
import type {LiveKey, LiveState} from '../../src/live/snapshot.js'
import {diff} from '../../src/plan/diff.js'
import type {Plan} from '../../src/plan/model.js'
import {MANAGED_BY, MANAGED_BY_VALUE} from '../../src/plan/ownership.js'
import type {HeaderReading} from '../../src/seal/sealed-file.js'

export const NOW = new Date('2026-06-01T00:00:00.000Z')
export const DAY = 86_400_000

export const USERS = {
  admin: {uid: 'a00000000000000000000000', email: 'admin@example.com', name: 'Ada Admin'},
  alice: {uid: 'a11ce0000000000000000000', email: 'alice@example.com', name: 'Alice Anders'},
  bob: {uid: 'b0b000000000000000000000', email: 'bob@example.com', name: 'Bob Berg'},
  carol: {uid: 'ca7010000000000000000000', email: 'carol@example.com', name: 'Carol Chen'},
}
export type UserName = keyof typeof USERS

export interface KeySpec {
  user: UserName
  name: string
  uid?: string
  managed?: boolean
  active?: boolean
  /** Days from NOW (may be negative), or an ISO time. Default +60. */
  expires?: number | string
  description?: string
  annotations?: Record<string, string>
  /** Days before NOW it was created. Default 10. */
  age?: number
}

let counter = 0
export function liveKey(s: KeySpec): LiveKey {
  counter++
  const annotations: Record<string, string> = {...(s.managed === false ? {} : {[MANAGED_BY]: MANAGED_BY_VALUE}), ...s.annotations}
  if (s.description !== undefined) annotations.description = s.description
  const expiry = typeof s.expires === 'string' ? s.expires : new Date(NOW.getTime() + (s.expires ?? 60) * DAY).toISOString()
  return {
    uid: s.uid ?? `${s.user}-${s.name}-${counter}`.padEnd(24, '0').slice(0, 24),
    name: s.name,
    userUid: USERS[s.user].uid,
    description: s.description ?? '',
    expiry,
    isActive: s.active ?? true,
    annotations,
    createdAt: new Date(NOW.getTime() - (s.age ?? 10) * DAY).toISOString(),
  }
}

export function liveState(keys: LiveKey[], options: {caller?: UserName; callerIsAdmin?: boolean | undefined; keyLimit?: number; unlistedOwners?: LiveState['unlistedOwners']} = {}): LiveState {
  const caller = USERS[options.caller ?? 'admin']
  return {
    host: 'https://palette.test',
    tenant: {uid: '5f0c4e2a9d1b3c4d5e6f7a8b', orgName: 'test'},
    caller: {uid: caller.uid, email: caller.email},
    callerIsAdmin: 'callerIsAdmin' in options ? options.callerIsAdmin : true,
    users: Object.values(USERS),
    keys,
    keyLimit: {perUser: options.keyLimit ?? 20, source: 'tenant'},
    unlistedOwners: options.unlistedOwners ?? {},
    listsCut: {keys: false},
    requests: 4,
  }
}

/** The demo recipient, so that plans which create values have somewhere to seal them. */
const RECIPIENT = 'age1kdnug0g69q26qvlaysykz582z2lucrrewkjdyhwmnyucrm6f2fyqangs4c'

export function desired(yaml: string) {
  return parseDesiredState(`version: 1\n${yaml.includes('seal:') ? '' : `seal: {recipients: [${RECIPIENT}]}\n`}${yaml}`, 'keys.yaml', NOW)
}

export function planOf(yaml: string, keys: LiveKey[], options: {caller?: UserName; callerIsAdmin?: boolean | undefined; force?: boolean; keyLimit?: number; sealFiles?: string[]; sealHeaders?: Record<string, HeaderReading>; keyListCut?: boolean} = {}): Plan {
  const live = liveState(keys, options)
  if (options.keyListCut) live.listsCut = {...live.listsCut, keys: true}
  return diff(desired(yaml), live, {force: options.force ?? false, toolVersion: '0.0.0-test', sealFiles: options.sealFiles ?? [], ...(options.sealHeaders ? {sealHeaders: options.sealHeaders} : {})}, NOW)
}

/** `kind address` per action, in plan order. */
export function actionLines(plan: Plan): string[] {
  return plan.actions.map((a) => `${a.kind} ${a.address}`)
}

export function findingLines(plan: Plan): string[] {
  return plan.findings.map((f) => `${f.kind} ${f.address}`)
}
