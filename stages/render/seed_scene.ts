/**
 * One seed of a trained generator, ready to render: one identity
 * (z from the seed, mapped with the frontal conditioning camera, tri-planes
 * made once) seen from any number of cameras through either branch:
 *   2-D branch: coarse planes rendered at the neural rendering resolution,
 *     then super-resolution (EG3D, and Mimic3D's 2-D branch);
 *   3-D branch (Mimic3D only): coarse + detail planes rendered directly at
 *     full resolution by the fused renderer — no super-resolution, strictly
 *     3-D consistent.
 * @module
 */
import { noGrad, Rng, scope, slice, type Tensor, tensor } from "../../kernels/mod.ts";
import { renderFused } from "../model/fused_renderer.ts";
import { raysToImage, type TriplaneGenerator } from "../model/generator.ts";
import { sampleRays } from "../model/rays.ts";
import type { PixelImage } from "../io/png.ts";
import { type CameraRig, conditioningLabel, type ViewAngles, viewLabel } from "./cameras.ts";
import { colorizeDepth } from "./depth_colormap.ts";
import { latentForSeed } from "./seed_latent.ts";

/** Which branch makes the image. */
export type Branch = "2d" | "3d";

/** How a seed is turned into an identity and rendered. */
export interface SceneSettings {
  rig: CameraRig;
  /** Truncation ψ towards the average w (1 = none). */
  truncationPsi: number;
  /** Truncate only the first ws (EG3D's scripts use 14); null = all. */
  truncationCutoff: number | null;
  /**
   * Render resolution: for the 3-D branch the output side (default: the
   * generator's image resolution); for the 2-D branch the neural rendering
   * resolution fed to super-resolution (default: the generator's).
   */
  resolution?: number;
}

/** The images of one view: the final image, the raw (pre-SR) image (2-D branch) and depth. */
export interface ViewImages {
  image: PixelImage;
  raw?: PixelImage;
  depth: PixelImage;
}

/** Throws (one clear line) unless the generator has the branch. */
export function checkBranch(g: TriplaneGenerator, branch: Branch): void {
  if (branch === "3d" && g.config.kind !== "mimic3d") {
    throw new Error(
      `--branch 3d needs a Mimic3D generator; this checkpoint is ${g.config.kind} ` +
        `(no detail planes: its images come only through super-resolution, --branch 2d)`,
    );
  }
}

/** One seed's identity, ready to render from any camera. Holds GPU tensors: call `dispose`. */
export class SeedScene {
  private constructor(
    readonly generator: TriplaneGenerator,
    readonly seed: number,
    readonly settings: SceneSettings,
    private readonly ws: Tensor,
    /** Each [1, 3, C, H, W]: coarse (and, for Mimic3D, detail). */
    private readonly planes: Tensor[],
  ) {}

  /** Maps the seed's z (NumPy's draw, as the original) and synthesises its tri-planes once. */
  static create(g: TriplaneGenerator, seed: number, settings: SceneSettings): SeedScene {
    const { ws, planes } = noGrad(() =>
      scope(() => {
        const z = tensor(latentForSeed(seed, g.config.zDim), [1, g.config.zDim]);
        const c = tensor(conditioningLabel(settings.rig), [1, 25]);
        const ws = g.mapping(z, c, {
          truncationPsi: settings.truncationPsi,
          truncationCutoff: settings.truncationCutoff,
        });
        return { ws, planes: g.planes(ws, { noiseMode: "const", fusedModconv: true }).planes };
      })
    );
    return new SeedScene(g, seed, settings, ws, planes);
  }

  /** Renders one view through `branch`. Same seed, view and settings → the same pixels. */
  async render(view: ViewAngles, branch: Branch): Promise<ViewImages> {
    checkBranch(this.generator, branch);
    const tensors = noGrad(() =>
      scope(() => branch === "3d" ? this.#renderDirect(view) : this.#renderWithSr(view))
    );
    try {
      const [h, w] = tensors.depth.shape.slice(2);
      const images: ViewImages = {
        image: toPixels(tensors.image, await tensors.image.read()),
        depth: colorizeDepth(await tensors.depth.read(), w, h),
      };
      if (tensors.raw) images.raw = toPixels(tensors.raw, await tensors.raw.read());
      return images;
    } finally {
      for (const t of Object.values(tensors)) t?.dispose();
    }
  }

  /** Releases the scene's GPU tensors. */
  dispose(): void {
    this.ws.dispose();
    for (const p of this.planes) p.dispose();
  }

  /** A fresh stream per render: a view's pixels do not depend on what was rendered before. */
  #random(): Rng {
    return new Rng(this.seed);
  }

  #rays(view: ViewAngles, resolution: number) {
    return sampleRays(tensor(viewLabel(view, this.settings.rig), [1, 25]), resolution);
  }

  /** The 2-D branch, as `TriplaneGenerator.synthesis` runs it, from the scene's coarse planes. */
  #renderWithSr(view: ViewAngles): { image: Tensor; raw: Tensor; depth: Tensor } {
    const g = this.generator;
    const r = this.settings.resolution ?? g.config.neuralRenderingResolution;
    const rays = this.#rays(view, r);
    const { image, raw, depth } = g.renderView2d(this.planes[0], this.ws, rays, r, this.#random());
    return { image, raw, depth };
  }

  /** The 3-D branch: coarse + detail planes straight to a full-resolution image. */
  #renderDirect(view: ViewAngles): { image: Tensor; raw?: Tensor; depth: Tensor } {
    const g = this.generator;
    const r = this.settings.resolution ?? g.config.imgResolution;
    const rays = this.#rays(view, r);
    const out = renderFused(
      this.planes,
      g.decoder,
      rays.origins,
      rays.directions,
      g.renderer.options,
      this.#random(),
    );
    const rgb = slice(out.rgb, [null, null, [0, 3]]);
    return { image: raysToImage(rgb, r), depth: raysToImage(out.depth, r) };
  }
}

/** [1, 3, H, W] in [−1, 1] → 8-bit RGB, as the original scripts quantise (x·127.5 + 128, clamped). */
function toPixels(t: Tensor, values: ArrayLike<number>): PixelImage {
  const [, channels, height, width] = t.shape;
  const plane = width * height;
  const data = new Uint8Array(plane * channels);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < plane; i++) {
      const v = values[c * plane + i] * 127.5 + 128;
      data[i * channels + c] = Math.min(255, Math.max(0, Math.floor(v)));
    }
  }
  return { width, height, channels, data };
}
