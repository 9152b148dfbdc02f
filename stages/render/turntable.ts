/**
 * Turntables: one seed orbited by the camera (`turntableView`), each frame the
 * branches side by side — for Mimic3D the 2-D branch (through SR) beside the
 * 3-D branch (direct render), which shows where SR invents inconsistencies —
 * encoded as a looping GIF.
 * @module
 */
import { makeImageGrid } from "../io/image_grid.ts";
import { resizeImage } from "../io/image_resize.ts";
import type { PixelImage } from "../io/png.ts";
import { turntableView } from "./cameras.ts";
import { encodeGif } from "./gif.ts";
import type { Branch, SeedScene } from "./seed_scene.ts";

/** Frame time: 25 frames per second. */
export const TURNTABLE_FRAME_MS = 40;

/** The branches a turntable shows: both for Mimic3D, the 2-D branch alone for EG3D. */
export function turntableBranches(scene: SeedScene): Branch[] {
  return scene.generator.config.kind === "mimic3d" ? ["2d", "3d"] : ["2d"];
}

/**
 * Renders `frames` frames of the orbit and returns the GIF bytes.
 * `onFrame(done)` is called after each frame (progress).
 */
export async function renderTurntable(
  scene: SeedScene,
  frames: number,
  onFrame: (done: number) => void = () => {},
): Promise<Uint8Array> {
  if (!Number.isInteger(frames) || frames < 1) {
    throw new Error(`turntable needs a positive whole number of frames, got ${frames}`);
  }
  const branches = turntableBranches(scene);
  const images: PixelImage[] = [];
  for (let i = 0; i < frames; i++) {
    const view = turntableView(i, frames);
    const panels: PixelImage[] = [];
    for (const branch of branches) panels.push((await scene.render(view, branch)).image);
    images.push(sideBySide(panels));
    onFrame(i + 1);
  }
  return encodeGif(images, TURNTABLE_FRAME_MS);
}

/** Panels in one row, each scaled to the tallest panel's square size. */
function sideBySide(panels: PixelImage[]): PixelImage {
  const size = Math.max(...panels.map((p) => p.height));
  const scaled = panels.map((p) => p.height === size ? p : resizeImage(p, size, size));
  return scaled.length === 1 ? scaled[0] : makeImageGrid(scaled, { columns: scaled.length });
}
