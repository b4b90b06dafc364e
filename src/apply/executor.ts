import {randomBytes} from 'node:crypto'
import {setTimeout as delay} from 'node:timers/promises'
import type {LiveKey, LiveState} from '../live/snapshot.js'
import {parseDuration} from '../config/duration.js'
import {isPaletteUid, possiblyCut} from '../contract/palette.js'
import {PaletteApiError} from '../palette/errors.js'
import type {CreatedApiKey, PaletteApi} from '../palette/port.js'
import {retryTransient} from '../palette/retry.js'
import type {ApiKey, UserInfo} from '../palette/types.js'
import type {Secret} from '../util/secret.js'
import {type Action, type ActionKind, assertNever, type NewKey} from '../plan/model.js'
import {lanes} from '../plan/order.js'
import {CUSTODY, CUSTODY_FOLDER, DELIVERED, GENERATION, MANAGED_BY, MANAGED_BY_VALUE, NAME, NONCE, PENDING, REPLACES, RETIRING, SEALED_TO, SUCCEEDS} from '../plan/ownership.js'
import {fingerprints} from '../seal/recipients.js'
import {type DeliveryPort, DeliveryError} from '../deliver/deliver.js'
import {deliveryId} from '../deliver/targets.js'
import type {SealedRecord} from '../seal/sealed-file.js'
import type {Sealer} from '../seal/seal-dir.js'
import {registerSecret, scrub} from '../util/scrub.js'
import {KeyUpdater} from './key-update.js'
import {SealGate} from './seal-gate.js'

export type OutcomeStatus = 'done' | 'failed' | 'not-started'

export interface ActionOutcome {
  address: string
  kind: ActionKind
  status: OutcomeStatus
  /** The uid of the key this action created, if any. */
  createdUid?: string
  /** Where its value was sealed. */
  sealedFile?: string
  note?: string
  /** Why it failed (never holds a key value). */
  error?: string
}

export interface ExecutorOptions {
  api: PaletteApi
  sealer: Sealer
  /** The live state the plan was checked against (updates send the full key). */
  live: LiveState
  parallelism: number
  now?: () => Date
  sleep?: (ms: number) => Promise<void>
  /** Called as each action ends (done or failed). */
  onOutcome?: (outcome: ActionOutcome, action: Action) => void
  /** seal.custody (default folder): under folder, a created key carries the CUSTODY mark (plan/ownership.ts). */
  custody?: 'folder' | 'mark'
  /** Delivers new values to the targets their key declares (deliver/deliver.ts); needed only when one does. */
  deliverer?: DeliveryPort
}

/** What a key value may look like: printable, no spaces, quotes, `$`, backticks or the like. */
const PLAIN_TOKEN = /^[A-Za-z0-9._~+/=:-]{8,1024}$/

/** How often an unambiguous create failure (429, or a lost request that did not take effect) is tried again. */
const CREATE_ATTEMPTS = 3

/** A key this run created and sealed. */
interface Made {
  uid: string
  file: string
  /** The name it was created under. */
  name: string
  expiry: string
  /** Its annotations as this run last wrote them (what the next update sends). */
  annotations: Record<string, string>
  /** Its value, for its delivery targets (in memory only). */
  value: Secret
}

/** A create sealed under the uid its answer gave, to be confirmed by its nonce with the batch's key list. */
interface Unconfirmed {
  action: Action
  nonce: string
  target: NewKey
  name: string
  record: SealedRecord
}

class SealFailure extends Error {}
/** A DELETE answered 404 while a list still shows the key: a failure of that key alone. */
class StillListed extends Error {}
/** The server's answer cannot be right: nothing more should be sent to it. */
class UntrustedAnswer extends Error {}

/**
 * Executes plan actions in the order of plan/order.ts: others' keys first, one lane per user
 * (a user's actions one at a time, slots freed before they are taken, so the per-user key cap
 * holds), lanes side by side up to the parallelism; the caller's own keys last and one at a
 * time (destructive ones at the very end: one of them may be the key in use). Each created
 * value is sealed before any further mutation starts.
 *
 * Actions on different keys do not depend on each other, so, as Terraform goes on with
 * resources that do not depend on a failed one, a failure confined to its key (Palette
 * refused or failed that one request) does not stop the others. A failure that says the
 * credential, the connection, the rate limit or the seal folder is in trouble stops new
 * actions: they would fail the same way. After any failure the caller's own keys are left
 * alone (a run that could not finish must not also revoke the key it runs with). Actions
 * not started are reported as such.
 */
export async function execute(actions: Action[], options: ExecutorOptions): Promise<ActionOutcome[]> {
  return new Executor(options).run(actions)
}

