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
import { defineStage } from "../../pipeline/mod.ts";
import { datasetStageSchema } from "./dataset_spec.ts";
import { prepareDataset } from "./prepare_dataset.ts";

const source = (path: string) => new URL(path, import.meta.url);

/** The prep stage. */
export const prep = defineStage({
  name: "prep",
  sources: [
    import.meta.url,
    source("./dataset_spec.ts"),
    source("./prepare_dataset.ts"),
    source("./procedural_dataset.ts"),
    source("./procedural_camera.ts"),
    source("./head_params.ts"),
    source("./head_sdf.ts"),
    source("./render_procedural.ts"),
    source("./seeded_rng.ts"),
    source("../io/camera_label.ts"),
    source("../io/dataset_check.ts"),
    source("../io/dataset_grid.ts"),
    source("../io/dataset_info.ts"),
    source("../io/dataset_labels.ts"),
    source("../io/dataset_reader.ts"),
    source("../io/dataset_writer.ts"),
    source("../io/image_grid.ts"),
    source("../io/npy.ts"),
    source("../io/png.ts"),
    source("../io/zip_reader.ts"),
    source("../io/zip_writer.ts"),
  ],
  config: datasetStageSchema,
  seeded: false,
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
