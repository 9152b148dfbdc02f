/**
 * Reverse-mode autograd over the tape that ops record in `Tensor.gradFn`.
 *
 * Backward rules are written with the same differentiable ops as forward
 * code, so with `createGraph` the gradient is itself a graph and can be
 * differentiated again (R1 needs the gradient of a gradient norm).
 */
import { type GradFn, savedBy, setTensorTracker, type Tensor } from "./tensor.ts";
import { scope } from "./scope.ts";

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

/**
 * Whether `record` with these inputs attaches a gradient function: an op that makes extra
 * values for its backward (bias_act's mask) makes them only then.
 */
export function records(inputs: readonly Tensor[]): boolean {
  return gradEnabled && inputs.some((t) => t.requiresGrad);
}

/** Attaches `gradFn` to `out` when grad mode is on and an input requires a gradient. */
export function record(out: Tensor, gradFn: GradFn): Tensor {
  if (records(gradFn.inputs)) {
    out.requiresGrad = true;
    out.gradFn = gradFn;
  }
  return out;
}

/**
 * Told, during a backward pass, that the gradient of `inputs[index]` is final (no later
 * backward rule adds to it); null where the output does not depend on that input. Every
 * index is reported exactly once, most of them while later rules are still being recorded.
 */
export type GradReadyListener = (index: number, grad: Tensor | null) => void;

let gradReadyListener: GradReadyListener | null = null;

/**
 * Runs `fn` with `listener` told about the gradients of the backward pass it starts
 * (`grad`, or `gradAsync`, which yields) as each becomes final — so a caller can start
 * copying the first gradients (e.g. to another GPU's host) while the rest of the backward
 * is still recorded and executed. It does not change what is computed. The pass `fn` starts
 * synchronously takes the listener along; other code running while it waits does not see it.
 */
