/**
 * What people look at after an eval: sample grids (rows = seeds; columns =
 * views, per branch), the matching coloured depth maps, a turntable GIF of
 * the first seed (2-D and 3-D branches side by side, through the render
 * module's turntable) and each seed's mesh (marching cubes of the density
 * the 3-D branch renders) as PLY and OBJ.
 *
 * Seeds give identities exactly as the original scripts do (NumPy's
 * `RandomState(seed).randn`), conditioned on the frontal camera of the rig.
 * @module
 */
import { join } from "node:path";
import { memberOf } from "../../pipeline/declared_outs.ts";
import { EVAL_OUTS } from "./outs.ts";
import { writeFileAtomic } from "../../pipeline/atomic_fs.ts";
import { makeImageGrid } from "../io/image_grid.ts";
import { resizeImage } from "../io/image_resize.ts";
import { type PixelImage, writePngFile } from "../io/png.ts";
import type { TriplaneGenerator } from "../model/generator.ts";
import { type CameraRig, conditioningLabel, viewGrid, viewLabel } from "../render/cameras.ts";
import { colorizeDepth } from "../render/depth_colormap.ts";
import { latentForSeed } from "../render/seed_latent.ts";
import { SeedScene } from "../render/seed_scene.ts";
import { renderTurntable } from "../render/turntable.ts";
import { DENSITY_LEVEL, densityGrid, densityMesh, planesOfSample } from "./geometry.ts";
import { meshArea, type TriangleMesh } from "../geometry/marching_cubes.ts";
import { writeObj, writePly } from "../geometry/mesh_io.ts";
import { branchesOf, SampleBatch, viewToPixels } from "./sample_render.ts";

/** How the outputs are made. */
export interface OutputSettings {
  seeds: number[];
  rig: CameraRig;
  truncationPsi: number;
  /** Yaw of each grid column (degrees), at the rig's pitch 0. */
  yawsDeg: number[];
  turntableFrames: number;
  meshResolution: number;
  meshLevel?: number;
  /** Renderer jitter seed. */
  renderSeed: number;
}

/** What `writeOutputs` wrote, for the report and `metrics.json`. */
export interface OutputSummary {
  grid: { file: string; layout: string };
  depthGrid: { file: string; layout: string };
  turntable: { file: string; frames: number; layout: string };
  meshes: {
    seed: number;
    ply: string;
    obj: string;
    vertices: number;
    faces: number;
    area: number;
  }[];
  meshLevel: number;
}

/** Renders grids, depth maps, the turntable and meshes into `outDir`. */
export async function writeOutputs(
  g: TriplaneGenerator,
  settings: OutputSettings,
  outDir: string,
  onStep: (what: string) => void = () => {},
): Promise<OutputSummary> {
  const branches = branchesOf(g);
  const seeds = settings.seeds;
  const views = viewGrid(settings.yawsDeg, [0]).map((v) => viewLabel(v, settings.rig));
  const z = new Float64Array(seeds.length * g.config.zDim);
  seeds.forEach((seed, i) => z.set(latentForSeed(seed, g.config.zDim), i * g.config.zDim));
  const conditioning = seeds.map(() => conditioningLabel(settings.rig));
  const batch = SampleBatch.create(g, z, conditioning, {
    truncationPsi: settings.truncationPsi,
    renderSeed: settings.renderSeed,
  });
  const images: PixelImage[] = [];
  const depths: PixelImage[] = [];
  const meshes: OutputSummary["meshes"] = [];
  const level = settings.meshLevel ?? DENSITY_LEVEL;
  try {
    const cells: { image: PixelImage; depth: PixelImage }[][] = seeds.map(() => []);
    for (const branch of branches) {
      for (const label of views) {
        const rendered = await batch.render(seeds.map(() => label), branch);
        rendered.forEach((view, i) => {
          const r = view.depthResolution;
          cells[i].push({
            image: viewToPixels(view),
            depth: colorizeDepth(maskedDepth(view.depth, view.opacity), r, r),
          });
        });
      }
    }
    onStep("grids");
    const size = Math.max(...cells.flat().map((c) => c.image.width));
    for (const row of cells) {
      for (const cell of row) {
        images.push(fit(cell.image, size));
        depths.push(fit(cell.depth, size));
      }
    }
    for (const [i, seed] of seeds.entries()) {
      const planes = planesOfSample(batch.planes, i);
      let mesh: TriangleMesh;
      try {
        mesh = densityMesh(await densityGrid(g, planes, settings.meshResolution), level);
      } finally {
        for (const p of planes) p.dispose();
      }
      await writeFileAtomic(join(outDir, memberOf(EVAL_OUTS.meshPly, seed)), writePly(mesh));
      await writeFileAtomic(join(outDir, memberOf(EVAL_OUTS.meshObj, seed)), writeObj(mesh));
      meshes.push({
        seed,
        ply: memberOf(EVAL_OUTS.meshPly, seed),
        obj: memberOf(EVAL_OUTS.meshObj, seed),
        vertices: mesh.positions.length / 3,
        faces: mesh.faces.length / 3,
        area: meshArea(mesh),
      });
    }
    onStep("meshes");
  } finally {
    batch.dispose();
  }
  const columns = branches.length * views.length;
  await writePngFile(
    join(outDir, EVAL_OUTS.grid),
    makeImageGrid(images, { columns, padding: 2 }),
  );
  await writePngFile(
    join(outDir, EVAL_OUTS.depthGrid),
    makeImageGrid(depths, { columns, padding: 2 }),
  );
  const layout = `rows = seeds ${seeds.join(", ")}; columns = ${
    branches.map((b) => `${b.toUpperCase()} branch at yaw ${settings.yawsDeg.join("°, ")}°`)
      .join(", then ")
  }`;
  const scene = SeedScene.create(g, seeds[0], {
    rig: settings.rig,
    truncationPsi: settings.truncationPsi,
    truncationCutoff: null,
  });
  try {
    const gif = await renderTurntable(scene, settings.turntableFrames);
    await writeFileAtomic(join(outDir, EVAL_OUTS.turntable), gif);
  } finally {
    scene.dispose();
  }
  onStep("turntable");
  return {
    grid: { file: EVAL_OUTS.grid, layout },
    depthGrid: { file: EVAL_OUTS.depthGrid, layout: `${layout} (Turbo: near red, far blue)` },
    turntable: {
      file: EVAL_OUTS.turntable,
      frames: settings.turntableFrames,
      layout: g.config.kind === "mimic3d"
        ? `seed ${seeds[0]}: 2-D branch (SR) left, 3-D branch (direct render) right`
        : `seed ${seeds[0]}: 2-D branch (SR)`,
    },
    meshes,
    meshLevel: level,
  };
}

/** Depth with background rays (opacity < 0.5) pushed to the farthest foreground depth. */
function maskedDepth(depth: Float32Array, opacity: Float32Array): Float32Array {
  let far = -Infinity;
  for (let i = 0; i < depth.length; i++) if (opacity[i] >= 0.5) far = Math.max(far, depth[i]);
  if (!Number.isFinite(far)) return depth;
  return depth.map((d, i) => (opacity[i] >= 0.5 ? d : far));
}

function fit(image: PixelImage, size: number): PixelImage {
  return image.width === size ? image : resizeImage(image, size, size);
}