class Executor {
  private readonly gate = new SealGate()
  private readonly updater: KeyUpdater
  private readonly liveByUid: Map<string, LiveKey>
  private readonly now: () => Date
  private readonly sleep: (ms: number) => Promise<void>
  /** No new action starts. */
  private stopped = false
  /** Some action failed. */
  private failed = false
  /** Keys this run created: a later create's answer naming one of them is not a new key either. */
  private readonly created = new Set<string>()
  /** Uids a create's answer must not name: the tenant's, the caller's, every user's. */
  private readonly notKeys: Set<string>
  /** Seal custody: under `folder` the sealed file is the proof of custody, so no pending mark is written or cleared. */
  private readonly folder: boolean
  /** The annotation that carries a create's nonce. */
  private readonly nonceMark: string
  /** Creates of the running pool sealed under their answer's uid, confirmed when the pool ends. */
  private unconfirmed: Unconfirmed[] = []
  /** Whether the running pool's creates may wait for the batch's confirmation (not so for the caller's own keys). */
  private batching = false
  /** The last key list sent for creates looking up their key, and the one waiting to be sent (creates join it). */
  private list: {sent?: Promise<ApiKey[]>; queued?: Promise<ApiKey[]>} = {}
  /** Creates sent and not answered yet, and who waits for them all to be answered. */
  private posts = {inFlight: 0, waiting: [] as Array<() => void>}

  constructor(private readonly o: ExecutorOptions) {
    this.liveByUid = new Map(o.live.keys.map((k) => [k.uid, k]))
    this.updater = new KeyUpdater(o.api)
    this.notKeys = new Set([o.live.tenant.uid, o.live.caller.uid, ...o.live.users.map((u) => u.uid)])
    this.folder = (o.custody ?? 'folder') === 'folder'
    this.nonceMark = this.folder ? NONCE : PENDING
    this.now = o.now ?? (() => new Date())
    this.sleep = o.sleep ?? ((ms) => delay(ms))
  }

  async run(actions: Action[]): Promise<ActionOutcome[]> {
    const outcomes = new Map<Action, ActionOutcome>()
    const work = actions.filter((a) => a.kind !== 'no-op')
    const {others, own} = lanes(actions, this.o.live.caller.uid)
    // Others' creates are confirmed by one key list when their pool ends. The caller's own are
    // confirmed one by one: a rotation of the key in use may end the credential before a list.
    this.batching = this.folder
    await this.pool([...others.values()], Math.max(1, this.o.parallelism), outcomes, true)
    await this.confirmBatch(outcomes)
    this.batching = false
    if (!this.failed) await this.pool([own], 1, outcomes, false)
    return work.map((a) => outcomes.get(a) ?? {address: a.address, kind: a.kind, status: 'not-started'})
  }

  /** Runs lanes side by side, `width` at a time; each lane one action after another (plan/order.ts). */
  private async pool(queue: Action[][], width: number, outcomes: Map<Action, ActionOutcome>, goOnAfterConfined: boolean): Promise<void> {
    let next = 0
    const worker = async () => {
      while (!this.stopped && next < queue.length) {
        const lane = queue[next++]!
        for (const action of lane) {
          if (this.stopped) break
          const {outcome, confined} = await this.runOne(action)
          outcomes.set(action, outcome)
          if (outcome.status === 'failed') {
            this.failed = true
            if (!(confined && goOnAfterConfined)) this.stopped = true
          }
          this.o.onOutcome?.(outcome, action)
        }
      }
    }
    await Promise.all(Array.from({length: Math.min(width, queue.length)}, worker))
  }

  private async runOne(a: Action): Promise<{outcome: ActionOutcome; confined: boolean}> {
    const base = {address: a.address, kind: a.kind}
    try {
      return {outcome: {...base, status: 'done', ...(await this.perform(a))}, confined: true}
    } catch (error) {
      if (await this.credentialRefused(error)) {
        return {outcome: {...base, status: 'failed', error: `${(error as Error).message}; the API key was refused (GET /v1/users/info failed too), so no further action is started`}, confined: false}
      }
      return {outcome: {...base, status: 'failed', error: (error as Error).message}, confined: confinedToItsKey(error)}
    }
  }

  /**
   * A 404 on a key may be "no such key", or a server answering a refused credential with 404:
   * one GET /v1/users/info (which any valid key may call) tells them apart.
   */
  private async credentialRefused(error: unknown): Promise<boolean> {
    if (!notFound(error)) return false
    return this.o.api.whoAmI().then(
      () => false,
      (probe: unknown) => probe instanceof PaletteApiError && probe.credentialRefused,
    )
  }

