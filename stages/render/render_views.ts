/**
 * The `render` job: for each seed, the requested views (image, raw image,
 * coloured depth) as PNGs, a grid of all of them, an optional turntable GIF,
 * and `render.json` saying what was rendered and how.
 * @module
 */
import * as path from "node:path";
import type { TriplaneGenerator } from "../model/generator.ts";
import { makeImageGrid } from "../io/image_grid.ts";
import { type PixelImage, writePngFile } from "../io/png.ts";
import { writeFileAtomic } from "../../pipeline/atomic_fs.ts";
import type { ViewAngles } from "./cameras.ts";
import { type Branch, checkBranch, type SceneSettings, SeedScene } from "./seed_scene.ts";
import { renderTurntable, turntableBranches } from "./turntable.ts";

/** What to render. */
export interface RenderRequest {
  seeds: number[];
  views: ViewAngles[];
  branch: Branch;
  /** Frames of a turntable GIF per seed; 0 = none. */
  turntableFrames: number;
  settings: SceneSettings;
  outDir: string;
  /** Where the generator came from (recorded in render.json). */
  source: string;
}

/** Progress callback: `done` of `countRenders(...)` images rendered. */
export type RenderProgress = (done: number) => void;

/** How many images `request` renders (views, and turntable panels: two per frame for Mimic3D). */
export function countRenders(
  g: TriplaneGenerator,
  request: Pick<RenderRequest, "seeds" | "views" | "turntableFrames">,
): number {
  const panels = g.config.kind === "mimic3d" ? 2 : 1;
  return request.seeds.length * (request.views.length + request.turntableFrames * panels);
}

/** File names of seed `seed`'s view `index`. */
export function viewFileNames(seed: number, index: number) {
  const stem = `seed${String(seed).padStart(4, "0")}_view${index}`;
  return { image: `${stem}.png`, raw: `${stem}_raw.png`, depth: `${stem}_depth.png` };
}

/** The turntable file of a seed. */
export function turntableFileName(seed: number): string {
  return `seed${String(seed).padStart(4, "0")}_turntable.gif`;
}

/** Renders everything `request` asks for; returns the files written (relative to `outDir`). */
export async function renderViews(
  g: TriplaneGenerator,
  request: RenderRequest,
  onProgress: RenderProgress = () => {},
): Promise<string[]> {
  checkBranch(g, request.branch);
  if (request.seeds.length === 0) throw new Error("no seeds to render");
  if (request.views.length === 0) throw new Error("no views to render");
  await Deno.mkdir(request.outDir, { recursive: true });
  const written: string[] = [];
  const write = async (name: string, image: PixelImage) => {
    await writePngFile(path.join(request.outDir, name), image);
    written.push(name);
  };
  let done = 0;

  const gridImages: PixelImage[] = [];
  const gridDepths: PixelImage[] = [];
  for (const seed of request.seeds) {
    const scene = SeedScene.create(g, seed, request.settings);
    try {
      for (const [index, view] of request.views.entries()) {
        const images = await scene.render(view, request.branch);
        const names = viewFileNames(seed, index);
        await write(names.image, images.image);
        if (images.raw) await write(names.raw, images.raw);
        await write(names.depth, images.depth);
        gridImages.push(images.image);
        gridDepths.push(images.depth);
        onProgress(++done);
      }
      if (request.turntableFrames > 0) {
        const panels = turntableBranches(scene).length;
        const gif = await renderTurntable(
          scene,
          request.turntableFrames,
          () => onProgress(done += panels),
        );
        await writeFileAtomic(path.join(request.outDir, turntableFileName(seed)), gif);
        written.push(turntableFileName(seed));
      }
    } finally {
      scene.dispose();
    }
  }
  const columns = request.views.length;
  await write("grid.png", makeImageGrid(gridImages, { columns, padding: 2 }));
  await write("grid_depth.png", makeImageGrid(gridDepths, { columns, padding: 2 }));
  const summary = {
    source: request.source,
    kind: g.config.kind,
    branch: request.branch,
    seeds: request.seeds,
    latent: "np.random.RandomState(seed).randn(1, z_dim), as the original scripts",
    truncationPsi: request.settings.truncationPsi,
    truncationCutoff: request.settings.truncationCutoff,
    camera: { ...request.settings.rig, conditioning: "frontal, looking at the pivot" },
    views: request.views.map((v, index) => ({
      index,
      yawDeg: round(v.yaw * 180 / Math.PI),
      pitchDeg: round(v.pitch * 180 / Math.PI),
    })),
    resolution: { image: gridImages[0].width, depth: gridDepths[0].width },
    turntableFrames: request.turntableFrames,
    grid: "rows = seeds, columns = views",
    files: [...written, "render.json"],
  };
  await writeFileAtomic(
    path.join(request.outDir, "render.json"),
    JSON.stringify(summary, null, 2) + "\n",
  );
  written.push("render.json");
  return written;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
