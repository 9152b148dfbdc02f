/**
 * Kernel benchmarks: matmul, 3×3 conv (forward, input grad, weight grad),
 * element-wise bandwidth, dispatch overhead, and (on request) a sweep of GEMM
 * tile shapes. Prints a table and writes JSON to bench/results/.
 *
 *   deno task bench                      all default sections
 *   deno task bench -- --only matmul,conv
 *   deno task bench -- --quick           tiny sizes (CPU adapter)
 *   deno task bench -- --only tiles      GEMM tile sweep (matmul 4096², conv 3×3)
 *   deno task bench -- --only modconv    modulated conv, grouped vs activation-scaled, at
 *                                        the ffhq512 training shapes (forward, forward + backward)
 *   deno task bench -- --only upconv     the up-sampling layers' 3×3 stride-2 transposed convs
 *                                        (the input gradient by phases) at the ffhq512 shapes
 */
import {
  add,
  conv2d,
  conv2dInputGrad,
  conv2dWeightGrad,
  convTranspose2d,
  flush,
  type GemmTile,
  type GemmTuning,
  gpu,
  grad,
  initGpu,
  matmul,
  modulatedConv2d,
  mul,
  scope,
  sum,
  Tensor,
  tileFits,
  TILES,
} from "../kernels/mod.ts";
import { timeGpu, type Timing, wallMs } from "./timing.ts";
import { saveResults } from "./results.ts";

/** PyTorch/cuBLAS/cuDNN anchors on the H100 (bench/BASELINES.md), TFLOP/s fp32, TF32 off. */
const ANCHORS = { cublasMatmul4096: 51.6, cudnnConv3x3: 41.9 };

interface Row {
  section: string;
  name: string;
  ms: number;
  value: number;
  unit: string;
  clock: string;
  note?: string;
}

const args = Deno.args.filter((a) => a !== "--");
const quick = args.includes("--quick");
const onlyAt = args.indexOf("--only");
const only = onlyAt >= 0 ? new Set(args[onlyAt + 1]?.split(",") ?? []) : null;
const DEFAULT_SECTIONS = ["matmul", "conv", "elementwise", "dispatch"];
const wanted = (section: string) => (only ? only.has(section) : DEFAULT_SECTIONS.includes(section));
const RUNS = 10;
const TIMING = { samples: RUNS, warmupMs: quick ? 50 : 1000 };

await initGpu();
const rows: Row[] = [];

/** Deterministic pseudo-random float32 data (fast enough for 64M elements). */
function randomTensor(shape: number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 2147483648 - 1;
  }
  return Tensor.fromData(data, shape);
}

function report(
  section: string,
  name: string,
  t: Timing,
  value: number,
  unit: string,
  note?: string,
): void {
  const row = { section, name, ms: t.ms, value, unit, clock: t.clock, note };
  rows.push(row);
  const v = value >= 100 ? value.toFixed(0) : value.toPrecision(3);
  console.log(
    `${section.padEnd(12)} ${name.padEnd(44)} ${t.ms.toFixed(3).padStart(10)} ms  ${
      v.padStart(8)
    } ${unit}${note ? `  ${note}` : ""}`,
  );
}

const tflops = (flop: number, t: Timing) => flop / (t.ms * 1e-3) / 1e12;
const pct = (v: number, anchor: number) => `${((100 * v) / anchor).toFixed(0)}% of ${anchor}`;

async function benchMatmul(
  n: number,
  section = "matmul",
  note?: string,
  transA = false,
  tuning?: GemmTuning,
): Promise<number> {
  const a = randomTensor([n, n], 1);
  const b = randomTensor([n, n], 2);
  const t = await timeGpu(() => matmul(a, b, { transA, tuning }), TIMING);
  a.dispose();
  b.dispose();
  const v = tflops(2 * n ** 3, t);
  const anchorNote = n === 4096 ? pct(v, ANCHORS.cublasMatmul4096) + " (cuBLAS)" : undefined;
  report(
    section,
    `${n}×${n}·${n}×${n}${note ? ` ${note}` : ""}`,
    t,
    v * 1000,
    "GFLOP/s",
    anchorNote,
  );
  return v;
}

interface ConvCase {
  x: number[];
  cout: number;
}

async function benchConv(
  c: ConvCase,
  section = "conv",
  note = "",
  which = ["fwd", "dx", "dw"],
  tuning?: GemmTuning,
): Promise<void> {
  const [n, cin, h, w] = c.x;
  const x = randomTensor(c.x, 3);
  const wt = randomTensor([c.cout, cin, 3, 3], 4);
  const gy = randomTensor([n, c.cout, h, w], 5);
  const flop = 2 * n * c.cout * h * w * cin * 9;
  const opts = { padding: 1, tuning };
  const label = `[${c.x}]→${c.cout} 3×3`;
  const runs: [string, () => Tensor][] = [
    ["fwd", () => conv2d(x, wt, opts)],
    ["dx", () => conv2dInputGrad(gy, wt, c.x, opts)],
    ["dw", () => conv2dWeightGrad(x, gy, wt.shape, opts)],
  ];
  for (const [kind, run] of runs) {
    if (!which.includes(kind)) continue;
    const t = await timeGpu(run, TIMING);
    const v = tflops(flop, t);
    const anchorNote = c.x[1] === 128 && c.x[2] === 256 && kind === "fwd"
      ? pct(v, ANCHORS.cudnnConv3x3) + " (cuDNN)"
      : "";
    report(section, `${kind} ${label}${note ? ` ${note}` : ""}`, t, v, "TFLOP/s", anchorNote);
  }
  x.dispose();
  wt.dispose();
  gy.dispose();
}

