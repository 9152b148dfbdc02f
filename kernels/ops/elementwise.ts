/**
 * Element-wise ops with broadcasting: one code generator for every unary,
 * binary and ternary map. Each op is a WGSL expression over operands `$0..$2`,
 * its float64 CPU twin, and a backward rule written with these same ops.
 * Number operands travel as uniform floats, so a changing scalar (a learning
 * rate, a gain) never compiles a new pipeline.
 */
import { noGrad, record } from "../tensor/autograd.ts";
import { numel, Tensor } from "../tensor/tensor.ts";
import { kernel } from "../runtime/kernel_cache.ts";
import { dispatch } from "../runtime/commands.ts";
import { flatIndex, grid, Params, paramsDecl, WG } from "./params.ts";
import { broadcastShapes, broadcastStrides, collapseAxes } from "./broadcast.ts";
import { sumTo } from "./reduce.ts";

/** A tensor or a number (broadcast scalar). */
export type Operand = Tensor | number;

interface MapOp {
  /** WGSL expression over `$0`, `$1`, `$2` (f32 values). */
  wgsl: string;
  /** The same function in float64. */
  cpu: (...x: number[]) => number;
  /** Gradients w.r.t. each operand given the output gradient `g`, inputs and output. */
  backward?: (g: Tensor, inputs: Operand[], out: Tensor) => (Tensor | null)[];
  /**
   * Which values `backward` reads (operand indices, "out"), given which operands need a
   * gradient: what a memory scope keeps for it (GradFn.saved). Omitted: none.
   */
  reads?: (needsGrad: boolean[]) => (number | "out")[];
}

/** Whether an operand is a tensor that needs a gradient (backward rules skip the others). */
const needs = (o: Operand) => o instanceof Tensor && o.requiresGrad;
const X = () => [0];
const OUT = () => ["out" as const];
const BOTH = () => [0, 1];

function sigmoid64(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}
function softplus64(x: number): number {
  return x > 20 ? x : Math.log1p(Math.exp(x));
}

