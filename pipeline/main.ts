/**
 * A standalone entry with only the pipeline commands (what `sweep --jobs` children run; it
 * starts faster than the full CLI because it loads no GPU code). Same behaviour as `mod.ts`.
 */
import { Command } from "@commander-js/extra-typings";
import { registerPipelineCommands } from "./cli.ts";
import { reportCliError } from "./cli_errors.ts";

/** Runs the pipeline CLI; errors become one `error: ...` line and exit code 1. */
export async function pipelineMain(args: string[]): Promise<number> {
  const program = new Command().name("mimic3d").showHelpAfterError().exitOverride();
  registerPipelineCommands(program);
  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (err) {
    return reportCliError(err);
  }
}

if (import.meta.main) Deno.exit(await pipelineMain(Deno.args));