async function benchElementwise(n: number): Promise<void> {
  const a = randomTensor([n], 6);
  const b = randomTensor([n], 7);
  const t = await timeGpu(() => add(a, b), TIMING);
  report("elementwise", `add ${n / 2 ** 20}M floats`, t, (3 * 4 * n) / (t.ms * 1e-3) / 1e9, "GB/s");
  a.dispose();
  b.dispose();
}

async function benchDispatch(count: number): Promise<void> {
  const a = Tensor.fromData([1], [1]);
  const b = Tensor.fromData([2], [1]);
  const once = async () => {
    const outs: Tensor[] = [];
    for (let i = 0; i < count; i++) outs.push(add(a, b));
    await flush();
    outs.forEach((o) => o.dispose());
  };
  await once();
  const onePass = await wallMs(once);
  const wall: Timing = { ms: onePass, samples: 1, perSample: count, clock: "wall" };
  report(
    "dispatch",
    `${count} tiny dispatches, one pass`,
    wall,
    (1000 * onePass) / count,
    "µs/dispatch",
  );
  const perFlush = Math.max(10, Math.floor(count / 10));
  const flushed = await wallMs(async () => {
    for (let i = 0; i < perFlush; i++) {
      add(a, b).dispose();
      await flush();
    }
  });
  report(
    "dispatch",
    `${perFlush} dispatches, flush after each`,
    { ...wall, ms: flushed, perSample: perFlush },
    (1000 * flushed) / perFlush,
    "µs/dispatch",
  );
}

/** A 3×3 stride-2 transposed conv x [n, cin, h, w] → [n, cout, 2h + 1, 2w + 1], as up-sampling runs it. */
async function benchUpConv([n, cin, h, w, cout]: number[]): Promise<void> {
  const x = randomTensor([n, cin, h, w], 14);
  const wt = randomTensor([cin, cout, 3, 3], 15);
  const t = await timeGpu(() => convTranspose2d(x, wt, { stride: 2 }), TIMING);
  const v = tflops(2 * n * cin * cout * h * w * 9, t);
  report("upconv", `[${n},${cin},${h},${w}]→${cout} 3×3 stride 2`, t, v, "TFLOP/s");
  x.dispose();
  wt.dispose();
}

/** Extra tiles tried by the sweep beside the production list. */
const SWEEP_EXTRA: GemmTile[] = [
  { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8 },
  { bm: 128, bn: 256, bk: 8, tm: 8, tn: 16 },
  { bm: 256, bn: 128, bk: 8, tm: 16, tn: 8 },
  { bm: 64, bn: 128, bk: 8, tm: 8, tn: 8 },
];

/** The GEMM of a 3×3 conv's forward pass as a plain matmul: the ceiling implicit GEMM aims for. */
async function benchConvShapedGemm(c: ConvCase): Promise<void> {
  const [n, cin, h, w] = c.x;
  const a = randomTensor([c.cout, cin * 9], 8);
  const b = randomTensor([cin * 9, n * h * w], 9);
  const t = await timeGpu(() => matmul(a, b), TIMING);
  const flop = 2 * c.cout * cin * 9 * n * h * w;
  const name = `plain GEMM ${c.cout}×${cin * 9}·${cin * 9}×${n * h * w} (conv fwd shape)`;
  report("tiles", name, t, tflops(flop, t), "TFLOP/s");
  a.dispose();
  b.dispose();
}

