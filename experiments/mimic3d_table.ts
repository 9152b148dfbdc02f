/**
 * The paper's comparison table: `table experiments/mimic3d_table.ts --format md`.
 * Mimic3D's published FID50k_full at 512² (FFHQ 5.4, AFHQv2-Cats 4.3) beside
 * ours from each dataset's run of `experiments/mimic3d.ts` (its `eval` node;
 * FID needs `--set eval.inceptionWeights=…` when the runs are made).
 */
import mimic3d from "./mimic3d.ts";
import { mimic3dComparisonTable } from "./paper_tables.ts";

export default mimic3dComparisonTable(mimic3d, {
  ffhq512: { "data.zip": "ffhq512.zip", "eval.paperDataset": "ffhq512" },
  afhq512: { "data.zip": "afhqv2_cats512.zip", "eval.paperDataset": "afhq512" },
});
