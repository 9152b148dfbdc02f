/**
 * The Tensor: a shape over contiguous storage on the GPU (float32) or on the
 * CPU (float64, the reference backend used by tests and gradient checks).
 *
 * Views share storage (only `reshape` is a view; every other movement op
 * copies). Storage is reference-counted and released explicitly, through
 * `dispose()` or memory scopes (`scope.ts`), never by the JS garbage collector.
 */
import { acquireBuffer, releaseBuffer } from "../runtime/buffer_pool.ts";
import { readBuffer, uploadBuffer } from "../runtime/commands.ts";

/** Element types. GPU float tensors are f32; i32 holds indices and integer draws. */
export type DType = "f32" | "i32";
/** Where a tensor lives: the GPU, or the float64 CPU reference backend. */
export type Device = "gpu" | "cpu";

/** Backing memory shared by a tensor and its views. */
export type Storage =
  | { kind: "gpu"; buffer: GPUBuffer; refs: number }
  | { kind: "cpu"; data: Float64Array; refs: number };

/** How a tensor was produced, for autograd: its inputs and the rule giving their gradients. */
export interface GradFn {
  name: string;
  inputs: Tensor[];
  /** Gradients w.r.t. `inputs` (null where an input needs none), written with differentiable ops. */
  backward(grad: Tensor): (Tensor | null)[];
  /**
   * The tensors whose values `backward` reads: some inputs, the output, or tensors it
   * captured (an argmax). Omitted: every input and the output. Memory scopes keep exactly
   * these alive for the backward pass and release the other intermediates at once.
   */
  saved?: Tensor[];
}

let nextId = 1;

/** The id the next tensor will get: ids grow with creation, so they tell what came after. */
export function nextTensorId(): number {
  return nextId;
}
type Tracker = (t: Tensor) => void;
let tracker: Tracker | null = null;

/** Installs the function told about every new tensor (used by memory scopes). */
export function setTensorTracker(t: Tracker | null): Tracker | null {
  const prev = tracker;
  tracker = t;
  return prev;
}

/**
 * The values `t`'s backward rule reads (GradFn.saved; all inputs and `t` when not declared),
 * and for a value to be recomputed, the operands it is recomputed from.
 */
export function savedBy(t: Tensor): Tensor[] {
  const fn = t.gradFn!;
  const saved = fn.saved ?? [...fn.inputs, t];
  if (!saved.some((s) => s.recomputed)) return saved;
  const all: Tensor[] = [];
  const add = (s: Tensor) => {
    all.push(s);
    if (s.recomputed) s.recipe!.operands.forEach(add);
  };
  saved.forEach(add);
  return all;
}

