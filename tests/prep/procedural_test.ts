import { assertEquals } from "../helpers/assert.ts";
import { cameraYawPitch } from "../../stages/io/camera_label.ts";
import { ImageDataset } from "../../stages/io/dataset_reader.ts";
import { ZipReader } from "../../stages/io/zip_reader.ts";
import { decodePng } from "../../stages/io/png.ts";
import { makeHeadSdf } from "../../stages/prep/head_sdf.ts";
import { sampleFfhqLikeCamera } from "../../stages/prep/procedural_camera.ts";
import {
  generateProceduralDataset,
  GROUND_TRUTH_ENTRIES,
  proceduralItem,
  readGroundTruth,
} from "../../stages/prep/procedural_dataset.ts";
import { SeededRng } from "../../stages/prep/seeded_rng.ts";
import { pixelRay, traceSdf } from "./rays.ts";

const SPEC = { count: 6, resolution: 16, seed: 5, supersample: 1 };

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "mimic3d-prep-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("procedural: same seed → same bytes; another seed → other images", async () => {
  await withTempDir(async (dir) => {
    for (const sub of ["a", "b", "c"]) await Deno.mkdir(`${dir}/${sub}`);
    await generateProceduralDataset(SPEC, `${dir}/a`);
    await generateProceduralDataset(SPEC, `${dir}/b`);
    await generateProceduralDataset({ ...SPEC, seed: 6 }, `${dir}/c`);
    for (const file of ["dataset.zip", "ground_truth.zip"]) {
      const [a, b, c] = await Promise.all(
        ["a", "b", "c"].map((s) => Deno.readFile(`${dir}/${s}/${file}`)),
      );
      assertEquals(
        a.length === b.length && a.every((v, i) => v === b[i]),
        true,
        `${file} differs between runs`,
      );
      assertEquals(a.length === c.length && a.every((v, i) => v === c[i]), false);
    }
    // Item i depends only on (seed, i): a smaller set is a prefix.
    assertEquals(proceduralItem(5, 3), proceduralItem(5, 3));
  });
});

Deno.test("procedural: ground-truth depth lies on the SDF's zero set and matches the silhouettes", async () => {
  await withTempDir(async (dir) => {
    const { datasetPath, groundTruthPath } = await generateProceduralDataset(SPEC, dir);
    using dataset = await ImageDataset.open(datasetPath);
    using truthZip = await ZipReader.open(groundTruthPath);
    const r = SPEC.resolution;
    let hits = 0;
    let silhouetteMismatches = 0;
    for (let i = 0; i < SPEC.count; i++) {
      const name = dataset.imageNames[i];
      const truth = await readGroundTruth(groundTruthPath, name);
      assertEquals(truth.label, dataset.labels[i]);
      const mask = decodePng(await truthZip.read(GROUND_TRUTH_ENTRIES.mask(name)), name);
      const sdf = makeHeadSdf(truth.params);
      const image = await dataset.readImage(i);
      for (let row = 0; row < r; row++) {
        for (let col = 0; col < r; col++) {
          const k = row * r + col;
          const t = truth.depth[k];
          // The mask is exactly depth < ∞.
          assertEquals(mask.data[k] === 255, Number.isFinite(t));
          const { origin, dir: d } = pixelRay(truth.label, r, row, col);
          if (Number.isFinite(t)) {
            hits++;
            const distance = sdf(origin[0] + t * d[0], origin[1] + t * d[1], origin[2] + t * d[2]);
            if (Math.abs(distance) > 5e-4) {
              throw new Error(`${name} pixel ${k}: |sdf| = ${distance}`);
            }
            // EG3D's depth range: the object sits inside [2.25, 3.3] from the camera.
            assertEquals(t > 2.25 && t < 3.3, true);
          }
          // An independent float64 sphere trace finds the same silhouette.
          if (Number.isFinite(traceSdf(sdf, origin, d)) !== Number.isFinite(t)) {
            silhouetteMismatches++;
          }
        }
      }
      // Supersample 1: a background pixel shows the background gradient, not the object.
      const bg = image.data.subarray(0, 3);
      assertEquals(truth.depth[0] === Infinity && bg.some((v) => v > 0), true);
    }
    assertEquals(hits > SPEC.count * r * r * 0.25, true, `only ${hits} object pixels`);
    assertEquals(
      silhouetteMismatches <= SPEC.count * r * r * 0.01,
      true,
      `${silhouetteMismatches} mismatches`,
    );
  });
});

Deno.test("procedural cameras: FFHQ-like distribution looking at the origin", () => {
  const rng = new SeededRng(9);
  const poses = Array.from({ length: 4000 }, () => sampleFfhqLikeCamera(rng).label);
  const yaw = poses.map((c) => cameraYawPitch(c).yaw);
  const pitch = poses.map((c) => cameraYawPitch(c).pitch);
  const std = (a: number[]) => Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
  assertEquals(Math.abs(std(yaw) - 0.3) < 0.02, true, `yaw std ${std(yaw)}`);
  assertEquals(Math.abs(std(pitch) - 0.15) < 0.01, true, `pitch std ${std(pitch)}`);
  assertEquals(Math.max(...yaw.map(Math.abs)) <= 0.8 + 1e-6, true);
  for (const c of poses.slice(0, 50)) {
    const position = [c[3], c[7], c[11]];
    assertEquals(Math.abs(Math.hypot(...position) - 2.7) < 1e-5, true);
    // The forward (third) column points at the origin.
    const forward = [c[2], c[6], c[10]];
    const cosine = -forward.reduce((s, v, i) => s + v * position[i], 0) / 2.7;
    assertEquals(cosine > 1 - 1e-6, true);
    assertEquals([c[16], c[18], c[20], c[21]], [
      Math.fround(4.2647),
      0.5,
      Math.fround(4.2647),
      0.5,
    ]);
  }
});
