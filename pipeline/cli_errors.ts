/**
 * How a CLI run ends after an error: commander's own errors (help, unknown option, missing
 * argument) were already printed by commander; anything else — including Deno's filesystem and
 * module-load errors, which also carry a string `code` — is printed here as one line.
 * @module
 */
import { CommanderError } from "@commander-js/extra-typings";

/** Prints `err` unless commander already did; returns the process exit code. */
export function reportCliError(err: unknown): number {
  if (err instanceof CommanderError) {
    return err.code === "commander.helpDisplayed" || err.code === "commander.version" ? 0 : 2;
  }
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  return 1;
}
