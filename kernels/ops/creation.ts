/** Tensors made from nothing: constants, host data. */
import { type Device, numel, Tensor } from "../tensor/tensor.ts";
import { kernel } from "../runtime/kernel_cache.ts";
import { dispatch } from "../runtime/commands.ts";
import { flatIndex, grid, Params, paramsDecl, WG } from "./params.ts";

const FILL = `// fill
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
${paramsDecl(1, 2)}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${flatIndex()};
  if (i < P(0u)) { out[i] = PF(1u); }
}`;

/** A tensor of `shape` filled with `value`. */
export function full(shape: readonly number[], value: number, device: Device = "gpu"): Tensor {
  const out = Tensor.empty(shape, device);
  const n = numel(shape);
  if (device === "cpu") out.cpuData.fill(value);
  else if (n) {
    dispatch({
      kernel: kernel("fill", FILL),
      buffers: [out.buffer],
      params: new Params().u32(n).f32(value).bytes(),
      workgroups: grid(n),
    });
  }
  return out;
}

/** Zeros of `shape`. */
export const zeros = (shape: readonly number[], device: Device = "gpu"): Tensor =>
  full(shape, 0, device);
/** Ones of `shape`. */
export const ones = (shape: readonly number[], device: Device = "gpu"): Tensor =>
  full(shape, 1, device);
/** Zeros shaped and placed like `t`. */
export const zerosLike = (t: Tensor): Tensor => full(t.shape, 0, t.device);
/** Ones shaped and placed like `t`. */
export const onesLike = (t: Tensor): Tensor => full(t.shape, 1, t.device);

/** A tensor from host values (f32 on the GPU, float64 on the CPU). */
export function tensor(
  values: ArrayLike<number>,
  shape?: readonly number[],
  device: Device = "gpu",
): Tensor {
  return Tensor.fromData(values, shape ?? [values.length], device);
}

/** A scalar tensor. */
export function scalar(value: number, device: Device = "gpu"): Tensor {
  return Tensor.fromData([value], [], device);
}
