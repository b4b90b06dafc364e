import {isDeepStrictEqual} from 'node:util'
import {ExitCode} from '../util/exit-codes.js'
import type {DesiredState} from '../config/desired-state.js'
import {formatDuration} from '../config/duration.js'
import type {LiveState} from '../live/snapshot.js'
import {liveFingerprint} from '../plan/fingerprint.js'
import type {Plan} from '../plan/model.js'
import {type PlanDocument, planDocument} from '../plan/document.js'
import {PaletteKeysError} from '../util/errors.js'

/**
 * A saved plan is a review token, not a program: in CI a pull-request job writes it, so
 * whoever controls that job controls the file. `apply PLAN` therefore executes nothing it
 * reads from the file. It re-reads the desired file the operator names (same SHA-256 as the
 * plan's), the live state (same fingerprint), recomputes the plan at the plan's time, and
 * goes on only when the result is the file, field for field: what `show` rendered is then
 * exactly what runs. Each check below refuses with exit 4 before any change.
 */

/** How far ahead of this machine's clock a plan's time may be (another machine's clock drift). */
const CLOCK_SKEW_MS = 5 * 60_000
const AGAIN = ['Plan again (`palette-keys plan --out PLAN`), review it, and apply the new plan.']

function refused(message: string, hints: string[] = AGAIN): PaletteKeysError {
  return new PaletteKeysError(message, {code: 'stale-plan', exitCode: ExitCode.Stale, hints})
}

/** Default of apply --max-plan-age: a review is about a tenant as it was; a week-old one is no longer that. */
export const DEFAULT_MAX_PLAN_AGE = '7d'

/**
 * The time the plan is recomputed at: the plan's own, which cannot be in the future, nor
 * older than `maxAgeMs`. A plan made on a machine whose clock is behind would otherwise be
 * recomputed (and its keys' expiries counted) from a past instant; apply counts created keys'
 * relative expiries from its own time in any case.
 */
export function planTime(saved: PlanDocument, now: Date, maxAgeMs: number): Date {
  const at = new Date(saved.createdAt)
  if (at.getTime() > now.getTime() + CLOCK_SKEW_MS) {
    throw refused(`This plan says it was made at ${saved.createdAt}, after this machine's time (${now.toISOString()}): it was edited, or made on a machine with a wrong clock. Nothing was changed.`)
  }
  const age = now.getTime() - at.getTime()
  if (age > maxAgeMs) {
    throw refused(`This plan says it was made at ${saved.createdAt}, ${formatDuration(age)} before this machine's time (${now.toISOString()}), more than --max-plan-age ${formatDuration(maxAgeMs)}: it is too old to stand for the tenant as it is now, or it was made on a machine with a wrong clock. Nothing was changed.`, [
      ...AGAIN,
      'Check the clock of the machine that made the plan (a plan is dated by it).',
    ])
  }
  return at
}

/** The desired file the operator gave must be the one the plan was made from. */
export function desiredFileProblem(saved: PlanDocument, desired: DesiredState): PaletteKeysError | undefined {
  if (desired.sha256 === saved.desired.sha256) return undefined
  return refused(`This plan was made from a desired-state file with SHA-256 ${saved.desired.sha256.slice(0, 12)}… (${JSON.stringify(saved.desired.file)} at the time), but ${desired.file} has ${desired.sha256.slice(0, 12)}…. Nothing was changed.`, [
    'Pass the reviewed file with -f FILE (or PALETTE_KEYS_FILE): apply PLAN recomputes the plan from it.',
    ...AGAIN,
  ])
}

/** Checked before any request: the credential goes only to the host the operator configured. */
export function hostProblem(saved: PlanDocument, host: string): PaletteKeysError | undefined {
  if (saved.host === host) return undefined
  return refused(`This plan was made for ${saved.host}, not ${host} (the host comes from --host, PALETTE_HOST or SPECTROCLOUD_HOST, never from a plan file). No request was sent.`)
}

