/**
 * An experiment with just the prep stage: builds (and caches) the procedural
 * dataset, or validates a user zip (`--set data.zip=path.zip`).
 * `--preset tiny` makes a 16-image 32² set.
 *
 *   prep
 */
import { z } from "zod";
import { defineExperiment, node } from "../pipeline/mod.ts";
import { datasetConfigSchema } from "../stages/prep/dataset_spec.ts";
import { prep } from "../stages/prep/stage.ts";

/** Config: the dataset spec (default: 2,000 procedural heads at 64²). */
export const config = z.strictObject({
  seed: z.number().int().default(0),
  data: datasetConfigSchema.prefault({}),
});

export default defineExperiment({
  name: "prep_only",
  config,
  presets: { tiny: { data: { count: 16, resolution: 32 } } },
  dag: { prep: node(prep, { config: "data" }) },
});
