import {randomBytes} from 'node:crypto'
import {setTimeout as delay} from 'node:timers/promises'
import {ExitCode} from '../util/exit-codes.js'
import {type LiveKey, type LiveState, readLiveKeys} from '../live/snapshot.js'
import {KeyUpdater} from './key-update.js'
import type {PaletteApi} from '../palette/port.js'
import {retryTransient} from '../palette/retry.js'
import {liveFingerprint} from '../plan/fingerprint.js'
import {type Plan, touchedKey} from '../plan/model.js'
import {PaletteKeysError} from '../util/errors.js'

/**
 * Palette has no lock, so two applies of one tenant could both create a key (twins) or undo
 * each other. The lease is the best that needs nothing from the server: an annotation on a
 * key of the caller that the plan leaves alone, naming this run and until when it holds.
 *
 *  1. Read the keys afresh: another run's live lease on any of the caller's keys stops this
 *     one (exit 1), and keys changed since the plan make it stale (exit 4).
 *  2. Read the key that will hold the lease once more, alone, and write our lease on it. The
 *     time from sending that read to the write's answer (the gap) must be under `settleMs`,
 *     or the run stops (exit 1, nothing changed).
 *  3. Wait `settleMs`; read again. Only if our lease is still there, no other run's lease
 *     appeared and the keys are still as planned does the run go on.
 *  4. Renew it every third of its time while the run goes on; remove it at the end.
 *
 * Why the gap rule makes any settle time safe: two runs A and B both go on only if B's write
 * replaced A's lease after A read it back (had it landed before, A would have seen it; had B's
 * read come after A's write, B would have seen A's lease; leases on two different keys are
 * each seen by the other's read-back). Then B's read came before A's write and B's write after
 * A's write plus A's settle time: B's gap was longer than the settle time, and B stopped. So no
 * wait need outlast an unknown network: 1 s (the default) is enough for Palette's answers to a
 * read and a write, and a run that meets a slower Palette stops instead of going on unsure
 * (before the rule, a 2 s wait only assumed the other run's gap was shorter). Runs with
 * different --lease-settle values are protected to the smaller; 0 turns the wait and the rule off.
 *
 * Only leases on the caller's own keys count: those only the caller and tenant admins may
 * edit, so no other tenant user can block applies with a forged lease. What it cannot do
 * without compare-and-set (README): runs with different credentials (different callers) do
 * not see each other's leases. The CI examples' concurrency group remains the first line; the
 * diff resolves twins that still arise.
 */
export const LEASE = 'paletteKeysLease'
const TTL_MS = 120_000
/** How far past a fresh lease's end another run's may lie before it counts as forged (expired): Palette's clock is one, give or take its Date header's second. */
const AHEAD_MS = 30_000
/** `run=ID until=TIME`; a lease written by an older version also names `host=` and `pid=`, which mean nothing here (pid namespaces). */
const LEASE_VALUE = /^run=([0-9a-f]{16}) until=(\S{1,40})(?: host=(\S{1,100}) pid=(\d{1,10}))?$/

export interface LeaseOptions {
  api: PaletteApi
  plan: Plan
  live: LiveState
  /** Time between writing the lease and reading it back. */
  settleMs: number
  /** --break-lease: the operator says no other apply is running. */
  breakLease: boolean
  /** The lease's clock; by default Palette's (the Date header of its answers), this machine's only when Palette sends none. */
  now?: () => Date
  /** Told when the run goes on without a lease, or breaks one. */
  warn: (message: string) => void
}

export interface Lease {
  release(): Promise<void>
}

interface Holding {
  run: string
  until: number
  host?: string
}

function parse(value: string | undefined): Holding | undefined {
  const m = value === undefined ? null : LEASE_VALUE.exec(value)
  if (!m) return undefined
  const until = Date.parse(m[2]!)
  return Number.isNaN(until) ? undefined : {run: m[1]!, until, ...(m[3] ? {host: m[3]} : {})}
}

/**
 * A lease holds until its time, by Palette's clock, and no longer than a fresh one would: one
 * that claims to last longer than the protocol allows was not written by it. No process id
 * decides: two containers may share a host name, and each would see the other's pid as dead.
 */
function live(h: Holding, nowMs: number): boolean {
  return h.until > nowMs && h.until <= nowMs + TTL_MS + AHEAD_MS
}

