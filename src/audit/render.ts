import {styleText} from 'node:util'
import {inertLines, inertText as t} from '../render/inert.js'
import {esc} from '../render/markdown.js'
import {AUDIT_KINDS, type AuditReport, describeKind} from './audit.js'

const AUDIT_MARKER = '<!-- palette-keys:audit -->'

function summary(r: AuditReport): string {
  const parts = AUDIT_KINDS.filter((k) => r.counts[k] > 0).map((k) => `${r.counts[k]} ${k}`)
  return `${r.findings.length} finding${r.findings.length === 1 ? '' : 's'}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`
}

export function renderAuditText(r: AuditReport, color: boolean): string {
  const paint = (c: 'red' | 'green' | 'yellow' | 'bold', s: string) => (color ? styleText(c, s, {validateStream: false}) : s)
  const lines = [`palette-keys audit: tenant ${t(r.tenant.orgName || r.tenant.uid)} at ${t(r.host)}, against ${t(r.desired.file)}; expiring within ${r.expiringWithin}`, '']
  for (const e of r.errors) lines.push(paint('red', `  x ${e.code}: ${t(e.message, 2000)}`), ...(e.hint ? [`      hint: ${t(e.hint)}`] : []))
  // A loop, not Math.max(...rows): a spread of 100k+ rows overflows the call stack.
  let width = 0
  for (const f of r.findings) width = Math.max(width, t(f.address).length)
  width = Math.min(60, width)
  for (const f of r.findings) lines.push(`  ${paint('yellow', f.kind.padEnd(24))} ${t(f.address).padEnd(width)}  ${t(f.message, 1000)}${f.uid ? ` [${t(f.uid)}]` : ''}`)
  if (r.findings.length > 0 || r.errors.length > 0) lines.push('')
  if (r.clean) lines.push(paint('green', `Clean: Palette matches ${r.desired.file}, and no declared user's key expires within ${r.expiringWithin}${r.counts['rotation-due'] > 0 ? ` but for ${r.counts['rotation-due']} that the next apply rotates (rotation-due)` : ''}.`))
  else lines.push(paint('bold', `Audit: ${summary(r)}.`))
  if (r.diff.includes('\n@@')) lines.push('', 'Declared (-) versus live (+), normalised:', inertLines(r.diff.trimEnd()))
  return lines.join('\n') + '\n'
}

export function renderAuditMarkdown(r: AuditReport): string {
  const lines = [AUDIT_MARKER, `### palette-keys audit: ${r.clean ? 'clean' : summary(r)}`, '', `Tenant **${esc(r.tenant.orgName || r.tenant.uid)}** at ${esc(r.host)} against ${esc(r.desired.file)}; expiring within ${r.expiringWithin}.`, '']
  for (const e of r.errors) lines.push(`> **Error** (${e.code}): ${esc(e.message)}`, '')
  if (r.findings.length > 0) {
    lines.push('| finding | key | detail |', '|---|---|---|')
    for (const f of r.findings) lines.push(`| ${f.kind} | ${esc(f.address)} | ${esc(f.message)} |`)
    lines.push('', '<details><summary>What the findings mean</summary>', '')
    for (const k of AUDIT_KINDS.filter((k) => r.counts[k] > 0)) lines.push(`- **${k}**: ${describeKind(k)}`)
    lines.push('', '</details>', '')
  }
  if (r.diff.includes('\n@@')) lines.push('<details><summary>Declared versus live (normalised)</summary>', '', '```diff', inertLines(r.diff.trimEnd()).replace(/```/g, "'''"), '```', '', '</details>')
  return lines.join('\n').trimEnd() + '\n'
}
