import { matmul, type MatmulOptions } from "../../../kernels/ops/matmul.ts";
import { Tensor } from "../../../kernels/tensor/tensor.ts";
import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import {
  assertClose,
  assertGpuMatchesCpu,
  gradcheck,
  gradgradcheck,
  input,
  setupGpu,
} from "../../helpers/check.ts";

await setupGpu();

interface Case {
  a: number[];
  b: number[];
  opts?: MatmulOptions;
}

const mm = (opts: MatmulOptions = {}) => (a: Tensor, b: Tensor) => matmul(a, b, opts);
const label = (c: Case) =>
  `[${c.a}]${c.opts?.transA ? "ᵀ" : ""}·[${c.b}]${c.opts?.transB ? "ᵀ" : ""}`;

// Odd sizes, tile tails, M/N = 1, K not a multiple of 4 or of the tile depth, vec4 paths.
const gpuCases: Case[] = [
  { a: [1, 1], b: [1, 1] },
  { a: [1, 9], b: [9, 1] },
  { a: [5, 7], b: [7, 3] },
  { a: [33, 17], b: [17, 65] },
  { a: [64, 64], b: [64, 64] },
  { a: [128, 20], b: [20, 128] },
  { a: [7, 5], b: [7, 6], opts: { transA: true } },
  { a: [12, 8], b: [12, 16], opts: { transA: true } },
  { a: [6, 9], b: [4, 9], opts: { transB: true } },
  { a: [6, 8], b: [16, 8], opts: { transB: true } },
  { a: [9, 6], b: [5, 9], opts: { transA: true, transB: true } },
  // Batches: equal, broadcast on either side, rank difference.
  { a: [3, 4, 5], b: [3, 5, 6] },
  { a: [2, 1, 5, 6], b: [3, 6, 4] },
  { a: [5, 6], b: [2, 3, 6, 4] },
  { a: [2, 6, 5], b: [1, 7, 6], opts: { transA: true, transB: true } },
];

Deno.test("matmul: GPU forward and backward match the float64 CPU path", async () => {
  let seed = 1;
  for (const c of gpuCases) {
    await assertGpuMatchesCpu(label(c), mm(c.opts), [input(c.a, seed++), input(c.b, seed++)]);
  }
});

Deno.test("matmul: split-K over a long K matches the CPU path", async () => {
  await assertGpuMatchesCpu("[3,4100]·[4100,5]", mm(), [input([3, 4100], 7), input([4100, 5], 8)]);
});

// Tile tails, a stored-transposed A, a broadcast batch.
const tunedCases: Case[] = [
  { a: [33, 17], b: [17, 65] },
  { a: [12, 8], b: [12, 16], opts: { transA: true } },
  { a: [2, 1, 5, 6], b: [3, 6, 4] },
];

Deno.test("matmul: tuned kernels and the gradients they pass the tuning to match the CPU path", async () => {
  // A GPU-sized tile on any adapter with bounds checks everywhere; k-fast A staged rows-first.
  const tile = { bm: 32, bn: 32, bk: 16, tm: 4, tn: 4 };
  const tunings = [{ tile, forceChecks: true }, { rowsFirstStaging: true }];
  let seed = 100;
  for (const tuning of tunings) {
    for (const c of tunedCases) {
      const inputs = [input(c.a, seed++), input(c.b, seed++)];
      await assertGpuMatchesCpu(
        `${label(c)} ${JSON.stringify(tuning)}`,
        mm({ ...c.opts, tuning }),
        inputs,
      );
    }
  }
});

Deno.test("matmul: 2-D result is the textbook product", async () => {
  const a = Tensor.fromData([1, 2, 3, 4, 5, 6], [2, 3]);
  const b = Tensor.fromData([7, 8, 9, 10, 11, 12], [3, 2]);
  const c = matmul(a, b);
  assertEquals(c.shape, [2, 2]);
  assertClose(await c.read(), [58, 64, 139, 154], "product", { atol: 0, rtol: 0 });
});

Deno.test("matmul: finite-difference gradcheck (CPU float64)", () => {
  const cases: Case[] = [
    { a: [3, 4], b: [4, 2] },
    { a: [4, 3], b: [4, 2], opts: { transA: true } },
    { a: [3, 4], b: [2, 4], opts: { transB: true } },
    { a: [2, 1, 3, 4], b: [3, 4, 2] },
    { a: [4, 3], b: [2, 1, 2, 4], opts: { transA: true, transB: true } },
  ];
  let seed = 100;
  for (const c of cases) gradcheck(label(c), mm(c.opts), [input(c.a, seed++), input(c.b, seed++)]);
});

Deno.test("matmul: second-order gradcheck (CPU float64)", () => {
  gradgradcheck("x·w", mm(), [input([3, 4], 11), input([4, 2], 12)]);
  gradgradcheck("xᵀ·wᵀ", mm({ transA: true, transB: true }), [
    input([4, 3], 13),
    input([2, 4], 14),
  ]);
});

Deno.test("matmul: shape errors name the shapes", async () => {
  const a = Tensor.fromData(new Float64Array(6), [2, 3], "cpu");
  const b = Tensor.fromData(new Float64Array(8), [4, 2], "cpu");
  await assertThrows(() => matmul(a, b), "inner sizes differ");
  await assertThrows(() => matmul(Tensor.fromData([1, 2], [2], "cpu"), b), "rank ≥ 2");
});
