/**
 * Published numbers we compare against, each with where it was published.
 * Only numbers with a cited source belong here.
 * @module
 */

/** A published value of one metric on one dataset. */
export interface PaperResult {
  method: string;
  /** Dataset key as our presets name them. */
  dataset: "ffhq512" | "afhq512";
  datasetLabel: string;
  /** Our metric key in `metrics.json`. */
  metric: string;
  value: number;
  source: string;
}

/** Where Mimic3D's headline numbers come from. */
export const MIMIC3D_SOURCE =
  "Chen, Deng, Wang: Mimic3D: Thriving 3D-Aware GANs via 3D-to-2D Imitation, ICCV 2023 " +
  "(arXiv:2303.09036), abstract: FID 5.4 (FFHQ) and 4.3 (AFHQ-v2 Cats) at 512², 3-D branch";

/** Mimic3D's published FID50k_full with direct 3-D rendering (no super-resolution). */
export const MIMIC3D_PAPER_RESULTS: readonly PaperResult[] = [
  {
    method: "Mimic3D",
    dataset: "ffhq512",
    datasetLabel: "FFHQ-512",
    metric: "fid50k_full",
    value: 5.4,
    source: MIMIC3D_SOURCE,
  },
  {
    method: "Mimic3D",
    dataset: "afhq512",
    datasetLabel: "AFHQv2-Cats-512",
    metric: "fid50k_full",
    value: 4.3,
    source: MIMIC3D_SOURCE,
  },
];
