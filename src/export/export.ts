import {isPair, isScalar} from 'yaml'
import type {LiveState} from '../live/snapshot.js'
import {inertText} from '../render/inert.js'
import {liveView, viewDocument} from './view.js'

export interface ExportResult {
  yaml: string
  users: number
  keys: number
  omitted: Array<{address: string; uid: string; why: string}>
}

/**
 * A desired-state file that declares the live keys of `emails` as they are. Without `comments`,
 * no comment above each key (its uid, creation date and ownership): a file a team keeps parses
 * faster without them, and they are stale after the first apply anyway.
 */
export function exportTenant(live: LiveState, emails: string[], now: Date, options: {comments?: boolean} = {}): ExportResult {
  const {view, omitted} = liveView(live, emails, now)
  if (options.comments === false) for (const keys of view.values()) for (const k of keys.values()) delete k.note
  const doc = viewDocument(view, {version: 1, seal: {recipients: [], dir: 'sealed'}})
  doc.commentBefore = [
    ` Exported by palette-keys from tenant ${live.tenant.orgName || live.tenant.uid} (${live.tenant.uid})`,
    ` at ${live.host} on ${now.toISOString()}.`,
    ' Keys palette-keys did not create carry `adopt: true`: the first apply marks them as managed',
    ' (the plan shows that as an update) and changes nothing else. Add seal.recipients before',
    ' declaring new keys: their values are sealed to them.',
  ].join('\n')
  const seal = doc.contents && 'items' in doc.contents ? doc.contents.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === 'seal') : undefined
  if (seal && isPair(seal) && isScalar(seal.key)) seal.key.commentBefore = ' age recipients (age1…) that can open created values: `palette-keys keygen` prints one'
  if (omitted.length > 0) {
    // Live names are anybody's text: shown inert, they cannot end the comment.
    doc.comment = [' Not declared:', ...omitted.map((o) => `   ${inertText(`${o.email}/${o.key.name}`)} (uid ${inertText(o.key.uid)}): ${o.why}`)].join('\n')
  }
  let keys = 0
  for (const k of view.values()) keys += k.size
  return {
    yaml: doc.toString({lineWidth: 0}),
    users: view.size,
    keys,
    omitted: omitted.map((o) => ({address: `${o.email}/${o.key.name}`, uid: o.key.uid, why: o.why})),
  }
}
