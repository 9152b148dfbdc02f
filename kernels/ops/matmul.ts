/**
 * Batched matrix multiplication with NumPy batch broadcasting and transpose
 * flags, on the tiled GEMM of `gemm.ts`. Transposes are index changes in the
 * kernel, never copies, so the backward rules (which need Aᵀ and Bᵀ) cost one
 * GEMM each.
 */
import { record } from "../tensor/autograd.ts";
import { numel, Tensor } from "../tensor/tensor.ts";
import { broadcastShapes, broadcastStrides, collapseAxes } from "./broadcast.ts";
import { sum, sumTo } from "./reduce.ts";
import { reshape } from "./movement.ts";
import {
  boundsChecks,
  chooseSplits,
  chooseTile,
  type GemmOperand,
  type GemmSpec,
  type GemmTile,
  type GemmTuning,
  launchGemm,
} from "./gemm.ts";

/** Options of `matmul`. */
export interface MatmulOptions {
  /** A is stored [..., K, M] and used transposed. */
  transA?: boolean;
  /** B is stored [..., N, K] and used transposed. */
  transB?: boolean;
  /** GEMM knobs for benchmarks (default: production); the gradients use them too. */
  tuning?: GemmTuning;
}

interface MatmulShape {
  M: number;
  N: number;
  K: number;
  batchShape: number[];
  /** Batch strides (elements, 0 where broadcast) of A and B over `batchShape`. */
  aStrides: number[];
  bStrides: number[];
}

function matmulShape(a: Tensor, b: Tensor, transA: boolean, transB: boolean): MatmulShape {
  if (a.rank < 2 || b.rank < 2) {
    throw new Error(`matmul: needs tensors of rank ≥ 2, got [${a.shape}] and [${b.shape}]`);
  }
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [M, K] = transA ? [ac, ar] : [ar, ac];
  const [Kb, N] = transB ? [bc, br] : [br, bc];
  if (K !== Kb) {
    throw new Error(
      `matmul: inner sizes differ: [${a.shape}]${transA ? "ᵀ" : ""} · [${b.shape}]${
        transB ? "ᵀ" : ""
      } (${K} vs ${Kb})`,
    );
  }
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const batchShape = broadcastShapes(aBatch, bBatch);
  const scale = (s: number[], by: number) => s.map((x) => x * by);
  return {
    M,
    N,
    K,
    batchShape,
    aStrides: scale(broadcastStrides(aBatch, batchShape), M * K),
    bStrides: scale(broadcastStrides(bBatch, batchShape), K * N),
  };
}

