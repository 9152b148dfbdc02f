/**
 * Ablations we can run (ours only; no published numbers cited):
 * `table experiments/mimic3d_ablations.ts --format md` over the `small` preset.
 */
import mimic3d from "./mimic3d.ts";
import { ablationTable, NO_AWARE3D } from "./paper_tables.ts";

export default ablationTable(mimic3d, [
  NO_AWARE3D,
  { label: "no imitation", set: { "imitate.imitation.weight": 0 } },
  { label: "no patch D", set: { "imitate.patchGan": 0 } },
], { preset: "small" });
