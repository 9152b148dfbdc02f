/**
 * StyleGAN2's FullyConnectedLayer with equalized learning rate: weights are
 * stored as N(0,1)/lr_mul and scaled at run time by lr_mul/√fan_in, biases by
 * lr_mul, so every layer learns at the same effective rate.
 */
import { scope } from "../tensor/scope.ts";
import type { Device, Tensor } from "../tensor/tensor.ts";
import { add, mul } from "../ops/elementwise.ts";
import { full } from "../ops/creation.ts";
import { matmul } from "../ops/matmul.ts";
import type { Rng } from "../ops/random.ts";
import { Module } from "./module.ts";
import { type Activation, biasAct } from "./bias_act.ts";

/** Options of `FullyConnected`. */
export interface FullyConnectedOptions {
  bias?: boolean;
  activation?: Activation;
  lrMultiplier?: number;
  biasInit?: number;
  /** Where the parameters live (the CPU backend is for float64 checks). */
  device?: Device;
}

/** y = act(x·(W·g)ᵀ + b·lr_mul). Parameter names: `weight` [out, in], `bias` [out]. */
export class FullyConnected extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly activation: Activation;
  readonly weightGain: number;
  readonly biasGain: number;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    rng: Rng,
    options: FullyConnectedOptions = {},
  ) {
    super();
    const lr = options.lrMultiplier ?? 1;
    this.activation = options.activation ?? "linear";
    const device = options.device ?? "gpu";
    const w = rng.normal([outFeatures, inFeatures], device);
    this.weight = this.param("weight", lr === 1 ? w : mul(w, 1 / lr));
    if (lr !== 1) w.dispose();
    this.bias = options.bias ?? true
      ? this.param("bias", full([outFeatures], options.biasInit ?? 0, device))
      : null;
    this.weightGain = lr / Math.sqrt(inFeatures);
    this.biasGain = lr;
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const w = mul(this.weight, this.weightGain);
      const b = this.bias && (this.biasGain !== 1 ? mul(this.bias, this.biasGain) : this.bias);
      const y = matmul(x, w, { transB: true });
      if (this.activation === "linear") return b ? add(y, b) : y;
      return biasAct(y, b, { act: this.activation, dim: y.rank - 1 });
    });
  }
}
