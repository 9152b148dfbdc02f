/**
 * Memory scopes: every tensor created inside a scope is disposed when it ends,
 * except the tensors it returns, tensors marked `keep()`, and the values the
 * returned tensors' backward pass will read (`GradFn.saved`); intermediates the
 * backward only walks through lose their storage but stay graph nodes. A
 * training step runs in one scope, so its intermediates (and the autograd graph
 * holding them) are released deterministically, without relying on the JS GC;
 * scopes around layers inside it free what a layer's backward does not need as
 * soon as the layer returns, as PyTorch frees unsaved activations.
 */
import { nextTensorId, savedBy, setTensorTracker, Tensor } from "./tensor.ts";

function collectReturned(value: unknown, into: Set<Tensor>, depth = 0): void {
  if (depth > 8 || value === null || typeof value !== "object") return;
  if (value instanceof Tensor) {
    into.add(value);
    if (value.grad) into.add(value.grad);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectReturned(v, into, depth + 1);
  } else if (value instanceof Map) {
    for (const v of value.values()) collectReturned(v, into, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectReturned(v, into, depth + 1);
  }
}

/**
 * The tensors whose values a later backward pass reads (`GradFn.saved`), and the graph nodes
 * passed on the way, which must stay nodes even where their values go: found by walking the
 * graph back from the survivors through every tensor created since the scope opened (ids
 * from `firstId`), its inner scopes' included.
 */
function graphNeeds(roots: Iterable<Tensor>, firstId: number) {
  const saved = new Set<Tensor>();
  const nodes = new Set<Tensor>();
  const stack = [...roots];
  while (stack.length) {
    const t = stack.pop()!;
    if (nodes.has(t) || !t.gradFn) continue;
    nodes.add(t);
    for (const s of savedBy(t)) if (s.id >= firstId) saved.add(s);
    for (const x of t.gradFn.inputs) if (x.id >= firstId) stack.push(x);
  }
  return { saved, nodes };
}

/** Below this many elements a value is kept: recomputing it would cost more than it frees. */
const MIN_RECOMPUTED = 1 << 16;

/**
 * The values kept for a backward pass that are dropped now and computed again when read
 * (rematerialisation): values with a `Tensor.recipe` whose operands stay anyway (kept for the
 * backward or as parameters), or can be kept instead for less memory: operands created in this
 * scope whose sizes add up to at most half the value's (an aggregation of planes beside the
 * planes it reads), or that are small (a style vector beside the activations it scales). An
 * operand from an enclosing scope counts only when it is a parameter: that scope decides about
 * the rest. Adds the operands it keeps instead to `saved`.
 */
function chooseRecomputed(
  created: readonly Tensor[],
  firstId: number,
  survivors: ReadonlySet<Tensor>,
  saved: Set<Tensor>,
): Set<Tensor> {
  const chosen = new Set<Tensor>();
  for (const t of created) {
    const recipe = t.recipe;
    if (!recipe || t.size < MIN_RECOMPUTED || !saved.has(t) || survivors.has(t) || t.isDisposed) {
      continue;
    }
    const staying = (o: Tensor) =>
      !o.isDisposed &&
      (o.kept || o.size * 16 <= t.size ||
        (o.id >= firstId && (survivors.has(o) || (saved.has(o) && !chosen.has(o)))));
    const keepable = (o: Tensor) => !o.isDisposed && o.id >= firstId && !chosen.has(o);
    const others = recipe.operands.filter((o) => !staying(o));
    const extra = others.reduce((bytes, o) => bytes + o.size, 0);
    if (!others.every(keepable) || extra * 2 > t.size) continue;
    chosen.add(t);
    for (const o of recipe.operands) if (o.id >= firstId && !o.kept) saved.add(o);
  }
  return chosen;
}

function release(
  created: Tensor[],
  firstId: number,
  result: unknown,
  outer: ((t: Tensor) => void) | null,
): void {
  if (!created.length) return;
  const survivors = new Set<Tensor>();
  collectReturned(result, survivors);
  for (const t of created) if (t.kept) survivors.add(t);
  if (!created.some((t) => t.gradFn)) {
    // No graph (no grad mode: inference, backward rules): nothing is kept for later.
    for (const t of created) survivors.has(t) ? outer?.(t) : t.dispose();
    return;
  }
  const { saved, nodes } = graphNeeds(survivors, firstId);
  const recompute = chooseRecomputed(created, firstId, survivors, saved);
  for (const t of created) {
    if (survivors.has(t) || saved.has(t)) {
      if (!survivors.has(t)) t.savedOnly = true;
      if (recompute.has(t)) t.releaseForRecompute();
      outer?.(t); // survivors belong to the enclosing scope
    } else if (nodes.has(t)) {
      t.releaseValue();
    } else {
      t.dispose();
    }
  }
}

/** Starts tracking new tensors; the returned function ends the scope, releasing all but `result`'s. */
function openScope(): (result: unknown) => void {
  const created: Tensor[] = [];
  const firstId = nextTensorId();
  const outer = setTensorTracker((t) => created.push(t));
  return (result) => {
    setTensorTracker(outer);
    release(created, firstId, result, outer);
  };
}

/** Runs `fn`; disposes every tensor it created except returned and kept ones. */
export function scope<T>(fn: () => T): T {
  const close = openScope();
  let result: T | undefined;
  try {
    result = fn();
    return result;
  } finally {
    close(result);
  }
}

/**
 * The async form of `scope`. Scopes nest like a stack, so do not run two async
 * scopes concurrently.
 */
export async function scopeAsync<T>(fn: () => Promise<T>): Promise<T> {
  const close = openScope();
  let result: T | undefined;
  try {
    result = await fn();
    return result;
  } finally {
    close(result);
  }
}
