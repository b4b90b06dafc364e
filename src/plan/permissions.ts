import {cmp} from '../config/desired-state.js'
import {type Action, assertNever, type PlanError} from './model.js'

/**
 * What the plan does to other users' keys needs the matching apiKey permission of the
 * caller's roles: a viewer (apiKey.get and apiKey.list, as Palette's docs give Tenant Viewer)
 * sees every key, so its plan looks fine, and its apply would fail at the first change. Such
 * a plan is refused here, before review, naming each missing permission and what needs it.
 */
export function permissionProblems(actions: readonly Action[], held: ReadonlySet<string>, caller: {uid: string; email: string}): PlanError[] {
  const needs = new Map<string, Set<string>>()
  const need = (permission: string, a: Action) => {
    if (held.has(permission)) return
    let addresses = needs.get(permission)
    if (!addresses) needs.set(permission, (addresses = new Set()))
    addresses.add(a.address)
  }
  const other = (uid: string) => uid !== caller.uid
  for (const a of actions) {
    switch (a.kind) {
      case 'create':
        if (other(a.target.userUid)) need('apiKey.create', a)
        break
      case 'replace':
        if (other(a.target.userUid)) need('apiKey.create', a)
        if (other(a.from.userUid)) need('apiKey.delete', a)
        break
      case 'rotate':
        if (!other(a.key.userUid)) break
        need('apiKey.create', a)
        // The predecessor is renamed out of the way (and marked managed, if adopted) unless it has expired; then revoked or deleted.
        if (a.retiredAs !== undefined || a.retire === 'revoke') need('apiKey.update', a)
        if (a.retire === 'delete') need('apiKey.delete', a)
        break
      case 'update':
      case 'revoke':
      case 'reactivate':
        if (other(a.key.userUid)) need('apiKey.update', a)
        break
      case 'delete':
        if (other(a.key.userUid)) need('apiKey.delete', a)
        break
      case 'no-op':
        break
      default:
        assertNever(a)
    }
  }
  if (needs.size === 0) return []
  const listed = [...needs.entries()].sort(([a], [b]) => cmp(a, b)).map(([p, addresses]) => {
    const all = [...addresses].sort(cmp)
    return `${p} (for ${all.slice(0, 5).join(', ')}${all.length > 5 ? ` and ${all.length - 5} more` : ''})`
  })
  return [
    {
      code: 'missing-permission',
      message: `${caller.email || caller.uid}'s roles do not hold what this plan needs on other users' keys: ${listed.join('; ')}. Their roles hold ${held.size > 0 ? [...held].sort(cmp).join(', ') : 'no apiKey permission'}; nothing is planned, so the apply cannot fail at its first change`,
      hint: 'Run with a Tenant Admin\'s API key (or a role holding apiKey.create, apiKey.update and apiKey.delete), or change only your own keys.',
    },
  ]
}
