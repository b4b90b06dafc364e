/** The plan: data only. Text, JSON and Markdown are views of it; apply executes it. */

import type {Delivery} from '../deliver/targets.js'

export const PLAN_FORMAT = 'palette-keys-plan'
export const PLAN_FORMAT_VERSION = 1

/** A live key an action touches, with the fingerprint it had when planned. */
export interface KeyRef {
  email: string
  userUid: string
  uid: string
  name: string
  /**
   * Hash of the key's live fields when planned (not on no-ops: they change nothing, and
   * the plan's whole-set fingerprint already covers every key).
   */
  fingerprint?: string
}

/** A key an action will create. */
export interface NewKey {
  email: string
  userUid: string
  name: string
  description: string
  /** RFC 3339 with milliseconds: the declared expiresAt, or (with expiresIn) the plan's time plus it. */
  expiresAt: string
  /**
   * The declared expiresIn (`90d`), when the expiry is relative: apply then counts it from the
   * moment it creates the key, not from the plan's time (a saved plan may be days old).
   */
  expiresIn?: string
  /**
   * The name the key is created under when it is not `name` (a rotation's successor, a moved
   * key: the key it replaces still holds `name`, and Palette may refuse two keys of one name).
   * It takes `name` in the same action once the other key is gone.
   */
  createAs?: string
  /** The declared `rotate` generation it is made for (1 and up): its GENERATION mark and its sealed file's name record it. */
  generation?: number
  /** Where its value goes once sealed, before any predecessor is revoked. */
  deliver?: Delivery[]
  /**
   * Whom its value is sealed to (public age or SSH recipients, never identities): the key's own
   * seal.recipients, else its user's, else the file's; `from` says which.
   */
  sealTo: {recipients: string[]; from: string}
}

export type ChangedField = 'name' | 'description' | 'expiresAt' | 'ownership'

export interface FieldChange {
  field: ChangedField
  before: string
  after: string
}

interface Base {
  /** `email/name`: the declared identity of the key. */
  address: string
  /** Why: for people, never parsed. */
  reason: string
  /**
   * Clean-up of what an interrupted apply, rotation or replace, or a concurrent apply, left
   * behind (audit reports it as `unfinished`). It counts toward the brakes like any change.
   */
  cleanup?: true
}

export type Action =
  | (Base & {kind: 'create'; target: NewKey})
  | (Base & {kind: 'update'; key: KeyRef; changes: FieldChange[]})
  | (Base & {kind: 'revoke'; key: KeyRef})
  | (Base & {kind: 'reactivate'; key: KeyRef})
  | (Base & {kind: 'delete'; key: KeyRef})
  /** Palette cannot reassign a key: create the new owner's key, seal it, delete the old one. */
  | (Base & {kind: 'replace'; from: KeyRef; target: NewKey})
  /**
   * Rename the predecessor `retiredAs` (its one write, marking it RETIRING), create the successor
   * under the declared name (`target.createAs` only when another key holds it) and seal it, then
   * revoke or delete the predecessor. Without `retiredAs` (it expired) the predecessor is deleted first.
   */
  | (Base & {
      kind: 'rotate'
      key: KeyRef
      target: NewKey
      retire: 'revoke' | 'delete'
      retiredAs?: string
      cause?: RotateCause
      revokeAfter?: string
      /**
       * An earlier attempt's successor that was sealed but not delivered to every target (a target
       * before the failing one may hold its value): it steps aside under `displacedAs` before the
       * new key is made, and is deleted only once the new value is delivered, so no target is left
       * holding a deleted key meanwhile.
       */
      displaces?: KeyRef
      displacedAs?: string
    })
  | (Base & {kind: 'no-op'; key: KeyRef})

/**
 * Why a key is rotated when not by its expiry: `value-lost` (no sealed file), `undelivered` (sealed,
 * but a delivery target never got the value), `generation` (its `rotate` counter changed),
 * `requested` (--replace), `unfinished` (a rotation started by an earlier apply that did not end),
 * `recipient-removed` (its value was sealed to a recipient no longer in its list, who may keep a copy).
 */
export type RotateCause = 'value-lost' | 'undelivered' | 'generation' | 'requested' | 'unfinished' | 'recipient-removed'

export type ActionKind = Action['kind']

/** Action kinds in display and summary order. */
export const ACTION_KINDS: ActionKind[] = ['create', 'update', 'revoke', 'reactivate', 'delete', 'replace', 'rotate', 'no-op']

export type FindingKind = 'unmanaged' | 'expiring' | 'expired' | 'absent-inactive' | 'retired' | 'orphaned-owner' | 'undeclared-user' | 'owner-disabled' | 'owner-inactive' | 'transient-name' | 'value-unconfirmed' | 'overlap' | 'undelivered' | 'sealed-to-other-recipients' | 'recipients-unrecorded'

