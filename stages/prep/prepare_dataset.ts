/**
 * The prep stage's work as a plain function: produce a validated dataset zip,
 * its statistics and a preview grid in an output directory.
 * @module
 */
import { join } from "node:path";
import { writeFileAtomic } from "../../pipeline/atomic_fs.ts";
import { checkDataset } from "../io/dataset_check.ts";
import { datasetGrid } from "../io/dataset_grid.ts";
import { datasetInfo } from "../io/dataset_info.ts";
import type { DatasetSpec } from "./dataset_spec.ts";
import { generateProceduralDataset } from "./procedural_dataset.ts";
import { PREP_OUTS } from "./outs.ts";

/** Progress callbacks. */
export interface PrepareCallbacks {
  /** Images generated or validated so far. */
  onProgress?: (done: number, total: number, phase: "render" | "check") => void;
}

/**
 * Writes `dataset.zip` (validated, EG3D format), `stats.json` (count,
 * resolution, channels, label statistics, pose histograms) and `preview.png`
 * (the first 64 images) into `outDir`; procedural datasets also get
 * `ground_truth.zip`. A user zip is checked completely before it is copied, so
 * bad input writes nothing.
 */
export async function prepareDataset(
  spec: DatasetSpec,
  outDir: string,
  callbacks: PrepareCallbacks = {},
): Promise<void> {
  const datasetPath = join(outDir, PREP_OUTS.dataset);
  if (spec.kind === "procedural") {
    await generateProceduralDataset(
      spec,
      outDir,
      (done, total) => callbacks.onProgress?.(done, total, "render"),
    );
  } else {
    await checkDataset(spec.path, (done, total) => callbacks.onProgress?.(done, total, "check"));
    await Deno.copyFile(spec.path, datasetPath);
  }
  const report = await checkDataset(datasetPath);
  const info = await datasetInfo(datasetPath);
  const stats = {
    source: spec.kind === "procedural" ? spec : { kind: spec.kind },
    imageCount: report.imageCount,
    resolution: report.resolution,
    channels: report.channels,
    cameraRadius: info.cameraRadius,
    focal: info.focal,
    yawDegrees: info.yawDegrees,
    pitchDegrees: info.pitchDegrees,
    yawHistogram: info.yawHistogram,
    pitchHistogram: info.pitchHistogram,
    labelStats: info.labelStats,
  };
  await writeFileAtomic(
    join(outDir, PREP_OUTS.stats),
    JSON.stringify(stats, null, 2) + "\n",
  );
  await datasetGrid(datasetPath, join(outDir, PREP_OUTS.preview), { count: 64 });
}
