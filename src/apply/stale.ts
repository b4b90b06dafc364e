import {ExitCode} from '../cli/exit-codes.js'
import type {LiveState} from '../live/snapshot.js'
import {liveFingerprint} from '../plan/fingerprint.js'
import type {Plan} from '../plan/model.js'
import {PaletteKeysError} from '../util/errors.js'

/**
 * A saved plan may only be applied to the host and tenant it was made for, and only while
 * the live keys are as it saw them: any key added or removed, or changed in a field a plan
 * depends on (see fingerprint.ts), makes it stale.
 */
export function staleness(plan: Plan, live: LiveState): PaletteKeysError | undefined {
  const again = ['Plan again (`palette-keys plan --out PLAN`), review it, and apply the new plan.']
  if (live.host !== plan.host) {
    return new PaletteKeysError(`This plan was made for ${plan.host}, not ${live.host}.`, {code: 'stale-plan', exitCode: ExitCode.Stale, hints: again})
  }
  if (live.tenant.uid !== plan.tenant.uid) {
    return new PaletteKeysError(`This plan was made for tenant ${plan.tenant.orgName || plan.tenant.uid} (${plan.tenant.uid}), but the API key belongs to tenant ${live.tenant.uid}.`, {code: 'stale-plan', exitCode: ExitCode.Stale, hints: again})
  }
  if (liveFingerprint(live.keys) !== plan.live.fingerprint) {
    return new PaletteKeysError(`The plan is stale: the live keys changed since it was made (${plan.createdAt}). Nothing was changed.`, {code: 'stale-plan', exitCode: ExitCode.Stale, hints: again})
  }
  return undefined
}
