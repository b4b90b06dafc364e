import {dirname, resolve} from 'node:path'
import {type CheckedDesiredState, type DesiredState, declaredEmails} from '../config/desired-state.js'
import {type LiveState, readLiveState} from '../live/snapshot.js'
import type {PaletteApi} from '../palette/port.js'
import {diff, lowerEmail} from '../plan/diff.js'
import type {Plan} from '../plan/model.js'
import {readSealedHeaders, sealFolderFiles} from '../seal/seal-dir.js'
import {type HeaderReading, uidOfSealedFileName} from '../seal/sealed-file.js'
import {UsageError} from '../util/errors.js'

export interface PlanRun {
  /** The desired state the plan was made from (normalised, when makePlan was given a checked file). */
  desired: DesiredState
  live: LiveState
  plan: Plan
}

/**
 * The one path from a checked file + the tenant to a plan; `plan` prints it, `apply` executes it.
 * Given a checked file that is not normalised yet (CheckedDesiredState), its users are normalised
 * while the tenant's first answers are on their way: every check of the file is done before the
 * first request, and with --replace (checked against the declared keys) the users are too.
 */
export async function makePlan(options: {desired: DesiredState | CheckedDesiredState; api: PaletteApi; host: string; force: boolean; toolVersion: string; now: Date; phase?: (name: string) => void; sealFiles?: string[]; sealHeaders?: Record<string, HeaderReading>; replace?: string[]; rotationsOnly?: boolean; applyAs?: string}): Promise<PlanRun> {
  const given = options.desired
  const finish = (): DesiredState => ('finish' in given ? given.finish() : given)
  const replace = (options.replace ?? []).length > 0 ? replaceAddresses(finish(), options.replace!) : []
  const sealDir = resolve(dirname(given.file), given.seal.dir)
  const reading = readLiveState(options.api, options.host, {declaredEmails: () => declaredEmails(finish()), confirmOwners: given.policy.orphanedKeys !== 'report', actOnOthers: given.policy.orphanedKeys !== 'report' || given.policy.undeclaredUsers !== 'report', ...(options.applyAs === undefined ? {} : {applyAs: options.applyAs})})
  // Awaited below; a failure meanwhile is not unhandled.
  reading.catch(() => undefined)
  // One turn of the event loop lets the requests go out; then what needs no answer is done while the server works.
  await new Promise((resolve) => setImmediate(resolve))
  // Whom the values are sealed to, from the sealed files' headers (no identity needed; the folder
  // is read synchronously, so after the requests are sent). A caller that gives the folder's
  // names (tests) gives what it knows of their headers too.
  const early = options.sealFiles ? undefined : sealFolderFiles(sealDir).then((files) => readSealedHeaders(sealDir, files), () => ({}) as Record<string, HeaderReading>)
  // The file's users, when given a checked file.
  const desired = finish()
  const live = await reading
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
  const plan = diff(desired, live, {force: options.force, toolVersion: options.toolVersion, sealFiles, sealHeaders, replace, rotationsOnly: options.rotationsOnly}, options.now)
  options.phase?.('diff')
  return {desired, live, plan}
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