/** A sealed file whose key is gone or retired: apply removes it, so unseal never serves a value that no longer authenticates. */
export interface StaleSealedFile {
  /** Relative to the seal folder, '/'-separated. */
  file: string
  uid: string
  reason: string
}

/** Something worth knowing that the plan does not change. */
export interface Finding {
  kind: FindingKind
  address: string
  email: string
  name: string
  uid?: string
  expiresAt?: string
  message: string
}

export interface PlanError {
  code: string
  message: string
  hint?: string
  /** The declared key it concerns, for problems confined to one key (Plan.blocked). */
  address?: string
}

export interface Brake {
  code: 'max-change-ratio' | 'self-lockout' | 'rotations-only'
  message: string
  /** false: --force does not lift it. */
  forceable: boolean
}

export type Summary = Record<Exclude<ActionKind, 'no-op'>, number>

export interface Plan {
  format: typeof PLAN_FORMAT
  formatVersion: typeof PLAN_FORMAT_VERSION
  toolVersion: string
  /** The `now` the plan was computed at. */
  createdAt: string
  host: string
  tenant: {uid: string; orgName: string}
  caller: {uid: string; email: string; tenantAdmin: boolean | null}
  desired: {file: string; sha256: string}
  live: {
    users: number
    keys: number
    managedKeys: number
    requests: number
    fingerprint: string
    /** Palette's cap on API keys per user the plan was checked against; `assumed` when the tenant's could not be read. */
    keyLimit: {perUser: number; source: 'tenant' | 'assumed'; note?: string}
    /** Why owners' status (disabled, last sign-in) is unknown, when it is. */
    userStatusNote?: string
    /** Lists that may have been cut at the documented page size, and what that changed. */
    listNotes?: string[]
    /**
     * plan --apply-as: whose key read the tenant, when the plan is made for another user's apply
     * (the caller). How the tenant was read (this, requests, keyLimit) is not compared by apply PLAN.
     */
    readAs?: string
  }
  /** `replace`: the --replace USER/NAME addresses (each declared key rotated once); absent when none. */
  policy: {rotateOnRecipientRemoval: boolean; maxChangeRatio: number; adopt: boolean; deleteRetiredAfter: string; warnBefore: string; orphanedKeys: 'report' | 'revoke' | 'delete'; undeclaredUsers: 'report' | 'revoke' | 'delete'; ownerInactiveAfter: string | null; force: boolean; replace?: string[]; rotationsOnly?: boolean}
  /**
   * Public age recipients (not secrets) and the seal folder, relative to the desired file; the
   * custody model; the folder's sealed file names as the plan read them (a count and a hash: a
   * saved plan is stale once a commit-back adds or removes one), and the stale ones apply removes.
   */
  seal: {recipients: string[]; dir: string; custody: 'folder' | 'mark'; custodyGrace: string; files: {count: number; sha256: string}; stale: StaleSealedFile[]}
  summary: Summary
  /** True when any action but no-op exists, or a stale sealed file is to be removed. */
  changes: boolean
  brakes: {refused: boolean; items: Brake[]}
  /** Problems that stop the plan: no action is planned while any exists. */
  errors: PlanError[]
  /**
   * Problems confined to one declared key (twins nobody can tell apart, a hand-made key in
   * the way): that key gets no action, every other key is planned as usual; plan and apply
   * exit 1 while any exists.
   */
  blocked: PlanError[]
  actions: Action[]
  findings: Finding[]
}

/** True for actions that destroy or retire a live key (the brake counts these). */
export function isDestructive(a: Action): boolean {
  return a.kind === 'revoke' || a.kind === 'delete' || a.kind === 'replace' || a.kind === 'rotate'
}

/** The live key an action changes or retires, if any. */
export function touchedKey(a: Action): KeyRef | undefined {
  switch (a.kind) {
    case 'create':
      return undefined
    case 'replace':
      return a.from
    case 'update':
    case 'revoke':
    case 'reactivate':
    case 'delete':
    case 'rotate':
    case 'no-op':
      return a.key
    default:
      return assertNever(a)
  }
}

/** Whether the action creates, changes or retires a key of the user `uid`. */
export function touchesUser(a: Action, uid: string): boolean {
  if (a.kind === 'create') return a.target.userUid === uid
  if (a.kind === 'replace') return a.target.userUid === uid || a.from.userUid === uid
  return touchedKey(a)?.userUid === uid
}

export function assertNever(x: never): never {
  throw new Error(`unexpected: ${JSON.stringify(x)}`)
}
