import {rmSync} from 'node:fs'
import {OUTPUTS_DIR} from './leaks.js'

/** Global setup: each run's leak scan reads only what that run recorded. */
export default function setup(): void {
  rmSync(OUTPUTS_DIR, {recursive: true, force: true})
}
