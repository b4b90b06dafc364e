import {createHash} from 'node:crypto'
import type {ValidateFunction} from 'ajv'
import {isLoopback} from '../util/loopback.js'
import {DEMO_RECIPIENT, recipientProblem, trialSealProblems} from '../seal/recipients.js'
import {schemaValidator} from '../util/ajv.js'
import {type InputFileError, readInputFile} from '../util/input-file.js'
import {type Diagnostic, UsageError} from '../util/errors.js'
import {fastYaml} from '../yaml/fast.js'
import {formatPath, invalidInput, type LoadedYaml, locate, MAX_YAML_BYTES, parseYaml, type PathSegment, schemaDiagnostics, yaml} from '../yaml/load.js'
import {DEFAULT_EXEC_TIMEOUT_S, type Delivery} from '../deliver/targets.js'
import {parseDuration} from './duration.js'

/** The desired-state file, checked and normalised: what the diff reads. */
export interface DesiredState {
  /** The path as given (shown in messages and saved in plans). */
  file: string
  sha256: string
  /**
   * custody `folder` (the default): a value palette-keys created is kept if and only if a sealed
   * file for its key is in `dir` of the checkout the plan runs in; `mark`: once its pending mark
   * is cleared (the value was sealed on the machine that ran apply). custodyGraceMs: how long
   * a new key may wait for its sealed file to arrive (a commit-back in flight) before it counts as lost.
   */
  seal: {recipients: string[]; dir: string; custody: 'folder' | 'mark'; custodyGraceMs: number}
  /** Every recipient of every list (the file's, users', keys'), where it stands (for located errors found after parsing). */
  recipientSites: RecipientSite[]
  defaults: {expiresInMs: number; rotateBeforeMs?: number; revokeAfterMs: number}
  policy: Policy
  /** Sorted by e-mail (lower case). */
  users: DesiredUser[]
}

/** One entry of a recipients list, locatable. */
export interface RecipientSite {
  recipient: string
  /** `seal.recipients[0]`, `users.EMAIL.seal.recipients[1]`, … */
  path: string
  /** Its line and column, looked up when an error needs them (a file read on the fast path is parsed again with positions then). */
  at(): {line: number; col: number}
}

export interface Policy {
  /** Rotate live values sealed to a recipient no longer in their list (default true). */
  rotateOnRecipientRemoval: boolean
  maxChangeRatio: number
  adopt: boolean
  deleteRetiredAfterMs: number
  warnBeforeMs: number
  /** Keys whose owner is no longer a user of the tenant: report them, or revoke or delete them too. */
  orphanedKeys: 'report' | 'revoke' | 'delete'
  /** Keys palette-keys made for users of the tenant the file no longer names (a leaver): report them, or revoke or delete them too. */
  undeclaredUsers: 'report' | 'revoke' | 'delete'
  /** Report active keys of owners who have not signed in for this long; undefined: not checked. */
  ownerInactiveAfterMs?: number
}

export interface DesiredUser {
  email: string
  exclusive: boolean
  /** Whom values of this user's keys without a list of their own are sealed to: the user's seal.recipients, else the file's. */
  recipients: string[]
  recipientsFrom: string
  /** Sorted by name. */
  keys: DesiredKey[]
}

export type DesiredExpiry = {kind: 'at'; at: string} | {kind: 'in'; ms: number}

export interface DesiredKey {
  name: string
  description: string
  active: boolean
  expiry: DesiredExpiry
  rotateBeforeMs?: number
  renamedFrom?: string
  movedFrom?: string
  adopt: boolean
  /** The declared `rotate` generation; undefined when not given (a key of any generation is fine). */
  generation?: number
  /** How long a rotated predecessor stays active after its successor was created (0: revoked at once). */
  revokeAfterMs: number
  /** Where each new value goes (empty: nowhere but the sealed file). */
  deliver: Delivery[]
  /** Whom its values are sealed to: its own seal.recipients, else its user's, else the file's. */
  recipients: string[]
  /** Where that list is declared (`seal.recipients`, `users.EMAIL.seal.recipients`, `users.EMAIL.keys.NAME.seal.recipients`). */
  recipientsFrom: string
}

