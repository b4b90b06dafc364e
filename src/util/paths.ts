import {fileURLToPath} from 'node:url'

/** The package root (holds schemas/ and examples/), from src/util or dist/util alike. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url))

export function packagePath(relative: string): string {
  return fileURLToPath(new URL(`../../${relative}`, import.meta.url))
}
