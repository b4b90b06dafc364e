import {describe, expect, it} from 'vitest'
import type {LiveKey} from '../../src/live/snapshot.js'
import type {Action, Plan} from '../../src/plan/model.js'
import {PENDING, REPLACES, RETIRED_AT, SUCCEEDS} from '../../src/plan/ownership.js'
import {renderText} from '../../src/render/text.js'
import {diff} from '../../src/plan/diff.js'
import {actionLines, DAY, desired, findingLines, type KeySpec, liveKey, liveState, NOW, planOf, type UserName} from '../support/plan-fixtures.js'

interface Case {
  name: string
  /** The desired file after `version: 1`. */
  yaml: string
  live?: KeySpec[]
  caller?: UserName
  callerIsAdmin?: boolean
  force?: boolean
  /** `kind address`, in order, no-ops included. */
  actions?: string[]
  findings?: string[]
  errors?: string[]
  /** `code address` of each blocked key. */
  blocked?: string[]
  brakes?: string[]
  refused?: boolean
  check?: (plan: Plan, live: LiveKey[]) => void
}

const iso = (days: number) => new Date(NOW.getTime() + days * DAY).toISOString()
const only = <K extends Action['kind']>(plan: Plan, kind: K) => plan.actions.find((a) => a.kind === kind) as Extract<Action, {kind: K}>

const alice = (keys: string, extra = '') => `users:\n  alice@example.com:\n${extra}    keys:\n${keys}`