/** How to compute a tensor's value again from its operands (a cheap element-wise op). */
export interface Recipe {
  operands: Tensor[];
  /** A new tensor with the same value, computed without recording a gradient. */
  run(): Tensor;
}

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a contiguous shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly size: number;
  readonly dtype: DType;
  #storage: Storage;
  requiresGrad = false;
  gradFn: GradFn | null = null;
  /** Accumulated gradient of a leaf after `backward()`. */
  grad: Tensor | null = null;
  /** A name for error messages and checkpoints (parameters). */
  name = "";
  /** Kept tensors survive the memory scope that created them. */
  kept = false;
  /**
   * Outlived its memory scope only because a backward pass reads it (`GradFn.saved`): no
   * code can reach it but the graph, so that pass releases it once the last reader has run.
   */
  savedOnly = false;
  /** Set by element-wise ops that record a gradient: lets a scope drop the value and recompute it. */
  recipe: Recipe | null = null;
  /** The value was released to be recomputed from `recipe` when a backward rule reads it. */
  recomputed = false;
  private disposed = false;

  constructor(storage: Storage, shape: readonly number[], dtype: DType = "f32") {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape [${shape.join(", ")}]`);
    }
    this.#storage = storage;
    this.shape = Object.freeze([...shape]);
    this.size = numel(shape);
    this.dtype = dtype;
    storage.refs++;
    tracker?.(this);
  }

  /** Backing memory (shared with views). */
  get storage(): Storage {
    return this.#storage;
  }

  get device(): Device {
    return this.storage.kind;
  }
  get rank(): number {
    return this.shape.length;
  }
  get isDisposed(): boolean {
    return this.disposed;
  }

  /** The GPU buffer (throws for CPU tensors and disposed tensors). */
  get buffer(): GPUBuffer {
    this.assertLive();
    if (this.storage.kind !== "gpu") throw new Error("tensor is on the CPU, not the GPU");
    return this.storage.buffer;
  }

  /** The float64 data of a CPU tensor. */
  get cpuData(): Float64Array {
    this.assertLive();
    if (this.storage.kind !== "cpu") throw new Error("tensor is on the GPU: use read() or toCpu()");
    return this.storage.data;
  }

  assertLive(): void {
    if (this.disposed && this.recomputed) this.recompute();
    if (this.disposed) {
      throw new Error(
        `tensor #${this.id}${this.name ? ` '${this.name}'` : ""} [${this.shape}] was disposed ` +
          "(released by a memory scope?) and is used again",
      );
    }
  }

  /** Marks the tensor as surviving memory scopes (parameters, optimizer state, results). */
  keep(): this {
    this.kept = true;
    return this;
  }

  /** Releases this tensor's reference to its storage. Idempotent. */
  dispose(): void {
    this.gradFn = null;
    this.recipe = null;
    this.recomputed = false;
    this.releaseValue();
  }

  /** Releases the value, to be computed again from `recipe` when next read. */
  releaseForRecompute(): void {
    if (!this.recipe) throw new Error(`tensor #${this.id}: no recipe to recompute it from`);
    this.recomputed = true;
    this.releaseValue();
  }

  private recompute(): void {
    const fresh = this.recipe!.run();
    this.#storage = fresh.storage;
    this.#storage.refs++;
    fresh.dispose();
    this.disposed = false;
  }

  /**
   * Releases the storage but stays a node of the autograd graph: for intermediates that a
   * backward pass walks through without reading their values. Idempotent.
   */
  releaseValue(): void {
    if (this.disposed) return;
    this.disposed = true;
    const s = this.storage;
    if (--s.refs === 0 && s.kind === "gpu") releaseBuffer(s.buffer);
  }

  /** Copies the values to the host as float32 (GPU) or float64 (CPU) numbers. */
  async read(): Promise<Float32Array | Int32Array | Float64Array> {
    this.assertLive();
    if (this.storage.kind === "cpu") return this.storage.data.slice(0, this.size);
    const bytes = await readBuffer(this.storage.buffer, 0, this.size * 4);
    return this.dtype === "i32" ? new Int32Array(bytes) : new Float32Array(bytes);
  }

  /** A float64 CPU copy (for comparisons against the reference backend). */
  async toCpu(): Promise<Tensor> {
    const data = Float64Array.from(await this.read());
    return Tensor.fromData(data, this.shape, "cpu", this.dtype);
  }

  /** A GPU copy of this tensor (rounded to float32). */
  async toGpu(): Promise<Tensor> {
    return Tensor.fromData(await this.read(), this.shape, "gpu", this.dtype);
  }

  /** A new tensor from host values, on the given device. */
  static fromData(
    values: ArrayLike<number>,
    shape: readonly number[],
    device: Device = "gpu",
    dtype: DType = "f32",
  ): Tensor {
    const n = numel(shape);
    if (values.length !== n) {
      throw new Error(`${values.length} values for shape [${shape.join(", ")}] (${n} elements)`);
    }
    if (device === "cpu") {
      const data = Float64Array.from(values);
      if (dtype === "i32") { for (let i = 0; i < n; i++) data[i] = Math.trunc(data[i]); }
      return new Tensor({ kind: "cpu", data, refs: 0 }, shape, dtype);
    }
    const typed = dtype === "i32" ? Int32Array.from(values) : Float32Array.from(values);
    return new Tensor({ kind: "gpu", buffer: uploadBuffer(typed), refs: 0 }, shape, dtype);
  }

  /** An uninitialised tensor (kernels write every element). */
  static empty(shape: readonly number[], device: Device = "gpu", dtype: DType = "f32"): Tensor {
    const n = numel(shape);
    if (device === "cpu") {
      return new Tensor({ kind: "cpu", data: new Float64Array(n), refs: 0 }, shape, dtype);
    }
    return new Tensor({ kind: "gpu", buffer: acquireBuffer(n * 4), refs: 0 }, shape, dtype);
  }

  /** A view with another shape over the same storage (same number of elements). */
  viewAs(shape: readonly number[]): Tensor {
    this.assertLive();
    return new Tensor(this.storage, shape, this.dtype);
  }

  toString(): string {
    return `Tensor#${this.id}(${this.device}, ${this.dtype}, [${this.shape.join(", ")}])`;
  }
}
