import type {Plan} from '../plan/model.js'

/** `Plan: 2 to create, 1 to update, 1 to revoke, 0 to delete, 1 to rotate.` (+ reactivate/replace when any) */
export function summaryLine(plan: Plan): string {
  const s = plan.summary
  const parts = [`${s.create} to create`, `${s.update} to update`, `${s.revoke} to revoke`, `${s.delete} to delete`, `${s.rotate} to rotate`]
  if (s.reactivate > 0) parts.push(`${s.reactivate} to reactivate`)
  if (s.replace > 0) parts.push(`${s.replace} to replace`)
  const stale = plan.seal.stale.length
  if (stale > 0) parts.push(`${stale} stale sealed file${stale === 1 ? '' : 's'} to remove`)
  return `Plan: ${parts.join(', ')}.`
}

/** How many new key values the plan creates (each is sealed). */
export function createdValues(plan: Plan): number {
  return plan.summary.create + plan.summary.replace + plan.summary.rotate
}

/** The users whose new values the plan seals (each gets a folder). */
export function createdFor(plan: Plan): string[] {
  const out = new Set<string>()
  for (const a of plan.actions) if (a.kind === 'create' || a.kind === 'replace' || a.kind === 'rotate') out.add(a.target.email)
  return [...out]
}

export function sealLine(plan: Plan): string | undefined {
  const n = createdValues(plan)
  if (n === 0) return undefined
  // Users and keys may have lists of their own: count the recipients the new values go to, in all.
  const r = new Set(plan.actions.flatMap((a) => (a.kind === 'create' || a.kind === 'replace' || a.kind === 'rotate' ? a.target.sealTo.recipients : []))).size
  return `${n} new key value${n === 1 ? '' : 's'} will be sealed to ${r} recipient${r === 1 ? '' : 's'} in ${plan.seal.dir}/.`
}

/** What is blocked, counted: `2 declared keys`, `1 declared user`, `1 declared key and 1 declared user` (a user's address has no `/`). */
export function blockedPhrase(plan: Plan): string {
  const users = plan.blocked.filter((b) => !(b.address ?? '').includes('/')).length
  const keys = plan.blocked.length - users
  const part = (n: number, what: string) => `${n} declared ${what}${n === 1 ? '' : 's'}`
  return [keys > 0 ? part(keys, 'key') : '', users > 0 ? part(users, 'user') : ''].filter(Boolean).join(' and ')
}
