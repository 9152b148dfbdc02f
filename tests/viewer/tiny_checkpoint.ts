/**
 * A tiny real checkpoint for viewer tests: the Mimic3D (or EG3D) tiny training
 * snapshot of tests/fixtures/reference imported and saved in our format.
 */
import { saveGenerator } from "../../stages/io/generator_checkpoint.ts";
import { buildImportedGenerator } from "../../stages/io/import_generator.ts";
import { parseSnapshot } from "../../stages/io/snapshot.ts";
import { snapshotToCheckpoint } from "../../stages/io/snapshot_checkpoint.ts";

/** Writes `<dir>/G_ema.safetensors` from `<kind>_tiny.pkl` and returns its path. */
export async function writeTinyCheckpoint(
  dir: string,
  kind: "mimic3d" | "eg3d" = "mimic3d",
): Promise<string> {
  const pkl = new URL(`../fixtures/reference/${kind}_tiny.pkl`, import.meta.url).pathname;
  const imported = snapshotToCheckpoint(parseSnapshot(await Deno.readFile(pkl), pkl), "G_ema");
  const g = buildImportedGenerator(imported);
  const path = `${dir}/G_ema.safetensors`;
  await saveGenerator(path, g, { source: `${kind}_tiny.pkl` });
  for (const t of g.stateDict().values()) t.dispose();
  return path;
}
