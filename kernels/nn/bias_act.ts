/**
 * StyleGAN2's bias_act: y = clamp(act(x + b) · gain, ±clamp), with the bias
 * broadcast along `dim` (channels). 'lrelu' has slope 0.2 and default gain √2,
 * 'linear' gain 1; callers may scale the gain (resnet blocks use √0.5), and the
 * clamp is given already scaled.
 *
 * One kernel each way, as the original's CUDA op. Every activation here is
 * piecewise linear, so the backward needs x + b only for two bits an element:
 * whether x + b > 0 (the slope) and whether act(x + b)·gain fell inside the
 * clamp. On the GPU, a forward that records a gradient writes these bits beside
 * y (bias_act_mask.ts), and the op keeps that mask for its backward instead of
 * x: a sixteenth of its bytes. The CPU reference keeps x and finds them again.
 * Both directions do the f32 operations of the op-by-op chain (add, activation,
 * ·gain, clamp; the masks multiplied in reverse order), so the numbers are the
 * same bits. The masks are piecewise constant, so the gradient is linear in ∂y
 * and its own adjoint: second order (R1) goes through the same kernel and mask.
 */
import { record, records } from "../tensor/autograd.ts";
import { Tensor } from "../tensor/tensor.ts";
import { kernel } from "../runtime/kernel_cache.ts";
import { dispatch } from "../runtime/commands.ts";
import { ELEMENT_MAIN, grid, Params, paramsDecl } from "../ops/params.ts";
import { reshape } from "../ops/movement.ts";
import { sumTo } from "../ops/reduce.ts";
import { emptyMask, INSIDE, maskBits, maskedMain, maskWords, POSITIVE } from "./bias_act_mask.ts";

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

/** Whether the backward reads masks: the activation's slope or the clamp's. */
const masked = (p: Plan) => p.act !== "linear" || p.clamp !== null;

/**
 * Where a gradient finds its masks: the mask the GPU forward wrote, or (on the CPU) x and b,
 * from which it finds them again.
 */
type Masks = { mask: Tensor } | { x: Tensor; b: Tensor | null };

/** The values a gradient reading `masks` keeps (none when unmasked). */
const savedOf = (masks: Masks | null) =>
  !masks ? [] : "mask" in masks ? [masks.mask] : operandsOf(masks.x, masks.b);

/** The parameter word holding the mask's word count. */
const WORDS = 6;

/**
 * WGSL of the forward (writing the mask with `mask`) or of a gradient (see Direction); a
 * gradient binds the mask only when masked: an unmasked gradient is ∂y·gain.
 */
function source(direction: Direction, p: Plan, bias: boolean, mask: boolean): string {
  const act = p.act === "lrelu"
    ? "select(v * PF(3u), v, v > 0.0)"
    : p.act === "relu"
    ? "max(v, 0.0)"
    : "v";
  const gain = p.gain !== 1 ? " * PF(4u)" : "";
  const io = (name: string, type = "f32", access = "read") => ({ name, type, access });
  const y = io("y", "f32", "read_write");
  const bindings = direction === "forward"
    ? [io("x"), ...(bias ? [io("b")] : []), y, ...(mask ? [io("mask", "u32", "read_write")] : [])]
    : [io("g"), ...(mask ? [io("mask", "u32")] : []), y];
  let main: string;
  if (direction === "forward") {
    const lines = [`  let v = ${bias ? "x[i] + b[(i / P(2u)) % P(1u)]" : "x[i]"};`];
    lines.push(`  var u = (${act})${gain};`);
    if (mask && p.act !== "linear") lines.push(`  code = code | select(0u, ${POSITIVE}, v > 0.0);`);
    if (mask && p.clamp !== null) {
      lines.push(`  code = code | select(0u, ${INSIDE}, u >= -PF(5u) && u <= PF(5u));`);
    }
    if (p.clamp !== null) lines.push("  u = clamp(u, -PF(5u), PF(5u));");
    lines.push("  y[i] = u;");
    main = mask ? maskedMain(WORDS, lines.join("\n")) : `${ELEMENT_MAIN}\n${lines.join("\n")}\n}`;
  } else {
    const lines = mask ? [maskBits(WORDS)] : [];
    lines.push("  var t = g[i];");
    const factors: string[] = [];
    const set = (bit: string) => `(m & ${bit}) != 0u`;
    if (p.clamp !== null) factors.push(`select(0.0, 1.0, ${set(INSIDE)})`);
    if (gain) factors.push("PF(4u)");
    if (p.act === "lrelu") factors.push(`select(PF(3u), 1.0, ${set(POSITIVE)})`);
    if (p.act === "relu") factors.push(`select(0.0, 1.0, ${set(POSITIVE)})`);
    if (direction === "adjoint") factors.reverse();
    for (const f of factors) lines.push(`  t = t * ${f};`);
    lines.push("  y[i] = t;");
    main = `${ELEMENT_MAIN}\n${lines.join("\n")}\n}`;
  }
  return `// bias_act ${direction}${mask ? " (mask)" : ""}
${
    bindings.map((b, i) =>
      `@group(0) @binding(${i}) var<storage, ${b.access}> ${b.name}: array<${b.type}>;`
    ).join("\n")
  }
${paramsDecl(bindings.length, WORDS + 1)}
${main}`;
}

