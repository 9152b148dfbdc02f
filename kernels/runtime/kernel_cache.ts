/**
 * Compute pipelines compiled once per WGSL source. Compilation and validation
 * errors are collected asynchronously (WebGPU reports them through error
 * scopes) and thrown by the next `flush`, naming the op that owns the shader.
 */
import { gpu } from "./device.ts";

/** A compiled compute kernel. */
export interface Kernel {
  readonly op: string;
  readonly pipeline: GPUComputePipeline;
  /** The pipeline's bind group layout (asked once: the call is not free). */
  readonly layout: GPUBindGroupLayout;
}

/** A WGSL compile or validation failure, naming the op. */
export class KernelError extends Error {
  constructor(op: string, message: string) {
    super(`op '${op}': WGSL error: ${message}`);
    this.name = "KernelError";
  }
}

const cache = new Map<string, Kernel>();
const byKey = new Map<string, Kernel>();
const pendingChecks: Promise<void>[] = [];
const errors: Error[] = [];

/**
 * Returns the pipeline for this WGSL source (entry point `main`), compiling it
 * on first use. Generated shaders pass a function and a short `key` that
 * determines the source, so the hot path neither builds nor hashes the text.
 */
export function kernel(op: string, wgsl: string | (() => string), key?: string): Kernel {
  if (key !== undefined) {
    const k = byKey.get(`${op}|${key}`);
    if (k) return k;
  }
  const source = typeof wgsl === "string" ? wgsl : wgsl();
  const k = compile(op, source);
  if (key !== undefined) byKey.set(`${op}|${key}`, k);
  return k;
}

function compile(op: string, wgsl: string): Kernel {
  const hit = cache.get(wgsl);
  if (hit) return hit;
  const { device } = gpu();
  device.pushErrorScope("validation");
  const module = device.createShaderModule({ code: wgsl, label: op });
  const pipeline = device.createComputePipeline({
    layout: "auto",
    compute: { module, entryPoint: "main" },
    label: op,
  });
  pendingChecks.push(
    device.popErrorScope().then((e) => {
      if (e) errors.push(new KernelError(op, e.message));
    }),
  );
  const k = { op, pipeline, layout: pipeline.getBindGroupLayout(0) };
  cache.set(wgsl, k);
  return k;
}

/** Records an error found asynchronously elsewhere (e.g. a batch's validation scope). */
export function reportGpuError(err: Error): void {
  errors.push(err);
}

/** Waits for outstanding shader checks and throws the first error found, if any. */
export async function throwPendingErrors(): Promise<void> {
  if (pendingChecks.length) await Promise.all(pendingChecks.splice(0));
  const first = errors.shift();
  if (first) {
    errors.length = 0;
    throw first;
  }
}

/** Number of distinct pipelines compiled so far (for tests and profiling). */
export function compiledKernelCount(): number {
  return cache.size;
}
