/**
 * Where an editor finds the desired-state schema from a team's repository: the file the npm
 * package ships (`schemas/desired-state.schema.json`), at the CDN every npm package is served
 * from, pinned to the version that reads the file. Until the package is on the registry, a
 * repository that installs the tarball points at its own copy under node_modules instead.
 */
export function desiredStateSchemaUrl(version: string): string {
  return `https://cdn.jsdelivr.net/npm/palette-keys@${encodeURIComponent(version)}/schemas/desired-state.schema.json`
}

/** The first line of a desired-state file that tells the YAML language server its schema. */
export function schemaComment(version: string): string {
  return ` yaml-language-server: $schema=${desiredStateSchemaUrl(version)}`
}
