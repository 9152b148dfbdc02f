/**
 * The geometry evaluation of the eval stage: generated shapes (random
 * latents, conditioned on random dataset cameras) against the first true
 * shapes of the procedural dataset, all meshed on the same grid — MMD-CD,
 * COV-CD, and the depth error of each generated sample rendered from the
 * camera of its nearest true shape (see `geometry.ts` for the definitions).
 * @module
 */
import type { TriangleMesh } from "../geometry/marching_cubes.ts";
import type { TriplaneGenerator } from "../model/generator.ts";
import type { HeadParams } from "../prep/head_params.ts";
import { makeHeadSdf } from "../prep/head_sdf.ts";
import { GROUND_TRUTH_ENTRIES, readGroundTruth } from "../prep/procedural_dataset.ts";
import { ZipReader } from "../io/zip_reader.ts";
import { drawGenerationInputs, type MetricEntry } from "./fid_kid.ts";
import {
  chamferDistance,
  compareDepth,
  densityGrid,
  densityMesh,
  type DepthComparison,
  mmdAndCoverage,
  planesOfSample,
  sampleSurfacePoints,
  sdfGrid,
  sdfMesh,
} from "./geometry.ts";
import { headlineBranch, SampleBatch } from "./sample_render.ts";

/** Settings of `evaluateGeometry`. */
export interface GeometrySettings {
  /** The prep artifact's `ground_truth.zip`. */
  truthPath: string;
  /** Dataset camera labels (conditioning cameras are drawn from them). */
  labels: number[][];
  shapes: number;
  references: number;
  meshResolution: number;
  meshLevel: number;
  surfacePoints: number;
  truncationPsi: number;
  batch: number;
  seed: number;
}

/** `geometry.json`: the metrics and the per-shape record behind them. */
export interface GeometryReport {
  metrics: Record<"mmd_cd" | "cov_cd" | "depth_l1", MetricEntry>;
  method: Record<string, string>;
  references: { image: string; vertices: number }[];
  generated: {
    index: number;
    vertices: number;
    chamfer: (number | null)[];
    nearestReference: number | null;
    depth: DepthComparison | null;
  }[];
}