/**
 * A saved plan may only be applied to the tenant it was made for, and only while the live
 * keys are as it saw them: any key added or removed, or changed in a field a plan depends on
 * (see fingerprint.ts), makes it stale.
 */
export function staleness(saved: Pick<Plan, 'tenant' | 'live' | 'createdAt'>, live: LiveState): PaletteKeysError | undefined {
  if (live.tenant.uid !== saved.tenant.uid) {
    return refused(`This plan was made for tenant ${saved.tenant.orgName || saved.tenant.uid} (${saved.tenant.uid}), but the API key belongs to tenant ${live.tenant.uid}.`)
  }
  if (liveFingerprint(live.keys) !== saved.live.fingerprint) {
    return refused(`The plan is stale: the live keys changed since it was made (${saved.createdAt}). Nothing was changed.`)
  }
  return undefined
}

/**
 * How a plan read the tenant, not what it found or decided: the number of requests, the key cap
 * as read or assumed (a key that may not read the tenant's limits assumes Palette's default; a
 * cap that changes an action changes the actions, which are compared), and whose key read it
 * (plan --apply-as). A plan made with a read-only key for another user's apply differs here only.
 */
function withoutReading(doc: PlanDocument): PlanDocument {
  const {requests: _r, keyLimit: _k, readAs: _a, ...live} = doc.live
  return {...doc, live: live as PlanDocument['live']}
}

/** The recomputed plan must be the saved one, every field (the file's path and how the tenant was read aside). */
export function mismatch(saved: PlanDocument, recomputed: Plan): PaletteKeysError | undefined {
  const expected = withoutReading(JSON.parse(JSON.stringify(planDocument({...recomputed, desired: {...recomputed.desired, file: saved.desired.file}}))) as PlanDocument)
  const given = withoutReading(saved)
  if (isDeepStrictEqual(expected, given)) return undefined
  const paths = differences(expected, given, '', [])
  const hints = [...AGAIN]
  if (paths.some((p) => p.startsWith('policy.force'))) hints.unshift('A plan made with --force is applied with --force (and one made without, without it).')
  if (paths.some((p) => p.startsWith('policy.rotationsOnly'))) hints.unshift('A plan made with --rotations-only is applied with --rotations-only (and one made without, without it).')
  if (paths.some((p) => p.startsWith('policy.replace'))) hints.unshift('A plan made with --replace USER/NAME is applied with the same --replace (and one made without, without it).')
  if (paths.some((p) => p.startsWith('caller'))) hints.unshift(`The plan was made for ${saved.caller.email || saved.caller.uid}'s apply${saved.live.readAs ? ` (read with ${saved.live.readAs}'s key, assuming ${saved.caller.email || saved.caller.uid} holds every apiKey permission)` : ''}: apply it with their key, or plan with --apply-as naming the user whose key applies.`)
  if (paths.includes('toolVersion')) hints.unshift(`The plan was made by palette-keys ${saved.toolVersion}; this is ${recomputed.toolVersion}.`)
  return refused(`This plan is not what the reviewed file and the live tenant give: it differs at ${paths.slice(0, 6).join(', ')}${paths.length > 6 ? ` and ${paths.length - 6} more places` : ''}. It was edited after \`plan\`, or made by another version or with other flags. Nothing was changed.`, hints)
}

/** Paths where two JSON values differ (values are never shown: a path says enough). */
function differences(a: unknown, b: unknown, path: string, out: string[]): string[] {
  if (out.length > 50 || isDeepStrictEqual(a, b)) return out
  const bothArrays = Array.isArray(a) && Array.isArray(b)
  const bothObjects = isObject(a) && isObject(b) && !Array.isArray(a) && !Array.isArray(b)
  if (bothArrays && a.length === b.length) {
    a.forEach((x, i) => differences(x, b[i], `${path}[${i}]`, out))
  } else if (bothObjects) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) differences(a[k], b[k], path === '' ? k : `${path}.${k}`, out)
  } else {
    out.push(path === '' ? '(the whole document)' : path)
  }
  return out
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null
}
