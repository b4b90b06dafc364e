/**
 * The exit codes of every command: one table, mirrored in the README and in
 * package.json `oclif.exitCodes` (oclif's own default of 2 would read as "changes").
 */
export enum ExitCode {
  /** Success; with --detailed-exitcode: no changes. */
  Ok = 0,
  /** Any error: API, network, I/O, a failed action. */
  Error = 1,
  /** With --detailed-exitcode (plan) or for audit: changes or findings present. */
  Changes = 2,
  /** The plan was refused by a safety brake. */
  Refused = 3,
  /** A saved plan no longer matches the live state. */
  Stale = 4,
  /** Bad flags, arguments or environment. */
  Usage = 64,
  /** The desired-state file (or another input file) is invalid. */
  InvalidInput = 65,
}