async function benchTiles(): Promise<void> {
  const n = quick ? 256 : 4096;
  const conv: ConvCase = quick
    ? { x: [2, 16, 16, 16], cout: 16 }
    : { x: [8, 128, 256, 256], cout: 128 };
  // Baselines first (rerun at the end) so drifting clocks show up as a difference between them.
  await benchMatmul(n, "tiles", "default tiles (baseline)");
  await benchConv(conv, "tiles", "default (baseline)");
  await benchConv(conv, "tiles", "channel-major K order", ["fwd", "dx"], { tapMajor: false });
  await benchConvShapedGemm(quick ? conv : { x: [4, 128, 256, 256], cout: 128 });
  // Staging of k-fast operands: each GEMM's other choice (rows-first is the weight gradient's).
  const rowsFirst = { rowsFirstStaging: true };
  await benchMatmul(n, "tiles", "k-fast A staged rows-first", false, rowsFirst);
  const columnsFirst = { rowsFirstStaging: false };
  await benchConv(conv, "tiles", "k-fast staged columns-first", ["dw"], columnsFirst);
  for (const tile of [...TILES, ...SWEEP_EXTRA]) {
    if (!tileFits(tile)) continue;
    const name = `${tile.bm}x${tile.bn}x${tile.bk} t${tile.tm}x${tile.tn}`;
    try {
      await benchMatmul(n, "tiles", name, false, { tile });
      await benchConv(conv, "tiles", name, undefined, { tile });
    } catch (e) {
      console.log(`tiles        ${name}: failed: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  const first = TILES[0];
  if (tileFits(first)) {
    // A stored transposed ([K, M]) is staged into shared memory with vec4 stores instead of scalar ones.
    await benchMatmul(n, "tiles", "default tile, A stored transposed", true);
    const name =
      `${first.bm}x${first.bn}x${first.bk} t${first.tm}x${first.tn} bounds checks forced`;
    const checked = { tile: first, forceChecks: true };
    await benchMatmul(n, "tiles", name, false, checked);
    await benchConv(conv, "tiles", name, ["fwd"], checked);
  }
  await benchMatmul(n, "tiles", "default tiles (baseline rerun)");
  await benchConv(conv, "tiles", "default (baseline rerun)", ["fwd"]);
}

const g = gpu();
const date = new Date().toISOString().slice(0, 10);
console.log(`Mimic3D-TS kernel benchmarks — ${g.name} — ${date}${quick ? " (quick)" : ""}`);
console.log(
  `timing: ${
    g.hasTimestamps ? "GPU timestamps" : "wall clock around flush"
  }, median of ${RUNS} samples, each the mean of back-to-back runs filling ≥ 20 ms, after a sustained warm-up\n`,
);

/**
 * One modulated 3×3 conv layer (x [n, cin, h, w], up ×1 or ×2) in both evaluation forms:
 * activations scaled around a shared-weight conv, and per-sample weights of a grouped conv.
 */
async function benchModulatedConv([n, cin, h, w, cout, up]: number[]): Promise<void> {
  const x = randomTensor([n, cin, h, w], 10);
  const weight = randomTensor([cout, cin, 3, 3], 11);
  const styles = randomTensor([n, cin], 12);
  const r = randomTensor([n, cout, h * up, w * up], 13);
  for (const t of [x, weight, styles]) t.requiresGrad = true;
  const label = `[${n},${cin},${h},${w}]→${cout}${up > 1 ? " up2" : ""}`;
  for (const fused of [false, true]) {
    const options = { fused, up, padding: 1 };
    const layer = () => modulatedConv2d(x, weight, styles, options);
    const form = fused ? "grouped" : "scaled";
    const f = await timeGpu(() => scope(() => void layer()), TIMING);
    report("modconv", `${form} fwd ${label}`, f, f.ms, "ms");
    const b = await timeGpu(
      () => scope(() => void grad(sum(mul(layer(), r)), [x, weight, styles])),
      TIMING,
    );
    report("modconv", `${form} fwd+bwd ${label}`, b, b.ms, "ms");
  }
  for (const t of [x, weight, styles, r]) t.dispose();
}

if (wanted("matmul")) {
  for (const n of quick ? [64, 128, 256] : [256, 512, 1024, 2048, 4096]) await benchMatmul(n);
}
if (wanted("conv")) {
  const cases: ConvCase[] = quick
    ? [{ x: [2, 16, 16, 16], cout: 16 }, { x: [2, 32, 8, 8], cout: 32 }]
    : [{ x: [8, 128, 256, 256], cout: 128 }, { x: [8, 512, 32, 32], cout: 512 }];
  for (const c of cases) await benchConv(c);
}
if (wanted("modconv")) {
  const layers = quick ? [[2, 16, 8, 8, 16, 1], [6, 48, 8, 8, 16, 2]] : [
    [8, 128, 512, 512, 128, 1], // SR at 512²
    [8, 128, 256, 256, 128, 2],
    [24, 96, 256, 256, 32, 1], // 3-D-aware branch, three planes a sample
    [24, 96, 128, 128, 96, 2],
    [8, 256, 256, 256, 256, 1],
    [8, 512, 64, 64, 512, 1], // backbone
    [8, 512, 32, 32, 512, 2],
  ];
  for (const layer of layers) await benchModulatedConv(layer);
}
if (wanted("upconv")) {
  const layers = quick ? [[2, 16, 8, 8, 16], [1, 16, 3, 3, 8]] : [
    [4, 256, 256, 256, 128], // SR up to 512²
    [4, 512, 64, 64, 256],
    [4, 512, 32, 32, 512], // backbone
    [4, 512, 8, 8, 512],
    [12, 32, 256, 256, 32], // 3-D-aware branch's detail planes
    [12, 96, 64, 64, 32],
  ];
  for (const layer of layers) await benchUpConv(layer);
}
if (wanted("elementwise")) await benchElementwise(quick ? 2 ** 20 : 64 * 2 ** 20);
if (wanted("tiles")) await benchTiles();
// Last: its flush-per-dispatch phase leaves the GPU idle, and idle GPUs lower their clocks.
if (wanted("dispatch")) await benchDispatch(quick ? 200 : 2000);

await saveResults({ device: g.name, date, quick, anchors: ANCHORS, rows }, "", "bench.json");
