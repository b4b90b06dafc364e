import {styleText} from 'node:util'
import {createRequire} from 'node:module'
import {formatDuration, parseDuration} from '../config/duration.js'
import {deliveryLabel} from '../deliver/targets.js'
import {recipientLabel} from '../seal/recipients.js'
import type {Action, FieldChange, NewKey, Plan} from '../plan/model.js'
import {inertText as t} from './inert.js'
import {blockedPhrase, sealLine, summaryLine} from './summary.js'
import {ACTION_COLOR, actionColumns, FINDING_LABEL} from './symbols.js'

export interface TextOptions {
  /** ANSI colour (a TTY without NO_COLOR). */
  color: boolean
  /** What relative times count from: the plan's own time unless told (show renders a saved plan as of now). */
  now?: Date
}

type Color = Parameters<typeof styleText>[0]

/** The caller decided colour is wanted (useColor): do not let the stream check veto it. */
function colour(color: Color, text: string): string {
  return styleText(color, text, {validateStream: false})
}

/** Values longer than this are shown as a word diff rather than before → after. */
const LONG_VALUE = 40

/** The human plan, Terraform-style. Every string from the plan passes inertText (t): names and descriptions are anybody's text. */
export function renderText(plan: Plan, options: TextOptions): string {
  const paint = (color: Color, text: string) => (options.color ? colour(color, text) : text)
  const now = options.now ?? new Date(plan.createdAt)
  const lines: string[] = []
  const who = plan.caller.email || plan.caller.uid
  lines.push(`palette-keys plan: tenant ${t(plan.tenant.orgName || plan.tenant.uid)} at ${t(plan.host)}, as ${t(who)}${plan.live.readAs ? ` (for their apply; read with ${t(plan.live.readAs)}'s key)` : ''}`)
  lines.push(`Live: ${plan.live.users} users, ${plan.live.keys} keys, ${plan.live.managedKeys} managed (${plan.live.requests} requests); at most ${plan.live.keyLimit.perUser} keys per user${plan.live.keyLimit.source === 'assumed' ? ' (assumed)' : ''}`)
  if (plan.live.keyLimit.note) lines.push(`Key limit: ${t(plan.live.keyLimit.note)}`)
  for (const n of plan.live.listNotes ?? []) lines.push(`Lists: ${t(n, 1000)}`)
  const age = planAge(plan, now)
  if (age) lines.push(age)
  lines.push('')

  if (plan.errors.length > 0) {
    lines.push(paint('red', `The plan cannot be made (${plan.errors.length} problem${plan.errors.length === 1 ? '' : 's'}):`))
    for (const e of plan.errors) {
      lines.push(`  ${paint('red', 'x')} ${e.code}: ${t(e.message, 2000)}`)
      if (e.hint) lines.push(`      hint: ${t(e.hint)}`)
    }
    return lines.join('\n') + '\n'
  }

  const shown = plan.actions.filter((a) => a.kind !== 'no-op')
  // A loop, not Math.max(...rows): a spread of 100k+ rows overflows the call stack.
  let width = 0
  for (const a of shown) width = Math.max(width, t(a.address).length)
  for (const f of plan.findings) width = Math.max(width, t(f.address).length)
  width = Math.min(60, width)
  for (const a of shown) {
    lines.push(`  ${paint(ACTION_COLOR[a.kind], actionColumns(a.kind))}  ${t(a.address).padEnd(width)}  ${t(a.reason, 1000)}`)
    for (const detail of details(a, options.color, now)) lines.push(`                    ${detail}`)
  }
  for (const f of plan.findings) {
    lines.push(`  ${paint('magenta', `!   ${FINDING_LABEL[f.kind].padEnd(10)}`)}  ${t(f.address).padEnd(width)}  ${t(f.message, 1000)}${f.uid ? ` [${t(f.uid)}]` : ''}`)
  }
  // Sealed files whose key is gone or retired: apply removes them.
  for (const f of plan.seal.stale) lines.push(`  ${paint('red', '-   stale file')}  ${t(`${plan.seal.dir}/${f.file}`)}  ${t(f.reason, 1000)}`)
  if (shown.length > 0 || plan.findings.length > 0 || plan.seal.stale.length > 0) lines.push('')
  if (plan.blocked.length > 0) {
    lines.push(paint('red', `Blocked, nothing done for ${blockedPhrase(plan)} (every other key is planned as usual):`))
    for (const e of plan.blocked) {
      lines.push(`  ${paint('red', 'x')} ${t(e.address ?? '')}: ${e.code}: ${t(e.message, 2000)}`)
      if (e.hint) lines.push(`      hint: ${t(e.hint)}`)
    }
    lines.push('')
  }

  const unchanged = plan.actions.length - shown.length
  if (!plan.changes) {
    lines.push(paint('green', `No changes. Palette matches ${t(plan.desired.file)}${unchanged > 0 ? ` (${unchanged} key${unchanged === 1 ? '' : 's'} unchanged)` : ''}.`))
  } else {
    lines.push(paint('bold', summaryLine(plan)) + (unchanged > 0 ? ` ${unchanged} unchanged.` : ''))
    const seal = sealLine(plan)
    if (seal) lines.push(seal)
  }
  for (const b of plan.brakes.items) {
    const lifted = b.forceable && plan.policy.force
    lines.push(paint(lifted ? 'yellow' : 'red', `${lifted ? 'Brake lifted by --force' : 'Refused'} (${b.code}): ${t(b.message, 1000)}`))
  }
  return lines.join('\n') + '\n'
}

function details(a: Action, color: boolean, now: Date): string[] {
  switch (a.kind) {
    case 'update':
      return a.changes.map((c) => fieldLine(c, color))
    case 'replace':
      return [`from ${t(a.from.email)}/${t(a.from.name)} [${t(a.from.uid)}] to ${t(a.target.email)}, ${expiryWords(a.target, now)}`, ...namedWords(a.target, 'the old key is deleted'), ...deliveryWords(a.target)]
    case 'rotate':
      return [
        `successor ${expiryWords(a.target, now)}${a.target.generation ? `, generation ${a.target.generation}` : ''}`,
        ...namedWords(a.target, 'the other key holding that name is gone'),
        ...deliveryWords(a.target),
        a.retiredAs === undefined
          ? `predecessor [${t(a.key.uid)}] has expired: it is deleted first, then the successor is made`
          : a.revokeAfter !== undefined
            ? `predecessor [${t(a.key.uid)}] is renamed "${t(a.retiredAs)}" first, stays active for revokeAfter ${t(a.revokeAfter)} after the successor is created (its consumers switch meanwhile), then a later apply ${a.retire === 'delete' ? 'deletes' : 'revokes'} it`
            : `predecessor [${t(a.key.uid)}] is renamed "${t(a.retiredAs)}" first, then ${a.retire === 'delete' ? 'deleted' : 'revoked'} once the successor is sealed${a.target.deliver ? ' and delivered' : ''}`,
      ]
    case 'create':
      return [expiryWords(a.target, now), ...(a.target.createAs ? [`created as "${t(a.target.createAs)}"; it takes "${t(a.target.name)}" once the key holding that name is gone`] : []), ...deliveryWords(a.target)]
    case 'revoke':
    case 'reactivate':
    case 'delete':
      return [`[${t(a.key.uid)}]`]
    case 'no-op':
      return []
  }
}

/** Whom a new value is sealed to, then each delivery target (what and where, never a value). */
function deliveryWords(target: NewKey): string[] {
  return [t(sealToWords(target), 2000), ...(target.deliver ?? []).map((d) => `delivers to ${t(deliveryLabel(d), 300)}`)]
}

/** `sealed to age1abcd…wxyz, alice@laptop (users.alice@example.com.seal.recipients)`: labels of public recipients, never an identity. */
export function sealToWords(target: NewKey): string {
  return `sealed to ${target.sealTo.recipients.map(recipientLabel).join(', ') || 'nobody'} (${target.sealTo.from})`
}

/** The names a key replacing another takes: Palette may refuse two keys of one name, so it is made under a transient one. */
function namedWords(target: NewKey, when: string): string[] {
  return target.createAs ? [`created as "${t(target.createAs)}", renamed "${t(target.name)}" once ${when}`] : []
}

/** `expires 2027-06-30 (in 210d)`, or for a relative expiry `expires 90d after it is created (2027-03-02 if created at <now>)`. */
export function expiryWords(target: NewKey, now: Date): string {
  if (target.expiresIn !== undefined) {
    const ms = parseDuration(target.expiresIn)
    const at = ms === undefined ? '' : ` (${new Date(now.getTime() + ms).toISOString().slice(0, 10)} if created ${now.toISOString().slice(0, 10)})`
    return `expires ${t(target.expiresIn)} after it is created${at}`
  }
  return `expires ${t(target.expiresAt.slice(0, 10))} (${relative(Date.parse(target.expiresAt) - now.getTime())})`
}

/** For a plan rendered later than it was made (show): its age, so that nobody reads its times as today's. */
export function planAge(plan: Plan, now: Date): string | undefined {
  const age = now.getTime() - Date.parse(plan.createdAt)
  if (Number.isNaN(age) || Math.abs(age) < 60_000) return undefined
  return `Plan made ${t(plan.createdAt)}, ${age < 0 ? `${formatDuration(-age)} in the future` : `${formatDuration(age)} ago`}; relative times count from now, and apply refuses a plan older than --max-plan-age (7d by default).`
}

function relative(ms: number): string {
  if (Number.isNaN(ms)) return '?'
  return ms < 0 ? `${formatDuration(-ms)} ago` : `in ${ms < DAY ? formatDuration(ms) : `${Math.floor(ms / DAY)}d`}`
}

const DAY = 86_400_000

function fieldLine(c: FieldChange, color: boolean): string {
  const label = c.field.padEnd(12)
  const [before, after] = [t(c.before), t(c.after)]
  if (before.length <= LONG_VALUE && after.length <= LONG_VALUE) return `${label} "${before}" -> "${after}"`
  const parts = wordDiff()(before, after).map((p) => {
    if (p.added) return color ? colour('green', p.value) : `{+${p.value}+}`
    if (p.removed) return color ? colour('red', p.value) : `[-${p.value}-]`
    return p.value
  })
  return `${label} ${parts.join('')}`
}

/** jsdiff's word diff, loaded when a long value changes (most plans show none; loading it is a sixteenth of a start-up). */
let diffWordsFn: typeof import('diff').diffWords | undefined
function wordDiff(): typeof import('diff').diffWords {
  return (diffWordsFn ??= (createRequire(import.meta.url)('diff') as typeof import('diff')).diffWords)
}
