/**
 * Memory scopes: every tensor created inside a scope is disposed when it ends,
 * except the tensors it returns and tensors marked `keep()`. A training step
 * runs in one scope, so its intermediates (and the autograd graph holding
 * them) are released deterministically, without relying on the JS GC.
 */
import { setTensorTracker, Tensor } from "./tensor.ts";

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

function release(created: Tensor[], result: unknown, outer: ((t: Tensor) => void) | null): void {
  const survivors = new Set<Tensor>();
  collectReturned(result, survivors);
  for (const t of created) {
    if (t.kept || survivors.has(t)) {
      outer?.(t); // survivors belong to the enclosing scope
      continue;
    }
    t.dispose();
  }
}

/** Starts tracking new tensors; the returned function ends the scope, releasing all but `result`'s. */
function openScope(): (result: unknown) => void {
  const created: Tensor[] = [];
  const outer = setTensorTracker((t) => created.push(t));
  return (result) => {
    setTensorTracker(outer);
    release(created, result, outer);
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
