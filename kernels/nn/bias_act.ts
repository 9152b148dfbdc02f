/**
 * StyleGAN2's bias_act: y = clamp(act(x + b) · gain, ±clamp), with the bias
 * broadcast along `dim` (channels). 'lrelu' has slope 0.2 and default gain √2,
 * 'linear' gain 1; callers may scale the gain (resnet blocks use √0.5), and the
 * clamp is given already scaled.
 *
 * One kernel each way, as the original's CUDA op: the forward writes y alone,
 * and the backward recomputes x + b from the saved input to find the clamp and
 * activation masks. Both do the f32 operations of the op-by-op chain (add,
 * activation, ·gain, clamp; the masks multiplied in reverse order), so the
 * numbers are the same bits. The masks are piecewise constant, so the gradient
 * is linear in ∂y and its own adjoint: second order (R1) goes through the same
 * kernel.
 */
import { record } from "../tensor/autograd.ts";
import { Tensor } from "../tensor/tensor.ts";
import { kernel } from "../runtime/kernel_cache.ts";
import { dispatch } from "../runtime/commands.ts";
import { ELEMENT_MAIN, grid, Params, paramsDecl } from "../ops/params.ts";
import { reshape } from "../ops/movement.ts";
import { sumTo } from "../ops/reduce.ts";

/** Activations of bias_act. */
export type Activation = "linear" | "lrelu" | "relu";

/** The default gain of each activation (√2 for lrelu and relu). */
export function defaultGain(act: Activation): number {
  return act === "linear" ? 1 : Math.SQRT2;
}

/** Options of `biasAct`. */
export interface BiasActOptions {
  act?: Activation;
  /** Overall gain (default: the activation's own). */
  gain?: number;
  /** Clamp magnitude (null = none). */
  clamp?: number | null;
  /** Axis the bias runs along (default 1). */
  dim?: number;
}

const SLOPE = 0.2;

/** The op's settings after defaults, and the bias's broadcast layout over x. */
interface Plan {
  act: Activation;
  gain: number;
  /** Clamp magnitude, or null. */
  clamp: number | null;
  /** Channels along `dim`, and elements per channel step (the axes after `dim`). */
  channels: number;
  inner: number;
}

function planOf(x: Tensor, options: BiasActOptions): Plan {
  const act = options.act ?? "linear";
  const dim = options.dim ?? 1;
  const c = options.clamp;
  return {
    act,
    gain: options.gain ?? defaultGain(act),
    clamp: c !== undefined && c !== null && c >= 0 ? c : null,
    channels: x.shape[dim] ?? 1,
    inner: x.shape.slice(dim + 1).reduce((a, d) => a * d, 1),
  };
}

/**
 * The forward, its gradient w.r.t. x (the masks and gain applied in the order the op-by-op
 * chain's backward applies them: clamp, gain, activation), or that gradient's own backward
 * (the reverse order, as the chain's second order), so each gives the chain's bits.
 */
type Direction = "forward" | "grad" | "adjoint";

/** Whether the backward reads x + b: for the activation's slope or the clamp's mask. */
const masked = (p: Plan) => p.act !== "linear" || p.clamp !== null;

/**
 * WGSL of the forward or of a gradient (see Direction); a gradient binds x and b
 * only when masked: an unmasked gradient is ∂y·gain, and its x may be released already.
 */
function source(direction: Direction, p: Plan, bias: boolean): string {
  const act = p.act === "lrelu"
    ? "select(v * PF(3u), v, v > 0.0)"
    : p.act === "relu"
    ? "max(v, 0.0)"
    : "v";
  const gain = p.gain !== 1 ? " * PF(4u)" : "";
  const reads = direction === "forward" ? ["x"] : masked(p) ? ["g", "x"] : ["g"];
  if (bias && reads.includes("x")) reads.push("b");
  const binding = (i: number, name: string, access = "read") =>
    `@group(0) @binding(${i}) var<storage, ${access}> ${name}: array<f32>;`;
  const preact = bias ? "x[i] + b[(i / P(2u)) % P(1u)]" : "x[i]";
  let body: string;
  if (direction === "forward") {
    body = `  let v = ${preact};
  var u = (${act})${gain};
${p.clamp !== null ? "  u = clamp(u, -PF(5u), PF(5u));\n" : ""}  y[i] = u;`;
  } else {
    const lines = ["  var t = g[i];"];
    if (masked(p)) lines.unshift(`  let v = ${preact};`);
    if (p.clamp !== null) lines.push(`  let u = (${act})${gain};`);
    const factors: string[] = [];
    if (p.clamp !== null) factors.push("select(0.0, 1.0, u >= -PF(5u) && u <= PF(5u))");
    if (gain) factors.push("PF(4u)");
    if (p.act === "lrelu") factors.push("select(PF(3u), 1.0, v > 0.0)");
    if (p.act === "relu") factors.push("select(0.0, 1.0, v > 0.0)");
    if (direction === "adjoint") factors.reverse();
    for (const f of factors) lines.push(`  t = t * ${f};`);
    lines.push("  y[i] = t;");
    body = lines.join("\n");
  }
  return `// bias_act ${direction}
${reads.map((name, i) => binding(i, name)).join("\n")}
${binding(reads.length, "y", "read_write")}
${paramsDecl(reads.length + 1, 6)}
${ELEMENT_MAIN}
${body}
}`;
}

