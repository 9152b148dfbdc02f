import {
  conv2d,
  conv2dInputGrad,
  type Conv2dOptions,
  conv2dWeightGrad,
  convTranspose2d,
} from "../../../kernels/ops/conv.ts";
import type { GemmTuning } from "../../../kernels/ops/gemm.ts";
import { grad } from "../../../kernels/ops/grad.ts";
import { mul } from "../../../kernels/ops/elementwise.ts";
import { sum } from "../../../kernels/ops/reduce.ts";
import { Tensor } from "../../../kernels/tensor/tensor.ts";
import { pendingDispatches, submit } from "../../../kernels/runtime/commands.ts";
import { scopeAsync } from "../../../kernels/tensor/scope.ts";
import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import {
  assertClose,
  assertGpuMatchesCpu,
  gradcheck,
  gradgradcheck,
  input,
  randomValues,
  setupGpu,
} from "../../helpers/check.ts";

await setupGpu();

interface Case {
  x: number[];
  w: number[];
  opts: Conv2dOptions;
}

const label = (c: Case) => `x[${c.x}] w[${c.w}] ${JSON.stringify(c.opts)}`;

const cases: Case[] = [
  { x: [2, 3, 7, 6], w: [4, 3, 3, 3], opts: { padding: 1 } },
  { x: [2, 4, 9, 8], w: [5, 4, 3, 3], opts: { stride: 2, padding: 1 } },
  { x: [1, 3, 8, 8], w: [2, 3, 3, 3], opts: { padding: 0 } },
  { x: [1, 4, 6, 6], w: [6, 2, 3, 3], opts: { padding: 2, groups: 2 } },
  // StyleGAN2's modulated conv: one group per sample.
  { x: [1, 12, 8, 8], w: [15, 4, 3, 3], opts: { padding: 1, groups: 3 } },
  // 1×1: odd plane (scalar path) and a plane of 16 pixels (vec4 path); strided 1×1.
  { x: [2, 6, 5, 5], w: [7, 6, 1, 1], opts: {} },
  { x: [1, 8, 4, 4], w: [4, 8, 1, 1], opts: {} },
  { x: [2, 3, 8, 8], w: [4, 3, 1, 1], opts: { stride: 2 } },
  // Non-square kernel, per-axis stride and padding.
  { x: [1, 2, 9, 7], w: [3, 2, 4, 3], opts: { stride: [2, 1], padding: [1, 2] } },
  // Full 128-row tiles (no bounds checks in M) and a long reduction (split K in the weight grad).
  { x: [1, 16, 16, 16], w: [128, 16, 3, 3], opts: { padding: 1 } },
  { x: [4, 3, 16, 16], w: [4, 3, 3, 3], opts: { padding: 1 } },
  // Channels per group a multiple of the tile depth: tap-major K order (strided, grouped, tails).
  { x: [2, 32, 7, 7], w: [32, 16, 3, 3], opts: { stride: 2, padding: 1, groups: 2 } },
  { x: [1, 16, 6, 5], w: [16, 16, 3, 3], opts: { padding: 2 } },
  // Strided, tap-major: the input gradient runs by output phases (4×3 kernel, stride [2, 3]).
  { x: [2, 16, 9, 11], w: [16, 16, 4, 3], opts: { stride: [2, 3], padding: [0, 1] } },
  // By phases: StyleGAN2's up-sampling shape (3×3, stride 2, odd input), and a phase with no
  // pixels (one input row at stride 2).
  { x: [2, 16, 9, 9], w: [8, 16, 3, 3], opts: { stride: 2 } },
  { x: [1, 16, 1, 5], w: [16, 16, 3, 3], opts: { stride: 2, padding: 1 } },
  // Depthwise (groups = Cin = Cout), strided, padded per axis.
  { x: [2, 5, 9, 8], w: [5, 1, 4, 4], opts: { stride: 2, padding: 1, groups: 5 } },
  { x: [1, 3, 7, 6], w: [3, 1, 3, 2], opts: { stride: [1, 2], padding: [2, 0], groups: 3 } },
];

Deno.test("conv2d: GPU forward, input and weight gradients match the float64 CPU path", async () => {
  let seed = 1;
  for (const c of cases) {
    await assertGpuMatchesCpu(label(c), (x, w) => conv2d(x, w, c.opts), [
      input(c.x, seed++),
      input(c.w, seed++),
    ]);
  }
});

Deno.test("conv2dInputGrad and conv2dWeightGrad: GPU matches CPU, gradients included", async () => {
  let seed = 50;
  for (const c of [...cases.slice(0, 5), ...cases.slice(-7)]) {
    const probe = conv2d(
      Tensor.fromData(new Float64Array(c.x.reduce((a, b) => a * b)), c.x, "cpu"),
      Tensor.fromData(new Float64Array(c.w.reduce((a, b) => a * b)), c.w, "cpu"),
      c.opts,
    );
    const y = [...probe.shape];
    await assertGpuMatchesCpu(
      `inputGrad ${label(c)}`,
      (gy, w) => conv2dInputGrad(gy, w, c.x, c.opts),
      [
        input(y, seed++),
        input(c.w, seed++),
      ],
    );
    await assertGpuMatchesCpu(
      `weightGrad ${label(c)}`,
      (x, gy) => conv2dWeightGrad(x, gy, c.w, c.opts),
      [
        input(c.x, seed++),
        input(y, seed++),
      ],
    );
  }
});