export async function acquireLease(o: LeaseOptions): Promise<Lease> {
  // Palette's clock, not this machine's: a run whose clock is minutes behind would write a lease that others read as expired.
  const now = o.now ?? (() => o.api.serverTime?.() ?? new Date())
  const caller = o.live.caller.uid
  const touched = new Set(o.plan.actions.filter((a) => a.kind !== 'no-op').map((a) => touchedKey(a)?.uid))
  // An active key that stays valid for the run: an update of an expired key may be refused.
  const lasts = (k: LiveKey) => k.isActive && (k.expiry === '' || Date.parse(k.expiry) > now().getTime() + TTL_MS)
  const holder = o.live.keys.filter((k) => k.userUid === caller && caller !== '' && !touched.has(k.uid) && lasts(k)).sort((a, b) => (a.uid < b.uid ? -1 : 1))[0]
  const run = randomBytes(8).toString('hex')
  const value = () => `run=${run} until=${new Date(now().getTime() + TTL_MS).toISOString()}`
  /** Leases --break-lease broke: removed once the run has its own. */
  const broken = new Map<string, LiveKey>()

  /** Another run's live lease on one of the caller's keys stops this run, or is broken under --break-lease. */
  const leases = (keys: LiveKey[], ours: boolean): void => {
    for (const k of keys) {
      if (k.userUid !== caller) continue
      const h = parse(k.annotations[LEASE])
      if (!h || h.run === run || !live(h, now().getTime())) continue
      if (o.breakLease) {
        if (!broken.has(k.uid)) o.warn(`Breaking the lease of apply run ${h.run} (on key ${k.uid}, until ${new Date(h.until).toISOString()}), as --break-lease asks; it is removed.`)
        broken.set(k.uid, k)
        continue
      }
      throw new PaletteKeysError(`Another apply (run ${h.run}${h.host ? ` on ${h.host}` : ''}) holds the lease on key ${k.uid} until ${new Date(h.until).toISOString()} (Palette's time): two applies at once could create twins or undo each other. Nothing was changed${ours ? ' (this run\'s own lease was removed)' : ''}.`, {
        code: 'apply-in-progress',
        exitCode: ExitCode.Error,
        hints: ['Wait for the other apply to end, then plan again.', 'If no other apply is running (one was killed), wait until the lease ends (at most 2 minutes) or pass --break-lease.'],
      })
    }
  }
  const check = (keys: LiveKey[], ours: boolean): void => {
    leases(keys, ours)
    if (liveFingerprint(keys) !== o.plan.live.fingerprint) {
      throw new PaletteKeysError(`The live keys changed since the plan was made (another apply, or a change by hand). Nothing was changed${ours ? ' (this run\'s own lease was removed)' : ''}.`, {
        code: 'stale-plan',
        exitCode: ExitCode.Stale,
        hints: ['Plan again, review it, and apply the new plan.'],
      })
    }
  }
  const read = () => readLiveKeys(o.api)

  check(await read(), false)
  if (o.now === undefined && o.api.serverTime?.() === undefined) o.warn('Palette sent no Date header, so the lease is timed by this machine\'s clock: a clock that is wrong by minutes defeats it.')
  if (!holder) {
    o.warn('No key of the caller is left alone by this plan, so none can hold the lease: this run is not protected against a concurrent apply.')
    return {release: async () => undefined}
  }
  const updater = new KeyUpdater(o.api)
  const write = async (k: LiveKey, lease: string | undefined) => {
    const annotations = {...k.annotations}
    if (lease === undefined) delete annotations[LEASE]
    else annotations[LEASE] = lease
    await updater.update(k.uid, {name: k.name, expiry: k.expiry, annotations})
  }
  /** The key holding the lease as Palette has it now (a write sends back its name, expiry and every annotation). */
  const holderNow = async (): Promise<LiveKey> => {
    const current = await o.api.getApiKey(holder.uid)
    return {...holder, name: current.metadata?.name ?? holder.name, expiry: current.spec?.expiry ?? holder.expiry, annotations: current.metadata?.annotations ?? {}}
  }
  // Only our own lease is removed: another run's that replaced it stays.
  const release = async () => {
    const now = await holderNow()
    if (parse(now.annotations[LEASE])?.run === run) await write(now, undefined)
  }

  // The holder as Palette has it now, then our lease on it: the gap between the two is what another run could miss.
  const started = performance.now()
  const fresh = await holderNow()
  leases([fresh], false)
  await write(fresh, value())
  const gap = performance.now() - started
  if (o.settleMs > 0 && gap >= o.settleMs) {
    await release().catch(() => undefined)
    throw new PaletteKeysError(`Taking the lease took ${Math.round(gap)} ms (reading key ${holder.uid}, then Palette's answer to the lease written on it), not less than --lease-settle (${o.settleMs} ms): another apply that took the lease meanwhile could not have seen this one, so this run stops. Nothing was changed (this run's own lease was removed).`, {
      code: 'lease-too-slow',
      exitCode: ExitCode.Error,
      hints: ['Run the apply again.', `If Palette answers this slowly every time, raise --lease-settle (PALETTE_KEYS_LEASE_SETTLE_MS) above the time it takes, for every apply of this tenant alike.`],
    })
  }
  // The broken leases go: a lease nobody holds must not stop the next run either.
  for (const k of broken.values()) {
    if (k.uid !== holder.uid) await write(k, undefined).catch((error: Error) => o.warn(`Could not remove the broken lease on key ${k.uid}: ${error.message}`))
  }
  try {
    await delay(o.settleMs)
    const after = await read()
    const mine = after.find((k) => k.uid === holder.uid)
    if (parse(mine?.annotations[LEASE])?.run !== run) {
      throw new PaletteKeysError('Another apply took the lease while this one was taking it. Nothing was changed.', {code: 'apply-in-progress', exitCode: ExitCode.Error, hints: ['Wait for the other apply to end, then plan again.']})
    }
    check(after, true)
  } catch (error) {
    await release().catch(() => undefined)
    throw error
  }
  const renew = setInterval(() => void write(holder, value()).catch(() => undefined), TTL_MS / 3)
  renew.unref()
  return {
    release: async () => {
      clearInterval(renew)
      // A lease left behind stops every apply for its 2 minutes: one server error does not leave it.
      await retryTransient(release)
    },
  }
}
