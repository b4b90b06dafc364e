import {dirname, resolve} from 'node:path'
import {type DesiredState, declaredEmails} from '../config/desired-state.js'
import {type LiveState, readLiveState} from '../live/snapshot.js'
import type {PaletteApi} from '../palette/port.js'
import {diff} from '../plan/diff.js'
import type {Plan} from '../plan/model.js'
import {sealFolderFiles} from '../seal/seal-dir.js'

export interface PlanRun {
  live: LiveState
  plan: Plan
}

/** The one path from a checked file + the tenant to a plan; `plan` prints it, `apply` executes it. */
export async function makePlan(options: {desired: DesiredState; api: PaletteApi; host: string; force: boolean; toolVersion: string; now: Date; phase?: (name: string) => void; sealFiles?: string[]}): Promise<PlanRun> {
  const live = await readLiveState(options.api, options.host, {declaredEmails: declaredEmails(options.desired), confirmOwners: options.desired.policy.orphanedKeys !== 'report'})
  options.phase?.('reads')
  // The seal folder is an input like the live keys (custody: a created value is kept iff its sealed file is there).
  const sealFiles = options.sealFiles ?? (await sealFolderFiles(resolve(dirname(options.desired.file), options.desired.seal.dir)))
  const plan = diff(options.desired, live, {force: options.force, toolVersion: options.toolVersion, sealFiles}, options.now)
  options.phase?.('diff')
  return {live, plan}
}
