/**
 * Modules: named parameters and buffers in a tree, addressed exactly like a
 * PyTorch `state_dict()` ("fc0.weight", "b32.torgb.affine.bias"), so original
 * checkpoints load by plain copy and fixtures compare by name.
 */
import type { Tensor } from "../tensor/tensor.ts";
import { assign } from "../ops/assign.ts";

export abstract class Module {
  private readonly ownTensors = new Map<string, { tensor: Tensor; trainable: boolean }>();
  private readonly children = new Map<string, Module>();

  /** Registers a trainable parameter (kept across memory scopes, requires grad). */
  protected param(name: string, t: Tensor): Tensor {
    t.keep().requiresGrad = true;
    t.name = name;
    this.ownTensors.set(name, { tensor: t, trainable: true });
    return t;
  }

  /** Registers a buffer: state that is saved and loaded but not trained (w_avg, noise_const). */
  protected buffer(name: string, t: Tensor): Tensor {
    t.keep();
    t.name = name;
    this.ownTensors.set(name, { tensor: t, trainable: false });
    return t;
  }

  /** Registers a child module under `name`. */
  protected child<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** Every parameter and buffer, state_dict order and naming. */
  stateDict(prefix = ""): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [n, e] of this.ownTensors) out.set(prefix + n, e.tensor);
    for (const [n, c] of this.children) {
      for (const [k, v] of c.stateDict(`${prefix}${n}.`)) out.set(k, v);
    }
    return out;
  }

  /** Trainable parameters only. */
  parameters(prefix = ""): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [n, e] of this.ownTensors) if (e.trainable) out.set(prefix + n, e.tensor);
    for (const [n, c] of this.children) {
      for (const [k, v] of c.parameters(`${prefix}${n}.`)) out.set(k, v);
    }
    return out;
  }

  /**
   * Copies values by name from `state` into this module's tensors (in place,
   * so references held elsewhere stay valid; shapes must match). With `strict`,
   * missing and unexpected names are errors listing them.
   */
  loadStateDict(state: Map<string, Tensor>, { strict = true, prefix = "" } = {}): void {
    const mine = this.stateDict();
    if (strict) {
      const missing = [...mine.keys()].filter((k) => !state.has(prefix + k));
      const unexpected = [...state.keys()].filter((k) =>
        k.startsWith(prefix) && !mine.has(k.slice(prefix.length))
      );
      if (missing.length || unexpected.length) {
        throw new Error(
          `state dict mismatch: missing [${missing.join(", ")}], unexpected [${
            unexpected.join(", ")
          }]`,
        );
      }
    }
    this.copyFrom(state, prefix);
  }

  private copyFrom(state: Map<string, Tensor>, prefix: string): void {
    for (const [n, e] of this.ownTensors) {
      const src = state.get(prefix + n);
      if (!src) continue;
      if (src.shape.join() !== e.tensor.shape.join()) {
        throw new Error(`'${prefix + n}': shape [${src.shape}] does not match [${e.tensor.shape}]`);
      }
      assign(e.tensor, src);
    }
    for (const [n, c] of this.children) c.copyFrom(state, `${prefix}${n}.`);
  }
}
