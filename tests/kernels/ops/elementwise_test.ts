import * as K from "../../../kernels/mod.ts";
import { type MapOpName, mapOps } from "../../../kernels/ops/elementwise.ts";
import { compiledKernelCount } from "../../../kernels/runtime/kernel_cache.ts";
import { assertGpuMatchesCpu, gradcheck, input, setupGpu } from "../../helpers/check.ts";

await setupGpu();

/** Input range per op where it is defined and smooth. */
const domain: Partial<Record<MapOpName, [number, number]>> = {
  log: [0.2, 3],
  sqrt: [0.2, 3],
  rsqrt: [0.2, 3],
  reciprocal: [0.5, 3],
  pow: [0.5, 2],
  softplus: [-25, 25],
  sigmoid: [-30, 30],
};
const differentiable = (name: MapOpName) => "backward" in mapOps[name];
/** Operands that are parameters of an op (no gradient), with their own ranges. */
const fixedOperands: Partial<Record<MapOpName, Record<number, [number, number]>>> = {
  where: { 0: [-0.5, 0.5] },
  leakyRelu: { 1: [0.1, 0.3] },
  clamp: { 1: [-2, -0.5], 2: [0.5, 2] },
};
const spec = (
  name: MapOpName,
  shape: number[],
  i: number,
  seed: number,
  lo: number,
  hi: number,
) => {
  const fixed = fixedOperands[name]?.[i];
  const s = input(shape, seed, { lo: fixed?.[0] ?? lo, hi: fixed?.[1] ?? hi, grad: !fixed });
  if (name === "where" && i === 0) s.values = Array.from(s.values, (v) => (v > 0 ? 1 : 0));
  return s;
};

for (const name of Object.keys(mapOps) as MapOpName[]) {
  const arity = mapOps[name].cpu.length;
  const [lo, hi] = domain[name] ?? [-2, 2];
  const fn = (...xs: K.Tensor[]) =>
    (K as unknown as Record<string, (...a: K.Tensor[]) => K.Tensor>)[name](...xs);
  Deno.test(`elementwise ${name}: GPU matches float64 CPU, with broadcasting`, async () => {
    const shapes = arity === 1
      ? [[3, 5, 7]]
      : arity === 2
      ? [[3, 1, 7], [5, 1]]
      : [[5, 7], [3, 5, 7], [7]];
    const specs = shapes.map((s, i) => spec(name, s, i, 10 + i, lo, hi));
    await assertGpuMatchesCpu(name, fn, specs, { atol: 1e-6, rtol: 2e-6 });
  });
  if (differentiable(name)) {
    Deno.test(`elementwise ${name}: backward matches finite differences`, () => {
      const shapes = arity === 1 ? [[4, 3]] : arity === 2 ? [[4, 3], [3]] : [[4, 3], [4, 3], [1]];
      const specs = shapes.map((s, i) => spec(name, s, i, 20 + i, lo, hi));
      gradcheck(name, fn, specs);
    });
  }
}

Deno.test("elementwise: number operands broadcast as scalars, and changing them reuses one kernel", async () => {
  const x = K.tensor([1, 2, 3]);
  const a = await K.mul(K.add(x, 0.5), 2).read();
  const compiled = compiledKernelCount();
  const b = await K.mul(K.add(x, 1.5), 3).read();
  if (compiledKernelCount() !== compiled) {
    throw new Error("a new scalar value compiled a new kernel");
  }
  if (a.join() !== "3,5,7" || b.join() !== "7.5,10.5,13.5") throw new Error(`${a} / ${b}`);
  const y = await K.sub(1, x).read();
  if (y.join() !== "0,-1,-2") throw new Error(`${y}`);
});

Deno.test("elementwise: incompatible shapes give one error naming both shapes", () => {
  let msg = "";
  try {
    K.add(K.zeros([2, 3]), K.zeros([4]));
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!msg.includes("[2, 3]") || !msg.includes("[4]")) throw new Error(`message: ${msg}`);
});

Deno.test("elementwise: large tensors beyond one dispatch dimension", async () => {
  const n = 65535 * 256 + 1000;
  const x = K.full([n], 2);
  const y = K.mul(x, x);
  const v = await y.read();
  if (v[0] !== 4 || v[n - 1] !== 4 || v[n >> 1] !== 4) throw new Error("wrong values at the ends");
  x.dispose();
  y.dispose();
});
