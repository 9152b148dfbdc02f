/**
 * Depthwise convolutions (groups = Cin = Cout: one kh×kw filter per channel), as direct kernels:
 * one thread per output element summing its taps in (ky, kx) order. The implicit GEMM has a
 * single row per group here (M = 1), so it used 1/64 of its tile; the resampling filters of
 * upfirdn2d and the discriminator's blur are such convolutions (BENCHMARKS.md, "Convolutions
 * shape by shape").
 */
import { Tensor } from "../tensor/tensor.ts";
import { kernel } from "../runtime/kernel_cache.ts";
import { dispatch } from "../runtime/commands.ts";
import { ELEMENT_MAIN, grid, Params, paramsDecl } from "./params.ts";

/** The sizes a depthwise convolution needs: x [n, c, h, w] → y [n, c, oh, ow]. */
export interface DepthwiseGeometry {
  n: number;
  cin: number;
  h: number;
  w: number;
  oh: number;
  ow: number;
  kh: number;
  kw: number;
  sy: number;
  sx: number;
  py: number;
  px: number;
}

const SIZES = ["C", "H", "W", "OH", "OW"];

/**
 * Sizes as parameters; the kernel's size, stride and padding as constants, so the tap loops
 * unroll and stride-1 index tests fold away (as parameters they cost the input gradient 3×).
 */
function prelude(g: DepthwiseGeometry): string {
  return `const KH = ${g.kh}; const KW = ${g.kw}; const SY = ${g.sy}; const SX = ${g.sx};
const PY = ${g.py}; const PX = ${g.px};`;
}

const sizes = SIZES.map((name, i) => `let ${name} = i32(P(${i + 1}u));`).join(" ");

/** y[n,c,oy,ox] = Σ x[n,c,oy·SY+ky−PY, ox·SX+kx−PX] · w[c,ky,kx] (zero outside). */
const forward = (g: DepthwiseGeometry) =>
  `// conv2d_depthwise
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${paramsDecl(3, 6)}
${prelude(g)}
${ELEMENT_MAIN}
  ${sizes}
  let ox = i32(i) % OW;
  let oy = (i32(i) / OW) % OH;
  let plane = i32(i) / (OW * OH);
  let c = plane % C;
  let src = plane * H * W;
  var acc = 0.0;
  for (var ky = 0; ky < KH; ky++) {
    let iy = oy * SY + ky - PY;
    if (iy < 0 || iy >= H) { continue; }
    for (var kx = 0; kx < KW; kx++) {
      let ix = ox * SX + kx - PX;
      if (ix < 0 || ix >= W) { continue; }
      acc = acc + x[src + iy * W + ix] * wt[(c * KH + ky) * KW + kx];
    }
  }
  y[i] = acc;
}`;

/** dx[n,c,iy,ix] = Σ gy[n,c,oy,ox] · w[c,ky,kx] over the taps with oy·SY+ky−PY = iy (same for x). */
const inputGrad = (g: DepthwiseGeometry) =>
  `// conv2d_depthwise_input_grad
@group(0) @binding(0) var<storage, read> gy: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
${paramsDecl(3, 6)}
${prelude(g)}
${ELEMENT_MAIN}
  ${sizes}
  let ix = i32(i) % W;
  let iy = (i32(i) / W) % H;
  let plane = i32(i) / (W * H);
  let c = plane % C;
  let src = plane * OH * OW;
  var acc = 0.0;
  for (var ky = 0; ky < KH; ky++) {
    let ty = iy + PY - ky;
    if (ty < 0 || ty % SY != 0 || ty / SY >= OH) { continue; }
    for (var kx = 0; kx < KW; kx++) {
      let tx = ix + PX - kx;
      if (tx < 0 || tx % SX != 0 || tx / SX >= OW) { continue; }
      acc = acc + gy[src + (ty / SY) * OW + tx / SX] * wt[(c * KH + ky) * KW + kx];
    }
  }
  dx[i] = acc;
}`;

function run(
  op: "forward" | "input_grad",
  input: Tensor,
  w: Tensor,
  g: DepthwiseGeometry,
  shape?: () => string,
) {
  const forwards = op === "forward";
  const out = Tensor.empty(forwards ? [g.n, g.cin, g.oh, g.ow] : [g.n, g.cin, g.h, g.w]);
  if (out.size === 0) return out;
  dispatch({
    kernel: kernel(
      forwards ? "conv2d_depthwise" : "conv2d_depthwise_input_grad",
      () => (forwards ? forward : inputGrad)(g),
      `${g.kh},${g.kw},${g.sy},${g.sx},${g.py},${g.px}`,
    ),
    buffers: [input.buffer, w.buffer, out.buffer],
    params: new Params().u32(out.size, g.cin, g.h, g.w, g.oh, g.ow).bytes(),
    workgroups: grid(out.size),
    shape,
    flops: 2 * g.n * g.cin * g.oh * g.ow * g.kh * g.kw,
  });
  return out;
}

/** Whether a convolution is depthwise: every group one input and one output channel. */
export function isDepthwise(g: DepthwiseGeometry & { cout: number; groups: number }): boolean {
  return g.groups > 1 && g.groups === g.cin && g.groups === g.cout;
}

/** The depthwise convolution of x [n, c, h, w] with w [c, 1, kh, kw] (GPU tensors). */
export function depthwiseForward(
  x: Tensor,
  w: Tensor,
  g: DepthwiseGeometry,
  shape?: () => string,
): Tensor {
  return run("forward", x, w, g, shape);
}

/** Its gradient w.r.t. x, from gy [n, c, oh, ow]. */
export function depthwiseInputGrad(
  gy: Tensor,
  w: Tensor,
  g: DepthwiseGeometry,
  shape?: () => string,
): Tensor {
  return run("input_grad", gy, w, g, shape);
}