const cases: Case[] = [
  // --- create
  {name: 'create: a declared key absent from Palette', yaml: alice('      ci: {}\n'), actions: ['create alice@example.com/ci']},
  {name: 'create: expiry from defaults.expiresIn (90d when unset)', yaml: alice('      ci: {}\n'), check: (p) => expect(only(p, 'create').target.expiresAt).toBe(iso(90))},
  {name: 'create: defaults.expiresIn applies', yaml: `defaults: {expiresIn: 2w}\n${alice('      ci: {}\n')}`, check: (p) => expect(only(p, 'create').target.expiresAt).toBe(iso(14))},
  {name: 'create: key expiresIn wins over defaults', yaml: `defaults: {expiresIn: 2w}\n${alice('      ci: {expiresIn: 30d}\n')}`, check: (p) => expect(only(p, 'create').target.expiresAt).toBe(iso(30))},
  {name: 'create: expiresAt is used as is', yaml: alice('      ci: {expiresAt: "2027-01-01T00:00:00Z"}\n'), check: (p) => expect(only(p, 'create').target.expiresAt).toBe('2027-01-01T00:00:00.000Z')},
  {name: 'create: carries the description and owner', yaml: alice('      ci: {description: Deploys}\n'), check: (p) => expect(only(p, 'create').target).toMatchObject({description: 'Deploys', email: 'alice@example.com', userUid: 'a11ce0000000000000000000', name: 'ci'})},
  {name: 'create: a declared inactive key that is absent is not created (finding)', yaml: alice('      old: {active: false}\n'), actions: [], findings: ['absent-inactive alice@example.com/old']},
  {name: 'create: several keys, sorted by name', yaml: alice('      zeta: {}\n      alpha: {}\n'), actions: ['create alice@example.com/alpha', 'create alice@example.com/zeta']},

  // --- no-op
  {name: 'no-op: a managed key that matches', yaml: alice('      ci: {description: d}\n'), live: [{user: 'alice', name: 'ci', description: 'd'}], actions: ['no-op alice@example.com/ci'], check: (p) => expect(p.changes).toBe(false)},
  {name: 'no-op: expiresIn applies at creation only (a different live expiry is kept)', yaml: alice('      ci: {expiresIn: 30d}\n'), live: [{user: 'alice', name: 'ci', expires: 200}], actions: ['no-op alice@example.com/ci']},
  {name: 'no-op: the same expiresAt instant written differently', yaml: alice('      ci: {expiresAt: "2027-01-01T00:00:00Z"}\n'), live: [{user: 'alice', name: 'ci', expires: '2027-01-01T00:00:00.000Z'}], actions: ['no-op alice@example.com/ci']},
  {name: 'no-op: adopt on a key already managed changes nothing', yaml: alice('      ci: {adopt: true}\n'), live: [{user: 'alice', name: 'ci'}], actions: ['no-op alice@example.com/ci']},

  // --- update
  {name: 'update: description differs', yaml: alice('      ci: {description: new}\n'), live: [{user: 'alice', name: 'ci', description: 'old'}], actions: ['update alice@example.com/ci'], check: (p) => expect(only(p, 'update').changes).toEqual([{field: 'description', before: 'old', after: 'new'}])},
  {name: 'update: an omitted description means empty', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci', description: 'old'}], check: (p) => expect(only(p, 'update').changes).toEqual([{field: 'description', before: 'old', after: ''}])},
  {name: 'update: expiresAt differs', yaml: alice('      ci: {expiresAt: "2027-03-01T00:00:00Z"}\n'), live: [{user: 'alice', name: 'ci', expires: '2027-01-01T00:00:00.000Z'}], check: (p) => expect(only(p, 'update').changes).toEqual([{field: 'expiresAt', before: '2027-01-01T00:00:00.000Z', after: '2027-03-01T00:00:00.000Z'}])},
  {name: 'update: rename via renamedFrom', yaml: alice('      deploy: {renamedFrom: ci}\n'), live: [{user: 'alice', name: 'ci'}], actions: ['update alice@example.com/deploy'], check: (p) => expect(only(p, 'update').changes).toEqual([{field: 'name', before: 'ci', after: 'deploy'}])},
  {name: 'update: renamedFrom is ignored when the new name already exists (the old managed key is deleted)', yaml: alice('      deploy: {renamedFrom: ci}\n'), live: [{user: 'alice', name: 'ci'}, {user: 'alice', name: 'deploy'}], actions: ['delete alice@example.com/ci', 'no-op alice@example.com/deploy']},
  {name: 'update: renamedFrom whose old name is absent creates', yaml: alice('      deploy: {renamedFrom: ci}\n'), actions: ['create alice@example.com/deploy']},
  {name: 'update: name, description and expiry in one update', yaml: alice('      deploy: {renamedFrom: ci, description: x, expiresAt: "2027-03-01T00:00:00Z"}\n'), live: [{user: 'alice', name: 'ci'}], check: (p) => expect(only(p, 'update').changes.map((c) => c.field)).toEqual(['name', 'description', 'expiresAt'])},

  // --- revoke / reactivate
  {name: 'revoke: declared active: false, live active', yaml: alice('      ci: {active: false}\n'), live: [{user: 'alice', name: 'ci'}], actions: ['revoke alice@example.com/ci']},
  {name: 'reactivate: declared active, live revoked', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci', active: false}], actions: ['reactivate alice@example.com/ci']},
  {name: 'revoke + update: update first', yaml: alice('      ci: {active: false, description: gone}\n'), live: [{user: 'alice', name: 'ci'}], actions: ['update alice@example.com/ci', 'revoke alice@example.com/ci']},
  {name: 'no-op: declared inactive and already revoked', yaml: alice('      ci: {active: false}\n'), live: [{user: 'alice', name: 'ci', active: false}], actions: ['no-op alice@example.com/ci']},

  // --- delete and unmanaged
  {name: 'delete: a managed key no longer declared', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci'}, {user: 'alice', name: 'old'}], actions: ['no-op alice@example.com/ci', 'delete alice@example.com/old']},
  {name: 'unmanaged: a hand-made key is reported and left alone', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci'}, {user: 'alice', name: 'manual', managed: false}], actions: ['no-op alice@example.com/ci'], findings: ['unmanaged alice@example.com/manual']},
  {name: 'exclusive: a hand-made undeclared key is deleted', yaml: alice('      ci: {}\n', '    exclusive: true\n'), live: [{user: 'alice', name: 'ci'}, {user: 'alice', name: 'manual', managed: false}], actions: ['no-op alice@example.com/ci', 'delete alice@example.com/manual'], findings: []},
  {name: 'exclusive with keys: {} deletes every key of the user', yaml: 'users:\n  alice@example.com:\n    exclusive: true\n    keys: {}\n', live: [{user: 'alice', name: 'a', managed: false}, {user: 'alice', name: 'b'}], actions: ['delete alice@example.com/a', 'delete alice@example.com/b']},
  {name: 'users absent from the file are not touched (a key palette-keys made for one is reported: undeclared-user)', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci'}, {user: 'bob', name: 'managed-one'}, {user: 'bob', name: 'manual', managed: false}], actions: ['no-op alice@example.com/ci'], findings: ['undeclared-user bob@example.com/managed-one']},
  {name: 'pending: a key left by an interrupted apply is deleted and the declared key created again', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci', annotations: {[PENDING]: 'true'}}], actions: ['create alice@example.com/ci', 'delete alice@example.com/ci']},
  {name: 'retired: a rotated-out key past deleteRetiredAfter is deleted', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci'}, {user: 'alice', name: 'ci', active: false, annotations: {[RETIRED_AT]: iso(-8)}}], actions: ['delete alice@example.com/ci', 'no-op alice@example.com/ci']},
  {name: 'retired: within deleteRetiredAfter it is kept (finding)', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci'}, {user: 'alice', name: 'ci', active: false, annotations: {[RETIRED_AT]: iso(-2)}}], actions: ['no-op alice@example.com/ci'], findings: ['retired alice@example.com/ci']},
  {name: 'retired: a retired key found active again is revoked', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci'}, {user: 'alice', name: 'ci', active: true, annotations: {[RETIRED_AT]: iso(-2)}}], actions: ['revoke alice@example.com/ci', 'no-op alice@example.com/ci'], findings: ['retired alice@example.com/ci']},
  {name: 'retired: a retired predecessor that its successor names is kept until deleteRetiredAfter', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci', uid: 'pred00000000000000000000', active: false, annotations: {[RETIRED_AT]: iso(-1)}}, {user: 'alice', name: 'ci', annotations: {[SUCCEEDS]: 'pred00000000000000000000'}}], actions: ['no-op alice@example.com/ci'], findings: ['retired alice@example.com/ci']},
  {
    name: 'superseded: an interrupted rotation (successor exists, predecessor not retired) deletes the predecessor',
    yaml: alice('      ci: {}\n'),
    live: [{user: 'alice', name: 'ci', uid: 'pred00000000000000000000', age: 30}, {user: 'alice', name: 'ci', uid: 'succ00000000000000000000', age: 1, annotations: {[SUCCEEDS]: 'pred00000000000000000000'}}],
    actions: ['delete alice@example.com/ci', 'no-op alice@example.com/ci'],
    check: (p) => expect(only(p, 'delete').key.uid).toBe('pred00000000000000000000'),
  },

  // --- ownership
  {name: 'ownership: a hand-made key with the declared name blocks that key without adopt', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci', managed: false}], blocked: ['unmanaged-conflict alice@example.com/ci'], actions: []},
  {name: 'ownership: a blocked key does not block the others', yaml: alice('      ci: {}\n      web: {}\n'), live: [{user: 'alice', name: 'ci', managed: false}], blocked: ['unmanaged-conflict alice@example.com/ci'], actions: ['create alice@example.com/web']},
  {name: 'ownership: adopt: true takes it over (update)', yaml: alice('      ci: {adopt: true}\n'), live: [{user: 'alice', name: 'ci', managed: false}], actions: ['update alice@example.com/ci'], check: (p) => expect(only(p, 'update').changes).toEqual([{field: 'ownership', before: 'unmanaged', after: 'managed'}])},
  {name: 'ownership: policy.adopt adopts every declared key', yaml: `policy: {adopt: true}\n${alice('      ci: {}\n')}`, live: [{user: 'alice', name: 'ci', managed: false}], actions: ['update alice@example.com/ci']},

  // --- replace (moved to another user)
  {name: 'replace: movedFrom with a live source key', yaml: 'users:\n  bob@example.com:\n    keys:\n      mon: {movedFrom: alice@example.com}\n', live: [{user: 'alice', name: 'mon'}], actions: ['replace bob@example.com/mon'], check: (p) => expect(only(p, 'replace')).toMatchObject({from: {email: 'alice@example.com', name: 'mon'}, target: {email: 'bob@example.com', name: 'mon'}})},
  {name: 'replace: movedFrom without a source key is a create', yaml: 'users:\n  bob@example.com:\n    keys:\n      mon: {movedFrom: alice@example.com}\n', actions: ['create bob@example.com/mon']},
  {name: 'replace: not needed once the target has the key (the source is not touched)', yaml: 'users:\n  bob@example.com:\n    keys:\n      mon: {movedFrom: alice@example.com}\n', live: [{user: 'alice', name: 'mon'}, {user: 'bob', name: 'mon'}], actions: ['no-op bob@example.com/mon']},
  {name: 'replace: movedFrom + renamedFrom finds the old name at the source', yaml: 'users:\n  bob@example.com:\n    keys:\n      monitor: {movedFrom: alice@example.com, renamedFrom: mon}\n', live: [{user: 'alice', name: 'mon'}], actions: ['replace bob@example.com/monitor']},
  {name: 'replace: a source key claimed by a move is not also deleted by its exclusive user', yaml: 'users:\n  alice@example.com:\n    exclusive: true\n    keys: {}\n  bob@example.com:\n    keys:\n      mon: {movedFrom: alice@example.com}\n', live: [{user: 'alice', name: 'mon'}], actions: ['replace bob@example.com/mon']},

  // --- rotation
  {name: 'rotate: an expired key (its predecessor is deleted at once: it authenticates nothing)', yaml: alice('      ci: {expiresIn: 30d}\n'), live: [{user: 'alice', name: 'ci', expires: -1}], actions: ['rotate alice@example.com/ci'], check: (p) => expect(only(p, 'rotate')).toMatchObject({retire: 'delete', target: {expiresAt: iso(30)}})},
  {name: 'rotate: inside rotateBefore', yaml: alice('      ci: {expiresIn: 30d, rotateBefore: 7d}\n'), live: [{user: 'alice', name: 'ci', expires: 5}], actions: ['rotate alice@example.com/ci']},
  {name: 'rotate: not yet, outside rotateBefore', yaml: alice('      ci: {expiresIn: 30d, rotateBefore: 7d}\n'), live: [{user: 'alice', name: 'ci', expires: 8}], actions: ['no-op alice@example.com/ci']},
  {name: 'rotate: exactly at the window edge rotates', yaml: alice('      ci: {expiresIn: 30d, rotateBefore: 7d}\n'), live: [{user: 'alice', name: 'ci', expires: 7}], actions: ['rotate alice@example.com/ci']},
  {name: 'rotate: defaults.rotateBefore applies', yaml: `defaults: {rotateBefore: 10d}\n${alice('      ci: {}\n')}`, live: [{user: 'alice', name: 'ci', expires: 9}], actions: ['rotate alice@example.com/ci']},
  {name: 'rotate: deleteRetiredAfter 0d deletes the predecessor in the rotation', yaml: `policy: {deleteRetiredAfter: 0d}\n${alice('      ci: {}\n')}`, live: [{user: 'alice', name: 'ci', expires: -2}], check: (p) => expect(only(p, 'rotate').retire).toBe('delete')},
  {name: 'rotate: expiresAt moved beyond the window rotates to it', yaml: alice('      ci: {expiresAt: "2026-12-01T00:00:00Z", rotateBefore: 14d}\n'), live: [{user: 'alice', name: 'ci', expires: 5}], actions: ['rotate alice@example.com/ci'], check: (p) => expect(only(p, 'rotate').target.expiresAt).toBe('2026-12-01T00:00:00.000Z')},
  {name: 'rotate: an expiresAt inside the window cannot be helped by rotating (finding)', yaml: alice('      ci: {expiresAt: "2026-06-06T00:00:00Z", rotateBefore: 14d}\n'), live: [{user: 'alice', name: 'ci', expires: '2026-06-06T00:00:00.000Z'}], actions: ['no-op alice@example.com/ci'], findings: ['expiring alice@example.com/ci']},
  {name: 'rotate: a key declared inactive is revoked, not rotated', yaml: alice('      ci: {active: false}\n'), live: [{user: 'alice', name: 'ci', expires: -1}], actions: ['revoke alice@example.com/ci']},
  {name: 'rotate: an adopted expired key is rotated (successor managed)', yaml: alice('      ci: {adopt: true}\n'), live: [{user: 'alice', name: 'ci', managed: false, expires: -1}], actions: ['rotate alice@example.com/ci']},
  {name: 'finding: expiring within warnBefore without rotateBefore', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci', expires: 10}], actions: ['no-op alice@example.com/ci'], findings: ['expiring alice@example.com/ci']},
  {name: 'finding: warnBefore is configurable', yaml: `policy: {warnBefore: 5d}\n${alice('      ci: {}\n')}`, live: [{user: 'alice', name: 'ci', expires: 10}], findings: []},
  {name: 'finding: an expired unmanaged key is only reported', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci'}, {user: 'alice', name: 'old', managed: false, expires: -3}], findings: ['unmanaged alice@example.com/old']},

  // --- ambiguity
  {name: 'ambiguity: two hand-made live keys with the declared name → that key is blocked, naming both uids', yaml: alice('      ci: {adopt: true}\n      web: {}\n'), live: [{user: 'alice', name: 'ci', managed: false, uid: 'twin10000000000000000000'}, {user: 'alice', name: 'ci', managed: false, uid: 'twin20000000000000000000'}], blocked: ['ambiguous-key alice@example.com/ci'], actions: ['create alice@example.com/web'], check: (p) => expect(p.blocked[0]!.message).toMatch(/twin1.*twin2/)},
  {name: 'ambiguity: blocked hand-made twins of an exclusive user are not deleted', yaml: alice('      ci: {adopt: true}\n', '    exclusive: true\n'), live: [{user: 'alice', name: 'ci', managed: false}, {user: 'alice', name: 'ci', managed: false}], blocked: ['ambiguous-key alice@example.com/ci'], actions: []},
  {name: 'twins: two managed twins (concurrent applies) → the older is kept, the newer deleted', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci', uid: 'new000000000000000000000', age: 1}, {user: 'alice', name: 'ci', uid: 'old000000000000000000000', age: 2}], actions: ['delete alice@example.com/ci', 'no-op alice@example.com/ci'], check: (p) => {
    expect(only(p, 'delete').key.uid).toBe('new000000000000000000000')
    expect(only(p, 'delete').cleanup).toBe(true)
    expect(only(p, 'no-op').key.uid).toBe('old000000000000000000000')
  }},
  {name: 'twins: a managed key and a hand-made twin → the managed one is the match, the twin reported', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci', managed: false, age: 30}, {user: 'alice', name: 'ci', age: 1}], actions: ['no-op alice@example.com/ci'], findings: ['unmanaged alice@example.com/ci']},
  {name: 'twins: through renamedFrom', yaml: alice('      deploy: {renamedFrom: ci}\n'), live: [{user: 'alice', name: 'ci', age: 3}, {user: 'alice', name: 'ci', age: 2}], actions: ['update alice@example.com/deploy', 'delete alice@example.com/deploy']},
  {name: 'twins: at a movedFrom source, the managed one moves', yaml: 'users:\n  bob@example.com:\n    keys:\n      mon: {movedFrom: alice@example.com}\n', live: [{user: 'alice', name: 'mon'}, {user: 'alice', name: 'mon', managed: false}], actions: ['replace bob@example.com/mon'], findings: []},
  {name: 'ambiguity: undeclared hand-made twins are just two findings', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci'}, {user: 'alice', name: 'x', managed: false}, {user: 'alice', name: 'x', managed: false}], errors: [], findings: ['unmanaged alice@example.com/x', 'unmanaged alice@example.com/x']},
  {name: 'ambiguity: undeclared managed twins are both deleted (no guess needed)', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci'}, {user: 'alice', name: 'x'}, {user: 'alice', name: 'x'}], actions: ['no-op alice@example.com/ci', 'delete alice@example.com/x', 'delete alice@example.com/x']},
  {name: 'ambiguity: the hint names the newer twin', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci', managed: false, uid: 'old000000000000000000000', age: 20}, {user: 'alice', name: 'ci', managed: false, uid: 'new000000000000000000000', age: 1}], blocked: ['ambiguous-key alice@example.com/ci'], check: (p) => expect(p.blocked[0]!.hint).toContain('new000000000000000000000')},
  {name: 'ambiguity: twins listed newest first are still named oldest first, the newer in the hint', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci', managed: false, uid: 'new000000000000000000000', age: 1}, {user: 'alice', name: 'ci', managed: false, uid: 'old000000000000000000000', age: 20}], blocked: ['ambiguous-key alice@example.com/ci'], check: (p) => {
    expect(p.blocked[0]!.message).toMatch(/old0+ .*new0+ /)
    expect(p.blocked[0]!.hint).toContain('often the newer, new000000000000000000000')
  }},

  // --- forged marks: a mark speaks only for its own key and its declared owner
  {name: 'marks: a SUCCEEDS mark on another user\'s key never touches a declared user\'s hand-made key', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci'}, {user: 'alice', name: 'manual', managed: false, uid: 'victim000000000000000000'}, {user: 'bob', name: 'evil', annotations: {[SUCCEEDS]: 'victim000000000000000000'}}], actions: ['no-op alice@example.com/ci'], findings: ['unmanaged alice@example.com/manual', 'undeclared-user bob@example.com/evil']},
  {name: 'marks: a SUCCEEDS mark on another user\'s key never touches a declared managed key', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci', uid: 'victim000000000000000000'}, {user: 'bob', name: 'ci', annotations: {[SUCCEEDS]: 'victim000000000000000000'}}], actions: ['no-op alice@example.com/ci']},
  {name: 'marks: an own SUCCEEDS mark never reaches a hand-made key', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci', annotations: {[SUCCEEDS]: 'manual00000000000000000'}}, {user: 'alice', name: 'other', managed: false, uid: 'manual00000000000000000'}], actions: ['no-op alice@example.com/ci'], findings: ['unmanaged alice@example.com/other']},
  {name: 'marks: a key naming itself as predecessor is just a key', yaml: alice('      ci: {}\n'), live: [{user: 'alice', name: 'ci', uid: 'self00000000000000000000', annotations: {[SUCCEEDS]: 'self00000000000000000000'}}], actions: ['no-op alice@example.com/ci']},
  {name: 'marks: an interrupted move is finished (the new key names the old, the file says where it moved from)', yaml: 'users:\n  bob@example.com:\n    keys:\n      mon: {movedFrom: alice@example.com}\n', live: [{user: 'alice', name: 'mon', managed: false, uid: 'oldmon000000000000000000'}, {user: 'bob', name: 'mon', annotations: {[REPLACES]: 'oldmon000000000000000000'}}], actions: ['delete bob@example.com/mon', 'no-op bob@example.com/mon'], check: (p) => {
    expect(only(p, 'delete').key).toMatchObject({uid: 'oldmon000000000000000000', email: 'alice@example.com'})
    expect(only(p, 'delete').cleanup).toBe(true)
  }},
  {name: 'marks: a REPLACES mark naming a key of a user the file does not name as the source is ignored', yaml: 'users:\n  bob@example.com:\n    keys:\n      mon: {movedFrom: alice@example.com}\n', live: [{user: 'carol', name: 'mon', uid: 'carolmon0000000000000000'}, {user: 'bob', name: 'mon', annotations: {[REPLACES]: 'carolmon0000000000000000'}}], actions: ['no-op bob@example.com/mon']},
  {name: 'marks: a REPLACES mark without movedFrom in the file is ignored', yaml: 'users:\n  bob@example.com:\n    keys:\n      mon: {}\n', live: [{user: 'alice', name: 'mon', uid: 'alicemon0000000000000000'}, {user: 'bob', name: 'mon', annotations: {[REPLACES]: 'alicemon0000000000000000'}}], actions: ['no-op bob@example.com/mon']},
  {name: 'marks: a REPLACES mark naming a key of another name is ignored', yaml: 'users:\n  bob@example.com:\n    keys:\n      mon: {movedFrom: alice@example.com}\n', live: [{user: 'alice', name: 'laptop', uid: 'alicelap0000000000000000'}, {user: 'bob', name: 'mon', annotations: {[REPLACES]: 'alicelap0000000000000000'}}], actions: ['no-op bob@example.com/mon']},

  // --- who may plan what
  {name: 'preflight: declared users missing from Palette (removed, not invited) block only their keys and moves from them; every other user is planned', yaml: 'users:\n  zed@example.com:\n    keys: {}\n  yan@example.com:\n    keys:\n      k: {movedFrom: xu@example.com}\n  alice@example.com:\n    keys:\n      ci: {}\n      mon: {movedFrom: xu@example.com}\n', live: [{user: 'alice', name: 'old'}], blocked: ['unknown-user xu@example.com', 'unknown-user yan@example.com', 'unknown-user zed@example.com'], actions: ['create alice@example.com/ci', 'delete alice@example.com/old'], check: (p) => {
    const xu = p.blocked[0]!
    expect(xu.message).toContain('names them as movedFrom of alice@example.com/mon, yan@example.com/k')
    expect(xu.hint).toMatch(/removed .*take them out of the file.*orphanedKeys.*not invited yet, invite them/)
    expect(renderText(p, {color: false})).toContain('Blocked, nothing done for 3 declared users')
  }},
  {name: 'preflight: e-mails match case-insensitively', yaml: 'users:\n  Alice@Example.com:\n    keys:\n      ci: {}\n', live: [{user: 'alice', name: 'ci'}], actions: ['no-op Alice@Example.com/ci']},
  {name: 'preflight: a non-admin declaring other users → error naming them', yaml: 'users:\n  alice@example.com:\n    keys: {}\n  bob@example.com:\n    keys: {}\n  carol@example.com:\n    keys: {}\n', caller: 'alice', callerIsAdmin: false, errors: ['not-tenant-admin'], check: (p) => expect(p.errors[0]!.message).toContain('bob@example.com, carol@example.com')},
  {name: 'preflight: a non-admin planning their own keys is fine', yaml: alice('      ci: {}\n'), caller: 'alice', callerIsAdmin: false, live: [{user: 'alice', name: 'own', managed: false}], actions: ['create alice@example.com/ci'], errors: []},

  // --- brakes
  {name: 'brake: more than maxChangeRatio of ≥ 10 managed keys → refused', yaml: alice(Array.from({length: 6}, (_, i) => `      k${i}: {}\n`).join('')), live: Array.from({length: 10}, (_, i) => ({user: 'alice' as const, name: `k${i}`})), brakes: ['max-change-ratio'], refused: true, check: (p) => expect(p.brakes.items[0]!.message).toContain('4 of 10')},
  {name: 'brake: exactly maxChangeRatio is allowed', yaml: alice(Array.from({length: 7}, (_, i) => `      k${i}: {}\n`).join('')), live: Array.from({length: 10}, (_, i) => ({user: 'alice' as const, name: `k${i}`})), brakes: [], refused: false},
  {name: 'brake: --force lifts the ratio brake (still listed)', yaml: alice('      k0: {}\n'), live: Array.from({length: 10}, (_, i) => ({user: 'alice' as const, name: `k${i}`})), force: true, brakes: ['max-change-ratio'], refused: false},
  {
    name: 'brake: deleting keys an interrupted apply left pending under declared names is recovery, not counted',
    yaml: alice(Array.from({length: 12}, (_, i) => `      k${i}: {}\n`).join('')),
    live: [...Array.from({length: 8}, (_, i) => ({user: 'alice' as const, name: `k${i}`})), ...Array.from({length: 4}, (_, i) => ({user: 'alice' as const, name: `k${8 + i}`, annotations: {[PENDING]: 'x'}}))],
    brakes: [],
    refused: false,
    check: (p) => expect(p.summary).toMatchObject({create: 4, delete: 4}),
  },
  {
    name: 'brake: clean-up of keys under names the file does not declare counts (a mark may be forged)',
    yaml: alice(Array.from({length: 8}, (_, i) => `      k${i}: {}\n`).join('')),
    live: [...Array.from({length: 8}, (_, i) => ({user: 'alice' as const, name: `k${i}`})), ...Array.from({length: 4}, (_, i) => ({user: 'alice' as const, name: `gone${i}`, annotations: {[PENDING]: 'x'}}))],
    brakes: ['max-change-ratio'],
    refused: true,
    check: (p) => expect(p.brakes.items[0]!.message).toContain('4 of 12'),
  },
  {name: 'brake: marked keys of users the file does not name do not dilute the ratio', yaml: alice(Array.from({length: 6}, (_, i) => `      k${i}: {}\n`).join('')), live: [...Array.from({length: 10}, (_, i) => ({user: 'alice' as const, name: `k${i}`})), ...Array.from({length: 30}, (_, i) => ({user: 'bob' as const, name: `forged${i}`}))], brakes: ['max-change-ratio'], check: (p) => expect(p.brakes.items[0]!.message).toContain('4 of 10')},
  {name: 'brake: fewer than 10 managed keys: no ratio brake', yaml: alice('      k0: {}\n'), live: Array.from({length: 9}, (_, i) => ({user: 'alice' as const, name: `k${i}`})), brakes: [], refused: false},
  {name: 'brake: policy.maxChangeRatio is configurable', yaml: `policy: {maxChangeRatio: 0.05}\n${alice(Array.from({length: 9}, (_, i) => `      k${i}: {}\n`).join(''))}`, live: Array.from({length: 10}, (_, i) => ({user: 'alice' as const, name: `k${i}`})), brakes: ['max-change-ratio']},
  {name: 'brake: revoking every active key of the caller is refused, even with --force', yaml: 'users:\n  admin@example.com:\n    keys:\n      boot: {active: false}\n', live: [{user: 'admin', name: 'boot'}], force: true, brakes: ['self-lockout'], refused: true},
  {name: 'brake: rotating the caller\'s only key retires the key in use → refused', yaml: 'users:\n  admin@example.com:\n    keys:\n      boot: {rotateBefore: 10d}\n', live: [{user: 'admin', name: 'boot', expires: 5}], brakes: ['self-lockout'], refused: true},
  {name: 'brake: the caller keeps another active key → allowed', yaml: 'users:\n  admin@example.com:\n    keys:\n      boot: {active: false}\n      spare: {}\n', live: [{user: 'admin', name: 'boot'}, {user: 'admin', name: 'spare'}], brakes: [], refused: false},

  // --- order and summary
  {name: 'order: the caller\'s own keys come last', yaml: 'users:\n  admin@example.com:\n    keys:\n      a: {}\n  bob@example.com:\n    keys:\n      z: {}\n', live: [{user: 'admin', name: 'boot', managed: false}], actions: ['create bob@example.com/z', 'create admin@example.com/a']},
  {name: 'order: by address, then kind', yaml: 'users:\n  bob@example.com:\n    keys:\n      b: {active: false, description: x}\n      a: {}\n', live: [{user: 'bob', name: 'b'}], actions: ['create bob@example.com/a', 'update bob@example.com/b', 'revoke bob@example.com/b']},
  {
    name: 'summary: counts every kind and ignores no-ops',
    yaml: alice('      new: {}\n      same: {}\n      off: {active: false}\n      mv: {renamedFrom: old}\n'),
    live: [{user: 'alice', name: 'same'}, {user: 'alice', name: 'off'}, {user: 'alice', name: 'old'}, {user: 'alice', name: 'gone'}],
    check: (p) => {
      expect(p.summary).toEqual({create: 1, update: 1, revoke: 1, reactivate: 0, delete: 1, replace: 0, rotate: 0})
      expect(p.changes).toBe(true)
      expect(renderText(p, {color: false})).toContain('Plan: 1 to create, 1 to update, 1 to revoke, 1 to delete, 0 to rotate.')
    },
  },
  {name: 'fingerprints: every touched key carries the fingerprint it had', yaml: alice('      ci: {description: x}\n'), live: [{user: 'alice', name: 'ci'}], check: (p) => expect(only(p, 'update').key.fingerprint).toMatch(/^[0-9a-f]{16}$/)},
]

describe('diff (table)', () => {
  it('has at least 50 cases', () => expect(cases.length).toBeGreaterThanOrEqual(50))

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const live = (c.live ?? []).map(liveKey)
    const plan = planOf(c.yaml, live, {caller: c.caller, ...('callerIsAdmin' in c ? {callerIsAdmin: c.callerIsAdmin} : {}), force: c.force})
    const readable = `\n${renderText(plan, {color: false})}`
    if (c.errors) expect(plan.errors.map((e) => e.code), readable).toEqual(c.errors)
    else expect(plan.errors, readable).toEqual([])
    expect(plan.blocked.map((e) => `${e.code} ${e.address}`), readable).toEqual(c.blocked ?? [])
    if (c.actions) expect(actionLines(plan), readable).toEqual(c.actions)
    if (c.findings) expect(findingLines(plan), readable).toEqual(c.findings)
    if (c.brakes) expect(plan.brakes.items.map((b) => b.code), readable).toEqual(c.brakes)
    if (c.refused !== undefined) expect(plan.brakes.refused, readable).toBe(c.refused)
    c.check?.(plan, live)
  })
})

describe('diff: who the caller is', () => {
  const withCaller = (uid: string) => ({...liveState([liveKey({user: 'alice', name: 'old'})]), caller: {uid, email: ''}})
  it('without a caller uid (users/info answered {}), a plan that revokes or deletes is refused', () => {
    const plan = diff(desired(alice('      ci: {}\n')), withCaller(''), {force: true, toolVersion: 't'}, NOW)
    expect(plan.errors.map((e) => e.code)).toEqual(['unknown-caller'])
    expect(plan.actions).toEqual([])
  })
  it('without a caller uid, a plan that only creates still works', () => {
    const plan = diff(desired(alice('      ci: {}\n      old: {}\n')), withCaller(''), {force: false, toolVersion: 't'}, NOW)
    expect(plan.errors).toEqual([])
    expect(actionLines(plan)).toEqual(['create alice@example.com/ci', 'no-op alice@example.com/old'])
  })
})

describe('diff determinism', () => {
  const yaml = alice('      a: {}\n      b: {description: x}\n      c: {active: false}\n      d: {renamedFrom: old}\n', '    exclusive: true\n')
  const specs: KeySpec[] = [{user: 'alice', name: 'b'}, {user: 'alice', name: 'c'}, {user: 'alice', name: 'old'}, {user: 'alice', name: 'm', managed: false}, {user: 'bob', name: 'x'}]

  it('same inputs → byte-identical plan, whatever the order of the live keys', () => {
    const keys = specs.map(liveKey)
    const first = JSON.stringify(planOf(yaml, keys))
    expect(JSON.stringify(planOf(yaml, keys))).toBe(first)
    expect(JSON.stringify(planOf(yaml, [...keys].reverse()))).toBe(first)
    expect(JSON.stringify(planOf(yaml, [keys[2]!, keys[0]!, keys[4]!, keys[1]!, keys[3]!]))).toBe(first)
  })

  it('the plan depends on the clock only through `now`', () => {
    const keys = specs.map(liveKey)
    expect(planOf(yaml, keys).createdAt).toBe(NOW.toISOString())
  })
})

describe('diff: rights come from roles, not from what the caller sees (issue 16, item 4)', () => {
  const viewer = (keys: LiveKey[], permissions: string[]) => ({...liveState(keys, {callerIsAdmin: false}), callerPermissions: permissions})
  const yaml = 'users:\n  alice@example.com:\n    keys:\n      ci: {}\n      laptop: {description: new}\n  bob@example.com:\n    keys:\n      mon: {active: false}\n  admin@example.com:\n    keys:\n      mine: {}\n'
  const keys = () => [liveKey({user: 'alice', name: 'laptop'}), liveKey({user: 'bob', name: 'mon'}), liveKey({user: 'bob', name: 'gone'}), liveKey({user: 'admin', name: 'old'})]

  it('a viewer (apiKey.get, apiKey.list) who sees every key is refused a plan that changes others\' keys, each missing permission named with what needs it', () => {
    const plan = diff(desired(yaml), viewer(keys(), ['apiKey.get', 'apiKey.list']), {force: false, toolVersion: 't'}, NOW)
    expect(plan.errors.map((e) => e.code)).toEqual(['missing-permission'])
    const m = plan.errors[0]!.message
    expect(m).toContain('apiKey.create (for alice@example.com/ci)')
    expect(m).toContain('apiKey.delete (for bob@example.com/gone)')
    expect(m).toContain('apiKey.update (for alice@example.com/laptop, bob@example.com/mon)')
    expect(m).toContain('Their roles hold apiKey.get, apiKey.list')
    expect(plan.actions).toEqual([])
  })

  it('a viewer may plan what changes only their own keys, and a plan that changes nothing of others', () => {
    const own = 'users:\n  alice@example.com:\n    keys:\n      laptop: {}\n  admin@example.com:\n    keys:\n      mine: {}\n'
    const plan = diff(desired(own), viewer([liveKey({user: 'alice', name: 'laptop'}), liveKey({user: 'admin', name: 'old'})], ['apiKey.get', 'apiKey.list']), {force: false, toolVersion: 't'}, NOW)
    expect(plan.errors).toEqual([])
    expect(actionLines(plan)).toEqual(['no-op alice@example.com/laptop', 'create admin@example.com/mine', 'delete admin@example.com/old'])
  })

  it('a custom role with create and update but not delete: only apiKey.delete is missing', () => {
    const plan = diff(desired(yaml), viewer(keys(), ['apiKey.create', 'apiKey.get', 'apiKey.list', 'apiKey.update']), {force: false, toolVersion: 't'}, NOW)
    expect(plan.errors.map((e) => e.message.split(': ')[1]!.split('. ')[0])).toEqual(['apiKey.delete (for bob@example.com/gone)'])
  })

  it('without apiKey.list the caller sees only their own keys, so declaring others is refused (not-tenant-admin)', () => {
    const plan = diff(desired(yaml), viewer(keys(), ['apiKey.create', 'apiKey.update', 'apiKey.delete']), {force: false, toolVersion: 't'}, NOW)
    expect(plan.errors.map((e) => e.code)).toEqual(['not-tenant-admin'])
  })
})
