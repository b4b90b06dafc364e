/**
 * Annotations Palette sets on a key itself (the real list sample in NOTES.md); a client
 * cannot set them, so an update sends every annotation but these.
 */
export const SERVER_ANNOTATIONS = ['ownerUid', 'permissions', 'scope', 'scopeVisibility', 'tenantUid']

export function clientAnnotations(all: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(all).filter(([k]) => !SERVER_ANNOTATIONS.includes(k)))
}