const DEFAULT_POLICY: Policy = {rotateOnRecipientRemoval: true, maxChangeRatio: 0.3, adopt: false, deleteRetiredAfterMs: 7 * 86_400_000, warnBeforeMs: 14 * 86_400_000, orphanedKeys: 'report', undeclaredUsers: 'report'}
const DEFAULT_EXPIRES_IN_MS = 90 * 86_400_000
const DEFAULT_SEAL_DIR = 'sealed'
/** A commit-back of sealed files takes seconds to minutes; an hour covers a slow or retried CI job. */
export const DEFAULT_CUSTODY_GRACE_MS = 3_600_000

/** The raw shape once the schema holds (every field optional but the required ones). */
interface RawKey {
  description?: string
  expiresAt?: string
  expiresIn?: string
  rotateBefore?: string
  active?: boolean
  renamedFrom?: string
  movedFrom?: string
  adopt?: boolean
  rotate?: number
  revokeAfter?: string
  deliver?: RawDelivery[]
  seal?: {recipients: string[]}
}
type RawDelivery =
  | {github: {repository?: string; environment?: string; organization?: string; visibility?: 'all' | 'private'; secret: string}}
  | {gitlab: {project?: string; group?: string; variable: string; masked?: boolean; protected?: boolean; environmentScope?: string}}
  | {exec: {command: string[]; timeout?: number}}
interface RawFile {
  version: 1
  seal?: {recipients?: string[]; dir?: string; custody?: 'folder' | 'mark'; custodyGrace?: string}
  defaults?: {expiresIn?: string; rotateBefore?: string; revokeAfter?: string}
  policy?: {rotateOnRecipientRemoval?: boolean; maxChangeRatio?: number; adopt?: boolean; deleteRetiredAfter?: string; warnBefore?: string; orphanedKeys?: Policy['orphanedKeys']; undeclaredUsers?: Policy['undeclaredUsers']; ownerInactiveAfter?: string}
  users: Record<string, {exclusive?: boolean; seal?: {recipients: string[]}; keys: Record<string, RawKey>}>
}

function desiredStateValidator(): ValidateFunction {
  return schemaValidator('schemas/desired-state.schema.json')
}

const HINTS: Record<string, string> = {
  'invalid-duration': 'Write a whole number and a unit: 12h, 90d or 2w.',
  'invalid-email': 'Users are named by their e-mail address in Palette.',
  'invalid-date-time': 'Write an RFC 3339 time such as 2027-06-30T00:00:00Z.',
  'unsupported-version': 'Write version: 1.',
}

/**
 * A desired-state file that passed every check, all but its users normalised: `finish()` gives the
 * whole state. plan reads the tenant meanwhile (the file is checked before any request, and the
 * users of a large file take a tenth of a second to normalise while the server is still answering).
 */
export type CheckedDesiredState = Omit<DesiredState, 'users' | 'sha256'> & {finish(): DesiredState}

export async function loadDesiredStateFile(path: string, now: Date): Promise<DesiredState> {
  return (await checkDesiredStateFile(path, now)).finish()
}

/** Reads and checks a desired-state file (exit 65 with every problem): the users are normalised by `finish()`. */
export async function checkDesiredStateFile(path: string, now: Date): Promise<CheckedDesiredState> {
  let text: string
  try {
    text = await readInputFile(path, MAX_YAML_BYTES)
  } catch (error) {
    const reason = (error as InputFileError).reason
    if ((error as InputFileError).tooLarge) throw invalidInput(path, [{file: path, line: 1, col: 1, path: '', code: 'yaml.too-large', message: `the file is ${reason}`}])
    throw new UsageError(
      `Cannot read the desired-state file ${path} (${reason}).`,
      reason === 'ENOENT' ? ['Pass the file with -f FILE (or set PALETTE_KEYS_FILE); see examples/keys.yaml.'] : [],
      'file-unreadable',
    )
  }
  return checkDesiredState(text, path, now)
}