/** The float64 twin of the kernels. */
function runOnCpu(direction: Direction, p: Plan, x: Tensor, b: Tensor | null, g?: Tensor) {
  const readsX = direction === "forward" || masked(p);
  const xs = readsX ? x.cpuData : null;
  const bs = readsX ? b?.cpuData : undefined;
  const gs = g?.cpuData;
  const size = (g ?? x).size;
  const out = new Float64Array(size);
  const act = (v: number) =>
    p.act === "lrelu" ? (v > 0 ? v : v * SLOPE) : p.act === "relu" ? Math.max(v, 0) : v;
  const c = p.clamp;
  for (let i = 0; i < size; i++) {
    const v = !xs ? 0 : bs ? xs[i] + bs[Math.floor(i / p.inner) % p.channels] : xs[i];
    const u = act(v) * p.gain;
    if (direction === "forward") {
      out[i] = c === null ? u : Math.min(Math.max(u, -c), c);
      continue;
    }
    const factors: number[] = [];
    if (c !== null) factors.push(u >= -c && u <= c ? 1 : 0);
    factors.push(p.gain);
    if (p.act === "lrelu") factors.push(v > 0 ? 1 : SLOPE);
    if (p.act === "relu") factors.push(v > 0 ? 1 : 0);
    if (direction === "adjoint") factors.reverse();
    let t = gs![i];
    for (const f of factors) t *= f;
    out[i] = t;
  }
  return Tensor.fromData(out, (g ?? x).shape, "cpu");
}

function run(direction: Direction, p: Plan, x: Tensor, b: Tensor | null, g?: Tensor) {
  const like = g ?? x;
  if (like.device === "cpu") return runOnCpu(direction, p, x, b, g);
  const y = Tensor.empty(like.shape);
  if (like.size === 0) return y;
  const readsX = direction === "forward" || masked(p);
  const key = `${direction}|${p.act}|${p.gain !== 1}|${p.clamp !== null}|${b !== null}`;
  dispatch({
    kernel: kernel(
      `bias_act_${direction === "forward" ? "forward" : "grad"}`,
      () => source(direction, p, b !== null),
      key,
    ),
    buffers: [
      ...(g ? [g.buffer] : []),
      ...(readsX ? [x.buffer, ...(b ? [b.buffer] : [])] : []),
      y.buffer,
    ],
    params: new Params().u32(like.size, p.channels, p.inner).f32(SLOPE, p.gain, p.clamp ?? 0)
      .bytes(),
    workgroups: grid(like.size),
  });
  return y;
}

/** ∂L/∂x of bias_act given ∂L/∂y = g; x and b are read for the masks only. */
function biasActGrad(
  g: Tensor,
  x: Tensor,
  b: Tensor | null,
  p: Plan,
  direction: "grad" | "adjoint" = "grad",
): Tensor {
  return record(run(direction, p, x, b, g), {
    name: "bias_act_grad",
    inputs: [g],
    saved: masked(p) ? operandsOf(x, b) : [],
    backward: (gg) => [biasActGrad(gg, x, b, p, direction === "grad" ? "adjoint" : "grad")],
  });
}

/** act(x + b)·gain, clamped. */
export function biasAct(x: Tensor, b: Tensor | null, options: BiasActOptions = {}): Tensor {
  const p = planOf(x, options);
  if (!b && p.act === "linear" && p.gain === 1 && p.clamp === null) return x;
  if (b && b.size !== p.channels) {
    throw new Error(`biasAct: bias [${b.shape}] does not fit x [${x.shape}] along its channels`);
  }
  const biasShape = x.shape.map((d, i) => (i === (options.dim ?? 1) ? d : 1));
  const y = run("forward", p, x, b);
  const operands = operandsOf(x, b);
  record(y, {
    name: "bias_act",
    inputs: operands,
    saved: masked(p) ? operands : [],
    backward: (g) => {
      const gx = biasActGrad(g, x, b, p);
      return [gx, b?.requiresGrad ? reshape(sumTo(gx, biasShape), b.shape) : null];
    },
  });
  if (y.gradFn) y.recipe = { operands, run: () => run("forward", p, x, b) };
  return y;
}

const operandsOf = (x: Tensor, b: Tensor | null) => (b ? [x, b] : [x]);
