/**
 * The string formats the JSON schemas name beyond ajv-formats' (`duration`, `duration-or-zero`):
 * here, below config/ and util/ajv.ts alike, so that the schema compiler depends on no product module.
 * A whole number (at most six digits) and a unit, h, d or w.
 */
export const DURATION_PATTERN = /^([1-9]\d{0,5})([hdw])$/
export const DURATION_OR_ZERO_PATTERN = /^(0|[1-9]\d{0,5})([hdw])$/
