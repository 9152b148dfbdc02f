/**
 * StyleGAN2's Conv2dLayer: equalized-lr convolution (weight · 1/√(Cin·k²)),
 * optional up/down resampling through the [1,3,3,1] filter, then bias_act
 * with the layer's activation. The caller's `gain` multiplies the activation
 * gain and the clamp, as in the original.
 */
import { scope } from "../tensor/scope.ts";
import type { Device, Tensor } from "../tensor/tensor.ts";
import { mul } from "../ops/elementwise.ts";
import { zeros } from "../ops/creation.ts";
import type { Rng } from "../ops/random.ts";
import { Tensor as TensorClass } from "../tensor/tensor.ts";
import { Module } from "./module.ts";
import { type Activation, biasAct, defaultGain } from "./bias_act.ts";
import { type Filter, setupFilter } from "./upfirdn2d.ts";
import { conv2dResample } from "./conv2d_resample.ts";

/** Options of `Conv2dLayer`. */
export interface Conv2dLayerOptions {
  bias?: boolean;
  activation?: Activation;
  up?: number;
  down?: number;
  /** Clamp of the output (scaled by the call's gain); null = none. */
  convClamp?: number | null;
  device?: Device;
}

/** Parameters: weight [out, in, k, k], bias [out]; buffer resample_filter [4, 4]. */
export class Conv2dLayer extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly filter: Filter;
  readonly weightGain: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    rng: Rng,
    readonly options: Conv2dLayerOptions = {},
  ) {
    super();
    const device = options.device ?? "gpu";
    this.filter = setupFilter([1, 3, 3, 1]);
    this.buffer("resample_filter", TensorClass.fromData(this.filter.taps, [4, 4], device));
    this.weight = this.param(
      "weight",
      rng.normal([outChannels, inChannels, kernelSize, kernelSize], device),
    );
    this.bias = options.bias ?? true ? this.param("bias", zeros([outChannels], device)) : null;
    this.weightGain = 1 / Math.sqrt(inChannels * kernelSize * kernelSize);
  }

  forward(x: Tensor, gain = 1): Tensor {
    return scope(() => {
      const act = this.options.activation ?? "linear";
      const y = conv2dResample(x, mul(this.weight, this.weightGain), this.filter, {
        up: this.options.up ?? 1,
        down: this.options.down ?? 1,
        padding: Math.floor(this.kernelSize / 2),
      });
      const clamp = this.options.convClamp ?? null;
      return biasAct(y, this.bias, {
        act,
        gain: defaultGain(act) * gain,
        clamp: clamp === null ? null : clamp * gain,
      });
    });
  }
}