/** conv_transpose2d by its definition: every input pixel scatters w·x into the output. */
function convTransposeScatter(
  x: Float64Array,
  xs: number[],
  w: Float64Array,
  ws: number[],
  s: number,
  p: number,
  op: number,
  groups: number,
): { data: Float64Array; shape: number[] } {
  const [n, cin, h, wd] = xs;
  const [, coutG, kh, kw] = ws;
  const cinG = cin / groups;
  const oh = (h - 1) * s - 2 * p + kh + op;
  const ow = (wd - 1) * s - 2 * p + kw + op;
  const cout = coutG * groups;
  const out = new Float64Array(n * cout * oh * ow);
  for (let b = 0; b < n; b++) {
    for (let ci = 0; ci < cin; ci++) {
      const g = Math.floor(ci / cinG);
      for (let co = 0; co < coutG; co++) {
        for (let iy = 0; iy < h; iy++) {
          for (let ix = 0; ix < wd; ix++) {
            for (let ky = 0; ky < kh; ky++) {
              for (let kx = 0; kx < kw; kx++) {
                const y = iy * s - p + ky;
                const xx = ix * s - p + kx;
                if (y < 0 || y >= oh || xx < 0 || xx >= ow) continue;
                out[((b * cout + g * coutG + co) * oh + y) * ow + xx] +=
                  x[((b * cin + ci) * h + iy) * wd + ix] *
                  w[((ci * coutG + co) * kh + ky) * kw + kx];
              }
            }
          }
        }
      }
    }
  }
  return { data: out, shape: [n, cout, oh, ow] };
}

Deno.test("convTranspose2d: PyTorch's definition, output size and layout", async () => {
  const configs = [
    { xs: [1, 2, 3, 4], ws: [2, 3, 3, 3], s: 1, p: 0, op: 0, groups: 1 },
    { xs: [2, 4, 4, 3], ws: [4, 2, 3, 3], s: 2, p: 1, op: 1, groups: 2 },
    { xs: [1, 3, 5, 5], ws: [3, 2, 4, 4], s: 2, p: 1, op: 0, groups: 1 },
  ];
  let seed = 200;
  for (const c of configs) {
    const xv = randomValues(c.xs.reduce((a, b) => a * b), seed++);
    const wv = randomValues(c.ws.reduce((a, b) => a * b), seed++);
    const want = convTransposeScatter(xv, c.xs, wv, c.ws, c.s, c.p, c.op, c.groups);
    const opts = { stride: c.s, padding: c.p, outputPadding: c.op, groups: c.groups };
    for (const device of ["cpu", "gpu"] as const) {
      const y = convTranspose2d(
        Tensor.fromData(xv, c.xs, device),
        Tensor.fromData(wv, c.ws, device),
        opts,
      );
      assertEquals([...y.shape], want.shape);
      assertClose(await y.read(), want.data, `convTranspose2d ${JSON.stringify(c)} on ${device}`);
    }
  }
});

Deno.test("conv2d: finite-difference gradcheck of all three ops (CPU float64)", () => {
  const small: Case[] = [
    { x: [1, 2, 4, 4], w: [3, 2, 3, 3], opts: { padding: 1 } },
    { x: [2, 2, 5, 5], w: [2, 1, 3, 3], opts: { stride: 2, padding: 1, groups: 2 } },
    { x: [1, 3, 3, 3], w: [2, 3, 1, 1], opts: {} },
  ];
  let seed = 300;
  for (const c of small) {
    const y = [
      ...conv2d(
        Tensor.fromData(new Float64Array(c.x.reduce((a, b) => a * b)), c.x, "cpu"),
        Tensor.fromData(new Float64Array(c.w.reduce((a, b) => a * b)), c.w, "cpu"),
        c.opts,
      ).shape,
    ];
    gradcheck(`conv2d ${label(c)}`, (x, w) => conv2d(x, w, c.opts), [
      input(c.x, seed++),
      input(c.w, seed++),
    ]);
    gradcheck(`inputGrad ${label(c)}`, (gy, w) => conv2dInputGrad(gy, w, c.x, c.opts), [
      input(y, seed++),
      input(c.w, seed++),
    ]);
    gradcheck(`weightGrad ${label(c)}`, (x, gy) => conv2dWeightGrad(x, gy, c.w, c.opts), [
      input(c.x, seed++),
      input(y, seed++),
    ]);
  }
});

