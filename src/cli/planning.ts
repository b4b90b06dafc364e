import {type DesiredState, loadDesiredStateFile} from '../config/desired-state.js'
import {type LiveState, readLiveState} from '../live/snapshot.js'
import type {PaletteApi} from '../palette/port.js'
import {diff} from '../plan/diff.js'
import type {Plan} from '../plan/model.js'

export interface PlanRun {
  desired: DesiredState
  live: LiveState
  plan: Plan
}

/** The one path from file + tenant to a plan; `plan` prints it, `apply` executes it. */
export async function makePlan(options: {file: string; api: PaletteApi; host: string; force: boolean; toolVersion: string; now?: Date}): Promise<PlanRun> {
  const now = options.now ?? new Date()
  const desired = await loadDesiredStateFile(options.file, now)
  const live = await readLiveState(options.api, options.host, {declaredEmails: declaredEmails(desired)})
  const plan = diff(desired, live, {force: options.force, toolVersion: options.toolVersion}, now)
  return {desired, live, plan}
}

/** Every e-mail the file names: declared users and the sources of moved keys. */
export function declaredEmails(desired: DesiredState): string[] {
  const emails = new Set(desired.users.map((u) => u.email))
  for (const u of desired.users) for (const k of u.keys) if (k.movedFrom) emails.add(k.movedFrom)
  return [...emails]
}
