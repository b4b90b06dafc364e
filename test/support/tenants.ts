/** Seed files for emulator processes: a tenant of any size, with known key values. */
export const ADMIN_KEY = 'seed-admin-key-0000001'

export function seedWithKeys(keyCount: number, userCount = Math.max(2, Math.ceil(keyCount / 10))): string {
  const lines = ['tenant: {orgName: bench}', 'users:', '  - email: admin@example.com', '    roles: [Tenant Admin]', '    apiKeys:', `      - {name: bootstrap, value: ${ADMIN_KEY}}`]
  for (let u = 0; u < userCount; u++) {
    lines.push(`  - email: user${u}@example.com`)
    const mine = Array.from({length: keyCount}, (_, k) => k).filter((k) => k % userCount === u)
    if (mine.length > 0) lines.push('    apiKeys:')
    for (const k of mine) lines.push(`      - {name: key-${k}, value: seed-value-${String(k).padStart(6, '0')}, annotations: {managedBy: palette-keys}}`)
  }
  return lines.join('\n') + '\n'
}
