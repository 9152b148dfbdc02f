/**
 * The files of a prepared-dataset artifact (`prep`): what the stage declares, and the names
 * every reader of the artifact uses.
 * @module
 */

/** `prep`'s outs. */
export const PREP_OUTS = {
  /** The validated dataset in EG3D's format (PNGs + `dataset.json` camera labels). */
  dataset: "dataset.zip",
  /** Counts, resolution, label statistics, pose histograms. */
  stats: "stats.json",
  /** The first 64 images as one grid. */
  preview: "preview.png",
  /** Procedural datasets only: depth, masks and object parameters. */
  groundTruth: "ground_truth.zip",
} as const;

/** Outs only some datasets have. */
export const PREP_OPTIONAL_OUTS = ["groundTruth"] as const;
