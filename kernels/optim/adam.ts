/**
 * Adam (Kingma & Ba), exactly as torch.optim.Adam computes it:
 *   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,
 *   p ← p − (lr/(1−β₁ᵗ)) · m / (√v/√(1−β₂ᵗ) + ε)
 * One fused in-place kernel per parameter, optionally sanitising the gradient first. Its state
 * (m, v, step) is plain tensors and numbers, so it checkpoints with the model.
 */
import type { Tensor } from "../tensor/tensor.ts";
import { kernel } from "../runtime/kernel_cache.ts";
import { dispatch } from "../runtime/commands.ts";
import { ELEMENT_MAIN, grid, Params, paramsDecl } from "../ops/params.ts";
import { zerosLike } from "../ops/creation.ts";
import {
  type NanToNumOptions,
  nanToNumReplacements,
  nanToNumValue,
  nanToNumWgsl,
} from "../ops/nan_to_num.ts";

// Params: count, lr/(1−β₁ᵗ), β₁, β₂, ε, √(1−β₂ᵗ), then nan_to_num's replacements.
const adamSource = (sanitize: boolean) =>
  `// adam_step
@group(0) @binding(0) var<storage, read_write> p: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
${paramsDecl(4, sanitize ? 9 : 6)}
${sanitize ? nanToNumWgsl(6) : ""}
${ELEMENT_MAIN}
  let b1 = PF(2u); let b2 = PF(3u);
  let gi = ${sanitize ? "nanToNum(g[i])" : "g[i]"};
  let mi = b1 * m[i] + (1.0 - b1) * gi;
  let vi = b2 * v[i] + (1.0 - b2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  p[i] = p[i] - PF(1u) * mi / (sqrt(vi) / PF(5u) + PF(4u));
}`;

/** Hyper-parameters of Adam. */
export interface AdamOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  /** Pass gradients through `nanToNum` with these replacements first (in the same kernel). */
  sanitize?: NanToNumOptions;
}

/** Serializable optimizer state. */
export interface AdamState {
  step: number;
  m: Tensor[];
  v: Tensor[];
}

/** Adam over a fixed list of parameters (updated in place). */
export class Adam {
  lr: number;
  betas: [number, number];
  eps: number;
  readonly sanitize: NanToNumOptions | null;
  step = 0;
  readonly m: Tensor[];
  readonly v: Tensor[];

  constructor(readonly params: Tensor[], options: AdamOptions) {
    this.lr = options.lr;
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.sanitize = options.sanitize ?? null;
    this.m = params.map((p) => zerosLike(p).keep());
    this.v = params.map((p) => zerosLike(p).keep());
  }

  /** Applies one update with `grads` (null entries are skipped, as params without .grad in torch). */
  update(grads: (Tensor | null)[]): void {
    this.step++;
    const [b1, b2] = this.betas;
    const bc1 = 1 - b1 ** this.step;
    const bc2 = 1 - b2 ** this.step;
    this.params.forEach((p, i) => {
      const g = grads[i];
      if (!g) return;
      if (g.size !== p.size) {
        throw new Error(`Adam: gradient [${g.shape}] for parameter [${p.shape}]`);
      }
      const m = this.m[i];
      const v = this.v[i];
      if (p.device === "cpu") {
        const pd = p.cpuData, md = m.cpuData, vd = v.cpuData;
        const s = this.sanitize;
        const gd = s ? g.cpuData.map((x) => nanToNumValue(x, s)) : g.cpuData;
        for (let j = 0; j < p.size; j++) {
          md[j] = b1 * md[j] + (1 - b1) * gd[j];
          vd[j] = b2 * vd[j] + (1 - b2) * gd[j] * gd[j];
          pd[j] -= (this.lr / bc1) * md[j] / (Math.sqrt(vd[j]) / Math.sqrt(bc2) + this.eps);
        }
        return;
      }
      const s = this.sanitize;
      const params = new Params().u32(p.size).f32(this.lr / bc1, b1, b2, this.eps, Math.sqrt(bc2));
      if (s) params.f32(...nanToNumReplacements(s));
      dispatch({
        kernel: kernel("adam_step", () => adamSource(s !== null), String(s !== null)),
        buffers: [p.buffer, g.buffer, m.buffer, v.buffer],
        params: params.bytes(),
        workgroups: grid(p.size),
      });
    });
  }

  /** Step count and moment tensors (for checkpoints). */
  state(): AdamState {
    return { step: this.step, m: this.m, v: this.v };
  }
}