/** Parses and checks a desired-state file; throws one error holding every problem (exit 65). */
export function parseDesiredState(text: string, file: string, now: Date): DesiredState {
  return checkDesiredState(text, file, now).finish()
}

/** Parses and checks a desired-state file (one error holding every problem, exit 65); `finish()` normalises its users. */
export function checkDesiredState(text: string, file: string, now: Date): CheckedDesiredState {
  const at1 = (code: string, message: string, hint?: string): Diagnostic => ({file, line: 1, col: 1, path: '', code, message, hint})
  if (text.replace(/#.*$/gm, '').trim() === '') {
    throw invalidInput(file, [at1('empty-file', 'the file is empty', 'Start from examples/keys.yaml.')])
  }
  // The fast path: no positions, and any problem at all sends the file down the path below, whose
  // verdict and located diagnostics are the ones given (yaml/fast.ts).
  const fast = Buffer.byteLength(text, 'utf8') <= MAX_YAML_BYTES ? fastYaml(text) : undefined
  if (fast && asRecord(fast.value) && desiredStateValidator()(fast.value)) {
    const lists = declaredLists(fast.value)
    if (semanticProblems(fast.value, lists, file, () => ({line: 1, col: 1}), now).length === 0) {
      let loaded: LoadedYaml | undefined
      const where = (path: PathSegment[]) => locate((loaded ??= parseYaml(text, file)), path)
      return withSites(normalise(fast.value as RawFile, file, text), lists, where)
    }
  }
  const loaded = parseYaml(text, file)
  if (!yaml().isMap(loaded.doc.contents)) {
    throw invalidInput(file, [at1('not-a-mapping', 'the top level must be a mapping (version, seal, defaults, policy, users)')])
  }
  const validate = desiredStateValidator()
  const problems: Diagnostic[] = validate(loaded.value) ? [] : schemaDiagnostics(loaded, validate.errors ?? [], HINTS)
  for (const p of problems) if (p.path === 'version' && p.code === 'invalid-value') p.code = 'unsupported-version'
  // A loop, not push(...): a file of 100k+ problems would overflow the call stack.
  const lists = declaredLists(loaded.value)
  for (const p of semanticProblems(loaded.value, lists, file, (path, key) => locate(loaded, path, {key}), now)) problems.push(p)
  if (problems.length > 0) throw invalidInput(file, dedupe(problems))
  return withSites(normalise(loaded.value as RawFile, file, text), lists, (path) => locate(loaded, path))
}

/** Every recipients list of a parsed file, with its path: walked once a parse. */
type DeclaredLists = ReturnType<typeof declaredLists>

/** The state with every recipient of every list, each locatable through `where`. */
function withSites<T extends {recipientSites: RecipientSite[]}>(state: T, lists: DeclaredLists, where: (path: PathSegment[]) => {line: number; col: number}): T {
  state.recipientSites = lists.flatMap(({path, list}) => list.map((recipient, i) => ({recipient: String(recipient), path: formatPath([...path, i]), at: () => where([...path, i])})))
  return state
}

/** What a schema cannot say. Written defensively: it also runs when the schema failed. `where` locates a path (its key, with `key`). */
function semanticProblems(value: unknown, lists: DeclaredLists, file: string, where: (path: PathSegment[], key: boolean) => {line: number; col: number}, now: Date): Diagnostic[] {
  const out: Diagnostic[] = []
  const add = (path: PathSegment[], code: string, message: string, hint?: string, key = false) => {
    const pos = where(path, key)
    out.push({file, ...pos, path: formatPath(path), code, message, hint})
  }
  const root = asRecord(value)
  for (const {path, list} of lists) {
    list.forEach((r, i) => {
      if (typeof r !== 'string') return
      const problem = recipientProblem(r)
      if (problem) add([...path, i], 'invalid-recipient', problem, 'Use an age recipient from `palette-keys keygen` or `age-keygen` (X25519 age1…, or post-quantum age1pq1… from keygen --pq), or an SSH public key (ssh-ed25519 or ssh-rsa).')
    })
  }

  const defaults = asRecord(root?.defaults)
  const defaultLifetime = typeof defaults?.expiresIn === 'string' ? parseDuration(defaults.expiresIn) : DEFAULT_EXPIRES_IN_MS
  const defaultWindow = typeof defaults?.rotateBefore === 'string' ? parseDuration(defaults.rotateBefore) : undefined
  if (defaultLifetime !== undefined && defaultWindow !== undefined && defaultWindow >= defaultLifetime) {
    add(['defaults', 'rotateBefore'], 'rotation-window-too-wide', 'rotateBefore is not shorter than expiresIn: every new key would be rotated at once', 'Make rotateBefore shorter than the lifetime.')
  }

  const users = asRecord(root?.users) ?? {}
  const seenEmails = new Map<string, string>()
  const declaredNames = new Map<string, Set<string>>()
  for (const [email, u] of Object.entries(users)) {
    const lower = email.toLowerCase()
    const first = seenEmails.get(lower)
    if (first !== undefined) add(['users', email], 'duplicate-user', `user ${email} is already declared as ${first}`, 'E-mails are matched case-insensitively: merge the two entries.', true)
    else seenEmails.set(lower, email)
    declaredNames.set(lower, new Set(Object.keys(asRecord(asRecord(u)?.keys) ?? {})))
  }

  const moves = new Map<string, string>()
  for (const [email, u] of Object.entries(users)) {
    const keys = asRecord(asRecord(u)?.keys) ?? {}
    const names = new Set(Object.keys(keys))
    const renamedFroms = new Map<string, string>()
    for (const [name, k] of Object.entries(keys)) {
      const key = asRecord(k)
      if (!key) continue
      const path = ['users', email, 'keys', name]
      if (key.expiresAt !== undefined && key.expiresIn !== undefined) {
        add([...path, 'expiresIn'], 'conflicting-expiry', 'both expiresAt and expiresIn are given', 'Keep one: expiresAt (a date) or expiresIn (a lifetime for new keys).', true)
      }
      if (typeof key.expiresAt === 'string') {
        const at = Date.parse(key.expiresAt)
        if (!Number.isNaN(at) && at <= now.getTime()) add([...path, 'expiresAt'], 'expiry-in-past', `expiresAt ${key.expiresAt} is in the past`, 'Give a future date, or use expiresIn.')
      }
      const lifetime = typeof key.expiresIn === 'string' ? parseDuration(key.expiresIn) : defaultLifetime
      const window = typeof key.rotateBefore === 'string' ? parseDuration(key.rotateBefore) : undefined
      if (key.expiresAt === undefined && lifetime !== undefined && window !== undefined && window >= lifetime) {
        add([...path, 'rotateBefore'], 'rotation-window-too-wide', 'rotateBefore is not shorter than the key\'s lifetime: it would be rotated at every plan', 'Make rotateBefore shorter than expiresIn.')
      }
      const targets = Array.isArray(key.deliver) ? key.deliver : []
      const seenTargets = new Map<string, number>()
      targets.forEach((t, i) => {
        const github = asRecord(asRecord(t)?.github)
        const gitlab = asRecord(asRecord(t)?.gitlab)
        const at = [...path, 'deliver', i]
        if (github) {
          if ((github.repository === undefined) === (github.organization === undefined)) add([...at, 'github'], 'invalid-delivery', 'a github target names exactly one of repository (OWNER/REPO) and organization', 'Write repository: OWNER/REPO for a repository or environment secret, organization: ORG for an organisation secret.')
          if (github.environment !== undefined && github.repository === undefined) add([...at, 'github', 'environment'], 'invalid-delivery', 'an environment secret belongs to a repository: environment needs repository')
          if (github.visibility !== undefined && github.organization === undefined) add([...at, 'github', 'visibility'], 'invalid-delivery', 'visibility is for organisation secrets: it needs organization')
        }
        if (gitlab && (gitlab.project === undefined) === (gitlab.group === undefined)) add([...at, 'gitlab'], 'invalid-delivery', 'a gitlab target names exactly one of project and group')
        const where = JSON.stringify(github ? {g: github.repository ?? github.organization, e: github.environment ?? null, s: typeof github.secret === 'string' ? github.secret.toUpperCase() : null} : gitlab ? {l: gitlab.project ?? gitlab.group, v: gitlab.variable, e: gitlab.environmentScope ?? '*'} : null)
        const first = seenTargets.get(where)
        if ((github || gitlab) && first !== undefined) add(at, 'duplicate-delivery', `this target is already deliver[${first}] of this key`, 'Each secret or variable is written once per new value: remove one.')
        else seenTargets.set(where, i)
      })
      if (typeof key.renamedFrom === 'string') {
        const other = renamedFroms.get(key.renamedFrom)
        if (key.renamedFrom === name) add([...path, 'renamedFrom'], 'rename-collision', 'renamedFrom names the key itself', 'Remove renamedFrom.')
        else if (names.has(key.renamedFrom)) add([...path, 'renamedFrom'], 'rename-collision', `renamedFrom "${key.renamedFrom}" is also declared as a key of this user`, 'A key cannot be renamed to a new name and kept under its old one.')
        else if (other !== undefined) add([...path, 'renamedFrom'], 'rename-collision', `key "${other}" is already renamed from "${key.renamedFrom}"`)
        else renamedFroms.set(key.renamedFrom, name)
      }
      if (typeof key.movedFrom === 'string') {
        const source = key.movedFrom.toLowerCase()
        const sourceName = typeof key.renamedFrom === 'string' ? key.renamedFrom : name
        const mover = moves.get(`${source}/${sourceName}`)
        if (source === email.toLowerCase()) add([...path, 'movedFrom'], 'invalid-move', 'movedFrom names the key\'s own user', 'Remove movedFrom.')
        else if (declaredNames.get(source)?.has(sourceName)) add([...path, 'movedFrom'], 'move-collision', `${key.movedFrom} still declares a key "${sourceName}"`, 'Remove it from the old user when you move it.')
        else if (mover !== undefined) add([...path, 'movedFrom'], 'move-collision', `${key.movedFrom}/${sourceName} is already moved to ${mover}`)
        else moves.set(`${source}/${sourceName}`, `${email}/${name}`)
      }
    }
  }
  return out
}

/** All but the users, at once; the users (and the file's hash) when `finish()` is called, once. */
function normalise(raw: RawFile, file: string, text: string): CheckedDesiredState {
  const expiresInMs = raw.defaults?.expiresIn ? parseDuration(raw.defaults.expiresIn)! : DEFAULT_EXPIRES_IN_MS
  const rotateBeforeMs = raw.defaults?.rotateBefore ? parseDuration(raw.defaults.rotateBefore) : undefined
  const revokeAfterMs = raw.defaults?.revokeAfter ? parseDuration(raw.defaults.revokeAfter, true)! : 0
  const policy: Policy = {
    rotateOnRecipientRemoval: raw.policy?.rotateOnRecipientRemoval ?? DEFAULT_POLICY.rotateOnRecipientRemoval,
    maxChangeRatio: raw.policy?.maxChangeRatio ?? DEFAULT_POLICY.maxChangeRatio,
    adopt: raw.policy?.adopt ?? DEFAULT_POLICY.adopt,
    deleteRetiredAfterMs: raw.policy?.deleteRetiredAfter ? parseDuration(raw.policy.deleteRetiredAfter, true)! : DEFAULT_POLICY.deleteRetiredAfterMs,
    warnBeforeMs: raw.policy?.warnBefore ? parseDuration(raw.policy.warnBefore)! : DEFAULT_POLICY.warnBeforeMs,
    orphanedKeys: raw.policy?.orphanedKeys ?? DEFAULT_POLICY.orphanedKeys,
    undeclaredUsers: raw.policy?.undeclaredUsers ?? DEFAULT_POLICY.undeclaredUsers,
    ...(raw.policy?.ownerInactiveAfter ? {ownerInactiveAfterMs: parseDuration(raw.policy.ownerInactiveAfter)!} : {}),
  }
  const fileRecipients = raw.seal?.recipients ?? []
  const defaults: DesiredState['defaults'] = {expiresInMs, revokeAfterMs}
  if (rotateBeforeMs !== undefined) defaults.rotateBeforeMs = rotateBeforeMs
  let finished: DesiredState | undefined
  // Dropped once the users are made: the parsed file is not kept for the rest of the run.
  let source: {raw: RawFile; text: string} | undefined = {raw, text}
  const head: CheckedDesiredState = {
    file,
    seal: {
      recipients: fileRecipients,
      dir: raw.seal?.dir ?? DEFAULT_SEAL_DIR,
      custody: raw.seal?.custody ?? 'folder',
      custodyGraceMs: raw.seal?.custodyGrace ? parseDuration(raw.seal.custodyGrace, true)! : DEFAULT_CUSTODY_GRACE_MS,
    },
    recipientSites: [],
    defaults,
    policy,
    finish: () => {
      if (finished) return finished
      const {finish: _, ...rest} = head
      finished = {...rest, sha256: createHash('sha256').update(source!.text).digest('hex'), users: normaliseUsers(source!.raw, rest)}
      source = undefined
      return finished
    },
  }
  return head
}

/** The users, sorted by e-mail, their keys by name, defaults and recipient lists applied (the nearest list replaces the others). */
function normaliseUsers(raw: RawFile, {defaults: {expiresInMs, rotateBeforeMs, revokeAfterMs}, seal: {recipients: fileRecipients}}: Pick<DesiredState, 'defaults' | 'seal'>): DesiredUser[] {
  return Object.entries(raw.users)
    .map(([email, u]) => {
      // The nearest list replaces the others (a SOPS creation rule): the key's, else its user's, else the file's.
      const userRecipients = u.seal ? u.seal.recipients : fileRecipients
      const userRecipientsFrom = u.seal ? formatPath(['users', email, 'seal', 'recipients']) : 'seal.recipients'
      return {
        email,
        exclusive: u.exclusive ?? false,
        recipients: userRecipients,
        recipientsFrom: userRecipientsFrom,
        keys: Object.entries(u.keys)
          .map(([name, k]): DesiredKey => {
            const key: DesiredKey = {
              recipients: k.seal ? k.seal.recipients : userRecipients,
              recipientsFrom: k.seal ? formatPath(['users', email, 'keys', name, 'seal', 'recipients']) : userRecipientsFrom,
              name,
              description: k.description ?? '',
              active: k.active ?? true,
              expiry: k.expiresAt ? {kind: 'at', at: new Date(k.expiresAt).toISOString()} : {kind: 'in', ms: k.expiresIn ? parseDuration(k.expiresIn)! : expiresInMs},
              adopt: k.adopt ?? false,
              revokeAfterMs: k.revokeAfter ? parseDuration(k.revokeAfter, true)! : revokeAfterMs,
              deliver: (k.deliver ?? []).map(delivery),
            }
            const window = k.rotateBefore ? parseDuration(k.rotateBefore) : rotateBeforeMs
            if (window !== undefined) key.rotateBeforeMs = window
            if (k.renamedFrom !== undefined) key.renamedFrom = k.renamedFrom
            if (k.movedFrom !== undefined) key.movedFrom = k.movedFrom
            if (k.rotate !== undefined) key.generation = k.rotate
            return key
          })
          .sort((a, b) => cmp(a.name, b.name)),
      }
    })
    .sort((a, b) => cmp(a.email.toLowerCase(), b.email.toLowerCase()))
}

function delivery(raw: RawDelivery): Delivery {
  if ('github' in raw) {
    const g = raw.github
    return {kind: 'github', secret: g.secret, ...(g.repository === undefined ? {} : {repository: g.repository}), ...(g.environment === undefined ? {} : {environment: g.environment}), ...(g.organization === undefined ? {} : {organization: g.organization, visibility: g.visibility ?? 'private'})}
  }
  if ('gitlab' in raw) {
    const g = raw.gitlab
    return {kind: 'gitlab', variable: g.variable, ...(g.project === undefined ? {} : {project: g.project}), ...(g.group === undefined ? {} : {group: g.group}), masked: g.masked ?? true, protected: g.protected ?? true, environmentScope: g.environmentScope ?? '*'}
  }
  return {kind: 'exec', command: raw.exec.command, timeoutS: raw.exec.timeout ?? DEFAULT_EXEC_TIMEOUT_S}
}

/** Code-point order: the same on every machine and locale. */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
}