  private async perform(a: Action): Promise<Partial<ActionOutcome>> {
    switch (a.kind) {
      case 'create': {
        const made = await this.create(a, a.target, {})
        const delivered = await this.deliverAll(made, a.target)
        return {createdUid: made.uid, sealedFile: made.file, ...(delivered ? {note: delivered} : {})}
      }
      case 'update': {
        const k = this.liveKey(a.key.uid)
        let name = k.name
        let expiry = k.expiry
        const annotations = {...k.annotations}
        for (const c of a.changes) {
          if (c.field === 'name') {
            name = c.after
            // A key under a transient name takes its declared one: the mark has done its job (and a
            // predecessor whose rotation did not finish is no longer being retired).
            if (annotations[NAME] === c.after) {
              delete annotations[NAME]
              delete annotations[RETIRING]
            }
          } else if (c.field === 'description') annotations.description = c.after
          else if (c.field === 'expiresAt') expiry = c.after
          else {
            // Adopted: made by hand, so no sealed file of it exists; a custody mark set by hand would get it replaced.
            annotations[MANAGED_BY] = MANAGED_BY_VALUE
            delete annotations[CUSTODY]
          }
        }
        await this.mutate(() => this.updater.update(k.uid, {name, expiry, annotations}))
        return {}
      }
      case 'revoke':
      case 'reactivate':
        await this.mutate(() => this.o.api.setApiKeyActive(a.key.uid, a.kind === 'reactivate'))
        return {}
      case 'delete':
        return {note: await this.delete(a.key.uid)}
      case 'replace': {
        // The mark lets the next plan finish the move if the old key's DELETE fails or is cut short. The
        // new key is renamed under its uid at the end, so that uid is confirmed at once (one GET).
        const made = await this.create(a, a.target, {[REPLACES]: a.from.uid}, true)
        const delivered = await this.deliverAll(made, a.target)
        const note = await this.delete(a.from.uid)
        const named = await this.takeName(made, a.target)
        return {createdUid: made.uid, sealedFile: made.file, note: [delivered, `old key ${a.from.uid} deleted`, note, named].filter(Boolean).join('; ')}
      }
      case 'rotate':
        return this.rotate(a)
      case 'no-op':
        return {}
      default:
        return assertNever(a)
    }
  }

  /**
   * A rotation in at most three requests on /v1/apiKeys: one write renames the predecessor out of
   * its successor's way and marks it RETIRING (it still stands for its declared name: NAME), the
   * successor is created under the declared name and sealed, then the predecessor is revoked or
   * deleted. Killed after the write, the next plan rotates again (the successor never existed, or
   * has no sealed file: plan/diff.ts); after the seal, it retires the predecessor. An expired
   * predecessor authenticates nothing and may not be updated: it is deleted first.
   */
  private async rotate(a: Extract<Action, {kind: 'rotate'}>): Promise<Partial<ActionOutcome>> {
    const pred = this.liveKey(a.key.uid)
    // Under the declared name (the predecessor steps aside first), unless another key holds it too (plan/diff.ts settleNames).
    const target = a.target
    // An earlier attempt's undelivered successor steps aside first, and goes once the new value is delivered.
    if (a.displaces) {
      const old = this.liveKey(a.displaces.uid)
      await this.mutate(() => this.updater.update(old.uid, {name: a.displacedAs!, expiry: old.expiry, annotations: {...old.annotations, [NAME]: a.target.name}}))
    }
    const displaced = async () => {
      if (!a.displaces) return undefined
      const note = await this.delete(a.displaces.uid)
      return [`undelivered key ${a.displaces.uid} of the earlier attempt deleted`, note].filter(Boolean).join('; ')
    }
    if (a.retiredAs === undefined) {
      // Only an expired predecessor goes before its successor exists (the plan gives any other a name to step aside to).
      if (!(Date.parse(pred.expiry) <= this.now().getTime())) throw new Error(`key ${pred.uid} has not expired, so it is not deleted before its successor exists; plan again`)
      const note = await this.delete(pred.uid)
      const made = await this.create(a, target, {})
      const delivered = await this.deliverAll(made, target)
      return {createdUid: made.uid, sealedFile: made.file, note: [`expired predecessor ${pred.uid} deleted first`, note, delivered, await displaced()].filter(Boolean).join('; ')}
    }
    const annotations = {...pred.annotations, [MANAGED_BY]: MANAGED_BY_VALUE, [NAME]: a.target.name, [RETIRING]: this.now().toISOString()}
    await this.mutate(() => this.updater.update(pred.uid, {name: a.retiredAs!, expiry: pred.expiry, annotations}))
    const made = await this.create(a, target, {[SUCCEEDS]: pred.uid})
    // Delivered before the predecessor goes: a failure here leaves it active, and the next plan rotates again.
    const delivered = [await this.deliverAll(made, target), await displaced()].filter(Boolean).join('; ') || undefined
    if (a.revokeAfter !== undefined) {
      // Overlap: the predecessor keeps working while its consumers switch; a later plan revokes it once revokeAfter has passed.
      // Its sealed file goes now: its consumers have its value already, and unseal shows one value per name (the new one).
      const removed = await this.o.sealer.removeFor(pred.uid)
      return {createdUid: made.uid, sealedFile: made.file, note: [delivered, `predecessor ${pred.uid} renamed ${a.retiredAs}; it stays active for revokeAfter ${a.revokeAfter}, then a later apply ${a.retire === 'delete' ? 'deletes' : 'revokes'} it`, sealedRemoved(removed.length)].filter(Boolean).join('; ')}
    }
    if (a.retire === 'delete') {
      const note = await this.delete(pred.uid)
      return {createdUid: made.uid, sealedFile: made.file, note: [delivered, `predecessor ${pred.uid} renamed ${a.retiredAs}, then deleted`, note].filter(Boolean).join('; ')}
    }
    await this.mutate(() => this.o.api.setApiKeyActive(pred.uid, false))
    // A retired key stays revoked for good: its sealed value would only be a second record for unseal to refuse.
    const removed = await this.o.sealer.removeFor(pred.uid)
    return {createdUid: made.uid, sealedFile: made.file, note: [delivered, `predecessor ${pred.uid} renamed ${a.retiredAs} and revoked`, sealedRemoved(removed.length)].filter(Boolean).join('; ')}
  }

