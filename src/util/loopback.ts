import {isIP} from 'node:net'

/** Whether a host name is this machine (localhost, 127.0.0.0/8, ::1): the emulator's, never a tenant's. */
export function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === 'localhost' || h.endsWith('.localhost')) return true
  if (isIP(h) === 4) return h.startsWith('127.')
  if (isIP(h) === 6) return h === '::1'
  return false
}
