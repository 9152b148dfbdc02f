/**
 * Depthwise convolutions (groups = Cin = Cout: one kh×kw filter per channel), as direct kernels:
 * each thread sums the taps of R neighbouring outputs of a row in (ky, kx) order. The implicit GEMM has a
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

/** Outputs along x that one thread computes: neighbouring outputs share most of their taps. */
const R = 4;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * The kernel's size, stride and padding are constants, so the tap code is written out and
 * stride-1 index tests fold away (as parameters they cost the input gradient 3×). Each thread
 * takes R neighbouring outputs of one row: per filter row it loads the (R − 1)·stride + KW
 * inputs they share once, as scalars (the compilers keep arrays indexed in loops in local
 * memory), and adds the taps of every output in (ky, kx) order.
 */
function header(g: DepthwiseGeometry, names: [string, string, string]): string {
  const [input, , output] = names;
  return `// ${output === "y" ? "conv2d_depthwise" : "conv2d_depthwise_input_grad"}
@group(0) @binding(0) var<storage, read> ${input}: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read_write> ${output}: array<f32>;
${paramsDecl(3, 7)}
const KH = ${g.kh}; const KW = ${g.kw}; const SY = ${g.sy}; const SX = ${g.sx};
const PY = ${g.py}; const PX = ${g.px};
${ELEMENT_MAIN}
  let C = i32(P(1u)); let H = i32(P(2u)); let W = i32(P(3u));
  let OH = i32(P(4u)); let OW = i32(P(5u)); let XG = i32(P(6u));
${range(g.kh * g.kw).map((t) => `  var w${t} = 0.0;`).join("\n")}`;
}

/** WGSL: the filter of channel c as scalars w0…w{KH·KW−1}. */
function loadWeights(g: DepthwiseGeometry): string {
  return range(g.kh * g.kw).map((t) => `  w${t} = wt[c * ${g.kh * g.kw} + ${t}];`).join("\n");
}

/** WGSL: accumulators a0…a{R−1}, adding for filter row `ky` the taps from loaded scalars v. */
function addRow(g: DepthwiseGeometry, ky: number, tap: (r: number, kx: number) => number): string {
  return range(g.kw).flatMap((kx) =>
    range(R).map((r) => `      a${r} = a${r} + v${tap(r, kx)} * w${ky * g.kw + kx};`)
  ).join("\n");
}

/** y[n,c,oy,ox] = Σ x[n,c,oy·SY+ky−PY, ox·SX+kx−PX] · w[c,ky,kx] (zero outside). */
const forward = (g: DepthwiseGeometry) => {
  const loads = (R - 1) * g.sx + g.kw;
  return `${header(g, ["x", "wt", "y"])}
  let ox0 = (i32(i) % XG) * ${R};
  let oy = (i32(i) / XG) % OH;
  let plane = i32(i) / (XG * OH);
  let c = plane % C;
${loadWeights(g)}
${range(R).map((r) => `  var a${r} = 0.0;`).join("\n")}
  let ix0 = ox0 * SX - PX;
${
    range(g.kh).map((ky) =>
      `  {
    let iy = oy * SY + ${ky} - PY;
    if (iy >= 0 && iy < H) {
      let row = (plane * H + iy) * W;
${
        range(loads).map((j) =>
          `      let v${j} = select(0.0, x[row + clamp(ix0 + ${j}, 0, W - 1)], ix0 + ${j} >= 0 && ix0 + ${j} < W);`
        ).join("\n")
      }
${addRow(g, ky, (r, kx) => r * g.sx + kx)}
    }
  }`
    ).join("\n")
  }
  let dst = (plane * OH + oy) * OW + ox0;
${range(R).map((r) => `  if (ox0 + ${r} < OW) { y[dst + ${r}] = a${r}; }`).join("\n")}
}`;
};

/** dx[n,c,iy,ix] = Σ gy[n,c,oy,ox] · w[c,ky,kx] over the taps with oy·SY+ky−PY = iy (same for x). */
const inputGrad = (g: DepthwiseGeometry) => {
  // Output r's tap kx reads gy at position ix0 + r + PX − kx, loaded as v{r + KW − 1 − kx}.
  const loads = R + g.kw - 1;
  return `${header(g, ["gy", "wt", "dx"])}
  let ix0 = (i32(i) % XG) * ${R};
  let iy = (i32(i) / XG) % H;
  let plane = i32(i) / (XG * H);
  let c = plane % C;
${loadWeights(g)}
${range(R).map((r) => `  var a${r} = 0.0;`).join("\n")}
  let t0 = ix0 + PX - ${g.kw - 1};
${
    range(g.kh).map((ky) =>
      `  {
    let ty = iy + PY - ${ky};
    if (ty >= 0 && ty % SY == 0 && ty / SY < OH) {
      let row = (plane * OH + ty / SY) * OW;
${
        range(loads).map((j) =>
          `      let v${j} = select(0.0, gy[row + clamp((t0 + ${j}) / SX, 0, OW - 1)], t0 + ${j} >= 0 && (t0 + ${j}) % SX == 0 && (t0 + ${j}) / SX < OW);`
        ).join("\n")
      }
${addRow(g, ky, (r, kx) => r + g.kw - 1 - kx)}
    }
  }`
    ).join("\n")
  }
  let dst = (plane * H + iy) * W + ix0;
${range(R).map((r) => `  if (ix0 + ${r} < W) { dx[dst + ${r}] = a${r}; }`).join("\n")}
}`;
};

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
  const [, , rows, width] = out.shape;
  const groups = Math.ceil(width / R);
  const threads = g.n * g.cin * rows * groups;
  dispatch({
    kernel: kernel(
      forwards ? "conv2d_depthwise" : "conv2d_depthwise_input_grad",
      () => (forwards ? forward : inputGrad)(g),
      `${g.kh},${g.kw},${g.sy},${g.sx},${g.py},${g.px}`,
    ),
    buffers: [input.buffer, w.buffer, out.buffer],
    params: new Params().u32(threads, g.cin, g.h, g.w, g.oh, g.ow, groups).bytes(),
    workgroups: grid(threads),
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