  /** What becomes of a key this run created but could not keep, for messages. */
  private leftBehind(uid: string): string {
    return this.folder
      ? `the key (${uid}) could not be deleted; it has no sealed file, so the next plan replaces it once seal.custodyGrace has passed`
      : `the key (${uid}) could not be deleted; it carries the pending mark, so the next apply deletes it`
  }

  /**
   * Creates a key and seals its value. Under seal custody `folder` that is the POST alone on
   * /v1/apiKeys (plus the value's proof on /v1/users): the sealed file is what says the value is
   * kept, and a key the POST made without one (a kill before the seal) is found value-lost by the
   * next plan and replaced. The answer's uid, when nothing makes it doubtful, is used at once and
   * confirmed by the create's nonce with one key list for the whole batch (confirmBatch); a
   * doubtful one (no uid, a known key's or a user's) is looked up by nonce first, in a key list
   * shared with the other creates waiting at that moment. `now` (or custody `mark`, or the
   * caller's own keys) confirms the uid before anything else is done (one GET).
   * Under custody `mark` the key carries a pending mark with the nonce until the value is sealed,
   * then a PUT clears it: a crash leaves a key whose mark tells the next plan to replace it.
   */
  private async create(action: Action, target: NewKey, extra: Record<string, string>, now = false): Promise<Made> {
    // Under a transient name while the key it replaces holds the declared one; the mark says which name it stands for.
    const name = target.createAs ?? target.name
    const custody: Record<string, string> = this.folder ? {[CUSTODY]: CUSTODY_FOLDER} : {}
    const annotations: Record<string, string> = {description: target.description, [MANAGED_BY]: MANAGED_BY_VALUE, ...custody, ...(target.createAs === undefined ? {} : {[NAME]: target.name}), ...(target.generation ? {[GENERATION]: String(target.generation)} : {}), [SEALED_TO]: fingerprints(target.sealTo.recipients).join(','), ...extra}
    // A relative expiry counts from now, not from the plan's time: a saved plan may be days old.
    const ms = target.expiresIn === undefined ? undefined : parseDuration(target.expiresIn)
    const expiry = ms === undefined ? target.expiresAt : new Date(this.now().getTime() + ms).toISOString()
    let created: CreatedApiKey | undefined
    let nonce = ''
    for (let attempt = 1; !created; attempt++) {
      nonce = randomBytes(8).toString('hex')
      try {
        await this.gate.idle()
        this.posts.inFlight++
        created = await this.o.api.createApiKey({
          metadata: {name, annotations: {...annotations, [this.nonceMark]: nonce}},
          spec: {expiry, userUid: target.userUid},
        })
      } catch (error) {
        this.postAnswered()
        if (!(error instanceof PaletteApiError)) throw error
        // A key this request may have made is removed even on the last attempt: nobody has its value.
        if (error.ambiguous) await this.removeGhost(nonce)
        if (attempt >= CREATE_ATTEMPTS) throw error
        if (error.status === 429) await this.sleep(1000 * attempt)
        else if (!error.ambiguous) throw error
      }
    }
    // From now on no output of this process may show it, however a server echoes it back.
    registerSecret(created.apiKey.reveal())
    this.gate.enter()
    let uid: string
    let read: Record<string, string>
    // Confirmed with the batch: the answer's uid is used as it is until the pool's key list says otherwise.
    // A key with delivery targets is marked delivered under its uid right after the seal: that uid is confirmed first.
    const later = this.folder && this.batching && !now && !target.deliver && this.plausible(created.uid, target)
    try {
      if (later) {
        ;({uid, annotations: read} = {uid: created.uid!, annotations: {...annotations, [this.nonceMark]: nonce}})
        this.postAnswered()
      } else {
        // A doubtful answer joins the next key list before this create counts as answered (freshList).
        const confirming = this.confirmed(created.uid, nonce, target, name)
        this.postAnswered()
        ;({uid, annotations: read} = await confirming)
      }
      this.created.add(uid)
      if (!PLAIN_TOKEN.test(created.apiKey.reveal())) {
        // A value that is not a plain token (a newline, quotes, `$(...)`) would be code wherever it is pasted or sourced.
        const removed = await this.o.api.deleteApiKey(uid).then(() => 'the key was deleted', () => this.leftBehind(uid))
        throw new UntrustedAnswer(`Palette's answer to the create of ${target.email}/${target.name} holds a value that is not a plain token (it was not sealed); ${removed}`)
      }
      const problem = await this.proofProblem(created.apiKey, target)
      if (problem) {
        // Whoever holds this key's own value (another answer may have carried it), nobody sealed it: it goes, and the next plan creates it again.
        const removed = await this.o.api.deleteApiKey(uid).then(() => `the key made (${uid}) was deleted, so the next apply creates it again`, () => this.leftBehind(uid))
        throw new UntrustedAnswer(`the value Palette answered the create of ${target.email}/${target.name} with ${problem}; it was not sealed, and ${removed}`)
      }
    } catch (error) {
      this.gate.leave()
      throw error
    }
    let file: string
    const record: SealedRecord = {user: target.email, name: target.name, uid, expiry, host: this.o.live.host, createdAt: this.now().toISOString(), apiKey: created.apiKey.reveal(), ...(target.generation ? {generation: target.generation} : {})}
    try {
      file = await this.o.sealer.seal(record, target.sealTo.recipients)
    } catch (error) {
      // The value cannot be kept: the key must not exist either.
      const removed = await this.o.api.deleteApiKey(uid).then(() => 'the key just created was deleted', () => this.leftBehind(uid))
      throw new SealFailure(`sealing failed (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); ${removed}`)
    } finally {
      this.gate.leave()
    }
    if (later) this.unconfirmed.push({action, nonce, target, name, record})
    if (this.folder) return {uid, file, name, expiry, annotations: {...read, ...annotations}, value: created.apiKey}
    // Clearing the mark keeps every annotation the server put on the new key (it may replace the whole map).
    const cleared: Record<string, string> = {...read, ...annotations}
    delete cleared[PENDING]
    await this.mutate(() => this.updater.update(uid, {name, expiry, annotations: cleared}))
    return {uid, file, name, expiry, annotations: cleared, value: created.apiKey}
  }

