import {deliveryLabel} from '../deliver/targets.js'
import type {Plan} from '../plan/model.js'
import {inertMarkdown} from './inert.js'
import {blockedPhrase, sealLine, summaryLine} from './summary.js'
import {ACTION_SYMBOL, FINDING_LABEL} from './symbols.js'
import {expiryWords, planAge, sealToWords} from './text.js'

/** GitHub refuses comments over 65,536 characters; stay well under. */
export const MARKDOWN_PART_LIMIT = 65_000
/** A stable hidden line a CI step can search for to update its one sticky comment. */
export const MARKDOWN_MARKER = '<!-- palette-keys:plan -->'

/**
 * The plan as a pull-request comment, split into parts each under `limit` characters.
 * Every part carries the marker and its number; tables are never cut inside a row.
 */
export function renderMarkdown(plan: Plan, limit = MARKDOWN_PART_LIMIT, now = new Date(plan.createdAt)): string[] {
  const head: string[] = []
  const title = plan.errors.length > 0 ? 'cannot be made' : plan.blocked.length > 0 ? `${blockedPhrase(plan)} blocked; ${plan.changes ? summaryLine(plan).replace(/^Plan: /, '').replace(/\.$/, '') : 'no other changes'}` : plan.changes ? summaryLine(plan).replace(/^Plan: /, '').replace(/\.$/, '') : 'no changes'
  head.push(`### palette-keys plan: ${title}`)
  head.push('')
  head.push(`Tenant **${esc(plan.tenant.orgName || plan.tenant.uid)}** at ${esc(plan.host)}, as ${esc(plan.caller.email || plan.caller.uid)}${plan.live.readAs ? ` (for their apply; read with ${esc(plan.live.readAs)}'s key)` : ''}, from ${esc(plan.desired.file)}. Live: ${plan.live.users} users, ${plan.live.keys} keys (${plan.live.requests} requests).`)
  head.push('')
  const age = planAge(plan, now)
  if (age) head.push(esc(age), '')
  for (const b of plan.brakes.items) head.push(`> **${b.forceable && plan.policy.force ? 'Brake lifted by --force' : 'Refused'}** (${b.code}): ${esc(b.message)}`, '')
  const seal = sealLine(plan)
  if (seal) head.push(esc(seal), '')

  // Errors are rows too, so that however many there are, no part outgrows the limit.
  const blocks: Array<{header: string[]; rows: string[]; footer: string[]}> = []
  if (plan.errors.length > 0) {
    blocks.push({header: ['**Errors** (the plan cannot be made):', ''], rows: plan.errors.map((e) => `- **${e.code}**: ${esc(e.message)}${e.hint ? ` (${esc(e.hint)})` : ''}`), footer: ['']})
  }
  if (plan.blocked.length > 0) {
    blocks.push({header: ['**Blocked** (nothing done for these keys; the others are planned as usual):', ''], rows: plan.blocked.map((e) => `- ${esc(e.address ?? '')} **${e.code}**: ${esc(e.message)}${e.hint ? ` (${esc(e.hint)})` : ''}`), footer: ['']})
  }
  const shown = plan.actions.filter((a) => a.kind !== 'no-op')
  if (shown.length > 0) {
    blocks.push({
      header: ['<details open><summary>Changes</summary>', '', '| | action | key | reason |', '|---|---|---|---|'],
      rows: shown.map((a) => `| \`${ACTION_SYMBOL[a.kind]}\` | ${a.kind} | ${esc(a.address)} | ${esc(a.reason)}${'target' in a ? `; ${esc(expiryWords(a.target, now))}; ${esc(sealToWords(a.target))}${(a.target.deliver ?? []).map((d) => `; delivers to ${esc(deliveryLabel(d))}`).join('')}` : ''} |`),
      footer: ['', '</details>', ''],
    })
  }
  if (plan.seal.stale.length > 0) {
    blocks.push({
      header: ['<details open><summary>Stale sealed files (apply removes them)</summary>', '', '| file | reason |', '|---|---|'],
      rows: plan.seal.stale.map((f) => `| ${esc(`${plan.seal.dir}/${f.file}`)} | ${esc(f.reason)} |`),
      footer: ['', '</details>', ''],
    })
  }
  if (plan.findings.length > 0) {
    blocks.push({
      header: ['<details><summary>Findings (not changed)</summary>', '', '| finding | key | note |', '|---|---|---|'],
      rows: plan.findings.map((f) => `| ${FINDING_LABEL[f.kind]} | ${esc(f.address)} | ${esc(f.message)} |`),
      footer: ['', '</details>', ''],
    })
  }

  // Pack rows into parts; a part's fixed lines are its marker, the head (first part only) and table headers.
  const parts: string[][] = [[...head]]
  const size = (lines: string[]) => lines.reduce((n, l) => n + l.length + 1, 0)
  const budget = limit - 200 // room for the marker and "part i of n"
  let current = parts[0]!
  let used = size(current) // the size of `current`, kept as lines are added (not recounted per row)
  const add = (lines: string[]) => {
    current.push(...lines)
    used += size(lines)
  }
  const newPart = () => {
    current = []
    used = 0
    parts.push(current)
  }
  for (const block of blocks) {
    const header = size(block.header)
    const footer = size(block.footer)
    if (used + header + footer > budget) newPart()
    add(block.header)
    for (const row of block.rows) {
      if (used + row.length + 1 + footer > budget) {
        add(block.footer)
        newPart()
        add(block.header)
      }
      add([row])
    }
    add(block.footer)
  }
  return parts.map((lines, i) => {
    const label = parts.length > 1 ? `_Part ${i + 1} of ${parts.length}._\n\n` : ''
    return `${MARKDOWN_MARKER}\n${label}${lines.join('\n').trimEnd()}\n`
  })
}

/** Text for a Markdown table cell or paragraph: see inert.ts. */
export function esc(s: string): string {
  return inertMarkdown(s, 1000)
}

