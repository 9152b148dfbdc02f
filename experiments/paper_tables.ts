/**
 * The paper's tables as table definitions over an experiment with an `eval`
 * node (its `metrics.json`), for `table <module> --format md|html|tex|csv`:
 *
 * - the Mimic3D comparison: FID50k_full on FFHQ-512 and AFHQv2-Cats-512,
 *   Mimic3D's published numbers (the paper's abstract) beside ours, plus our
 *   per-branch FID at whatever protocol the run used;
 * - the ablations we can run (no 3-D-aware convolution, no imitation, no
 *   patch discriminator), ours only: no published number is cited for them.
 *
 * The rows are config points; which overrides make each point is the
 * experiment's business, so the builders take them (`table` modules export
 * `default mimic3dComparisonTable(mimic3d, {...})`).
 */
import {
  defineTable,
  type Experiment,
  type Table,
  type TableColumn,
  type TableRow,
} from "../pipeline/mod.ts";
import { MIMIC3D_PAPER_RESULTS, type PaperResult } from "../stages/eval/paper_results.ts";

/** Where the metrics are: the eval node. */
export interface TablePlacement {
  preset?: string;
  /** Node holding `metrics.json` (default "eval"). */
  node?: string;
}

/** The config overrides of each paper dataset's run. */
export type DatasetPoints = Record<PaperResult["dataset"], Record<string, unknown>>;

/** Metric columns: the paper protocol first (with the published values), then ours per branch. */
export const COMPARISON_COLUMNS: TableColumn[] = [
  { metric: "fid50k_full.value", label: "FID50k_full", digits: 1 },
  { metric: "fid_3d.value", label: "FID 3-D branch (run protocol)", digits: 2 },
  { metric: "fid_2d.value", label: "FID 2-D branch (run protocol)", digits: 2 },
  { metric: "branch_gap_psnr.value", label: "PSNR 3-D vs SR (dB)", digits: 2 },
  { metric: "reprojection_3d.value", label: "Reproj. 3-D", digits: 4 },
  { metric: "reprojection_2d.value", label: "Reproj. 2-D", digits: 4 },
];

/**
 * Mimic3D vs ours on the paper's two 512² datasets, then `extraRows` of ours
 * only (e.g. the `small` run on the procedural set, which has no published number).
 */
export function mimic3dComparisonTable(
  experiment: Experiment,
  points: DatasetPoints,
  { preset, node = "eval" }: TablePlacement = {},
  extraRows: readonly TableRow[] = [],
): Table {
  return defineTable({
    title: "Mimic3D: FID at 512² with direct 3-D rendering (paper: Chen et al., ICCV 2023)",
    experiment,
    preset,
    node,
    rows: [
      ...MIMIC3D_PAPER_RESULTS.map((p) => ({
        label: p.datasetLabel,
        set: points[p.dataset],
        reference: { [`${p.metric}.value`]: p.value },
      })),
      ...extraRows,
    ],
    columns: COMPARISON_COLUMNS,
    referenceLabel: "paper",
    measuredLabel: "ours",
  });
}

/** One ablation: a label and the overrides that switch a component off. */
export interface Ablation {
  label: string;
  set: Record<string, unknown>;
}

/** Ablation columns: headline FID, 2-D-branch FID and 3-D consistency (ours only). */
export const ABLATION_COLUMNS: TableColumn[] = [
  { metric: "fid_3d.value", label: "FID 3-D", digits: 2 },
  { metric: "fid_2d.value", label: "FID 2-D", digits: 2 },
  { metric: "reprojection_3d.value", label: "Reproj. 3-D", digits: 4 },
  { metric: "reprojection_2d.value", label: "Reproj. 2-D", digits: 4 },
  { metric: "mmd_cd.value", label: "MMD-CD", digits: 4 },
];

/**
 * The ablation table: the full method and each component switched off, e.g.
 * `[{label: "no 3-D-aware conv", set: {"pretrain.aware3d": false}},
 *   {label: "no imitation", set: {<imitation weight>: 0}},
 *   {label: "no patch D", set: {<patch GAN weight>: 0}}]`.
 */
export function ablationTable(
  experiment: Experiment,
  ablations: readonly Ablation[],
  { preset, node = "eval" }: TablePlacement = {},
): Table {
  return defineTable({
    title: "Mimic3D ablations (ours; no published numbers cited)",
    experiment,
    preset,
    node,
    rows: [{ label: "full Mimic3D", set: {} }, ...ablations],
    columns: ABLATION_COLUMNS,
    measuredLabel: "ours",
  });
}

/** The 3-D-aware convolution switch of the pretrain stage. */
export const NO_AWARE3D: Ablation = {
  label: "no 3-D-aware conv",
  set: { "pretrain.aware3d": false },
};
