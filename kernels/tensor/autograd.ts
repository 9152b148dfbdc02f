/**
 * Reverse-mode autograd over the tape that ops record in `Tensor.gradFn`.
 *
 * Backward rules are written with the same differentiable ops as forward
 * code, so with `createGraph` the gradient is itself a graph and can be
 * differentiated again (R1 needs the gradient of a gradient norm).
 */
import type { GradFn, Tensor } from "./tensor.ts";

let gradEnabled = true;

/** Whether ops currently record gradient functions. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording gradient functions (inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Attaches `gradFn` to `out` when grad mode is on and an input requires a gradient. */
export function record(out: Tensor, gradFn: GradFn): Tensor {
  if (gradEnabled && gradFn.inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.gradFn = gradFn;
  }
  return out;
}

/** Tensors reachable from `root` through gradFn inputs that require grad, in reverse topological order. */
function reverseTopological(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<number>();
  // Iterative DFS: graphs of deep networks exceed the JS call stack.
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root.id);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.gradFn?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const child = inputs[i];
      if (child.requiresGrad && !seen.has(child.id)) {
        seen.add(child.id);
        stack.push([child, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
  return order.reverse();
}

/**
 * Gradients of `output` w.r.t. each of `inputs` (null where `output` does not
 * depend on it), seeded with `seed` = ∂L/∂output. The public `grad` lives with
 * the ops (it needs `add` and `onesLike`).
 */
export function computeGrads(
  output: Tensor,
  inputs: Tensor[],
  seed: Tensor,
  add: (a: Tensor, b: Tensor) => Tensor,
  createGraph: boolean,
): (Tensor | null)[] {
  if (!output.requiresGrad) return inputs.map(() => null);
  const run = () => {
    const grads = new Map<number, Tensor>();
    grads.set(output.id, seed);
    for (const t of reverseTopological(output)) {
      const g = grads.get(t.id);
      if (!g || !t.gradFn) continue;
      const inGrads = t.gradFn.backward(g);
      t.gradFn.inputs.forEach((inp, i) => {
        const gi = inGrads[i];
        if (!gi || !inp.requiresGrad) return;
        const prev = grads.get(inp.id);
        grads.set(inp.id, prev ? add(prev, gi) : gi);
      });
    }
    return inputs.map((t) => grads.get(t.id) ?? null);
  };
  return createGraph ? run() : noGrad(run);
}
