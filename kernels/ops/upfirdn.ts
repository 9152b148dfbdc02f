/**
 * upfirdn as one op: upsample by zero insertion, pad (negative values crop), correlate every
 * channel with one small 2-D kernel, keep every `down`-th output. Its gradient is the same op
 * with up and down swapped, the kernel turned 180° and the padding mirrored, so gradients of
 * any order (R1 through the discriminator's resampling) are this op again, and it keeps
 * nothing for its backward: it is linear in x.
 *
 * On the GPU a thread computes R neighbouring outputs of a row: per kernel row it loads the
 * inputs they share once as scalars, skips the inserted zeros at compile time, and adds the
 * taps of every output in (ky, kx) order. The kernel's taps travel in the uniform block, so a
 * kernel that changes every step (the discriminator's fading blur) compiles nothing new.
 */
import { record } from "../tensor/autograd.ts";
import { Tensor } from "../tensor/tensor.ts";
import { kernel } from "../runtime/kernel_cache.ts";
import { dispatch } from "../runtime/commands.ts";
import { ELEMENT_MAIN, grid, Params, paramsDecl, range } from "./params.ts";

/** A correlation kernel shared by all channels: taps [height, width] in row-major order. */
export interface FirKernel {
  taps: Float64Array;
  height: number;
  width: number;
}

/** Resampling factors and padding [left, right, top, bottom] (x then y, as the original). */
export interface UpFirDnGeometry {
  up: number;
  down: number;
  padding: [number, number, number, number];
}

/** Outputs along x that one thread computes: neighbouring outputs share most of their taps. */
const R = 4;

/** Output size along one axis: input `size` upsampled, padded by `p0`, `p1`, filtered by `k`. */
function outSize(size: number, up: number, down: number, p0: number, p1: number, k: number) {
  return Math.floor((size * up + p0 + p1 - k) / down) + 1;
}

/**
 * WGSL of one geometry. Input position q (in the upsampled, padded frame) of output o and tap
 * k is o·down + k; it holds x[(q − pad0) / up] when that divides and lies inside, else zero.
 */
function source(fir: FirKernel, g: UpFirDnGeometry): string {
  const { up, down } = g;
  const [px0, , py0] = g.padding;
  const loads = (R - 1) * down + fir.width;
  // ox0·down is a multiple of up (ox0 is a multiple of R) when up divides R·down: then which
  // loads are inserted zeros is known here, and the rest read x at a fixed offset from xb.
  const staticZeros = (R * down) % up === 0;
  const load = (j: number) => {
    const q = j - px0;
    if (staticZeros) {
      if (((q % up) + up) % up !== 0) return null;
      const at = `xb + ${q / up}`;
      return `select(0.0, x[row + clamp(${at}, 0, W - 1)], ${at} >= 0 && ${at} < W)`;
    }
    const at = `ox0 * ${down} + ${q}`;
    return `select(0.0, x[row + clamp((${at}) / ${up}, 0, W - 1)], ${at} >= 0 && (${at}) % ${up} == 0 && (${at}) / ${up} < W)`;
  };
  const loaded = range(loads).map(load);
  const rows = range(fir.height).map((ky) => {
    const adds = range(fir.width).flatMap((kx) =>
      range(R).flatMap((r) =>
        loaded[r * down + kx] === null
          ? []
          : [`      a${r} = a${r} + v${r * down + kx} * PF(${6 + ky * fir.width + kx}u);`]
      )
    );
    if (adds.length === 0) return "";
    return `  {
    let iy = oy * ${down} + ${ky - py0};
    if (iy >= 0 && iy % ${up} == 0 && iy / ${up} < H) {
      let row = (plane * H + iy / ${up}) * W;
${loaded.map((v, j) => (v === null ? "" : `      let v${j} = ${v};\n`)).join("")}${adds.join("\n")}
    }
  }`;
  });
  return `// upfirdn
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
${paramsDecl(2, 6 + fir.taps.length)}
${ELEMENT_MAIN}
  let H = i32(P(1u)); let W = i32(P(2u)); let OH = i32(P(3u)); let OW = i32(P(4u));
  let XG = i32(P(5u));
  let ox0 = (i32(i) % XG) * ${R};
  let oy = (i32(i) / XG) % OH;
  let plane = i32(i) / (XG * OH);
  let xb = ox0 * ${down} / ${up};
${range(R).map((r) => `  var a${r} = 0.0;`).join("\n")}
${rows.filter(Boolean).join("\n")}
  let dst = (plane * OH + oy) * OW + ox0;
${range(R).map((r) => `  if (ox0 + ${r} < OW) { y[dst + ${r}] = a${r}; }`).join("\n")}
}`;
}

