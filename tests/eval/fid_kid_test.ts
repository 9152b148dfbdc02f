/**
 * The FID/KID plumbing of the eval stage on synthetic features: the
 * Fréchet distance against a closed form (orthogonal zero-mean columns give
 * diagonal sample covariances, where FID = Σ(Δμ)² + Σ(√va − √vb)²), KID as
 * `kernelInceptionDistance` computes it, the generation draw, the rule
 * that `fid50k_full` is only ever the paper's protocol, and generated
 * features of a tiny generator through both branches.
 */
import { Rng } from "../../kernels/mod.ts";
import {
  drawGenerationInputs,
  type FeatureExtractor,
  fidAndKid,
  generatedFeatures,
  isUnavailable,
  paperProtocolFid,
} from "../../stages/eval/fid_kid.ts";
import { lookAtCameraLabel } from "../../stages/io/camera_label.ts";
import { TriplaneGenerator } from "../../stages/model/generator.ts";
import { setupGpu } from "../helpers/check.ts";
import { tinyGeneratorConfig } from "./tiny_eval_inputs.ts";
import { featureStatistics, kernelInceptionDistance } from "../../stages/eval/frechet.ts";
import { assertEquals } from "../helpers/assert.ts";

/** Rows of a 4×4 Hadamard matrix's last 3 columns: zero-mean, mutually orthogonal. */
const HADAMARD = [[1, 1, 1], [-1, 1, -1], [1, -1, -1], [-1, -1, 1]];

function features(mean: number[], scale: number[]) {
  const data = new Float64Array(12);
  HADAMARD.forEach((row, i) => row.forEach((h, j) => (data[i * 3 + j] = mean[j] + scale[j] * h)));
  return { data, rows: 4, cols: 3 };
}

Deno.test("FID of the eval stage: matches the closed form for diagonal covariances", () => {
  const gen = features([0.5, -1, 2], [1, 2, 0.5]);
  const real = features([0, 0, 1], [3, 1, 0.5]);
  const reference = { statistics: featureStatistics(real), features: real };
  const { fid, kid } = fidAndKid(gen, reference, { branch: "3d" }, 7);
  // Sample variance of a ±s column of 4 rows: s²·4/3.
  const v = (s: number) => (s * s * 4) / 3;
  let expected = 0.25 + 1 + 1;
  for (const [a, b] of [[1, 3], [2, 1], [0.5, 0.5]]) {
    expected += (Math.sqrt(v(a)) - Math.sqrt(v(b))) ** 2;
  }
  if (isUnavailable(fid) || isUnavailable(kid)) throw new Error("expected values");
  if (Math.abs(fid.value - expected) > 1e-10 * expected) {
    throw new Error(`FID ${fid.value}, closed form ${expected}`);
  }
  assertEquals([fid.generated, fid.real, fid.branch], [4, 4, "3d"]);
  const kidReference = kernelInceptionDistance(gen, real, {
    numSubsets: 100,
    maxSubsetSize: 1000,
    seed: 7,
  });
  assertEquals(kid.value, kidReference);
  const tooFew = fidAndKid({ data: gen.data.slice(0, 3), rows: 1, cols: 3 }, reference, {}, 0);
  assertEquals(isUnavailable(tooFew.fid), true);
});

Deno.test("FID50k_full: only for 50 000 generated images against the whole dataset", () => {
  const measured = { value: 5.4, generated: 50000, real: 70000, branch: "3d" };
  assertEquals(paperProtocolFid(measured, 70000), measured);
  const small = paperProtocolFid({ ...measured, generated: 1000 }, 70000);
  assertEquals(isUnavailable(small) && /measured 1000 against 70000/.test(small.unavailable), true);
  const partial = paperProtocolFid({ ...measured, real: 5000 }, 70000);
  assertEquals(isUnavailable(partial), true);
  assertEquals(paperProtocolFid({ unavailable: "why" }, 10), { unavailable: "why" });
});

Deno.test("generation inputs: dataset cameras, deterministic, prefix-stable", () => {
  const labels = [0, 1, 2].map((k) => Array.from({ length: 25 }, (_, i) => k * 100 + i));
  const a = drawGenerationInputs(labels, 10, 4, 3);
  const b = drawGenerationInputs(labels, 6, 4, 3);
  assertEquals(Array.from(a.z.subarray(0, 24)), Array.from(b.z));
  assertEquals(a.cameras.slice(0, 6), b.cameras);
  for (const c of a.cameras) assertEquals(labels.some((l) => l.join() === c.join()), true);
  assertEquals(new Set(a.cameras.map((c) => c[0])).size > 1, true);
  const other = drawGenerationInputs(labels, 10, 4, 4);
  assertEquals(Array.from(other.z).join() === Array.from(a.z).join(), false);
});

Deno.test("generated features: both branches of a tiny Mimic3D generator, deterministic", async () => {
  await setupGpu();
  const g = new TriplaneGenerator(tinyGeneratorConfig(), new Rng(5));
  const labels = [0, 0.3, -0.3].map((yaw) => lookAtCameraLabel({ yaw, pitch: 0 }));
  const inputs = drawGenerationInputs(labels, 3, g.config.zDim, 11);
  const sizes: number[] = [];
  // Stand-in features: per-channel means of the 8-bit images the metric would see.
  const extract: FeatureExtractor = (images) => {
    sizes.push(...images.map((image) => image.width));
    const data = new Float32Array(images.length * 3);
    images.forEach((image, k) => {
      for (let i = 0; i < image.width * image.height; i++) {
        for (let c = 0; c < 3; c++) data[k * 3 + c] += image.data[i * 3 + c] / 255;
      }
    });
    return Promise.resolve({ data, rows: images.length, cols: 3 });
  };
  const options = { batch: 2, truncationPsi: 1, renderSeed: 4 };
  for (const branch of ["3d", "2d"] as const) {
    const a = await generatedFeatures(g, extract, inputs, { ...options, branch });
    const b = await generatedFeatures(g, extract, inputs, { ...options, branch });
    assertEquals([a.rows, a.cols], [3, 3]);
    assertEquals(Array.from(a.data), Array.from(b.data));
  }
  assertEquals(new Set(sizes), new Set([32])); // both branches give imgResolution images
});
