// Writes oclif.manifest.json from the compiled commands, so that the CLI does not
// import every command at start-up (oclif reads the manifest instead).
import {writeFile} from 'node:fs/promises'
import {fileURLToPath} from 'node:url'
import {Plugin} from '@oclif/core'

const root = fileURLToPath(new URL('..', import.meta.url))
const plugin = new Plugin({root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, respectNoCacheDefault: true})
await plugin.load()
const count = Object.keys(plugin.manifest.commands).length
if (count === 0) throw new Error('manifest: no commands found under dist/commands')
await writeFile(new URL('../oclif.manifest.json', import.meta.url), JSON.stringify(plugin.manifest, null, 2) + '\n')
console.log(`oclif.manifest.json: ${count} commands`)
