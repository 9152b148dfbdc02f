/**
 * The `prep` pipeline stage: dataset spec → artifact with `dataset.zip`,
 * `stats.json`, `preview.png` (and `ground_truth.zip` for the procedural set).
 *
 * Unseeded: the procedural set has its own `seed` in the spec, so sweeping the
 * experiment seed reuses one dataset. A user zip enters the key by content
 * hash (`externalFiles`, through the pipeline's file-hash cache: an unchanged
 * file is not rehashed).
 * @module
 */
import { defineStage } from "../../pipeline/stage.ts";
import { datasetStageSchema } from "./dataset_spec.ts";
import { prepareDataset } from "./prepare_dataset.ts";
import { PREP_OPTIONAL_OUTS, PREP_OUTS } from "./outs.ts";

/** The prep stage. */
export const prep = defineStage({
  name: "prep",
  // The code version is this module's import closure (pipeline/import_closure.ts).
  sources: [import.meta.url],
  config: datasetStageSchema,
  seeded: false,
  outs: PREP_OUTS,
  optionalOuts: PREP_OPTIONAL_OUTS,
  externalFiles: (spec) => (spec.kind === "zip" ? [spec.path] : []),
  async run(ctx) {
    const total = ctx.config.kind === "procedural" ? ctx.config.count : 0;
    const bar = total > 0 ? ctx.progress(total, "img") : null;
    await prepareDataset(ctx.config, ctx.outDir, {
      onProgress: (done) => bar?.update(done),
    });
    bar?.stop();
    ctx.log(`prepared ${ctx.config.kind} dataset`, { spec: ctx.config });
  },
});