function runOnGpu(x: Tensor, fir: FirKernel, g: UpFirDnGeometry, oh: number, ow: number) {
  const [n, c, h, w] = x.shape;
  const y = Tensor.empty([n, c, oh, ow]);
  if (y.size === 0) return y;
  const groups = Math.ceil(ow / R);
  const threads = n * c * oh * groups;
  dispatch({
    kernel: kernel(
      "upfirdn",
      () => source(fir, g),
      `${fir.height}x${fir.width}|${g.up}|${g.down}|${g.padding[0]}|${g.padding[2]}`,
    ),
    buffers: [x.buffer, y.buffer],
    params: new Params().u32(threads, h, w, oh, ow, groups).f32(...fir.taps).bytes(),
    workgroups: grid(threads),
    shape: () =>
      `N${n} C${c} H${h} W${w} k${fir.height}x${fir.width} up${g.up} down${g.down} pad${g.padding}`,
    flops: 2 * y.size * fir.height * fir.width / (g.up * g.up),
  });
  return y;
}

function runOnCpu(x: Tensor, fir: FirKernel, g: UpFirDnGeometry, oh: number, ow: number) {
  const [n, c, h, w] = x.shape;
  const [px0, , py0] = g.padding;
  const src = x.cpuData;
  const out = new Float64Array(n * c * oh * ow);
  for (let plane = 0; plane < n * c; plane++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let acc = 0;
        for (let ky = 0; ky < fir.height; ky++) {
          const qy = oy * g.down + ky - py0;
          if (qy < 0 || qy % g.up !== 0 || qy / g.up >= h) continue;
          for (let kx = 0; kx < fir.width; kx++) {
            const qx = ox * g.down + kx - px0;
            if (qx < 0 || qx % g.up !== 0 || qx / g.up >= w) continue;
            acc += src[(plane * h + qy / g.up) * w + qx / g.up] * fir.taps[ky * fir.width + kx];
          }
        }
        out[(plane * oh + oy) * ow + ox] = acc;
      }
    }
  }
  return Tensor.fromData(out, [n, c, oh, ow], "cpu");
}

/** The kernel turned 180°: the adjoint's kernel. */
function rotated(fir: FirKernel): FirKernel {
  return { ...fir, taps: fir.taps.slice().reverse() };
}

/**
 * upfirdn of x [N, C, H, W] with `fir` (correlation, not convolution: the caller flips a
 * filter it means to convolve with) → [N, C, OH, OW].
 */
export function upFirDn(x: Tensor, fir: FirKernel, g: UpFirDnGeometry): Tensor {
  if (x.rank !== 4) throw new Error(`upFirDn: x must be [N, C, H, W], got [${x.shape}]`);
  if (fir.taps.length !== fir.height * fir.width) {
    throw new Error(`upFirDn: ${fir.taps.length} taps for a ${fir.height}×${fir.width} kernel`);
  }
  const { up, down } = g;
  const [px0, px1, py0, py1] = g.padding;
  const [, , h, w] = x.shape;
  const oh = outSize(h, up, down, py0, py1, fir.height);
  const ow = outSize(w, up, down, px0, px1, fir.width);
  if (!(up >= 1 && down >= 1 && oh >= 1 && ow >= 1)) {
    throw new Error(
      `upFirDn: no output for x [${x.shape}], up ${up}, down ${down}, pad ${g.padding}`,
    );
  }
  const y = x.device === "cpu" ? runOnCpu(x, fir, g, oh, ow) : runOnGpu(x, fir, g, oh, ow);
  return record(y, {
    name: "upfirdn",
    inputs: [x],
    saved: [],
    backward: (gy) => [
      upFirDn(gy, rotated(fir), {
        up: down,
        down: up,
        padding: [
          fir.width - px0 - 1,
          w * up - ow * down + px0 - up + 1,
          fir.height - py0 - 1,
          h * up - oh * down + py0 - up + 1,
        ],
      }),
    ],
  });
}
