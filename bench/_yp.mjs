import {readFileSync} from 'node:fs'
import {performance} from 'node:perf_hooks'
import yaml from 'js-yaml'
import {parseDocument, parse} from 'yaml'
const text = readFileSync(process.argv[2], 'utf8')
for (let r = 0; r < 3; r++) {
  let t = performance.now(); const a = yaml.load(text, {schema: yaml.CORE_SCHEMA}); const ja = performance.now() - t
  t = performance.now(); const b = parseDocument(text, {uniqueKeys: false}).toJS(); const yb = performance.now() - t
  console.log('js-yaml', ja.toFixed(0), 'yaml', yb.toFixed(0), JSON.stringify(a) === JSON.stringify(b))
}
