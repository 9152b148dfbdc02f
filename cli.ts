/**
 * The command-line interface: one commander program, each part of the project
 * contributing its commands. `mod.ts` runs it when executed as main.
 */
import { Command } from "@commander-js/extra-typings";
import { runDemo } from "./experiments/demo.ts";
import { registerPipelineCommands } from "./pipeline/cli.ts";
import { registerDatasetCommands } from "./stages/io/dataset_cli.ts";
import { registerFixturesCommand } from "./stages/fixtures/command.ts";
import { registerSnapshotCommands } from "./stages/io/snapshot_cli.ts";
import { registerServeCommand } from "./stages/viewer/serve_command.ts";
import { registerImportCommands } from "./stages/io/import_command.ts";
import { registerRenderCommands } from "./stages/render/command.ts";
import { registerWeightsCommands } from "./stages/weights/command.ts";
import { mpiRankEntry } from "./stages/distributed/rank_entry.ts";
import { registerShipRunCommand } from "./stages/pretrain/ship_run_command.ts";
import { reportCliError } from "./pipeline/cli_errors.ts";

/** Builds the CLI program with every command registered. */
export function buildCli(): Command {
  const program = new Command()
    .name("mimic3d")
    .description("Mimic3D-TS: a WebGPU re-implementation of Mimic3D run as a cached experiment DAG")
    .showHelpAfterError()
    .exitOverride();
  program
    .command("demo")
    .description(
      "run the whole DAG (prep → pretrain → imitate → eval) on the embedded procedural dataset " +
        "and print where the report is",
    )
    .option(
      "--preset <name>",
      "demo (a GPU-trained model, evaluated on this machine: minutes on a CPU), tiny (a few training steps) " +
        "or small (trains on one GPU)",
      "demo",
    )
    .action(async (opts) => {
      await runDemo(opts.preset);
    });
  registerPipelineCommands(program, { ranks: mpiRankEntry });
  registerDatasetCommands(program);
  registerFixturesCommand(program);
  registerSnapshotCommands(program);
  registerServeCommand(program);
  registerImportCommands(program);
  registerRenderCommands(program);
  registerShipRunCommand(program);
  registerWeightsCommands(program);
  return program;
}

/** Runs the CLI; errors become one readable line and a non-zero exit. */
export async function main(args: string[]): Promise<number> {
  const program = buildCli();
  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (err) {
    return reportCliError(err);
  }
}
