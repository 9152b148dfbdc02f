/**
 * The paper's comparison table: `table experiments/mimic3d_table.ts --format md`.
 * The published FID at 512² (Mimic3D's own abstract: FFHQ 5.4, AFHQv2-Cats 4.3;
 * Trevithick et al.'s Tables 1 and 2: EG3D, Mimic3D and four more, each row
 * citing its source: stages/eval/paper_results.ts) beside ours from each
 * dataset's run of `experiments/mimic3d.ts` with the paper's preset. Those
 * runs need the dataset zips (put them under `datasets/` with these names, or
 * edit the paths to yours); the weight files LPIPS and FID use are the pinned
 * ones, downloaded on first use (`auto`). A row whose run
 * has not been made shows "—". The last row is the `small` preset on the
 * embedded procedural heads (one GPU, ~20 minutes: `deno task demo --preset
 * small`), ours only.
 */
import mimic3d from "./mimic3d.ts";
import { mimic3dComparisonTable } from "./paper_tables.ts";

const weights = {
  "imitate.imitation.loss": "lpips",
  "imitate.imitation.vgg16Weights": "auto",
  "imitate.imitation.lpipsWeights": "auto",
  "eval.inceptionWeights": "auto",
};

export default mimic3dComparisonTable(
  mimic3d,
  {
    ffhq512: { ...weights, "data.zip": "datasets/ffhq512.zip", "eval.paperDataset": "ffhq512" },
    afhq512: {
      ...weights,
      "data.zip": "datasets/afhqv2_cats512.zip",
      "eval.paperDataset": "afhq512",
      "pretrain.loss.r1Gamma": 5,
      "pretrain.loss.gpcRegProb": 0.8,
      "imitate.r1GammaPatch": 5,
    },
  },
  {},
  [{ label: "Procedural heads 64² (`small` preset)", preset: "small", set: {} }],
);