const ops = {
  neg: { wgsl: "-$0", cpu: (a) => -a, backward: (g) => [neg(g)] },
  exp: { wgsl: "exp($0)", cpu: Math.exp, backward: (g, _, y) => [mul(g, y)], reads: OUT },
  log: { wgsl: "log($0)", cpu: Math.log, backward: (g, [x]) => [div(g, x)], reads: X },
  sqrt: {
    wgsl: "sqrt($0)",
    cpu: Math.sqrt,
    backward: (g, _, y) => [div(mul(g, 0.5), y)],
    reads: OUT,
  },
  rsqrt: {
    wgsl: "inverseSqrt($0)",
    cpu: (a) => 1 / Math.sqrt(a),
    backward: (g, _, y) => [mul(g, mul(mul(y, mul(y, y)), -0.5))],
    reads: OUT,
  },
  abs: {
    wgsl: "abs($0)",
    cpu: Math.abs,
    backward: (g, [x]) => [mul(g, sign(x as Tensor))],
    reads: X,
  },
  sign: { wgsl: "sign($0)", cpu: Math.sign },
  floor: { wgsl: "floor($0)", cpu: Math.floor },
  sin: {
    wgsl: "sin($0)",
    cpu: Math.sin,
    backward: (g, [x]) => [mul(g, cos(x as Tensor))],
    reads: X,
  },
  cos: {
    wgsl: "cos($0)",
    cpu: Math.cos,
    backward: (g, [x]) => [neg(mul(g, sin(x as Tensor)))],
    reads: X,
  },
  tanh: {
    wgsl: "tanh($0)",
    cpu: Math.tanh,
    backward: (g, _, y) => [mul(g, sub(1, mul(y, y)))],
    reads: OUT,
  },
  sigmoid: {
    // Written to stay finite for large |x| on every adapter.
    wgsl: "select(exp($0) / (1.0 + exp($0)), 1.0 / (1.0 + exp(-$0)), $0 >= 0.0)",
    cpu: sigmoid64,
    backward: (g, _, y) => [mul(g, mul(y, sub(1, y)))],
    reads: OUT,
  },
  softplus: {
    wgsl: "select(log(1.0 + exp($0)), $0, $0 > 20.0)",
    cpu: softplus64,
    backward: (g, [x]) => [mul(g, sigmoid(x as Tensor))],
    reads: X,
  },
  reciprocal: {
    wgsl: "1.0 / $0",
    cpu: (a) => 1 / a,
    backward: (g, _, y) => [neg(mul(g, mul(y, y)))],
    reads: OUT,
  },
  square: {
    wgsl: "$0 * $0",
    cpu: (a) => a * a,
    backward: (g, [x]) => [mul(g, mul(x, 2))],
    reads: X,
  },
  relu: {
    wgsl: "max($0, 0.0)",
    cpu: (a) => Math.max(a, 0),
    backward: (g, [x]) => [mul(g, gt(x, 0))],
    reads: X,
  },
  leakyRelu: {
    wgsl: "select($0 * $1, $0, $0 > 0.0)",
    cpu: (x, slope) => (x > 0 ? x : x * slope),
    backward: (g, [x, slope]) => [mul(g, where(gt(x, 0), 1, slope)), null],
    reads: BOTH,
  },
  clamp: {
    wgsl: "clamp($0, $1, $2)",
    cpu: (x, lo, hi) => Math.min(Math.max(x, lo), hi),
    // PyTorch passes the gradient where lo ≤ x ≤ hi.
    backward: (g, [x, lo, hi]) => [mul(g, mul(ge(x, lo), le(x, hi))), null, null],
    reads: () => [0, 1, 2],
  },
  add: { wgsl: "$0 + $1", cpu: (a, b) => a + b, backward: (g) => [g, g] },
  sub: { wgsl: "$0 - $1", cpu: (a, b) => a - b, backward: (g) => [g, neg(g)] },
  mul: {
    wgsl: "$0 * $1",
    cpu: (a, b) => a * b,
    backward: (g, [a, b]) => [needs(a) ? mul(g, b) : null, needs(b) ? mul(g, a) : null],
    reads: ([da, db]) => [...(da ? [1] : []), ...(db ? [0] : [])],
  },
  div: {
    wgsl: "$0 / $1",
    cpu: (a, b) => a / b,
    backward: (g, [a, b]) => [
      needs(a) ? div(g, b) : null,
      needs(b) ? neg(div(mul(g, a), mul(b, b))) : null,
    ],
    reads: ([, db]) => (db ? [0, 1] : [1]),
  },
  pow: {
    // x^p for x > 0, or any x with an integer-valued p.
    wgsl:
      "select(pow(abs($0), $1) * select(1.0, -1.0, $0 < 0.0 && fract($1 * 0.5) != 0.0), pow($0, $1), $0 > 0.0)",
    cpu: (a, b) => Math.pow(a, b),
    backward: (g, [a, b], y) => [
      needs(a) ? mul(g, mul(b, pow(a, sub(b, 1)))) : null,
      needs(b) ? mul(g, mul(y, log(a as Tensor))) : null,
    ],
    reads: ([, db]) => (db ? [0, 1, "out"] : [0, 1]),
  },
  maximum: {
    wgsl: "max($0, $1)",
    cpu: Math.max,
    // Ties split the gradient evenly, as PyTorch does.
    backward: (g, [a, b]) => {
      const wa = add(gt(a, b), mul(eq(a, b), 0.5));
      return [mul(g, wa), mul(g, sub(1, wa))];
    },
    reads: BOTH,
  },
  minimum: {
    wgsl: "min($0, $1)",
    cpu: Math.min,
    backward: (g, [a, b]) => {
      const wa = add(lt(a, b), mul(eq(a, b), 0.5));
      return [mul(g, wa), mul(g, sub(1, wa))];
    },
    reads: BOTH,
  },
  gt: { wgsl: "select(0.0, 1.0, $0 > $1)", cpu: (a, b) => Number(a > b) },
  ge: { wgsl: "select(0.0, 1.0, $0 >= $1)", cpu: (a, b) => Number(a >= b) },
  lt: { wgsl: "select(0.0, 1.0, $0 < $1)", cpu: (a, b) => Number(a < b) },
  le: { wgsl: "select(0.0, 1.0, $0 <= $1)", cpu: (a, b) => Number(a <= b) },
  eq: { wgsl: "select(0.0, 1.0, $0 == $1)", cpu: (a, b) => Number(a === b) },
  where: {
    wgsl: "select($2, $1, $0 != 0.0)",
    cpu: (c, a, b) => (c !== 0 ? a : b),
    backward: (g, [c]) => [null, where(c, g, 0), where(c, 0, g)],
    reads: X,
  },
} satisfies Record<string, MapOp>;

/** Names of the element-wise primitives. */
export type MapOpName = keyof typeof ops;

