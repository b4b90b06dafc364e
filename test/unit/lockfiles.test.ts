import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {ROOT} from '../support/cli.js'

/**
 * The repository keeps package-lock.json (what `npm ci` of a clone and the project's checks
 * expect) and npm-shrinkwrap.json (what the package ships, so an install is the tree the tests
 * ran; npm prefers it when both exist). They must be one tree: after `npm install`, which updates
 * the shrinkwrap only, copy it over package-lock.json.
 */
describe('lockfiles', () => {
  it('package-lock.json and npm-shrinkwrap.json hold the same dependency tree', () => {
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {packages: unknown}
    const shrinkwrap = JSON.parse(readFileSync(join(ROOT, 'npm-shrinkwrap.json'), 'utf8')) as {packages: unknown}
    expect(lock.packages, 'npm-shrinkwrap.json changed: cp npm-shrinkwrap.json package-lock.json').toEqual(shrinkwrap.packages)
  })
})
