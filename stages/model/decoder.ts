/**
 * EG3D's OSGDecoder: sampled tri-plane features [N, 3, M, C] are averaged over
 * the planes and mapped by FC(C→hidden) → softplus → FC(hidden→1+out).
 * Density σ is the raw first channel (the ray marcher applies softplus(σ−1));
 * the other channels get MipNeRF's widened sigmoid, sigmoid·(1+2·0.001) − 0.001.
 * Ray directions are ignored, as in the original.
 */
import {
  type Device,
  FullyConnected,
  mean,
  Module,
  mul,
  reshape,
  scope,
  sigmoid,
  slice,
  softplus,
  sub,
  type Tensor,
} from "../../kernels/mod.ts";
import type { Rng } from "../../kernels/mod.ts";

/** Configuration of `OSGDecoder`. */
export interface DecoderConfig {
  /** Channels per plane (32 in EG3D). */
  nFeatures: number;
  /** Feature channels out (32; the first 3 are RGB). */
  outputDim: number;
  hiddenDim?: number;
  lrMultiplier?: number;
  device?: Device;
}

/** Decoder outputs per sample point. */
export interface DecodedSamples {
  /** [N, M, outputDim] in (−0.001, 1.001). */
  rgb: Tensor;
  /** [N, M, 1], raw density. */
  sigma: Tensor;
}

/** The OSG decoder. Parameters: `net.0.weight/bias`, `net.2.weight/bias` (state_dict names). */
export class OSGDecoder extends Module {
  readonly hidden: FullyConnected;
  readonly output: FullyConnected;
  readonly hiddenDim: number;

  constructor(readonly config: DecoderConfig, rng: Rng) {
    super();
    this.hiddenDim = config.hiddenDim ?? 64;
    const options = { lrMultiplier: config.lrMultiplier ?? 1, device: config.device };
    this.hidden = this.child(
      "net.0",
      new FullyConnected(config.nFeatures, this.hiddenDim, rng, options),
    );
    this.output = this.child(
      "net.2",
      new FullyConnected(this.hiddenDim, 1 + config.outputDim, rng, options),
    );
  }

  /** Decodes `sampledFeatures` [N, 3, M, C]. */
  forward(sampledFeatures: Tensor): DecodedSamples {
    return scope(() => this.decodeMean(mean(sampledFeatures, 1)));
  }

  /** Decodes features already averaged over the planes, [N, M, C]. */
  decodeMean(features: Tensor): DecodedSamples {
    return scope(() => {
      const [n, m, c] = features.shape;
      const x = reshape(features, [n * m, c]);
      const y = reshape(this.output.forward(softplus(this.hidden.forward(x))), [n, m, -1]);
      const sigma = slice(y, [null, null, [0, 1]]);
      const rgb = sub(
        mul(sigmoid(slice(y, [null, null, [1, 1 + this.config.outputDim]])), 1 + 2 * 0.001),
        0.001,
      );
      return { rgb, sigma };
    });
  }
}
