/**
 * `ship-run <artifact>`: writes a finished pretrain or imitate artifact of the
 * store as a shipped run (stages/training/shipped_run.ts), with what it was
 * trained with (from the store's key record), on what dataset, from which
 * pretrained networks, and where, so that another machine can take it
 * instead of training. This is how `experiments/demo/*.run.zip` were made.
 */
import { join } from "node:path";
import type { Command } from "@commander-js/extra-typings";
import { initGpu } from "../../kernels/mod.ts";
import { Store } from "../../pipeline/store.ts";
import { defaultStoreRoot } from "../../pipeline/paths.ts";
import {
  datasetSpecOf,
  fileHashes,
  PRETRAINED_NETWORK_FILES,
  withoutShippedRun,
  writeShippedRun,
} from "../training/shipped_run.ts";

/** The key inputs the store records for an artifact (what ship-run needs of them). */
interface RecordedInputs {
  stage: string;
  config: { shippedRun?: unknown } & Record<string, unknown>;
  inputs: Record<string, string>;
}

/** Adds `ship-run` to the CLI. */
export function registerShipRunCommand(program: Command): void {
  program
    .command("ship-run")
    .description(
      "write a finished pretrain or imitate artifact as a shipped run: one file that a stage " +
        "whose config names it (pretrain.shippedRun / imitate.shippedRun) takes instead of training",
    )
    .argument("<artifact>", "artifact id (or prefix) of a pretrain or imitate stage in the store")
    .requiredOption("--out <file>", "the file to write (e.g. experiments/demo/pretrain.run.zip)")
    .requiredOption("--command <text>", "the command that trained it, as run")
    .requiredOption("--seconds <n>", "wall-clock seconds the stage trained", Number)
    .requiredOption("--commit <hash>", "the repository commit that trained it")
    .option("--device <name>", "the adapter it trained on (default: this machine's)")
    .action(async (artifact, opts, command) => {
      const { store: root = defaultStoreRoot() } = command.optsWithGlobals() as { store?: string };
      const store = await Store.open(root);
      const id = await store.resolveId(artifact);
      const record = (await store.listKeyRecords()).find((r) => r.artifact === id);
      if (!record) throw new Error(`artifact ${id.slice(0, 12)} has no key record in ${root}`);
      const recorded = record.keyInputs as RecordedInputs;
      if (recorded.stage !== "pretrain" && recorded.stage !== "imitate") {
        throw new Error(`artifact ${id.slice(0, 12)} is a ${recorded.stage} artifact`);
      }
      if (recorded.config.shippedRun) {
        throw new Error(`artifact ${id.slice(0, 12)} was itself taken from a shipped run`);
      }
      const out = (input: string) => join(store.objectDir(recorded.inputs[input]), "out");
      const info = await writeShippedRun(join(store.objectDir(id), "out"), opts.out, {
        stage: recorded.stage,
        config: withoutShippedRun(recorded.config),
        dataset: await datasetSpecOf(out("data")),
        pretrained: recorded.stage === "imitate"
          ? await fileHashes(out("pretrained"), PRETRAINED_NETWORK_FILES)
          : null,
        origin: {
          command: opts.command,
          device: opts.device ?? (await initGpu()).name,
          seconds: opts.seconds,
          commit: opts.commit,
          artifact: id,
        },
      });
      const size = (await Deno.stat(opts.out)).size;
      console.log(
        `${opts.out}: ${info.stage}, ${info.steps} steps (${info.kimg} kimg), ` +
          `${info.networks.join(", ")}; ${(size / 2 ** 20).toFixed(2)} MiB`,
      );
    });
}