export async function withGradReadyListener<T>(
  listener: GradReadyListener,
  fn: () => Promise<T>,
): Promise<T> {
  const prev = gradReadyListener;
  gradReadyListener = listener;
  let running: Promise<T>;
  try {
    running = fn();
  } finally {
    gradReadyListener = prev;
  }
  return await running;
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
 *
 * Only nodes on a path to a wanted input are visited. Without `createGraph`,
 * each intermediate gradient this pass created is released as soon as nothing
 * refers to it any more, so a backward pass does not hold every activation's
 * gradient at once.
 */
export function computeGrads(
  output: Tensor,
  inputs: Tensor[],
  seed: Tensor,
  add: (a: Tensor, b: Tensor) => Tensor,
  createGraph: boolean,
): (Tensor | null)[] {
  const pass = startPass(output, inputs, seed, add, createGraph);
  for (;;) {
    const r = stepPass(pass);
    if (r.done) return r.value;
  }
}

/**
 * `computeGrads` without `createGraph`, awaiting between backward rules whatever `pause()`
 * returns (nothing: go on), so that work a grad-ready listener started (read-backs, a
 * data-parallel exchange) progresses while the rest of the pass is recorded; how to yield is
 * the caller's (stages/distributed/gradient_sync.ts turns the event loop). It records exactly
 * the commands `computeGrads` records; while it waits, grad mode and the memory-scope tracker
 * are the caller's, not the pass's.
 */
export async function computeGradsAsync(
  output: Tensor,
  inputs: Tensor[],
  seed: Tensor,
  add: (a: Tensor, b: Tensor) => Tensor,
  pause: () => Promise<void> | undefined,
): Promise<(Tensor | null)[]> {
  const pass = startPass(output, inputs, seed, add, false);
  for (;;) {
    const r = stepPass(pass);
    if (r.done) return r.value;
    const waiting = pause();
    if (waiting) await waiting;
  }
}

/** A backward pass in progress: one generator step per backward rule. */
interface Pass {
  steps: Generator<void, (Tensor | null)[], void>;
  /** Tensors the pass made: they, and only they, may be released early. */
  made: Set<Tensor>;
  createGraph: boolean;
}

function startPass(
  output: Tensor,
  inputs: Tensor[],
  seed: Tensor,
  add: (a: Tensor, b: Tensor) => Tensor,
  createGraph: boolean,
): Pass {
  const made = new Set<Tensor>();
  return { steps: backwardSteps(output, inputs, seed, add, createGraph, made), made, createGraph };
}

/** Runs the pass's next rule with its state: grad mode off (unless recorded), tensors noted. */
function stepPass(pass: Pass): IteratorResult<void, (Tensor | null)[]> {
  const outer = setTensorTracker((t) => {
    pass.made.add(t);
    outer?.(t);
  });
  try {
    return pass.createGraph ? pass.steps.next() : noGrad(() => pass.steps.next());
  } finally {
    setTensorTracker(outer);
  }
}

function* backwardSteps(
  output: Tensor,
  inputs: Tensor[],
  seed: Tensor,
  add: (a: Tensor, b: Tensor) => Tensor,
  createGraph: boolean,
  made: Set<Tensor>,
): Generator<void, (Tensor | null)[], void> {
  const listener = gradReadyListener;
  if (!output.requiresGrad) {
    inputs.forEach((_, i) => listener?.(i, null));
    return inputs.map(() => null);
  }
  const order = reverseTopological(output);
  const wanted = new Set(inputs.map((t) => t.id));
  const needed = new Set<number>();
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i];
    if (wanted.has(t.id) || t.gradFn?.inputs.some((x) => needed.has(x.id))) needed.add(t.id);
  }
  // For the listener: after which position of `order` no rule adds to an input's gradient.
  const finalAfter = new Map<number, number[]>();
  const lateInputs: number[] = [];
  if (listener) {
    const lastUse = new Map<number, number>();
    order.forEach((t, pos) => {
      if (!t.gradFn || !needed.has(t.id)) return;
      for (const x of t.gradFn.inputs) if (wanted.has(x.id)) lastUse.set(x.id, pos);
    });
    inputs.forEach((t, i) => {
      const pos = lastUse.get(t.id);
      if (pos === undefined) return void lateInputs.push(i);
      const list = finalAfter.get(pos);
      if (list) list.push(i);
      else finalAfter.set(pos, [i]);
    });
  }
  // Without createGraph, a value kept only for this pass (`savedOnly`) is released once the
  // last rule reading it has run, as PyTorch frees a graph's buffers during backward.
  const reads = new Map<Tensor, number>();
  if (!createGraph) {
    for (const t of order) {
      if (!t.gradFn || !needed.has(t.id)) continue;
      for (const s of savedBy(t)) if (s.savedOnly) reads.set(s, (reads.get(s) ?? 0) + 1);
    }
  }
  const refs = new Map<Tensor, number>();
  const grads = new Map<number, Tensor>();
  const release = (t: Tensor) => {
    const n = (refs.get(t) ?? 0) - 1;
    if (n > 0) return void refs.set(t, n);
    refs.delete(t);
    if (!createGraph && made.has(t)) t.dispose();
  };
  const put = (id: number, t: Tensor) => {
    const old = grads.get(id);
    grads.set(id, t);
    refs.set(t, (refs.get(t) ?? 0) + 1);
    if (old) release(old);
  };
  put(output.id, seed);
  for (let pos = 0; pos < order.length; pos++) {
    const t = order[pos];
    if (listener) {
      // Inputs whose last contribution came from the rule at pos - 1.
      for (const i of finalAfter.get(pos - 1) ?? []) {
        listener(i, grads.get(inputs[i].id) ?? null);
      }
    }
    const g = grads.get(t.id);
    if (!g || !t.gradFn || !needed.has(t.id)) continue;
    // In a scope: the rule's temporaries go when it returns (with createGraph, but what the
    // new graph reads).
    const rule = t.gradFn;
    const inGrads = scope(() => rule.backward(g));
    t.gradFn.inputs.forEach((inp, i) => {
      const gi = inGrads[i];
      if (!gi || !inp.requiresGrad || !needed.has(inp.id)) {
        if (gi && gi !== g && !refs.has(gi) && !createGraph && made.has(gi)) gi.dispose();
        return;
      }
      const prev = grads.get(inp.id);
      if (!prev) return put(inp.id, gi);
      put(inp.id, add(prev, gi));
      if (gi !== g && !refs.has(gi) && !createGraph && made.has(gi)) gi.dispose();
    });
    if (!wanted.has(t.id)) {
      grads.delete(t.id);
      release(g);
    }
    for (const s of reads.size ? savedBy(t) : []) {
      const n = reads.get(s);
      if (n === undefined) continue;
      if (n > 1) reads.set(s, n - 1);
      else {
        reads.delete(s);
        s.releaseValue();
      }
    }
    yield;
  }
  if (listener) {
    for (const i of finalAfter.get(order.length - 1) ?? []) {
      listener(i, grads.get(inputs[i].id) ?? null);
    }
    for (const i of lateInputs) listener(i, grads.get(inputs[i].id) ?? null);
  }
  return inputs.map((t) => grads.get(t.id) ?? null);
}
