/**
 * The tiled GEMM code generator behind matmul and the three convolutions
 * (implicit GEMM: the conv operands are gathered on the fly, no im2col buffer).
 *
 * One workgroup computes a BM×BN tile of C = A·B (A: M×K, B: K×N) for one
 * batch entry and one K range ("split"). Each thread accumulates TM×TN
 * outputs in registers (vec4 along n), reading vec4s of A and B from shared
 * memory, which holds two BK-deep stages: while the tile of stage s is being
 * multiplied, the next tile is fetched from global memory into registers and
 * stored into the other stage, so each K step costs one barrier.
 *
 * Operands are described by how one element is addressed (`GemmOperand`),
 * the output by where an element goes (`GemmOutput`); the generator owns the
 * tiling, the thread mapping and the bounds checks, which it leaves out when
 * the sizes are multiples of the tile. Out-of-range reads rely on WebGPU's
 * robust buffer access and are masked with `select`, never branched around.
 * Split-K partial sums go to separate slices that the caller reduces in a
 * fixed order (deterministic: no float atomics anywhere).
 */
import { gpu } from "../runtime/device.ts";
import { kernel } from "../runtime/kernel_cache.ts";
import { type BufferSlice, dispatch } from "../runtime/commands.ts";
import { Params, paramsDecl } from "./params.ts";

/** Workgroup tile: BM×BN outputs, BK-deep K steps, TM×TN outputs per thread. */
export interface GemmTile {
  bm: number;
  bn: number;
  bk: number;
  tm: number;
  tn: number;
}

/**
 * How the kernel reads one GEMM operand (A: free axis m; B: free axis n).
 * Consecutive threads (and the 4 lanes of a vec4 load) run along `fast`.
 */
export interface GemmOperand {
  /** 4: the binding is `array<vec4f>` and a load returns 4 consecutive elements along `fast`. */
  width: 1 | 4;
  fast: "free" | "k";
  /** WGSL run once per thread for a fixed free coordinate `f` (u32); define variables named `${v}…`. */
  setupFree(f: string, v: string): string;
  /** WGSL run once per distinct k (u32) a thread loads in a K step; define variables named `${kv}…`. */
  setupK?(k: string, kv: string): string;
  /** WGSL run once per K step with the step's first k (`k0`, u32); define variables named `${tv}…`. */
  setupTile?(k0: string, tv: string): string;
  /**
   * WGSL expression of the loaded f32 (or vec4f) from the free, k and step variables;
   * 0 for padding it knows of. Free/K range checks are added by the generator.
   */
  load(v: string, kv: string, k: string, tv: string): string;
}

/** Where the kernel writes C(m, n) (m, n in range). */
export interface GemmOutput {
  /** 4: the binding is `array<vec4f>` and 4 consecutive n are stored at once (N % 4 == 0). */
  width: 1 | 4;
  setupRow(m: string, v: string): string;
  setupCol(n: string, v: string): string;
  /** Element (or vec4) index of C(m, n) from the row and column variables. */
  index(row: string, col: string): string;
}

/**
 * Knobs of the GEMM generator for benchmarks and experiments, passed with each matmul or
 * convolution (`MatmulOptions.tuning`, `Conv2dOptions.tuning`); left out, production defaults.
 */
export interface GemmTuning {
  /** Use this tile instead of choosing one. */
  tile?: GemmTile;
  /** Compile bounds checks in even where the sizes divide the tile. */
  forceChecks?: boolean;
  /** Stage k-fast operands rows-first (see `planOperand`); default: the kernel's own choice. */
  rowsFirstStaging?: boolean;
  /** Convolutions: order K tap-major where the channels allow it (default true). */
  tapMajor?: boolean;
}