  /**
   * Gives a sealed value to each delivery target its key declares, in order, then marks the key
   * DELIVERED (one write) so that later plans know its consumers have it. A target that fails
   * ends the action as failed, before any predecessor is revoked: the key keeps no DELIVERED mark,
   * so the next plan makes a new value (this one cannot be read again in CI) and delivers that.
   */
  private async deliverAll(made: Made, target: NewKey): Promise<string | undefined> {
    const targets = target.deliver ?? []
    if (targets.length === 0) return undefined
    if (!this.o.deliverer) throw new DeliveryError('no deliverer is configured for this run')
    for (const [i, d] of targets.entries()) {
      try {
        await this.o.deliverer.deliver(d, made.value, {user: target.email, name: target.name, uid: made.uid, expiry: made.expiry})
      } catch (error) {
        const done = i === 0 ? '' : ` (${i} target${i === 1 ? '' : 's'} before it got the value)`
        throw new DeliveryError(`${(error as Error).message}${done}; key ${made.uid} is sealed but not delivered: the next apply makes a new value and delivers it`)
      }
    }
    const annotations = {...made.annotations, [DELIVERED]: targets.map(deliveryId).sort().join(',')}
    await this.mutate(() => this.updater.update(made.uid, {name: made.name, expiry: made.expiry, annotations}))
    made.annotations = annotations
    return `delivered to ${targets.length} target${targets.length === 1 ? '' : 's'}`
  }

  /** An answer's uid that may be used as it is: a uid, and not a key already known, a user's or the tenant's (else it is doubtful). */
  private plausible(answer: string | undefined, target: NewKey): answer is string {
    return usableUid(answer) && !this.liveByUid.has(answer) && !this.created.has(answer) && answer !== target.userUid && !this.notKeys.has(answer)
  }