function matmulCpu(a: Tensor, b: Tensor, s: MatmulShape, transA: boolean, transB: boolean): Tensor {
  const { M, N, K } = s;
  const out = Tensor.empty([...s.batchShape, M, N], "cpu");
  const A = a.cpuData;
  const B = b.cpuData;
  const C = out.cpuData;
  const batch = numel(s.batchShape);
  const idx = new Array<number>(s.batchShape.length).fill(0);
  const row = new Float64Array(N);
  for (let bi = 0; bi < batch; bi++) {
    let aOff = 0;
    let bOff = 0;
    idx.forEach((c, d) => {
      aOff += c * s.aStrides[d];
      bOff += c * s.bStrides[d];
    });
    for (let m = 0; m < M; m++) {
      row.fill(0);
      for (let k = 0; k < K; k++) {
        const av = A[aOff + (transA ? k * M + m : m * K + k)];
        if (transB) { for (let n = 0; n < N; n++) row[n] += av * B[bOff + n * K + k]; }
        else for (let n = 0; n < N; n++) row[n] += av * B[bOff + k * N + n];
      }
      C.set(row, bi * M * N + m * N);
    }
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d] < s.batchShape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** Reads a [M×K] (or K×M) matrix; `contig` is the size of its contiguous axis. */
function matrixOperand(name: "a" | "b", kFast: boolean, width: 1 | 4, contig: string): GemmOperand {
  // Element (f, k) lives at base + f·contig + k (k-fast) or base + k·contig + f (free-fast).
  const at = (v: string, k: string) => (kFast ? `${v} + ${k}` : `${v} + ${k} * ${contig}`);
  return {
    width,
    fast: kFast ? "k" : "free",
    setupFree: (f, v) => `let ${v} = ${name}Base + ${kFast ? `${f} * ${contig}` : f};`,
    load: (v, _kv, k) => (width === 4 ? `${name}[(${at(v, k)}) / 4u]` : `${name}[${at(v, k)}]`),
  };
}

function batchOffsets(rank: number): string {
  // Params after the core ones: batch sizes (rank), A strides (rank), B strides (rank).
  const lines = ["var rem = batch;", "var aBase = 0u;", "var bBase = 0u;"];
  for (let d = rank - 1; d >= 0; d--) {
    lines.push(
      `{ let c = rem % bs${d}; rem = rem / bs${d}; aBase += c * as${d}; bBase += c * bt${d}; }`,
    );
  }
  lines.push(`let cBase = batch * M * N;`);
  return lines.join("\n  ");
}

function matmulSpec(
  s: MatmulShape,
  rank: number,
  tile: GemmTile,
  transA: boolean,
  transB: boolean,
  splits: number,
  tuning: GemmTuning,
): GemmSpec {
  const { M, N, K } = s;
  const aWidth = (transA ? M : K) % 4 === 0 ? 4 : 1;
  const bWidth = (transB ? K : N) % 4 === 0 ? 4 : 1;
  const cWidth = N % 4 === 0 ? 4 : 1;
  const arr = (w: number) => (w === 4 ? "array<vec4f>" : "array<f32>");
  const names = (p: string) => [...Array(rank).keys()].map((d) => `${p}${d}`);
  const splitOffset = splits > 1 ? ` + split * ${"batchCount"} * M * N` : "";
  return {
    op: "matmul",
    tile,
    a: matrixOperand("a", !transA, aWidth, transA ? "M" : "K"),
    b: matrixOperand("b", transB, bWidth, transB ? "K" : "N"),
    out: {
      width: cWidth,
      setupRow: (m, v) => `let ${v} = cBase${splitOffset} + ${m} * N;`,
      setupCol: (n, v) => `let ${v} = ${n};`,
      index: (row, col) => (cWidth === 4 ? `(${row} + ${col}) / 4u` : `${row} + ${col}`),
    },
    bindings: `@group(0) @binding(0) var<storage, read> a: ${arr(aWidth)};
@group(0) @binding(1) var<storage, read> b: ${arr(bWidth)};
@group(0) @binding(2) var<storage, read_write> C: ${arr(cWidth)};`,
    bindingCount: 3,
    extraParams: ["batchCount", ...names("bs"), ...names("as"), ...names("bt")],
    batchSetup: batchOffsets(rank),
    ...boundsChecks(M, N, K, tile, tuning),
    rowsFirstStaging: tuning.rowsFirstStaging,
  };
}

function matmulGpu(
  a: Tensor,
  b: Tensor,
  s: MatmulShape,
  transA: boolean,
  transB: boolean,
  tuning: GemmTuning,
): Tensor {
  const { M, N, K } = s;
  const outShape = [...s.batchShape, M, N];
  const batch = numel(s.batchShape);
  const c = collapseAxes(s.batchShape, [s.aStrides, s.bStrides]);
  const rank = c.shape.length;
  const tile = chooseTile(M, N, batch, tuning);
  const tiles = Math.ceil(M / tile.bm) * Math.ceil(N / tile.bn) * batch;
  // Few output tiles over a long K (e.g. weight gradients of linear layers): split K.
  const { splits, kChunk } = K >= 4096 && tiles < 128
    ? chooseSplits(tiles, K, tile.bk)
    : { splits: 1, kChunk: K };
  const spec = matmulSpec(s, rank, tile, transA, transB, splits, tuning);
  const target = Tensor.empty(splits > 1 ? [splits, ...outShape] : outShape, "gpu");
  launchGemm(spec, [a.buffer, b.buffer, target.buffer], {
    M,
    N,
    K,
    batch,
    splits,
    kChunk,
    extra: [batch, ...c.shape, ...c.strides[0], ...c.strides[1]],
  });
  if (splits === 1) return target;
  const out = reshape(sum(target, 0), outShape);
  target.dispose();
  return out;
}

function matmulRaw(
  a: Tensor,
  b: Tensor,
  transA: boolean,
  transB: boolean,
  tuning: GemmTuning,
): Tensor {
  a.assertLive();
  b.assertLive();
  if (a.device !== b.device) throw new Error("matmul: operands on different devices (gpu and cpu)");
  const s = matmulShape(a, b, transA, transB);
  if (a.device === "cpu") return matmulCpu(a, b, s, transA, transB);
  const outShape = [...s.batchShape, s.M, s.N];
  if (numel(outShape) === 0) return Tensor.empty(outShape, "gpu");
  if (s.K === 0) return Tensor.fromData(new Float32Array(numel(outShape)), outShape, "gpu");
  return matmulGpu(a, b, s, transA, transB, tuning);
}

/**
 * op(A)·op(B) over the last two axes, op = transpose where `transA`/`transB`;
 * leading (batch) axes broadcast as in NumPy. a: [..., M, K] (or [..., K, M]),
 * b: [..., K, N] (or [..., N, K]) → [...batch, M, N].
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  const { tuning } = options;
  const out = matmulRaw(a, b, transA, transB, tuning ?? {});
  return record(out, {
    name: "matmul",
    inputs: [a, b],
    saved: [...(a.requiresGrad ? [b] : []), ...(b.requiresGrad ? [a] : [])],
    backward: (g) => {
      // With A' = op(A), B' = op(B): dA' = g·B'ᵀ and dB' = A'ᵀ·g; a stored-transposed
      // operand receives the transpose, which is again one product with flags.
      const da = a.requiresGrad
        ? transA
          ? matmul(b, g, { transA: transB, transB: true, tuning })
          : matmul(g, b, { transB: !transB, tuning })
        : null;
      const db = b.requiresGrad
        ? transB
          ? matmul(g, a, { transA: true, transB: transA, tuning })
          : matmul(a, g, { transA: !transA, tuning })
        : null;
      return [da && sumTo(da, a.shape), db && sumTo(db, b.shape)];
    },
  });
}
