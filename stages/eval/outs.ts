/**
 * The files of the eval folder's two artifacts, `reference-stats` and `eval`: what the stages
 * declare, and the names every reader uses (the report's links, `table`, the demo).
 * @module
 */

/** `reference-stats`' outs. */
export const REFERENCE_OUTS = {
  /** Availability, counts, the Inception weights' hash (or why there are no statistics). */
  summary: "reference.json",
  /** `mu`, `sigma` (F64) and `features` (F32): only with Inception weights. */
  tensors: "reference.safetensors",
} as const;

/** Outs only a reference with Inception weights has. */
export const REFERENCE_OPTIONAL_OUTS = ["tensors"] as const;

/** `eval`'s outs. */
export const EVAL_OUTS = {
  /** Every metric with its protocol (FID/KID, geometry, consistency, branch gap). */
  metrics: "metrics.json",
  geometry: "geometry.json",
  consistency: "consistency.json",
  /** The HTML report linking everything below. */
  report: "report.html",
  /** Rows = seeds, columns = views per branch. */
  grid: "grid.png",
  depthGrid: "depth_grid.png",
  turntable: "turntable.gif",
  /** One mesh per seed, `mesh_<seed>.ply` / `.obj`. */
  meshPly: "mesh_*.ply",
  meshObj: "mesh_*.obj",
  /** The imitate stage's branch-gap grid, copied beside the report (Mimic3D models). */
  branchGap: "branch_gap.png",
} as const;

/** Outs only some models produce. */
export const EVAL_OPTIONAL_OUTS = ["branchGap"] as const;
