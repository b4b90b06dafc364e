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
  const sealDir = resolve(dirname(options.desired.file), options.desired.seal.dir)
  // Whom the values are sealed to, from the sealed files' headers (no identity needed): read while
  // the tenant's answers are on their way, as most of it is waiting on the disk. A caller that
  // gives the folder's names (tests) gives what it knows of their headers too.
  const early = options.sealFiles ? undefined : sealFolderFiles(sealDir).then((files) => readSealedHeaders(sealDir, files), () => ({}) as Record<string, HeaderReading>)
  const live = await readLiveState(options.api, options.host, {declaredEmails: declaredEmails(options.desired), confirmOwners: options.desired.policy.orphanedKeys !== 'report', actOnOthers: options.desired.policy.orphanedKeys !== 'report' || options.desired.policy.undeclaredUsers !== 'report', ...(options.applyAs === undefined ? {} : {applyAs: options.applyAs})})
  options.phase?.('reads')
  // The seal folder is an input like the live keys (custody: a created value is kept iff its sealed
  // file is there), listed after them: a key seen live whose file has arrived by now counts as kept.
  const sealFiles = options.sealFiles ?? (await sealFolderFiles(sealDir))
  const liveUids = new Set(live.keys.map((k) => k.uid))
  const wanted = sealFiles.filter((f) => liveUids.has(uidOfSealedFileName(f) ?? ''))
  let sealHeaders: Record<string, HeaderReading> = options.sealHeaders ?? {}
  if (early) {
    const known = await early
    sealHeaders = Object.fromEntries(wanted.filter((f) => known[f] !== undefined).map((f) => [f, known[f]!]))
    Object.assign(sealHeaders, await readSealedHeaders(sealDir, wanted.filter((f) => known[f] === undefined)))
  }
  const plan = diff(options.desired, live, {force: options.force, toolVersion: options.toolVersion, sealFiles, sealHeaders, replace, rotationsOnly: options.rotationsOnly}, options.now)
  options.phase?.('diff')
  return {live, plan}
}

/** --replace names declared keys only (USER/NAME, the e-mail matched case-insensitively), before any request. */
export function replaceAddresses(desired: DesiredState, given: string[]): string[] {
  if (given.length === 0) return []
  const declared = new Map(desired.users.flatMap((u) => u.keys.map((k) => [lowerEmail(`${u.email}/${k.name}`), `${u.email}/${k.name}`] as const)))
  const unknown = given.filter((a) => !declared.has(lowerEmail(a)))
  if (unknown.length > 0) {
    throw new UsageError(`--replace ${unknown.map((a) => JSON.stringify(a)).join(', ')}: not a key ${desired.file} declares (write USER/NAME, e.g. alice@example.com/ci).`, [], 'replace-unknown')
  }
  return given.map((a) => declared.get(lowerEmail(a))!)
}