/** A complete GEMM kernel description. */
export interface GemmSpec {
  op: string;
  tile: GemmTile;
  a: GemmOperand;
  b: GemmOperand;
  out: GemmOutput;
  /** Storage bindings, 0..n-1 in dispatch order (the uniform block follows). */
  bindings: string;
  bindingCount: number;
  /** Names of extra u32 parameters, available as `let`s in every snippet. */
  extraParams: string[];
  /** WGSL run once per workgroup after `batch` is known (batch base offsets, group indices). */
  batchSetup: string;
  /**
   * The batch entries are GEMMs of different sizes (the phases of a strided input gradient):
   * `batchSetup` defines `N`, `K` and `nTiles` of its entry, and the launch passes the largest.
   */
  sizesPerBatch?: boolean;
  /** Compile-time constants, helper functions. */
  prelude?: string;
  checkM: boolean;
  checkN: boolean;
  checkK: boolean;
  /** Stage k-fast operands rows-first (see `planOperand`); measured faster for conv weight grads. */
  rowsFirstStaging?: boolean;
}

/** The bounds checks of an M×N×K GEMM: where the tile does not divide the size, or all if forced. */
export function boundsChecks(
  M: number,
  N: number,
  K: number,
  tile: GemmTile,
  tuning: GemmTuning,
): Pick<GemmSpec, "checkM" | "checkN" | "checkK"> {
  const forced = tuning.forceChecks ?? false;
  return {
    checkM: forced || M % tile.bm !== 0,
    checkN: forced || N % tile.bn !== 0,
    checkK: forced || K % tile.bk !== 0,
  };
}

const CORE_PARAMS = ["M", "N", "K", "kChunk", "mTiles", "nTiles", "splits", "batchOffset"];

/** Threads per workgroup of a tile. */
export function tileThreads(t: GemmTile): number {
  return (t.bm / t.tm) * (t.bn / t.tn);
}

/** Shared memory of a tile in bytes (two stages of A and B). */
export function tileSharedBytes(t: GemmTile): number {
  return 2 * t.bk * (t.bm + t.bn) * 4;
}

interface LoadPlan {
  setup: string;
  load(k0: string): string;
  store(row: string): string;
  regs: string;
}