  /**
   * The pool's creates sealed under their answer's uid, confirmed by nonce with one key list
   * (a GET each when the list may be cut at the documented page size, where a key may be past
   * it). A uid the list disproves (the key carrying the nonce has another) has its value sealed
   * again under the true one and the wrong file removed; a create whose key cannot be found
   * (no key, or several, carry its nonce, or not of its owner and name) loses its file, any
   * key carrying the nonce is deleted, and its action fails. A list that cannot be read leaves
   * the files as they are: the next plan checks them against the live keys (a file whose key is
   * gone is stale; a key without a file is value-lost).
   */
  private async confirmBatch(outcomes: Map<Action, ActionOutcome>): Promise<void> {
    const batch = this.unconfirmed
    this.unconfirmed = []
    if (batch.length === 0) return
    let keys: ApiKey[] | undefined
    try {
      keys = await this.transientRetried(() => this.o.api.listApiKeys())
    } catch (error) {
      for (const u of batch) this.amend(outcomes, u, {note: `its uid was not confirmed by a key list (${(error as Error).message}); the next plan checks its sealed file against the live keys`})
      return
    }
    const cut = possiblyCut(keys.length)
    for (const u of batch) {
      const answered = u.record.uid
      let carriers: ApiKey[]
      if (cut) {
        const got = await this.o.api.getApiKey(answered).catch(() => undefined)
        carriers = got?.metadata?.annotations?.[this.nonceMark] === u.nonce ? [got] : []
      } else carriers = keys.filter((k) => k.metadata?.annotations?.[this.nonceMark] === u.nonce)
      const only = carriers.length === 1 ? carriers[0] : undefined
      const mine = only && this.ours(only, u.nonce, u.target, u.name) ? only : undefined
      if (mine?.metadata.uid === answered) continue
      if (mine && usableUid(mine.metadata.uid) && !this.liveByUid.has(mine.metadata.uid) && !this.created.has(mine.metadata.uid)) {
        const uid = mine.metadata.uid
        this.created.add(uid)
        try {
          const file = await this.o.sealer.seal({...u.record, uid}, u.target.sealTo.recipients)
          await this.o.sealer.removeFor(answered)
          this.amend(outcomes, u, {createdUid: uid, sealedFile: file, note: `Palette's answer named uid ${answered}, but the key carrying this create's nonce is ${uid}: its value was sealed again under ${uid}`})
        } catch (error) {
          this.amend(outcomes, u, {status: 'failed', error: `Palette's answer named uid ${answered}, but the key carrying this create's nonce is ${uid}, and sealing its value again failed (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); the next plan replaces it`})
        }
        continue
      }
      await this.o.sealer.removeFor(answered).catch(() => [])
      const fresh = carriers.filter((c) => usableUid(c.metadata?.uid) && !this.liveByUid.has(c.metadata!.uid!))
      for (const c of fresh) await this.o.api.deleteApiKey(c.metadata!.uid!).catch(() => undefined)
      this.amend(outcomes, u, {status: 'failed', error: `the key list does not confirm the create of ${u.target.email}/${u.target.name}: ${carriers.length === 0 ? 'no key' : carriers.length === 1 ? 'one key, not of its owner and name,' : `${carriers.length} keys`} carried its nonce${cut ? ` (the list may be cut at ${keys.length}, and GET of uid ${answered} did not show it)` : ''}; its sealed file was removed${fresh.length > 0 ? `, and the ${fresh.length} key${fresh.length === 1 ? '' : 's'} carrying the nonce deleted` : ''}`})
    }
  }

  /** Changes a create's outcome after its batch was confirmed, and says so again. */
  private amend(outcomes: Map<Action, ActionOutcome>, u: Unconfirmed, change: Partial<ActionOutcome>): void {
    const outcome = outcomes.get(u.action)
    if (!outcome) return
    if (change.note) change.note = [outcome.note, change.note].filter(Boolean).join('; ')
    Object.assign(outcome, change)
    if (outcome.status === 'failed') {
      this.failed = true
      delete outcome.sealedFile
    }
    this.o.onOutcome?.(outcome, u.action)
  }

  /** Whether a listed key is the one a create made: its nonce, a uid, its name, and its owner (where the answer says). */
  private ours(k: ApiKey | undefined, nonce: string, target: NewKey, name: string): k is ApiKey & {metadata: {uid: string; annotations: Record<string, string>}} {
    const owner = k?.spec?.user?.uid ?? k?.metadata?.annotations?.ownerUid
    return k?.metadata?.annotations?.[this.nonceMark] === nonce && typeof k.metadata.uid === 'string' && k.metadata.name === name && (owner === undefined || owner === target.userUid)
  }

  private postAnswered(): void {
    if (--this.posts.inFlight > 0) return
    const waiting = this.posts.waiting
    this.posts.waiting = []
    for (const w of waiting) w()
  }

  /** Resolves once no create is waiting for its answer. */
  private async postsAnswered(): Promise<void> {
    while (this.posts.inFlight > 0) await new Promise<void>((resolve) => this.posts.waiting.push(resolve))
  }

