import {setTimeout as delay} from 'node:timers/promises'
import {PaletteApiError} from './errors.js'

/**
 * `f`, tried up to three times while it fails with a server error or no answer (never a refused
 * credential, never a 4xx). For requests the client does not retry (it retries no 500) whose
 * failure would cost more than the wait: a key whose value goes unsealed, a lease left behind.
 */
export async function retryTransient<T>(f: () => Promise<T>, sleep: (ms: number) => Promise<unknown> = (ms) => delay(ms)): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await f()
    } catch (error) {
      const transient = error instanceof PaletteApiError && !error.credentialRefused && (error.status === undefined || error.status >= 500)
      if (!transient || attempt >= 3) throw error
      await sleep(500 * attempt)
    }
  }
}
