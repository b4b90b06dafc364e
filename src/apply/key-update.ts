import {clientAnnotations, hasServerAnnotation} from '../contract/palette.js'
import {PaletteApiError} from '../palette/errors.js'
import type {PaletteApi} from '../palette/port.js'

/** What an update sets: the whole key, annotations as they should be afterwards (server-set ones included). */
export interface KeyWrite {
  name: string
  expiry: string
  annotations: Record<string, string>
}

/**
 * Updates that never lose an annotation they read. Whether a PUT merges the annotations it
 * is sent over Palette's own, replaces the whole map, or refuses the ones Palette sets is
 * UNCERTAIN (NOTES.md), so every update sends the whole map it read, server-set annotations
 * included: a merging server keeps them, a replacing one keeps them because they were sent.
 * A server that answers that with 400 (it refuses server-set annotations, and so keeps them
 * itself) gets the same update without them, and every later one in this run goes that way
 * at once.
 */
export class KeyUpdater {
  private stripServerSet = false

  constructor(private readonly api: PaletteApi) {}

  async update(uid: string, write: KeyWrite): Promise<void> {
    const send = (annotations: Record<string, string>) => this.api.updateApiKey(uid, {metadata: {name: write.name, annotations}, spec: {expiry: write.expiry}})
    if (!hasServerAnnotation(write.annotations)) return send(write.annotations)
    if (!this.stripServerSet) {
      try {
        return await send(write.annotations)
      } catch (error) {
        if (!(error instanceof PaletteApiError && error.status === 400)) throw error
        this.stripServerSet = true
      }
    }
    return send(clientAnnotations(write.annotations))
  }
}