function dedupe(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>()
  return ds.filter((d) => {
    const k = `${d.code}|${d.line}|${d.col}|${d.path}`
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}

/** Every e-mail the file names: declared users and the sources of moved keys. */
export function declaredEmails(desired: DesiredState): string[] {
  const emails = new Set(desired.users.map((u) => u.email))
  for (const u of desired.users) for (const k of u.keys) if (k.movedFrom) emails.add(k.movedFrom)
  return [...emails]
}

/**
 * Recipients that parse but cannot be sealed to (exit 65, located): checked by `validate`, and
 * by `apply` before its first change.
 */
export async function checkRecipientsSealable(desired: DesiredState): Promise<void> {
  const unique = [...new Set(desired.recipientSites.map((r) => r.recipient))]
  const problems = new Map((await trialSealProblems(unique)).map(({index, problem}) => [unique[index]!, problem]))
  const sites = desired.recipientSites.filter((r) => problems.has(r.recipient))
  if (sites.length === 0) return
  throw invalidInput(
    desired.file,
    sites.map((r) => ({file: desired.file, ...r.at(), path: r.path, code: 'unsealable-recipient', message: problems.get(r.recipient)!, hint: 'Use a recipient printed by `palette-keys keygen` or `age-keygen`, or an SSH public key.'})),
  )
}

/** The demo recipient (its identity ships in the package) is for the emulator only: refused (65) for any other host, before a request. */
export function checkDemoRecipient(desired: Pick<DesiredState, 'file' | 'recipientSites'>, host: string): void {
  const sites = desired.recipientSites.filter((r) => r.recipient === DEMO_RECIPIENT)
  if (sites.length === 0 || isLoopback(new URL(host).hostname)) return
  throw invalidInput(
    desired.file,
    sites.map((r) => ({
      file: desired.file,
      ...r.at(),
      path: r.path,
      code: 'demo-recipient',
      message: `this is the demo recipient, whose identity ships with palette-keys (examples/demo-identity.txt): anyone could open values sealed to it, so it is refused for ${host}`,
      hint: 'Make your own identity with `palette-keys keygen -o identity.txt` and put its recipient here.',
    })),
  )
}

/** Every recipients list of a parsed file (the file's, each user's, each key's), with its path; defensive: it also runs when the schema failed. */
function declaredLists(value: unknown): Array<{path: PathSegment[]; list: unknown[]}> {
  const root = asRecord(value)
  const out: Array<{path: PathSegment[]; list: unknown[]}> = []
  const take = (path: PathSegment[], seal: unknown) => {
    const list = asRecord(seal)?.recipients
    if (Array.isArray(list)) out.push({path: [...path, 'seal', 'recipients'], list})
  }
  take([], root?.seal)
  for (const [email, u] of Object.entries(asRecord(root?.users) ?? {})) {
    take(['users', email], asRecord(u)?.seal)
    for (const [name, k] of Object.entries(asRecord(asRecord(u)?.keys) ?? {})) take(['users', email, 'keys', name], asRecord(k)?.seal)
  }
  return out
}

