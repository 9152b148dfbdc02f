/**
 * The paper's tables as table definitions over an experiment with an `eval`
 * node (its `metrics.json`), for `table <module> --format md|html|tex|csv`:
 *
 * - the comparison: FID at 512² on FFHQ and AFHQv2-Cats, every published
 *   number (stages/eval/paper_results.ts) as its own row citing its source,
 *   then ours, with our per-branch FID at whatever protocol the run used;
 * - FID against samples per ray (Trevithick et al., Table 3) beside our eval
 *   of one model at the same counts (`eval.samplesPerRay`);
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
  type ReferenceValue,
  type Table,
  type TableColumn,
  type TableRow,
} from "../pipeline/mod.ts";
import {
  markNotes,
  PAPER_RESULTS,
  type PaperResult,
  sourceOf,
} from "../stages/eval/paper_results.ts";
import { splitSamplesPerRay } from "../stages/eval/samples_per_ray.ts";

/** Where the metrics are: the eval node. */
export interface TablePlacement {
  preset?: string;
  /** Node holding `metrics.json` (default "eval"). */
  node?: string;
}

/** The config overrides of each paper dataset's run. */
export type DatasetPoints = Record<PaperResult["dataset"], Record<string, unknown>>;

/** The source cell of our rows. */
export const OURS = "ours (Mimic3D-TS run)";

/** A published number as a reference cell: printed precision and marks kept. */
function referenceOf(p: PaperResult): ReferenceValue {
  return { value: p.value, text: p.printed, marks: p.marks.join("") };
}

/** A published number as a row of its own (no run of ours), citing its source. */
function publishedRow(p: PaperResult, label: string): TableRow {
  return { label, source: sourceOf(p), reference: { [`${p.metric}.value`]: referenceOf(p) } };
}

/** Metric columns: the paper protocol first (with the published values), then ours per branch. */
export const COMPARISON_COLUMNS: TableColumn[] = [
  { metric: "fid50k_full.value", label: "FID50k_full", digits: 2 },
  { metric: "fid_3d.value", label: "FID 3-D branch (run protocol)", digits: 2 },
  { metric: "fid_2d.value", label: "FID 2-D branch (run protocol)", digits: 2 },
  { metric: "branch_gap_psnr.value", label: "PSNR 3-D vs SR (dB)", digits: 2 },
  { metric: "reprojection_3d.value", label: "Reproj. 3-D", digits: 4 },
  { metric: "reprojection_2d.value", label: "Reproj. 2-D", digits: 4 },
];

/** Why published and measured numbers sit in one column, and when they compare. */
const PROTOCOL_NOTE = "Published rows are FID of each method's final image at 512² (Mimic3D: " +
  "its 3-D branch); ours compare with them only under the same protocol (FID50k_full) and dataset.";

/**
 * Every published FID on the paper's two 512² datasets, then ours per dataset, then
 * `extraRows` of ours only (e.g. the `small` run on the procedural set, which has no
 * published number).
 */
export function mimic3dComparisonTable(
  experiment: Experiment,
  points: DatasetPoints,
  { preset, node = "eval" }: TablePlacement = {},
  extraRows: readonly TableRow[] = [],
): Table {
  const published = PAPER_RESULTS.filter((p) => p.samplesPerRay === undefined);
  const datasets = Object.keys(points) as PaperResult["dataset"][];
  const rows = datasets.flatMap((dataset) => {
    const results = published.filter((p) => p.dataset === dataset);
    return [
      ...results.map((p) => publishedRow(p, `${p.datasetLabel}: ${p.method}`)),
      { label: `${results[0].datasetLabel}: ours`, source: OURS, set: points[dataset] },
    ];
  });
  return defineTable({
    title: "FID at 512²: published results (source per row) beside ours",
    experiment,
    preset,
    node,
    rows: [...rows, ...extraRows.map((row) => ({ source: OURS, ...row }))],
    columns: COMPARISON_COLUMNS,
    referenceLabel: "published",
    measuredLabel: "ours",
    footnotes: [PROTOCOL_NOTE, ...markNotes(published)],
  });
}

/** The samples per ray of Trevithick et al.'s Table 3 (96 = the trained 48 + 48). */
export const SAMPLES_PER_RAY = [20, 50, 96] as const;

/** Columns of the samples-per-ray table: what changes with the render's sampling. */
export const SAMPLES_PER_RAY_COLUMNS: TableColumn[] = [
  { metric: "fid50k_full.value", label: "FID50k_full", digits: 2 },
  { metric: "fid_3d.value", label: "FID 3-D branch (run protocol)", digits: 2 },
  { metric: "fid_2d.value", label: "FID 2-D branch (run protocol)", digits: 2 },
  { metric: "branch_gap_psnr.value", label: "PSNR 3-D vs SR (dB)", digits: 2 },
  { metric: "reprojection_3d.value", label: "Reproj. 3-D", digits: 4 },
  { metric: "reprojection_2d.value", label: "Reproj. 2-D", digits: 4 },
  { metric: "depth_l1.value", label: "Depth L1 vs truth", digits: 4 },
];

/**
 * FID against samples per ray: per count, the published FFHQ-512 rows (Mimic3D, EG3D) and
 * ours, one model evaluated at that count (`eval.samplesPerRay`, split as in
 * stages/eval/samples_per_ray.ts); `set` picks the model (every point shares its training).
 */
export function samplesPerRayTable(
  experiment: Experiment,
  { preset, node = "eval", set = {} }: TablePlacement & { set?: Record<string, unknown> } = {},
): Table {
  const published = PAPER_RESULTS.filter((p) => p.samplesPerRay !== undefined);
  const rows = SAMPLES_PER_RAY.flatMap((samples) => {
    const split = splitSamplesPerRay(samples);
    return [
      ...published.filter((p) => p.samplesPerRay === samples).map((p) =>
        publishedRow(p, `${samples} per ray: ${p.method} (${p.datasetLabel})`)
      ),
      {
        label: `${samples} per ray: ours ` +
          `(${split.depthResolution} + ${split.depthResolutionImportance})`,
        source: OURS,
        set: { ...set, "eval.samplesPerRay": samples },
      },
    ];
  });
  return defineTable({
    title: "FID against samples per ray of the volume render: published beside ours",
    experiment,
    preset,
    node,
    rows,
    columns: SAMPLES_PER_RAY_COLUMNS,
    referenceLabel: "published",
    measuredLabel: "ours",
    footnotes: [
      "Ours: one trained model evaluated at each count, split stratified + importance as " +
      "the trained 48 + 48 (half each); every measurement renders at that count, the 3-D vs " +
      "SR gap included (the imitate stage's seeds and views).",
      ...markNotes(published),
    ],
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