function mapSource(name: string, expr: string, operands: Operand[], rank: number): string {
  const tensors = operands.map((o, i) => (o instanceof Tensor ? i : -1)).filter((i) => i >= 0);
  const nT = tensors.length;
  // Params: [total, dims(rank), strides per tensor (rank each), scalars...]
  const scalarBase = 1 + rank + nT * rank;
  const words = scalarBase + operands.length;
  const lines: string[] = [];
  tensors.forEach((op, k) => {
    lines.push(`@group(0) @binding(${k}) var<storage, read> in${op}: array<f32>;`);
  });
  lines.push(`@group(0) @binding(${nT}) var<storage, read_write> out: array<f32>;`);
  lines.push(paramsDecl(nT + 1, words));
  lines.push(`@compute @workgroup_size(${WG})`);
  lines.push(
    `fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {`,
  );
  lines.push(`  let i = ${flatIndex()};`);
  lines.push(`  if (i >= P(0u)) { return; }`);
  tensors.forEach((op) => lines.push(`  var o${op} = 0u;`));
  lines.push(`  var rem = i;`);
  for (let d = rank - 1; d >= 0; d--) {
    if (d > 0) lines.push(`  { let c = rem % P(${1 + d}u); rem = rem / P(${1 + d}u);`);
    else lines.push(`  { let c = rem;`);
    tensors.forEach((op, k) => lines.push(`    o${op} += c * P(${1 + rank + k * rank + d}u);`));
    lines.push(`  }`);
  }
  let body = expr;
  operands.forEach((o, i) => {
    const v = o instanceof Tensor ? `in${i}[o${i}]` : `PF(${scalarBase + i}u)`;
    body = body.replaceAll(`$${i}`, `(${v})`);
  });
  lines.push(`  out[i] = ${body};`);
  lines.push(`}`);
  return `// ${name}\n${lines.join("\n")}`;
}

function runMap(name: MapOpName, operands: Operand[]): Tensor {
  const op: MapOp = ops[name];
  const tensors = operands.filter((o): o is Tensor => o instanceof Tensor);
  if (tensors.length === 0) throw new Error(`${name}: needs at least one tensor operand`);
  const device = tensors[0].device;
  for (const t of tensors) {
    t.assertLive();
    if (t.device !== device) {
      throw new Error(`${name}: operands on different devices (gpu and cpu)`);
    }
    if (t.dtype !== "f32") throw new Error(`${name}: expects f32 tensors, got ${t.dtype}`);
  }
  const outShape = broadcastShapes(...tensors.map((t) => t.shape));
  const out = Tensor.empty(outShape, device);
  const n = numel(outShape);
  const strides = tensors.map((t) => broadcastStrides(t.shape, outShape));
  if (device === "cpu") {
    const src = operands.map((o) => (o instanceof Tensor ? o.cpuData : null));
    const tStrides = operands.map((
      o,
    ) => (o instanceof Tensor ? strides[tensors.indexOf(o)] : null));
    const data = out.cpuData;
    const idx = new Array<number>(outShape.length).fill(0);
    const args = new Array<number>(operands.length);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < operands.length; k++) {
        const s = tStrides[k];
        if (s) {
          let off = 0;
          for (let d = 0; d < idx.length; d++) off += idx[d] * s[d];
          args[k] = src[k]![off];
        } else args[k] = operands[k] as number;
      }
      data[i] = op.cpu(...args);
      for (let d = idx.length - 1; d >= 0; d--) {
        if (++idx[d] < outShape[d]) break;
        idx[d] = 0;
      }
    }
    return out;
  }
  if (n === 0) return out;
  const c = collapseAxes(outShape, strides);
  const rank = c.shape.length;
  const p = new Params().u32(n, ...c.shape);
  for (const s of c.strides) p.u32(...s);
  for (const o of operands) p.f32(typeof o === "number" ? o : 0);
  dispatch({
    kernel: kernel(
      name,
      () => mapSource(name, op.wgsl, operands, rank),
      `${rank}|${operands.map((o) => (o instanceof Tensor ? "t" : "s")).join("")}`,
    ),
    buffers: [...tensors.map((t) => t.buffer), out.buffer],
    params: p.bytes(),
    workgroups: grid(n),
    // The collapsed output shape and each tensor operand's strides (0: broadcast along it).
    shape: () => `${c.shape.join("×")} ← ${c.strides.map((s) => s.join(",")).join(" | ")}`,
  });
  return out;
}