/** The float64 twin of the kernels; x and b are read for the forward and the masks only. */
function runOnCpu(
  direction: Direction,
  p: Plan,
  x: Tensor | null,
  b: Tensor | null,
  g?: Tensor,
): Tensor {
  const xs = x?.cpuData;
  const bs = x ? b?.cpuData : undefined;
  const gs = g?.cpuData;
  const like = (g ?? x)!;
  const size = like.size;
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
  return Tensor.fromData(out, like.shape, "cpu");
}

const params = (p: Plan, size: number) =>
  new Params().u32(size, p.channels, p.inner).f32(SLOPE, p.gain, p.clamp ?? 0)
    .u32(maskWords(size)).bytes();

/** y, and with `withMask` (GPU only) the mask its gradient reads. */
function forward(p: Plan, x: Tensor, b: Tensor | null, withMask: boolean) {
  if (x.device === "cpu") return { y: runOnCpu("forward", p, x, b), mask: null };
  const y = Tensor.empty(x.shape);
  const mask = withMask ? emptyMask(x.size) : null;
  if (x.size === 0) return { y, mask };
  dispatch({
    kernel: kernel(
      "bias_act_forward",
      () => source("forward", p, b !== null, mask !== null),
      `${p.act}|${p.gain !== 1}|${p.clamp !== null}|${b !== null}|${mask !== null}`,
    ),
    buffers: [x.buffer, ...(b ? [b.buffer] : []), y.buffer, ...(mask ? [mask.buffer] : [])],
    params: params(p, x.size),
    workgroups: grid(mask ? maskWords(x.size) : x.size),
  });
  return { y, mask };
}

/** A gradient (see Direction) given ∂ = g, reading `masks`. */
function gradient(direction: Direction, p: Plan, g: Tensor, masks: Masks | null): Tensor {
  if (g.device === "cpu") {
    const [x, b] = masks && "x" in masks ? [masks.x, masks.b] : [null, null];
    return runOnCpu(direction, p, x, b, g);
  }
  if (masks && !("mask" in masks)) throw new Error("bias_act: a GPU gradient without its mask");
  const mask = masks?.mask ?? null;
  const y = Tensor.empty(g.shape);
  if (g.size === 0) return y;
  dispatch({
    kernel: kernel(
      "bias_act_grad",
      () => source(direction, p, false, mask !== null),
      `${direction}|${p.act}|${p.gain !== 1}|${p.clamp !== null}`,
    ),
    buffers: [g.buffer, ...(mask ? [mask.buffer] : []), y.buffer],
    params: params(p, g.size),
    workgroups: grid(g.size),
  });
  return y;
}

/** ∂L/∂x of bias_act given ∂L/∂y = g, its masks read from `masks`. */
function biasActGrad(
  g: Tensor,
  masks: Masks | null,
  p: Plan,
  direction: "grad" | "adjoint" = "grad",
): Tensor {
  return record(gradient(direction, p, g, masks), {
    name: "bias_act_grad",
    inputs: [g],
    saved: savedOf(masks),
    backward: (gg) => [biasActGrad(gg, masks, p, direction === "grad" ? "adjoint" : "grad")],
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
  const operands = operandsOf(x, b);
  // The mask only where a backward will read it: not for inference, nor a recomputation.
  const { y, mask } = forward(p, x, b, masked(p) && x.device === "gpu" && records(operands));
  const masks = !masked(p) ? null : mask ? { mask } : { x, b };
  record(y, {
    name: "bias_act",
    inputs: operands,
    saved: savedOf(masks),
    backward: (g) => {
      const gx = biasActGrad(g, masks, p);
      return [gx, b?.requiresGrad ? reshape(sumTo(gx, biasShape), b.shape) : null];
    },
  });
  if (y.gradFn) y.recipe = { operands, run: () => forward(p, x, b, false).y };
  return y;
}

const operandsOf = (x: Tensor, b: Tensor | null) => (b ? [x, b] : [x]);
