import {styleText} from 'node:util'
import {esc} from '../render/markdown.js'
import {AUDIT_KINDS, type AuditReport, describeKind} from './audit.js'

const AUDIT_MARKER = '<!-- palette-keys:audit -->'

function summary(r: AuditReport): string {
  const parts = AUDIT_KINDS.filter((k) => r.counts[k] > 0).map((k) => `${r.counts[k]} ${k}`)
  return `${r.findings.length} finding${r.findings.length === 1 ? '' : 's'}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`
}

export function renderAuditText(r: AuditReport, color: boolean): string {
  const paint = (c: 'red' | 'green' | 'yellow' | 'bold', s: string) => (color ? styleText(c, s, {validateStream: false}) : s)
  const lines = [`palette-keys audit: tenant ${r.tenant.orgName || r.tenant.uid} at ${r.host}, against ${r.desired.file}; expiring within ${r.expiringWithin}`, '']
  for (const e of r.errors) lines.push(paint('red', `  x ${e.code}: ${e.message}`), ...(e.hint ? [`      hint: ${e.hint}`] : []))
  const width = Math.min(60, Math.max(0, ...r.findings.map((f) => f.address.length)))
  for (const f of r.findings) lines.push(`  ${paint('yellow', f.kind.padEnd(24))} ${f.address.padEnd(width)}  ${f.message}${f.uid ? ` [${f.uid}]` : ''}`)
  if (r.findings.length > 0 || r.errors.length > 0) lines.push('')
  if (r.clean) lines.push(paint('green', `Clean: Palette matches ${r.desired.file}, and no declared user's key expires within ${r.expiringWithin}.`))
  else lines.push(paint('bold', `Audit: ${summary(r)}.`))
  if (r.diff.includes('\n@@')) lines.push('', 'Declared (-) versus live (+), normalised:', r.diff.trimEnd())
  return lines.join('\n') + '\n'
}

export function renderAuditMarkdown(r: AuditReport): string {
  const lines = [AUDIT_MARKER, `### palette-keys audit: ${r.clean ? 'clean' : summary(r)}`, '', `Tenant **${esc(r.tenant.orgName || r.tenant.uid)}** at \`${r.host}\` against \`${esc(r.desired.file)}\`; expiring within ${r.expiringWithin}.`, '']
  for (const e of r.errors) lines.push(`> **Error** (${e.code}): ${esc(e.message)}`, '')
  if (r.findings.length > 0) {
    lines.push('| finding | key | detail |', '|---|---|---|')
    for (const f of r.findings) lines.push(`| ${f.kind} | \`${f.address.replace(/`/g, "'")}\` | ${esc(f.message)} |`)
    lines.push('', '<details><summary>What the findings mean</summary>', '')
    for (const k of AUDIT_KINDS.filter((k) => r.counts[k] > 0)) lines.push(`- **${k}**: ${describeKind(k)}`)
    lines.push('', '</details>', '')
  }
  if (r.diff.includes('\n@@')) lines.push('<details><summary>Declared versus live (normalised)</summary>', '', '```diff', r.diff.trimEnd().replace(/```/g, "'''"), '```', '', '</details>')
  return lines.join('\n').trimEnd() + '\n'
}