/** Measures generated geometry against the dataset's true shapes. */
export async function evaluateGeometry(
  g: TriplaneGenerator,
  s: GeometrySettings,
): Promise<GeometryReport> {
  const objects = await readObjects(s.truthPath);
  const references = objects.slice(0, Math.min(s.references, objects.length));
  const side = g.config.rendering.boxWarp;
  const referencePoints: Float64Array[] = [];
  const referenceMeshes: TriangleMesh[] = [];
  for (const [j, object] of references.entries()) {
    const mesh = sdfMesh(sdfGrid(makeHeadSdf(object.params), s.meshResolution, side));
    referenceMeshes.push(mesh);
    referencePoints.push(sampleSurfacePoints(mesh, s.surfacePoints, s.seed + 7919 * (j + 1)));
  }
  const inputs = drawGenerationInputs(s.labels, s.shapes, g.config.zDim, s.seed);
  const zDim = g.config.zDim;
  const generated: GeometryReport["generated"] = [];
  const branch = headlineBranch(g);
  for (let start = 0; start < s.shapes; start += s.batch) {
    const end = Math.min(s.shapes, start + s.batch);
    const batch = SampleBatch.create(
      g,
      inputs.z.subarray(start * zDim, end * zDim),
      inputs.cameras.slice(start, end),
      { truncationPsi: s.truncationPsi, renderSeed: s.seed + start },
    );
    try {
      const rows: GeometryReport["generated"] = [];
      for (let i = 0; i < end - start; i++) {
        const planes = planesOfSample(batch.planes, i);
        let mesh: TriangleMesh;
        try {
          mesh = densityMesh(await densityGrid(g, planes, s.meshResolution), s.meshLevel);
        } finally {
          for (const p of planes) p.dispose();
        }
        const points = sampleSurfacePoints(
          mesh,
          s.surfacePoints,
          s.seed + 104729 * (start + i + 1),
        );
        const chamfer = referencePoints.map((ref) =>
          points.length > 0 && ref.length > 0 ? chamferDistance(points, ref) : null
        );
        const finite = chamfer.map((d) => d ?? Infinity);
        const best = Math.min(...finite);
        rows.push({
          index: start + i,
          vertices: mesh.positions.length / 3,
          chamfer,
          nearestReference: Number.isFinite(best) ? finite.indexOf(best) : null,
          depth: null,
        });
      }
      // Each sample seen from its nearest true shape's dataset camera (itself when it has none).
      const cameras = rows.map((row, i) =>
        row.nearestReference !== null
          ? references[row.nearestReference].label
          : inputs.cameras[start + i]
      );
      const views = await batch.render(cameras, branch);
      for (const [i, row] of rows.entries()) {
        if (row.nearestReference === null) continue;
        const truth = await readGroundTruth(s.truthPath, references[row.nearestReference].image);
        const r = Math.round(Math.sqrt(truth.depth.length));
        row.depth = compareDepth(views[i], truth.depth, r);
      }
      generated.push(...rows);
    } finally {
      batch.dispose();
    }
  }
  return {
    metrics: summarise(generated, referenceMeshes, s),
    method: {
      shapes: `${s.shapes} generated (random z, random dataset cameras for conditioning) vs ` +
        `the first ${references.length} true heads of the dataset`,
      meshes: `marching cubes on a ${s.meshResolution}³ grid over the generator's box; ` +
        `generated: raw density at level ${s.meshLevel}; true: the head SDF at 0`,
      chamfer: `${s.surfacePoints} area-uniform surface points per shape; ` +
        "CD = mean_a min_b |a−b|² + mean_b min_a |a−b|² (world units²)",
      mmd: "mean over true shapes of the CD to the nearest generated shape",
      coverage: "share of true shapes that are the nearest to at least one generated shape",
      depth: `${branch.toUpperCase()}-branch depth of each generated sample from the dataset ` +
        "camera of its nearest true shape vs that image's true depth, over pixels both call " +
        "foreground (mean |Δt|, world units)",
    },
    references: references.map((r, j) => ({
      image: r.image,
      vertices: referenceMeshes[j].positions.length / 3,
    })),
    generated,
  };
}

function summarise(
  generated: GeometryReport["generated"],
  referenceMeshes: TriangleMesh[],
  s: GeometrySettings,
): GeometryReport["metrics"] {
  const withSurface = generated.filter((row) => row.nearestReference !== null);
  if (withSurface.length === 0) {
    const reason = `no generated shape has a surface at density level ${s.meshLevel} ` +
      `(${generated.length} extracted on a ${s.meshResolution}³ grid)`;
    return {
      mmd_cd: { unavailable: reason },
      cov_cd: { unavailable: reason },
      depth_l1: { unavailable: reason },
    };
  }
  const matrix = withSurface.map((row) => row.chamfer.map((d) => d ?? Infinity));
  const { mmd, coverage } = mmdAndCoverage(matrix);
  const details = {
    generated: generated.length,
    withSurface: withSurface.length,
    references: referenceMeshes.length,
    meshResolution: s.meshResolution,
  };
  const compared = withSurface.filter((row) => row.depth && row.depth.pixels > 0);
  const depth: MetricEntry = compared.length > 0
    ? {
      value: compared.reduce((sum, row) => sum + row.depth!.meanAbsError, 0) / compared.length,
      maskIoU: compared.reduce((sum, row) => sum + row.depth!.maskIoU, 0) / compared.length,
      samples: compared.length,
      units: "world units (the box is 1)",
    }
    : { unavailable: "no generated foreground overlaps its matched true shape's foreground" };
  return {
    mmd_cd: { value: mmd, ...details },
    cov_cd: { value: coverage, ...details },
    depth_l1: depth,
  };
}

interface TrueObject {
  image: string;
  label: number[];
  params: HeadParams;
}

async function readObjects(truthPath: string): Promise<TrueObject[]> {
  using zip = await ZipReader.open(truthPath);
  return JSON.parse(await zip.readText(GROUND_TRUTH_ENTRIES.objects)).objects;
}