Deno.test("conv2d: second order (R1): ∂‖∂L/∂x‖²/∂w by finite differences, and GPU vs CPU", async () => {
  const c: Case = { x: [2, 2, 5, 5], w: [3, 2, 3, 3], opts: { stride: 2, padding: 1 } };
  const cg: Case = { x: [1, 4, 4, 4], w: [4, 2, 3, 3], opts: { padding: 1, groups: 2 } };
  gradgradcheck(label(c), (x, w) => conv2d(x, w, c.opts), [input(c.x, 400), input(c.w, 401)]);
  gradgradcheck(label(cg), (x, w) => conv2d(x, w, cg.opts), [input(cg.x, 402), input(cg.w, 403)]);
  for (const k of [c, cg]) {
    const secondOrder = (device: "gpu" | "cpu") =>
      scopeAsync(async () => {
        const x = Tensor.fromData(randomValues(k.x.reduce((a, b) => a * b), 410), k.x, device);
        const w = Tensor.fromData(randomValues(k.w.reduce((a, b) => a * b), 411), k.w, device);
        x.requiresGrad = true;
        w.requiresGrad = true;
        const y = conv2d(x, w, k.opts);
        const W = Tensor.fromData(randomValues(y.size, 412), y.shape, device);
        const [gx] = grad(sum(mul(y, W)), [x], { createGraph: true });
        const [gw] = grad(sum(mul(gx!, gx!)), [w]);
        return await gw!.read();
      });
    assertClose(
      await secondOrder("gpu"),
      await secondOrder("cpu"),
      `second order ${label(k)} GPU vs CPU`,
    );
  }
});

// Tap-major where not tuned away: strided and grouped (input gradient by phases), and unstrided.
const tunedCases: Case[] = [
  { x: [2, 32, 7, 7], w: [32, 16, 3, 3], opts: { stride: 2, padding: 1, groups: 2 } },
  { x: [1, 16, 6, 5], w: [16, 16, 3, 3], opts: { padding: 2 } },
];

Deno.test("conv2d: tuned kernels and the gradients they pass the tuning to match the CPU path", async () => {
  // A GPU-sized tile on any adapter, bounds checks everywhere, channel-major K, rows-first staging.
  const tunings: GemmTuning[] = [
    { tile: { bm: 32, bn: 32, bk: 16, tm: 4, tn: 4 }, forceChecks: true },
    { tapMajor: false },
    { rowsFirstStaging: true },
    { rowsFirstStaging: false },
  ];
  let seed = 300;
  for (const tuning of tunings) {
    for (const c of tunedCases) {
      await assertGpuMatchesCpu(
        `${label(c)} ${JSON.stringify(tuning)}`,
        (x, w) => conv2d(x, w, { ...c.opts, tuning }),
        [input(c.x, seed++), input(c.w, seed++)],
      );
    }
  }
});

Deno.test("conv2d: a strided input gradient runs all its phases in one GEMM dispatch", async () => {
  const gy = Tensor.fromData(randomValues(2 * 16 * 4 * 4, 600), [2, 16, 4, 4]);
  const w = Tensor.fromData(randomValues(16 * 8 * 3 * 3, 601), [16, 8, 3, 3]);
  submit();
  const dx = conv2dInputGrad(gy, w, [2, 8, 9, 9], { stride: 2 });
  // The weights permuted tap-major once, then one GEMM for the four phases (it was 4 GEMMs, each
  // after its own slice and permute).
  assertEquals(pendingDispatches(), 2);
  await dx.read();
});

Deno.test("conv2d: split-K weight gradient is bit-identical run to run", async () => {
  const x = Tensor.fromData(randomValues(4 * 3 * 16 * 16, 500), [4, 3, 16, 16]);
  const gy = Tensor.fromData(randomValues(4 * 4 * 16 * 16, 501), [4, 4, 16, 16]);
  const a = await conv2dWeightGrad(x, gy, [4, 3, 3, 3], { padding: 1 }).read();
  const b = await conv2dWeightGrad(x, gy, [4, 3, 3, 3], { padding: 1 }).read();
  assertEquals(Array.from(a), Array.from(b));
});

Deno.test("conv2d: shape errors say what is expected", async () => {
  const x = Tensor.fromData(new Float64Array(2 * 3 * 4 * 4), [2, 3, 4, 4], "cpu");
  const w = Tensor.fromData(new Float64Array(4 * 2 * 3 * 3), [4, 2, 3, 3], "cpu");
  await assertThrows(() => conv2d(x, w), "groups=1 needs 2");
  const w3 = Tensor.fromData(new Float64Array(4 * 3 * 5 * 5), [4, 3, 5, 5], "cpu");
  await assertThrows(() => conv2d(x, w3), "larger than the padded input");
  const gy = Tensor.fromData(new Float64Array(2 * 4 * 3 * 3), [2, 4, 3, 3], "cpu");
  const w1 = Tensor.fromData(new Float64Array(4 * 3 * 3 * 3), [4, 3, 3, 3], "cpu");
  await assertThrows(
    () => conv2dInputGrad(gy, w1, [2, 3, 4, 4], { padding: 1 }),
    "expected shape [2,4,4,4]",
  );
});
