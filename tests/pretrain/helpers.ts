/** Shared helpers of the pretrain end-to-end tests: temp stores and the tiny run's settings. */
import { fileURLToPath } from "node:url";
import { Store } from "../../pipeline/mod.ts";

/** The experiment module under test. */
export const MIMIC3D = fileURLToPath(new URL("../../experiments/mimic3d.ts", import.meta.url));
/** The pipeline CLI entry (as the crash tests use it). */
export const PIPELINE_CLI = fileURLToPath(new URL("../../pipeline/main.ts", import.meta.url));

/** The tiny preset cut to 4 steps (checkpoints at steps 2; Greg at 0, 2; Dreg at 0); no imitate. */
export const TINY = { preset: "tiny", sets: ["pretrain.kimg=0.008"], until: "pretrain" } as const;

/** A store in a temp dir; `cleanup` removes it (store objects are read-only). */
export async function tempStore(): Promise<{ store: Store; cleanup(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "mimic3d-pretrain-" });
  const store = await Store.open(`${dir}/store`);
  return {
    store,
    async cleanup() {
      await new Deno.Command("chmod", { args: ["-R", "u+w", dir] }).output();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