function planOperand(
  name: "A" | "B",
  op: GemmOperand,
  free: number,
  origin: string,
  freeSize: string,
  spec: GemmSpec,
): LoadPlan {
  const { bk } = spec.tile;
  const threads = tileThreads(spec.tile);
  const w = op.width;
  const check = name === "A" ? spec.checkM : spec.checkN;
  const zero = w === 4 ? "vec4f(0.0)" : "0.0";
  const type = w === 4 ? "vec4f" : "f32";
  const f4 = free / 4;
  const shared = name === "A" ? "sA" : "sB";
  const kOk = (k: string) => (spec.checkK ? `${k} < kEnd` : "");
  const mask = (expr: string, conds: string[]) => {
    const c = conds.filter((x) => x !== "");
    return c.length ? `select(${zero}, ${expr}, ${c.join(" && ")})` : expr;
  };
  const setup: string[] = [];
  const loads: string[] = [];
  const stores: string[] = [];
  const regs: string[] = [];
  if (op.fast === "free") {
    const slots = free / w;
    const rows = threads / slots;
    const passes = bk / rows;
    if (!Number.isInteger(rows) || !Number.isInteger(passes) || passes < 1) {
      throw new Error(
        `gemm: tile ${JSON.stringify(spec.tile)} cannot load ${name} (free-fast, width ${w})`,
      );
    }
    setup.push(`let ${name}_fi = (t % ${slots}u) * ${w}u;`);
    setup.push(`let ${name}_kr = t / ${slots}u;`);
    setup.push(`let ${name}_f = ${origin} + ${name}_fi;`);
    setup.push(op.setupFree(`${name}_f`, `${name}_v`));
    setup.push(`let ${name}_ok = ${check ? `${name}_f < ${freeSize}` : "true"};`);
    for (let p = 0; p < passes; p++) {
      regs.push(`var ${name}_r${p}: ${type};`);
      const k = `${name}_k${p}`;
      loads.push(`{ let ${k} = k0 + ${name}_kr + ${p * rows}u;`);
      if (op.setupK) loads.push(op.setupK(k, `${k}_`));
      loads.push(
        `  ${name}_r${p} = ${
          mask(op.load(`${name}_v`, `${k}_`, k, `${name}_t`), [check ? `${name}_ok` : "", kOk(k)])
        }; }`,
      );
      const row = `(ROW + ${name}_kr + ${p * rows}u)`;
      if (w === 4) stores.push(`${shared}[${row} * ${f4}u + ${name}_fi / 4u] = ${name}_r${p};`);
      else {stores.push(
          `${shared}[${row} * ${f4}u + ${name}_fi / 4u][${name}_fi % 4u] = ${name}_r${p};`,
        );}
    }
  } else {
    const slots = bk / w;
    const perPass = threads / slots;
    const passes = free / perPass;
    if (!Number.isInteger(perPass) || !Number.isInteger(passes) || passes < 1) {
      throw new Error(
        `gemm: tile ${JSON.stringify(spec.tile)} cannot load ${name} (k-fast, width ${w})`,
      );
    }
    if (spec.rowsFirstStaging) {
      // Neighbouring threads take neighbouring rows: conflict-free transposing stores into
      // shared memory, at the price of less coalesced global reads.
      setup.push(`let ${name}_kc = (t / ${perPass}u) * ${w}u;`);
      setup.push(`let ${name}_fr = t % ${perPass}u;`);
    } else {
      setup.push(`let ${name}_kc = (t % ${slots}u) * ${w}u;`);
      setup.push(`let ${name}_fr = t / ${slots}u;`);
    }
    const k = `${name}_k`;
    loads.push(`{ let ${k} = k0 + ${name}_kc;`);
    if (op.setupK) loads.push(op.setupK(k, `${k}_`));
    for (let p = 0; p < passes; p++) {
      const f = `${name}_f${p}`;
      setup.push(`let ${f} = ${origin} + ${name}_fr + ${p * perPass}u;`);
      setup.push(op.setupFree(f, `${name}_v${p}`));
      setup.push(`let ${name}_ok${p} = ${check ? `${f} < ${freeSize}` : "true"};`);
      regs.push(`var ${name}_r${p}: ${type};`);
      loads.push(
        `  ${name}_r${p} = ${
          mask(op.load(`${name}_v${p}`, `${k}_`, k, `${name}_t`), [
            check ? `${name}_ok${p}` : "",
            kOk(k),
          ])
        };`,
      );
      const fi = `(${name}_fr + ${p * perPass}u)`;
      for (let c = 0; c < w; c++) {
        const val = w === 4 ? `${name}_r${p}[${c}]` : `${name}_r${p}`;
        stores.push(
          `${shared}[(ROW + ${name}_kc + ${c}u) * ${f4}u + ${fi} / 4u][${fi} % 4u] = ${val};`,
        );
      }
    }
    loads.push(`}`);
  }
  return {
    setup: setup.join("\n  "),
    load: (k0) => {
      const tileSetup = op.setupTile ? `\n    ${op.setupTile("k0", `${name}_t`)}` : "";
      return `{ let k0 = ${k0};${tileSetup}\n    ${loads.join("\n    ")}\n  }`;
    },
    store: (row) => stores.map((s) => s.replaceAll("ROW", row)).join("\n    "),
    regs: regs.join("\n  "),
  };
}