  /**
   * A key list sent after this call, shared by every create that asks before it is sent: a batch
   * of doubtful answers costs one list, not one each. It is sent once no create is waiting for its
   * answer, so the creates of the lanes running side by side all find their key in it. (A list
   * already sent may have left before this create's key existed: a new one is queued.)
   */
  private freshList(): Promise<ApiKey[]> {
    // A list not sent yet is sent after this caller's create was answered: it will show the key.
    if (this.list.queued) return this.list.queued
    const queued = (this.list.sent ?? Promise.resolve())
      .then(ignore, ignore)
      // Sent once every create in flight has its answer (no new one starts meanwhile: the seal gate is held), so one list serves them all.
      .then(() => this.postsAnswered())
      .then(() => {
        if (this.list.queued === queued) this.list.queued = undefined
        const sent = this.o.api.listApiKeys()
        this.list.sent = sent
        return sent
      })
    this.list.queued = queued
    return queued
  }

  /**
   * A key created under a transient name takes its declared one, now that the key it replaces
   * no longer holds it. A refusal (a tenant whose names are unique across users, say) leaves it
   * working under the transient name: said in the outcome, and the next plan tries again.
   */
  private async takeName(made: Made, target: NewKey): Promise<string | undefined> {
    if (target.createAs === undefined) return undefined
    const annotations = {...made.annotations}
    delete annotations[NAME]
    try {
      await this.mutate(() => this.updater.update(made.uid, {name: target.name, expiry: made.expiry, annotations}))
      return `renamed ${target.name} from ${made.name}`
    } catch (error) {
      if (!confinedToItsKey(error)) throw error
      return `kept its transient name ${made.name}: renaming it ${target.name} was refused (${(error as Error).message}); the next apply tries again`
    }
  }

  /**
   * The create's answer may name the new key's uid, but a server's answer is data, not proof:
   * the spec calls that field "User uid", so it may be the owner's, or absent, and a uid that
   * was already a key (or is a user's or the tenant's) would make us mark, seal or delete the
   * wrong key. So the key is confirmed before anything is done under its uid: one GET of the
   * uid the answer gave must show this run's nonce on a key of the right owner and name. When
   * it does not (no uid, a known one, 404, another key), the key is found by its nonce (one
   * list) instead, and nothing is done under the uid the answer gave.
   */
  private async confirmed(answer: string | undefined, nonce: string, target: NewKey, name: string): Promise<{uid: string; annotations: Record<string, string>}> {
    const ours = (k: ApiKey | undefined) => this.ours(k, nonce, target, name)
    if (this.plausible(answer, target)) {
      // A 404, or any failure of this one read (a 500, say), sends us to the nonce lookup; a refused credential stops.
      const got = await this.o.api.getApiKey(answer).catch((error: unknown) => {
        if (error instanceof PaletteApiError && !error.credentialRefused) return undefined
        throw error
      })
      if (ours(got) && got.metadata.uid === answer) return {uid: answer, annotations: got.metadata.annotations}
    }
    // The key exists by now: a server error or a lost answer on the list is tried twice more, as giving up leaves a key nobody has the value of.
    const carriers = (await this.transientRetried(() => this.freshList())).filter((k) => k.metadata?.annotations?.[this.nonceMark] === nonce && typeof k.metadata.uid === 'string')
    if (carriers.some((c) => !usableUid(c.metadata!.uid))) {
      // Not a uid: nothing may be sent, written or shown under it (it could be anything, a secret even).
      throw new UntrustedAnswer(`Palette's answers name the key just created for ${target.email}/${target.name} with a uid that is not a Palette uid (24 lowercase hex characters) or is a secret; nothing was sent, sealed or marked under it, and ${this.folder ? 'it has no sealed file' : "it carries this run's pending mark"}, so the next plan replaces it`)
    }
    const fresh = carriers.filter((c) => !this.liveByUid.has(c.metadata!.uid!) && !this.created.has(c.metadata!.uid!))
    const only = fresh[0]
    if (fresh.length === 1 && carriers.length === 1 && ours(only)) return {uid: only.metadata.uid, annotations: only.metadata.annotations}
    for (const c of fresh) await this.o.api.deleteApiKey(c.metadata!.uid!).catch(() => undefined)
    const said = answer === undefined ? 'gave no uid' : `named uid ${answer}, which is not the new key`
    throw new UntrustedAnswer(
      `Palette's answer to the create of ${target.email}/${target.name} ${said}, and ${carriers.length === 0 ? 'no key' : carriers.length === 1 ? 'one key' : `${carriers.length} keys`} carried this run's mark${carriers.length === 1 && fresh.length === 1 ? ' but not its owner and name' : ''}; nothing was sealed or marked${fresh.length > 0 ? `, and the ${fresh.length} marked key${fresh.length === 1 ? ' was' : 's were'} deleted` : ''}`,
    )
  }

