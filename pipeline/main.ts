/**
 * A standalone entry with only the pipeline commands (what `sweep --jobs` children run; it
 * starts faster than the full CLI because it loads no GPU code). Same behaviour as `mod.ts`.
 */
import { Command } from "@commander-js/extra-typings";
import { registerPipelineCommands } from "./cli.ts";

/** Runs the pipeline CLI; errors become one `error: ...` line and exit code 1. */
export async function pipelineMain(args: string[]): Promise<number> {
  const program = new Command().name("mimic3d").showHelpAfterError().exitOverride();
  registerPipelineCommands(program);
  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof Error && "code" in err && typeof err.code === "string") {
      return err.code === "commander.helpDisplayed" || err.code === "commander.version" ? 0 : 2;
    }
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await pipelineMain(Deno.args));