/** WGSL of a GEMM kernel. */
export function gemmSource(spec: GemmSpec): string {
  const { bm, bn, bk, tm, tn } = spec.tile;
  const threads = tileThreads(spec.tile);
  const tx = bn / tn;
  const ty = bm / tm;
  if (tm % 4 || tn % 4 || bm % tm || bn % tn) {
    throw new Error(`gemm: bad tile ${JSON.stringify(spec.tile)}`);
  }
  const params = [...CORE_PARAMS, ...spec.extraParams];
  // Sizes the batch setup defines itself arrive as their largest value, under another name.
  const perBatch = spec.sizesPerBatch ? ["N", "K", "nTiles"] : [];
  const paramName = (p: string) => (perBatch.includes(p) ? `${p}Max` : p);
  const a = planOperand("A", spec.a, bm, "m0", "M", spec);
  const b = planOperand("B", spec.b, bn, "n0", "N", spec);
  const accs: string[] = [];
  for (let i = 0; i < tm / 4; i++) {
    for (let r = 0; r < 4; r++) {
      for (let j = 0; j < tn / 4; j++) accs.push(`var c${i}_${r}_${j} = vec4f(0.0);`);
    }
  }
  // One K step of the register-tiled product, unrolled (constant indices keep everything in registers).
  const step: string[] = [];
  for (let kk = 0; kk < bk; kk++) {
    const parts: string[] = [];
    for (let i = 0; i < tm / 4; i++) {
      parts.push(`let a${i} = sA[aRow + ${kk * (bm / 4) + i * ty}u];`);
    }
    for (let j = 0; j < tn / 4; j++) {
      parts.push(`let b${j} = sB[bRow + ${kk * (bn / 4) + j * tx}u];`);
    }
    for (let i = 0; i < tm / 4; i++) {
      for (let r = 0; r < 4; r++) {
        for (let j = 0; j < tn / 4; j++) {
          parts.push(`c${i}_${r}_${j} = fma(vec4f(a${i}[${r}]), b${j}, c${i}_${r}_${j});`);
        }
      }
    }
    step.push(`{ ${parts.join(" ")} }`);
  }
  const epi = spec.out.width === 1 && canStageStores(spec.tile)
    ? stagedEpilogue(spec)
    : directEpilogue(spec);
  return `// ${spec.op} gemm ${bm}x${bn}x${bk} ${tm}x${tn}
${spec.bindings}
${paramsDecl(spec.bindingCount, params.length)}
${spec.prelude ?? ""}
var<workgroup> sA: array<vec4f, ${2 * bk * bm / 4}>;
var<workgroup> sB: array<vec4f, ${2 * bk * bn / 4}>;
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) t: u32) {
  ${params.map((p, i) => `let ${paramName(p)} = P(${i}u);`).join(" ")}
  let tileId = wid.x + wid.y * nwg.x;
  let split = wid.z % splits;
  let batch = wid.z / splits + batchOffset;
  ${spec.batchSetup}
  if (tileId >= mTiles * nTiles) { return; }
  let m0 = (tileId % mTiles) * ${bm}u;
  let n0 = (tileId / mTiles) * ${bn}u;
  let kBegin = split * kChunk;
  let kEnd = min(K, kBegin + kChunk);
  let kTiles = (kEnd - kBegin + ${bk - 1}u) / ${bk}u;
  let tx = t % ${tx}u;
  let ty = t / ${tx}u;
  ${a.setup}
  ${b.setup}
  ${accs.join("\n  ")}
  ${a.regs}
  ${b.regs}
  if (kTiles > 0u) {
    ${a.load("kBegin")}
    ${b.load("kBegin")}
    ${a.store("0u")}
    ${b.store("0u")}
  }
  workgroupBarrier();
  for (var kt = 0u; kt < kTiles; kt++) {
    let stage = (kt & 1u) * ${bk}u;
    // No branch around the next tile (the loop body is one block for the compiler to schedule):
    // the last step fetches its own tile again, from cache, into the stage no step reads.
    let kNext = kBegin + min(kt + 1u, kTiles - 1u) * ${bk}u;
    ${a.load("kNext")}
    ${b.load("kNext")}
    let aRow = stage * ${bm / 4}u + ty;
    let bRow = stage * ${bn / 4}u + tx;
    ${step.join("\n    ")}
    let next = ${bk}u - stage;
    ${a.store("next")}
    ${b.store("next")}
    workgroupBarrier();
  }
  ${epi.join("\n  ")}
}`;
}

