import {dirname, resolve} from 'node:path'
import {type DesiredState, declaredEmails} from '../config/desired-state.js'
import {type LiveState, readLiveState} from '../live/snapshot.js'
import type {PaletteApi} from '../palette/port.js'
import {diff, lowerEmail} from '../plan/diff.js'
import type {Plan} from '../plan/model.js'
import {readSealedHeaders, sealFolderFiles} from '../seal/seal-dir.js'
import {type HeaderReading, uidOfSealedFileName} from '../seal/sealed-file.js'
import {UsageError} from '../util/errors.js'

export interface PlanRun {
  live: LiveState
  plan: Plan
}

/** The one path from a checked file + the tenant to a plan; `plan` prints it, `apply` executes it. */
export async function makePlan(options: {desired: DesiredState; api: PaletteApi; host: string; force: boolean; toolVersion: string; now: Date; phase?: (name: string) => void; sealFiles?: string[]; sealHeaders?: Record<string, HeaderReading>; replace?: string[]; rotationsOnly?: boolean; applyAs?: string}): Promise<PlanRun> {
  const replace = replaceAddresses(options.desired, options.replace ?? [])
  const live = await readLiveState(options.api, options.host, {declaredEmails: declaredEmails(options.desired), confirmOwners: options.desired.policy.orphanedKeys !== 'report', actOnOthers: options.desired.policy.orphanedKeys !== 'report' || options.desired.policy.undeclaredUsers !== 'report', ...(options.applyAs === undefined ? {} : {applyAs: options.applyAs})})
  options.phase?.('reads')
  // The seal folder is an input like the live keys (custody: a created value is kept iff its sealed file is there).
  const sealDir = resolve(dirname(options.desired.file), options.desired.seal.dir)
  const sealFiles = options.sealFiles ?? (await sealFolderFiles(sealDir))
  // Whom the values of live keys are sealed to, from their files' headers (no identity needed).
  const liveUids = new Set(live.keys.map((k) => k.uid))
  // A caller that gives the folder's names (tests) gives what it knows of their headers too.
  const sealHeaders = options.sealHeaders ?? (options.sealFiles ? {} : await readSealedHeaders(sealDir, sealFiles.filter((f) => liveUids.has(uidOfSealedFileName(f) ?? ''))))
  const plan = diff(options.desired, live, {force: options.force, toolVersion: options.toolVersion, sealFiles, sealHeaders, replace, rotationsOnly: options.rotationsOnly}, options.now)
  options.phase?.('diff')
  return {live, plan}
}

/** --replace names declared keys only (USER/NAME, the e-mail matched case-insensitively), before any request. */
export function replaceAddresses(desired: DesiredState, given: string[]): string[] {
  const declared = new Map(desired.users.flatMap((u) => u.keys.map((k) => [lowerEmail(`${u.email}/${k.name}`), `${u.email}/${k.name}`] as const)))
  const unknown = given.filter((a) => !declared.has(lowerEmail(a)))
  if (unknown.length > 0) {
    throw new UsageError(`--replace ${unknown.map((a) => JSON.stringify(a)).join(', ')}: not a key ${desired.file} declares (write USER/NAME, e.g. alice@example.com/ci).`, [], 'replace-unknown')
  }
  return given.map((a) => declared.get(lowerEmail(a))!)
}