function apply(name: MapOpName, ...operands: Operand[]): Tensor {
  const out = runMap(name, operands);
  const op: MapOp = ops[name];
  const tensorInputs = operands.filter((o): o is Tensor => o instanceof Tensor);
  if (!op.backward) return out;
  record(out, {
    name,
    inputs: tensorInputs,
    saved: (op.reads?.(operands.map(needs)) ?? []).map((r) => r === "out" ? out : operands[r])
      .filter((t): t is Tensor => t instanceof Tensor),
    backward: (g) => {
      const grads = op.backward!(g, operands, out);
      const result: (Tensor | null)[] = [];
      operands.forEach((o, i) => {
        if (!(o instanceof Tensor)) return;
        const gi = grads[i];
        result.push(gi ? sumTo(gi, o.shape) : null);
      });
      return result;
    },
  });
  if (out.gradFn) {
    out.recipe = { operands: tensorInputs, run: () => noGrad(() => runMap(name, operands)) };
  }
  return out;
}

/** −x */ export const neg = (x: Tensor): Tensor => apply("neg", x);
/** eˣ */ export const exp = (x: Tensor): Tensor => apply("exp", x);
/** ln x */ export const log = (x: Tensor): Tensor => apply("log", x);
/** √x */ export const sqrt = (x: Tensor): Tensor => apply("sqrt", x);
/** 1/√x */ export const rsqrt = (x: Tensor): Tensor => apply("rsqrt", x);
/** |x| */ export const abs = (x: Tensor): Tensor => apply("abs", x);
/** sign(x) ∈ {−1, 0, 1} (no gradient) */ export const sign = (x: Tensor): Tensor =>
  apply("sign", x);
/** ⌊x⌋ (no gradient) */ export const floor = (x: Tensor): Tensor => apply("floor", x);
/** sin x */ export const sin = (x: Tensor): Tensor => apply("sin", x);
/** cos x */ export const cos = (x: Tensor): Tensor => apply("cos", x);
/** tanh x */ export const tanh = (x: Tensor): Tensor => apply("tanh", x);
/** 1/(1+e⁻ˣ) */ export const sigmoid = (x: Tensor): Tensor => apply("sigmoid", x);
/** ln(1+eˣ) (linear above 20, as PyTorch) */ export const softplus = (x: Tensor): Tensor =>
  apply("softplus", x);
/** 1/x */ export const reciprocal = (x: Tensor): Tensor => apply("reciprocal", x);
/** x² */ export const square = (x: Tensor): Tensor => apply("square", x);
/** max(x, 0) */ export const relu = (x: Tensor): Tensor => apply("relu", x);

function binary(name: MapOpName, a: Operand, b: Operand): Tensor {
  return apply(name, a, b);
}
/** a + b */ export const add = (a: Operand, b: Operand): Tensor => binary("add", a, b);
/** a − b */ export const sub = (a: Operand, b: Operand): Tensor => binary("sub", a, b);
/** a · b */ export const mul = (a: Operand, b: Operand): Tensor => binary("mul", a, b);
/** a / b */ export const div = (a: Operand, b: Operand): Tensor => binary("div", a, b);
/** aᵇ */ export const pow = (a: Operand, b: Operand): Tensor => binary("pow", a, b);
/** max(a, b) */ export const maximum = (a: Operand, b: Operand): Tensor => binary("maximum", a, b);
/** min(a, b) */ export const minimum = (a: Operand, b: Operand): Tensor => binary("minimum", a, b);
/** 1 where a > b else 0 */ export const gt = (a: Operand, b: Operand): Tensor =>
  binary("gt", a, b);
/** 1 where a ≥ b else 0 */ export const ge = (a: Operand, b: Operand): Tensor =>
  binary("ge", a, b);
/** 1 where a < b else 0 */ export const lt = (a: Operand, b: Operand): Tensor =>
  binary("lt", a, b);
/** 1 where a ≤ b else 0 */ export const le = (a: Operand, b: Operand): Tensor =>
  binary("le", a, b);
/** 1 where a = b else 0 */ export const eq = (a: Operand, b: Operand): Tensor =>
  binary("eq", a, b);
/** x where x > 0 else slope·x */
export const leakyRelu = (x: Tensor, slope: Operand): Tensor => apply("leakyRelu", x, slope);
/** x limited to [lo, hi] */
export const clamp = (x: Tensor, lo: Operand, hi: Operand): Tensor => apply("clamp", x, lo, hi);
/** a where cond ≠ 0 else b */
export const where = (cond: Operand, a: Operand, b: Operand): Tensor => apply("where", cond, a, b);

/** Every element-wise primitive by name (tests iterate over them). */
export const mapOps: Record<MapOpName, MapOp> = ops;
