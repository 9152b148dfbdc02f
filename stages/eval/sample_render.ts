/**
 * Generated samples rendered for measurement: latents → ws → tri-planes once,
 * then any cameras through either branch, read back as float images with
 * their ray depth and opacity (metrics need depth in world units, not the
 * coloured maps the render command writes).
 *   2-D branch: coarse planes at the neural rendering resolution → super-resolution
 *     (as `TriplaneGenerator.synthesis`; EG3D's only branch).
 *   3-D branch (Mimic3D): coarse + detail planes rendered directly at the image
 *     resolution by the fused renderer (the paper's evaluated branch).
 * @module
 */
import { noGrad, Rng, scope, slice, type Tensor, tensor } from "../../kernels/mod.ts";
import { renderFused } from "../model/fused_renderer.ts";
import { raysToImage, type TriplaneGenerator } from "../model/generator.ts";
import { sampleRays } from "../model/rays.ts";
import type { PixelImage } from "../io/png.ts";
import type { Branch } from "../render/seed_scene.ts";

export type { Branch };

/** The branches a generator has: Mimic3D both, EG3D only the 2-D (super-resolved) one. */
export function branchesOf(g: TriplaneGenerator): Branch[] {
  return g.config.kind === "mimic3d" ? ["3d", "2d"] : ["2d"];
}

/** The branch the paper evaluates: Mimic3D's direct 3-D render; EG3D's SR image. */
export function headlineBranch(g: TriplaneGenerator): Branch {
  return g.config.kind === "mimic3d" ? "3d" : "2d";
}

/** One rendered view on the host. */
export interface RenderedView {
  /** Image side in pixels. */
  resolution: number;
  /** RGB planar [3, R, R] in [−1, 1]. */
  image: Float32Array;
  /** Side of the depth and opacity maps (the 2-D branch's is the neural rendering resolution). */
  depthResolution: number;
  /** Ray parameter t along the unit ray direction, [r, r]. */
  depth: Float32Array;
  /** Accumulated alpha (weights sum) per ray, [r, r]. */
  opacity: Float32Array;
  /** The 25-number camera label it was rendered from. */
  label: number[];
}

/** Identities ready to render: ws and tri-planes of a batch. Holds GPU tensors: `dispose`. */
export class SampleBatch {
  private constructor(
    readonly generator: TriplaneGenerator,
    readonly ws: Tensor,
    /** Each [N, 3, C, H, W]: coarse (and for Mimic3D detail). */
    readonly planes: Tensor[],
    /** Seeds the renderer's stratified jitter (same seed → same pixels). */
    readonly renderSeed: number,
  ) {}

  /**
   * Maps latents `z` (N × zDim values) with conditioning cameras `conditioning`
   * (N labels) and synthesises their tri-planes (constant noise, as evaluation does).
   */
  static create(
    g: TriplaneGenerator,
    z: Float64Array,
    conditioning: readonly number[][],
    options: { truncationPsi: number; renderSeed: number },
  ): SampleBatch {
    const n = conditioning.length;
    if (z.length !== n * g.config.zDim) {
      throw new Error(`SampleBatch: ${z.length} latent values for ${n} × ${g.config.zDim}`);
    }
    const { ws, planes } = noGrad(() =>
      scope(() => {
        const ws = g.mapping(tensor(z, [n, g.config.zDim]), tensor(conditioning.flat(), [n, 25]), {
          truncationPsi: options.truncationPsi,
        });
        return { ws, planes: g.planes(ws, { noiseMode: "const", fusedModconv: true }).planes };
      })
    );
    return new SampleBatch(g, ws, planes, options.renderSeed);
  }

  /** Samples in the batch. */
  get size(): number {
    return this.ws.shape[0];
  }

  /** Renders sample i of the batch from camera `labels[i]` through `branch`. */
  async render(labels: readonly number[][], branch: Branch): Promise<RenderedView[]> {
    if (labels.length !== this.size) {
      throw new Error(`render: ${labels.length} cameras for ${this.size} samples`);
    }
    if (branch === "3d" && this.generator.config.kind !== "mimic3d") {
      throw new Error("the 3-D branch needs a Mimic3D generator (EG3D renders through SR only)");
    }
    const out = noGrad(() =>
      scope(() => branch === "3d" ? this.#renderDirect(labels) : this.#renderWithSr(labels))
    );
    try {
      const [image, depth, opacity] = await Promise.all(
        [out.image, out.depth, out.opacity].map((t) => t.read()),
      );
      const r = out.image.shape[3];
      const rd = out.depth.shape[3];
      return labels.map((label, i) => ({
        resolution: r,
        image: Float32Array.from(image.subarray(i * 3 * r * r, (i + 1) * 3 * r * r)),
        depthResolution: rd,
        depth: Float32Array.from(depth.subarray(i * rd * rd, (i + 1) * rd * rd)),
        opacity: Float32Array.from(opacity.subarray(i * rd * rd, (i + 1) * rd * rd)),
        label: [...label],
      }));
    } finally {
      for (const t of Object.values(out)) t.dispose();
    }
  }

  /** Releases the batch's GPU tensors. */
  dispose(): void {
    this.ws.dispose();
    for (const p of this.planes) p.dispose();
  }

  #rays(labels: readonly number[][], resolution: number) {
    return sampleRays(tensor(labels.flat(), [labels.length, 25]), resolution);
  }

  #renderWithSr(labels: readonly number[][]) {
    const g = this.generator;
    const r = g.config.neuralRenderingResolution;
    const rays = this.#rays(labels, r);
    const { image, depth, opacity } = g.renderView2d(
      this.planes[0],
      this.ws,
      rays,
      r,
      new Rng(this.renderSeed),
    );
    return { image, depth, opacity };
  }

  #renderDirect(labels: readonly number[][]) {
    const g = this.generator;
    const r = g.config.imgResolution;
    const rays = this.#rays(labels, r);
    const out = renderFused(
      this.planes,
      g.decoder,
      rays.origins,
      rays.directions,
      g.renderer.options,
      new Rng(this.renderSeed),
    );
    return {
      image: raysToImage(slice(out.rgb, [null, null, [0, 3]]), r),
      depth: raysToImage(out.depth, r),
      opacity: raysToImage(out.weightsSum, r),
    };
  }
}

/** A rendered view as 8-bit RGB, quantised as the original scripts do (x·127.5 + 128, clamped). */
export function viewToPixels(view: RenderedView): PixelImage {
  const r = view.resolution;
  const plane = r * r;
  const data = new Uint8Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) {
      const v = view.image[c * plane + i] * 127.5 + 128;
      data[i * 3 + c] = Math.min(255, Math.max(0, Math.floor(v)));
    }
  }
  return { width: r, height: r, channels: 3, data };
}
