/** Shared settings of the imitate end-to-end tests: the tiny DAG through the 3-D stage. */

/** The tiny preset: pretrain 4 steps, imitate 4 steps (checkpoint at 2; every phase runs). */
export const TINY_IMITATE = {
  preset: "tiny",
  sets: ["pretrain.kimg=0.008", "imitate.kimg=0.008"],
  until: "imitate", // the eval nodes below imitate are not under test here
} as const;
