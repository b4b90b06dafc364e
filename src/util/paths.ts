import {fileURLToPath} from 'node:url'

/** A path inside the package root (schemas/, examples/, bin/), from src/util or dist/util alike. */
export function packagePath(relative: string): string {
  return fileURLToPath(new URL(`../../${relative}`, import.meta.url))
}
