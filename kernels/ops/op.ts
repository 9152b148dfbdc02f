/**
 * One way to define an op that is not element-wise (those come from elementwise.ts's table):
 * a declaration holds its shape rule, its float64 CPU twin, its GPU kernel and its backward
 * rule, and `defineOp` turns it into the function that checks the inputs, allocates the
 * outputs, runs the twin or the kernel for the inputs' device and records the backward.
 */
import { record } from "../tensor/autograd.ts";
import { Tensor } from "../tensor/tensor.ts";
import { kernel } from "../runtime/kernel_cache.ts";
import { dispatch } from "../runtime/commands.ts";
import { grid, Params } from "./params.ts";

type Tensors = readonly Tensor[];

/**
 * A GPU kernel of one thread per work item on a `grid` dispatch, reading the number of items
 * as `P(0u)` (as `ELEMENT_MAIN` does). Storage bindings: the inputs, then the outputs; the
 * uniform block after them.
 */
export interface KernelDeclaration<A> {
  /** The name its dispatches go by where it is another op's kernel (default: the op's). */
  name?: string;
  wgsl: string;
  /** Writes the uniform words that follow the item count into `words`. */
  params?(words: Params, inputs: Tensors, outputs: Tensors, attrs: A): Params;
  /** Work items (default: one per element of the first output). */
  threads?(inputs: Tensors, outputs: Tensors, attrs: A): number;
}

/** Runs kernel `name` over `inputs` and `outputs`; nothing where there is no work. */
export function launch<A>(
  name: string,
  k: KernelDeclaration<A>,
  inputs: Tensors,
  outputs: Tensors,
  attrs: A,
): void {
  const threads = k.threads?.(inputs, outputs, attrs) ?? outputs[0].size;
  if (threads === 0 || outputs[0].size === 0) return;
  const words = new Params().u32(threads);
  k.params?.(words, inputs, outputs, attrs);
  dispatch({
    kernel: kernel(k.name ?? name, k.wgsl),
    buffers: [...inputs, ...outputs].map((t) => t.buffer),
    params: words.bytes(),
    workgroups: grid(threads),
  });
}

/** An op: `inputs` are its tensors (on one device), `attrs` everything else it is told. */
export interface OpDeclaration<A> {
  /** The kernel's and the gradient function's name. */
  name: string;
  /** The output shape; throws where the inputs do not fit the op. */
  shape(inputs: Tensors, attrs: A): readonly number[];
  /** Outputs of that shape (default 1); those past the first reach only the backward. */
  outputs?: number;
  /** The float64 twin: fills the (zeroed) outputs from the inputs, as the kernel does. */
  cpu(inputs: Tensors, outputs: Tensors, attrs: A): void;
  /** The GPU kernel, or for an op made of several, the GPU path returning the output. */
  gpu: KernelDeclaration<A> | ((inputs: Tensors, attrs: A) => Tensor);
  /** Gradients of the first `differentiable` inputs, written with differentiable ops. */
  backward?(grad: Tensor, inputs: Tensors, outputs: Tensors, attrs: A): (Tensor | null)[];
  /** How many leading inputs get gradients (default: all; those after are indices). */
  differentiable?: number;
  /** The tensors `backward` reads (GradFn.saved); omitted: none. */
  saved?(inputs: Tensors, outputs: Tensors, attrs: A): Tensor[];
}

/** An op as a function of its input tensors and its attributes. */
export type Op<A> = (inputs: Tensors, attrs: A) => Tensor;

/** The op a declaration describes. */
export function defineOp<A = void>(op: OpDeclaration<A>): Op<A> {
  return (inputs, attrs) => {
    const device = inputs[0].device;
    for (const t of inputs) {
      t.assertLive();
      if (t.device !== device) throw new Error(`${op.name}: inputs on different devices`);
    }
    const shape = op.shape(inputs, attrs);
    let outputs: Tensor[];
    if (device === "gpu" && typeof op.gpu === "function") outputs = [op.gpu(inputs, attrs)];
    else {
      outputs = Array.from({ length: op.outputs ?? 1 }, () => Tensor.empty(shape, device));
      if (device === "cpu") op.cpu(inputs, outputs, attrs);
      else launch(op.name, op.gpu as KernelDeclaration<A>, inputs, outputs, attrs);
    }
    if (!op.backward) return outputs[0];
    const backward = op.backward;
    return record(outputs[0], {
      name: op.name,
      inputs: inputs.slice(0, op.differentiable ?? inputs.length),
      saved: op.saved?.(inputs, outputs, attrs) ?? [],
      backward: (g) => backward(g, inputs, outputs, attrs),
    });
  };
}
