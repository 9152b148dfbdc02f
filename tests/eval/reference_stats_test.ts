/**
 * Reference statistics: features of every dataset image through an
 * extractor (a small stand-in here: the Inception weights are user-supplied),
 * float64 statistics written and read back bit for bit, and the artifact
 * that records why there are none.
 */
import { join } from "node:path";
import type { FeatureExtractor } from "../../stages/eval/fid_kid.ts";
import { featureStatistics } from "../../stages/eval/frechet.ts";
import {
  datasetFeatures,
  readReference,
  writeReference,
} from "../../stages/eval/reference_stats.ts";
import { prepareDataset } from "../../stages/prep/prepare_dataset.ts";
import { assertEquals } from "../helpers/assert.ts";
import { setupGpu } from "../helpers/check.ts";

await setupGpu();

/** Mean of each channel and of its square: 6 features per image. */
const channelMoments: FeatureExtractor = (images) => {
  const cols = 6;
  const data = new Float32Array(images.length * cols);
  images.forEach((image, k) => {
    const n = image.width * image.height;
    for (let c = 0; c < 3; c++) {
      let s = 0, s2 = 0;
      for (let i = 0; i < n; i++) {
        const v = image.data[i * image.channels + c] / 255;
        s += v;
        s2 += v * v;
      }
      data[k * cols + c] = s / n;
      data[k * cols + 3 + c] = s2 / n;
    }
  });
  return Promise.resolve({ data, rows: images.length, cols });
};

Deno.test("reference statistics: dataset features, float64 stats round trip, unavailable record", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mimic3d-reference-" });
  try {
    await prepareDataset(
      { kind: "procedural", count: 6, resolution: 16, seed: 3, supersample: 1 },
      dir,
    );
    const features = await datasetFeatures(join(dir, "dataset.zip"), channelMoments, { batch: 4 });
    assertEquals([features.rows, features.cols], [6, 6]);
    const limited = await datasetFeatures(join(dir, "dataset.zip"), channelMoments, {
      maxImages: 2,
    });
    assertEquals(Array.from(limited.data), Array.from(features.data).slice(0, 12));

    const statistics = featureStatistics(features);
    const out = join(dir, "reference");
    await Deno.mkdir(out);
    await writeReference(out, {
      available: true,
      statistics,
      features,
      weightsSha256: "ab".repeat(32),
      datasetImages: 6,
    });
    const back = await readReference(out);
    if (!back.available) throw new Error("expected statistics");
    assertEquals(Array.from(back.statistics.mu), Array.from(statistics.mu));
    assertEquals(Array.from(back.statistics.sigma), Array.from(statistics.sigma));
    assertEquals(Array.from(back.features.data), Array.from(features.data));
    assertEquals([back.weightsSha256, back.datasetImages], ["ab".repeat(32), 6]);

    const none = join(dir, "none");
    await Deno.mkdir(none);
    await writeReference(none, { available: false, reason: "no weights", datasetImages: 6 });
    assertEquals(await readReference(none), {
      available: false,
      reason: "no weights",
      datasetImages: 6,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