/**
 * Epilogue: thread (tx, ty) owns rows (i·TY + ty)·4 + r and columns (j·TX + tx)·4 + 0..3, and
 * stores them itself.
 */
function directEpilogue(spec: GemmSpec): string[] {
  const { bm, bn, tm, tn } = spec.tile;
  const [tx, ty] = [bn / tn, bm / tm];
  const epi: string[] = [];
  const w = spec.out.width;
  for (let j = 0; j < tn / 4; j++) {
    epi.push(`let cn${j} = n0 + (${j * tx}u + tx) * 4u;`);
    if (w === 4) epi.push(spec.out.setupCol(`cn${j}`, `col${j}`));
    else {
      for (let c = 0; c < 4; c++) epi.push(spec.out.setupCol(`(cn${j} + ${c}u)`, `col${j}_${c}`));
    }
  }
  for (let i = 0; i < tm / 4; i++) {
    for (let r = 0; r < 4; r++) {
      const m = `cm${i}_${r}`;
      epi.push(`{ let ${m} = m0 + (${i * ty}u + ty) * 4u + ${r}u;`);
      if (spec.checkM) epi.push(`if (${m} < M) {`);
      epi.push(spec.out.setupRow(m, `row`));
      for (let j = 0; j < tn / 4; j++) {
        const acc = `c${i}_${r}_${j}`;
        if (w === 4) {
          const store = `C[${spec.out.index("row", `col${j}`)}] = ${acc};`;
          epi.push(spec.checkN ? `if (cn${j} < N) { ${store} }` : store);
        } else {
          for (let c = 0; c < 4; c++) {
            const store = `C[${spec.out.index("row", `col${j}_${c}`)}] = ${acc}[${c}];`;
            epi.push(spec.checkN ? `if (cn${j} + ${c}u < N) { ${store} }` : store);
          }
        }
      }
      if (spec.checkM) epi.push(`}`);
      epi.push(`}`);
    }
  }
  return epi;
}

/**
 * Whether scalar outputs can be staged through shared memory: one row per ty fits in sB (two
 * BK-deep stages of BN), and the threads cover the BN columns a whole number of times.
 */
const canStageStores = (t: GemmTile) => t.bm / t.tm <= 2 * t.bk && (t.bm / t.tm) % t.tn === 0;

/**
 * Epilogue for scalar outputs (strided or unaligned planes): a thread's four consecutive
 * columns would go out as four stores each spread across the warp (a quarter of a sector or
 * less used by each). Instead, one row per ty at a time passes through sB, and thread t stores
 * column t % BN of rows t / BN, t / BN + threads / BN, …: a warp's stores cover consecutive
 * columns.
 */
function stagedEpilogue(spec: GemmSpec): string[] {
  const { bm, bn, tm, tn } = spec.tile;
  const [tx, ty] = [bn / tn, bm / tm];
  const rowStep = (tx * ty) / bn;
  const epi = [
    `let ec = t % ${bn}u;`,
    `let en = n0 + ec;`,
    spec.out.setupCol("en", "ecol"),
    `let er0 = t / ${bn}u;`,
  ];
  for (let i = 0; i < tm / 4; i++) {
    for (let r = 0; r < 4; r++) {
      epi.push(`workgroupBarrier();`);
      for (let j = 0; j < tn / 4; j++) {
        epi.push(`sB[ty * ${bn / 4}u + ${j * tx}u + tx] = c${i}_${r}_${j};`);
      }
      epi.push(`workgroupBarrier();`);
      for (let q = 0; q < ty / rowStep; q++) {
        const er = `(er0 + ${q * rowStep}u)`;
        epi.push(`{ let em = m0 + (${i * ty}u + ${er}) * 4u + ${r}u;`);
        const conds = [spec.checkM ? "em < M" : "", spec.checkN ? "en < N" : ""].filter((c) => c);
        if (conds.length) epi.push(`if (${conds.join(" && ")}) {`);
        epi.push(spec.out.setupRow("em", "row"));
        epi.push(
          `C[${spec.out.index("row", "ecol")}] = sB[${er} * ${bn / 4}u + ec / 4u][ec % 4u];`,
        );
        if (conds.length) epi.push(`}`);
        epi.push(`}`);
      }
    }
  }
  return epi;
}

