/**
 * StyleGAN2's mapping network as EG3D uses it: z (normalised) and the camera
 * label c (embedded, normalised) are concatenated, mapped by `numLayers`
 * lrelu FC layers to w, broadcast to `numWs` copies, and optionally truncated
 * towards the tracked average w_avg.
 */
import {
  add,
  assign,
  concat,
  type Device,
  expand,
  FullyConnected,
  mean,
  Module,
  mul,
  noGrad,
  reshape,
  type Rng,
  rsqrt,
  scope,
  slice,
  square,
  sub,
  type Tensor,
  zeros,
} from "../../kernels/mod.ts";

/** x·rsqrt(mean(x², dim 1) + 1e−8). */
export function normalize2ndMoment(x: Tensor): Tensor {
  return mul(x, rsqrt(add(mean(square(x), 1, { keepDims: true }), 1e-8)));
}

/** Configuration of `MappingNetwork` (names as the original's constructor). */
export interface MappingConfig {
  zDim: number;
  cDim: number;
  wDim: number;
  /** Copies of w to broadcast to; null returns [N, wDim] (the discriminator's label mapping). */
  numWs: number | null;
  numLayers?: number;
  lrMultiplier?: number;
  embedFeatures?: number;
  layerFeatures?: number;
  wAvgBeta?: number;
  device?: Device;
}

/** Options of a forward pass. */
export interface MappingForward {
  truncationPsi?: number;
  /** Truncate only the first `truncationCutoff` ws (null = all). */
  truncationCutoff?: number | null;
  /** Track the average w (training). */
  updateEmas?: boolean;
}

/** z, c → ws [N, numWs, wDim]. Parameters: embed.*, fc{i}.*, buffer w_avg. */
export class MappingNetwork extends Module {
  readonly embed: FullyConnected | null;
  readonly layers: FullyConnected[] = [];
  /** Tracked average w (generators only: numWs not null). */
  readonly wAvg: Tensor | null;

  constructor(readonly config: MappingConfig, rng: Rng) {
    super();
    const { zDim, cDim, wDim, device = "gpu" } = config;
    const numLayers = config.numLayers ?? 8;
    const embedFeatures = config.embedFeatures ?? (cDim === 0 ? 0 : wDim);
    const layerFeatures = config.layerFeatures ?? wDim;
    this.embed = cDim > 0
      ? this.child("embed", new FullyConnected(cDim, embedFeatures, rng, { device }))
      : null;
    const features = [zDim + embedFeatures, ...Array(numLayers - 1).fill(layerFeatures), wDim];
    for (let i = 0; i < numLayers; i++) {
      this.layers.push(
        this.child(
          `fc${i}`,
          new FullyConnected(features[i], features[i + 1], rng, {
            activation: "lrelu",
            lrMultiplier: config.lrMultiplier ?? 0.01,
            device,
          }),
        ),
      );
    }
    this.wAvg = config.numWs === null ? null : this.buffer("w_avg", zeros([wDim], device));
  }

  forward(z: Tensor | null, c: Tensor | null, options: MappingForward = {}): Tensor {
    return scope(() => {
      const parts: Tensor[] = [];
      if (this.config.zDim > 0) {
        if (!z) throw new Error("mapping: z is required (z_dim > 0)");
        parts.push(normalize2ndMoment(z));
      }
      if (this.embed) {
        if (!c) throw new Error("mapping: c is required (c_dim > 0)");
        parts.push(normalize2ndMoment(this.embed.forward(c)));
      }
      let x = parts.length === 1 ? parts[0] : concat(parts, 1);
      for (const fc of this.layers) x = fc.forward(x);
      const wAvg = this.wAvg;
      if (!wAvg || this.config.numWs === null) return x;
      if (options.updateEmas) {
        const beta = this.config.wAvgBeta ?? 0.998;
        // w_avg ← mean(x) + β·(w_avg − mean(x))  (torch.lerp)
        noGrad(() => {
          const m = mean(x, 0);
          assign(wAvg, add(m, mul(sub(wAvg, m), beta)));
        });
      }
      const n = x.shape[0];
      const numWs = this.config.numWs;
      let ws = expand(reshape(x, [n, 1, this.config.wDim]), [n, numWs, this.config.wDim]);
      const psi = options.truncationPsi ?? 1;
      if (psi !== 1) {
        const cutoff = options.truncationCutoff ?? null;
        const truncated = add(wAvg, mul(sub(ws, wAvg), psi));
        if (cutoff === null) ws = truncated;
        else {
          ws = concat([
            slice(truncated, [null, [0, cutoff]]),
            slice(ws, [null, [cutoff, numWs]]),
          ], 1);
        }
      }
      return ws;
    });
  }
}
