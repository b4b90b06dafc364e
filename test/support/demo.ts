import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {ROOT} from './cli.js'

/** The public recipient of examples/demo-identity.txt (demo-only identity). */
export async function demoRecipient(): Promise<string> {
  const text = await readFile(join(ROOT, 'examples/demo-identity.txt'), 'utf8')
  const m = /# public key: (age1\S+)/.exec(text)
  if (!m) throw new Error('examples/demo-identity.txt has no "# public key:" line')
  return m[1]!
}