/**
 * What a spec's source is made of, cheap to build: the spec's strings and flags, and each snippet
 * written with placeholder names. Building the source itself (its unrolled K step) is a large
 * share of the time a generator forward takes to record.
 */
function gemmKey(spec: GemmSpec): string {
  const operand = (o: GemmOperand) => [
    o.width,
    o.fast,
    o.setupFree("⟨f⟩", "⟨v⟩"),
    o.setupK?.("⟨k⟩", "⟨kv⟩") ?? "",
    o.setupTile?.("⟨k0⟩", "⟨tv⟩") ?? "",
    o.load("⟨v⟩", "⟨kv⟩", "⟨k⟩", "⟨tv⟩"),
  ];
  const { out } = spec;
  return JSON.stringify([
    spec.tile,
    operand(spec.a),
    operand(spec.b),
    [out.width, out.setupRow("⟨m⟩", "⟨v⟩"), out.setupCol("⟨n⟩", "⟨v⟩"), out.index("⟨r⟩", "⟨c⟩")],
    spec.bindings,
    spec.bindingCount,
    spec.extraParams,
    spec.batchSetup,
    spec.prelude ?? "",
    spec.checkM,
    spec.checkN,
    spec.checkK,
    spec.rowsFirstStaging ?? false,
    spec.sizesPerBatch ?? false,
  ]);
}

/** Sizes of one GEMM launch. */
export interface GemmLaunch {
  M: number;
  N: number;
  K: number;
  /** Independent GEMMs (batch entries, conv groups), workgroup z. */
  batch: number;
  /** K ranges computed separately (partial sums in slices the caller reduces). */
  splits: number;
  /** K per split (a multiple of BK). */
  kChunk: number;
  extra: number[];
  /** The shape profiles report (default: the GEMM's M×N×K). */
  shape?: () => string;
  /** FLOPs of all entries, where they differ in size (default: 2·M·N·K each). */
  flops?: number;
}

/** Records the dispatches of a GEMM (several when the batch exceeds the z limit). */
export function launchGemm(
  spec: GemmSpec,
  buffers: (GPUBuffer | BufferSlice)[],
  l: GemmLaunch,
): void {
  const { bm, bn } = spec.tile;
  const mTiles = Math.ceil(l.M / bm);
  const nTiles = Math.ceil(l.N / bn);
  const tiles = mTiles * nTiles;
  const limit = gpu().limits.maxComputeWorkgroupsPerDimension;
  const x = Math.min(tiles, limit);
  const y = Math.ceil(tiles / x);
  if (y > limit) throw new Error(`${spec.op}: ${tiles} tiles exceed the dispatch limit`);
  const k = kernel(spec.op, () => gemmSource(spec), gemmKey(spec));
  const perDispatch = Math.max(1, Math.floor(limit / l.splits));
  for (let b0 = 0; b0 < l.batch; b0 += perDispatch) {
    const nb = Math.min(perDispatch, l.batch - b0);
    const p = new Params().u32(l.M, l.N, l.K, l.kChunk, mTiles, nTiles, l.splits, b0, ...l.extra);
    dispatch({
      kernel: k,
      buffers,
      params: p.bytes(),
      workgroups: [x, y, nb * l.splits],
      shape: l.shape ?? (() => `${l.M}×${l.N}×${l.K}${l.batch > 1 ? ` ×${l.batch}` : ""}`),
      flops: l.flops === undefined ? 2 * l.M * l.N * l.K * nb : (l.flops * nb) / l.batch,
    });
  }
}