  /**
   * A value is proven before it is sealed: GET /v1/users/info with it must name the key's
   * owner in this tenant. The nonce check confirms the key's uid, never the value: a proxy that
   * swaps the answers of two creates in flight would otherwise get each value sealed under the
   * other user's key. (It also proves the value works. The call is on the /v1/users prefix,
   * whose rate-limit budget is apart from /v1/apiKeys.)
   */
  private async proofProblem(value: Secret, target: NewKey): Promise<string | undefined> {
    let who: UserInfo
    try {
      // The key exists by now: a server error or a lost answer here is tried twice more (the
      // client retries no 500), as giving up costs the key, a delete and a create again.
      who = await this.transientRetried(() => this.o.api.whoIs(value))
    } catch (error) {
      const e = error as PaletteApiError
      return `could not be proven to be a key of ${target.email}: GET /v1/users/info with it failed (${e.status === undefined ? (e.paletteCode ?? 'no answer') : `HTTP ${e.status}${e.paletteCode ? ` ${e.paletteCode}` : ''}`})`
    }
    if (who.userUid === target.userUid && who.tenantUid === this.o.live.tenant.uid) return undefined
    return `authenticates as ${who.userUid === undefined ? 'nobody named' : `user ${usableUid(who.userUid) ? who.userUid : '(not a uid)'}`}${who.tenantUid === this.o.live.tenant.uid ? '' : ' of another tenant'}, not as ${target.email} (${target.userUid}): it is another key's value`
  }

  /** After an ambiguous create: find the key that request may have made, by its nonce, and delete it. */
  private async removeGhost(nonce: string): Promise<void> {
    const keys = await this.o.api.listApiKeys()
    for (const k of keys) {
      if (k.metadata?.annotations?.[this.nonceMark] === nonce && usableUid(k.metadata.uid)) await this.o.api.deleteApiKey(k.metadata.uid).catch(ignoreNotFound)
    }
  }

  /**
   * Deletes a key and its sealed files. A 404 may mean "already gone" (what was wanted), or,
   * on a server that answers a refused credential with 404, nothing of the kind: the sealed
   * files go only when a list confirms the key is gone.
   */
  private async delete(uid: string): Promise<string | undefined> {
    await this.mutate(() =>
      this.o.api.deleteApiKey(uid).catch(async (error: unknown) => {
        if (!notFound(error)) throw error
        const still = (await this.listConfirming()).some((k) => k.metadata?.uid === uid)
        if (still) throw new StillListed(`DELETE of key ${uid} was answered 404, but the key is still listed; its sealed files were kept`)
      }),
    )
    return sealedRemoved((await this.o.sealer.removeFor(uid)).length) || undefined
  }

  /**
   * The key list that confirms a 404 DELETE. The key may well be gone already (an earlier
   * attempt went through): if this list failed, its sealed files would outlive it, so a server
   * error or a lost answer is tried twice more (a refused credential is not).
   */
  private async listConfirming(): Promise<ApiKey[]> {
    return this.transientRetried(() => this.o.api.listApiKeys())
  }

  /** `f`, tried up to three times while it fails with a server error or no answer (palette/retry.ts). */
  private async transientRetried<T>(f: () => Promise<T>): Promise<T> {
    return retryTransient(f, this.sleep)
  }

  private async mutate<T>(f: () => Promise<T>): Promise<T> {
    await this.gate.idle()
    return f()
  }

  private liveKey(uid: string): LiveKey {
    const k = this.liveByUid.get(uid)
    if (!k) throw new Error(`key ${uid} is no longer in Palette; plan again`)
    return k
  }
}

/**
 * A uid from an answer that may be used in a path, a file name or output: Palette's shape
 * (contract/palette.ts), and none of the secrets this process knows (a server could name a
 * key with the caller's API key, and sealed files' names are committed to git).
 */
function usableUid(uid: unknown): uid is string {
  return isPaletteUid(uid) && scrub(uid) === uid
}

/** A 404 that is not a refused credential: "no such key", or what a server answers a refused key with on a key's path. */
function notFound(error: unknown): error is PaletteApiError {
  return error instanceof PaletteApiError && error.status === 404 && !error.credentialRefused
}

function ignore(): void {}

/** A note's words for a predecessor's sealed files removed. */
function sealedRemoved(n: number): string {
  return n > 0 ? `${n} sealed file${n === 1 ? '' : 's'} of it removed` : ''
}

function ignoreNotFound(error: unknown): void {
  if (!notFound(error)) throw error
}

/**
 * Palette answered this one request with an error about it (400, 404, 409, 500, ...): other
 * keys' actions may still succeed. Not so for 401/403 (the credential), 429 (the rate limit,
 * after the client's retries), 502-504 after retries and network errors (Palette or the way
 * to it is down), a sealing failure, or anything unexpected.
 */
function confinedToItsKey(error: unknown): boolean {
  // A delivery target's failure is that key's: the others' targets (and Palette) may be fine.
  if (error instanceof StillListed || error instanceof DeliveryError) return true
  if (!(error instanceof PaletteApiError) || error.status === undefined || error.credentialRefused) return false
  const s = error.status
  return s >= 400 && s !== 401 && s !== 403 && s !== 429 && s < 502
}
