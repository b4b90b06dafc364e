import {hash} from 'node:crypto'

/**
 * Where a new key value goes once it is sealed (issue 18): a GitHub Actions secret, a GitLab
 * CI/CD variable, or a command that reads it on stdin. Declared in the reviewed desired-state
 * file (the only trusted input), checked offline, and shown in plans by `deliveryLabel`, never
 * with a value.
 */
export type Delivery =
  | {kind: 'github'; repository?: string; environment?: string; organization?: string; visibility?: 'all' | 'private'; secret: string}
  | {kind: 'gitlab'; project?: string; group?: string; variable: string; masked: boolean; protected: boolean; environmentScope: string}
  | {kind: 'exec'; command: string[]; timeoutS: number}

/** Default time an exec target may take. */
export const DEFAULT_EXEC_TIMEOUT_S = 60

/**
 * A short, stable id of a target: what a key's DELIVERED mark lists once the target holds its
 * value. Any change of the target (another repository, scope or command) is another id, so the
 * key's value is owed to it, and a new value is made (the old one cannot be read again in CI).
 */
export function deliveryId(d: Delivery): string {
  return hash('sha256', canonical(d)).slice(0, 10)
}

/** Sorted keys, so that the id does not depend on the order the file wrote them in. */
function canonical(d: Delivery): string {
  const entries = Object.entries(d).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return JSON.stringify(entries)
}

/** How a plan names a target: what and where, never a value. */
export function deliveryLabel(d: Delivery): string {
  switch (d.kind) {
    case 'github':
      if (d.organization !== undefined) return `github organization ${d.organization} secret ${d.secret}${d.visibility ? ` (visibility ${d.visibility})` : ''}`
      return `github ${d.repository}${d.environment === undefined ? '' : ` environment ${d.environment}`} secret ${d.secret}`
    case 'gitlab':
      return `gitlab ${d.project === undefined ? `group ${d.group}` : `project ${d.project}`} variable ${d.variable} (scope ${d.environmentScope}${d.masked ? ', masked' : ''}${d.protected ? ', protected' : ''})`
    case 'exec':
      return `exec ${d.command.map((a) => (/^[A-Za-z0-9_./:=@%+-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')}`
  }
}

/** The ids a DELIVERED mark lists. */
export function deliveredIds(mark: string | undefined): Set<string> {
  return new Set((mark ?? '').split(',').filter((id) => /^[0-9a-f]{10}$/.test(id)))
}
