// Copies a verbatim subset of an OpenAPI document: the named operations and every component
// they reference, nothing edited. Used to make the GitHub subsets the test fakes are held to:
//   node scripts/openapi-subset.mjs api.github.com.json OUT.json "NOTE" operationId...
import {readFileSync, writeFileSync} from 'node:fs'

const [, , source, out, note, ...ids] = process.argv
const doc = JSON.parse(readFileSync(source, 'utf8'))
const paths = {}
const wanted = new Set(ids)
for (const [template, item] of Object.entries(doc.paths)) {
  for (const [method, op] of Object.entries(item)) {
    if (!wanted.has(op.operationId)) continue
    paths[template] ??= {}
    paths[template][method] = op
    wanted.delete(op.operationId)
  }
}
if (wanted.size > 0) throw new Error(`not in ${source}: ${[...wanted].join(', ')}`)
const components = {}
const seen = new Set()
const visit = (node) => {
  if (Array.isArray(node)) return node.forEach(visit)
  if (!node || typeof node !== 'object') return
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/') && !seen.has(v)) {
      seen.add(v)
      const [, , kind, name] = v.split('/')
      const target = doc.components[kind][name]
      components[kind] ??= {}
      components[kind][name] = target
      visit(target)
    } else visit(v)
  }
}
visit(paths)
for (const kind of Object.keys(components)) components[kind] = Object.fromEntries(Object.entries(components[kind]).sort(([a], [b]) => a.localeCompare(b)))
const info = {...doc.info, 'x-palette-keys-subset': note}
writeFileSync(out, `${JSON.stringify({openapi: doc.openapi, info, paths, components}, null, 1)}\n`)
console.log(`${out}: ${ids.length} operations, ${seen.size} components`)