/** Candidate tiles, largest first; `chooseTile` takes the first that fits the problem and the adapter. */
export const TILES: readonly GemmTile[] = [
  { bm: 128, bn: 128, bk: 16, tm: 8, tn: 8 },
  { bm: 128, bn: 64, bk: 16, tm: 8, tn: 4 },
  { bm: 64, bn: 128, bk: 16, tm: 4, tn: 8 },
  { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 },
  { bm: 32, bn: 64, bk: 16, tm: 4, tn: 4 },
  { bm: 32, bn: 32, bk: 16, tm: 4, tn: 4 },
];

/**
 * The tile on CPU adapters (llvmpipe, lavapipe). They compile each kernel at its first use and
 * run a workgroup on one core: there this small tile both compiles and runs faster than the GPU
 * tiles (BENCHMARKS.md, "The demo on a cold shader cache").
 */
export const CPU_TILE: GemmTile = { bm: 16, bn: 16, bk: 4, tm: 4, tn: 4 };

/** Whether the adapter can run a tile. */
export function tileFits(t: GemmTile): boolean {
  const lim = gpu().limits;
  return tileThreads(t) <= lim.maxComputeInvocationsPerWorkgroup &&
    tileSharedBytes(t) <= lim.maxComputeWorkgroupStorageSize;
}

/**
 * The tile for an M×N (×batch) problem: the largest that still gives the GPU
 * enough workgroups (or wastes little on edges); small problems get small tiles.
 * `splitK`: the caller splits K to fill the GPU, so the largest low-waste tile wins.
 */
export function chooseTile(
  M: number,
  N: number,
  batch: number,
  tuning: GemmTuning = {},
  splitK = false,
): GemmTile {
  if (tuning.tile) return tuning.tile;
  if (gpu().isCpu) return CPU_TILE;
  const fits = TILES.filter(tileFits);
  for (const t of fits) {
    const groups = Math.ceil(M / t.bm) * Math.ceil(N / t.bn) * batch;
    const waste = (Math.ceil(M / t.bm) * t.bm * Math.ceil(N / t.bn) * t.bn) / (M * N);
    // With split K, parallelism comes from the splits: only waste matters.
    if ((splitK || groups >= 256) && waste < 1.25) return t;
  }
  // Few tiles either way: trade parallelism (workgroups, up to 256) against padding waste.
  let best = fits[fits.length - 1];
  let bestScore = -Infinity;
  for (const t of fits) {
    const groups = Math.ceil(M / t.bm) * Math.ceil(N / t.bn) * batch;
    const waste = (Math.ceil(M / t.bm) * t.bm * Math.ceil(N / t.bn) * t.bn) / (M * N);
    const score = Math.min(groups, 256) / waste;
    if (score > bestScore) [best, bestScore] = [t, score];
  }
  return best;
}

/**
 * How many K ranges to split into so that a GEMM with few output tiles still
 * fills the GPU; each split keeps at least `minChunk` of K. The target is several
 * waves of the workgroups a large GPU runs at once (a few hundred), so that a last,
 * partly filled wave costs little.
 */
export function chooseSplits(
  tiles: number,
  K: number,
  bk: number,
  minChunk = 512,
): { splits: number; kChunk: number } {
  const target = 2048;
  let splits = Math.max(
    1,
    Math.min(Math.floor(target / Math.max(tiles, 1)), Math.floor(K / minChunk)),
  );
  const kChunk = Math.ceil(Math.ceil(K / splits) / bk) * bk;
  splits = Math.ceil(K / kChunk);
  return { splits, kChunk };
}
