import * as K from "../../../kernels/mod.ts";
import { assertClose, randomValues, setupGpu } from "../../helpers/check.ts";
import { assertEquals } from "../../helpers/assert.ts";

await setupGpu();

Deno.test("Adam: GPU steps match the float64 CPU backend and torch's formula", async () => {
  const n = 1000;
  const p0 = randomValues(n, 1);
  const run = async (device: K.Device) => {
    const p = K.Tensor.fromData(p0, [n], device).keep();
    const opt = new K.Adam([p], { lr: 0.01, betas: [0, 0.99], eps: 1e-8 });
    for (let s = 0; s < 5; s++) {
      K.scope(() => opt.update([K.Tensor.fromData(randomValues(n, 10 + s), [n], device)]));
    }
    return await p.read();
  };
  const gpu = await run("gpu");
  const cpu = await run("cpu");
  assertClose(gpu, cpu, "Adam parameters after 5 steps", { atol: 1e-6, rtol: 1e-6 });
  // First step by hand for element 0: m = g, v = 0.01·g², update = lr·g/(|g| + ε·…) ≈ lr·sign(g).
  const p = K.Tensor.fromData([1], [1], "cpu");
  const opt = new K.Adam([p], { lr: 0.5, betas: [0, 0.99] });
  opt.update([K.Tensor.fromData([-2], [1], "cpu")]);
  assertClose(p.cpuData, [1 + 0.5 * 2 / (2 + 1e-8)], "first Adam step", { atol: 1e-12, rtol: 0 });
});

Deno.test("Adam with `sanitize`: the same steps as nanToNum(gradient) then Adam, GPU and CPU", async () => {
  const n = 600;
  const p0 = randomValues(n, 3);
  const gradient = (s: number) =>
    randomValues(n, 20 + s).map((x, i) => [NaN, Infinity, -Infinity][i % 7] ?? x);
  const run = async (device: K.Device, fused: boolean) => {
    const p = K.Tensor.fromData(p0, [n], device).keep();
    const options = { lr: 0.01, betas: [0.5, 0.9] as [number, number] };
    const opt = new K.Adam([p], fused ? { ...options, sanitize: {} } : options);
    for (let s = 0; s < 3; s++) {
      K.scope(() => {
        const g = K.Tensor.fromData(gradient(s), [n], device);
        opt.update([fused ? g : K.nanToNum(g)]);
      });
    }
    return await p.read();
  };
  const gpuFused = await run("gpu", true);
  assertEquals(Array.from(gpuFused), Array.from(await run("gpu", false)));
  assertEquals(Array.from(await run("cpu", true)), Array.from(await run("cpu", false)));
  assertClose(gpuFused, await run("cpu", true), "sanitised Adam, GPU vs CPU", {
    atol: 1e-6,
    rtol: 1e-6,
  });
});

Deno.test("EMA: target ← source + β·(target − source)", async () => {
  const t = K.tensor([1, 2]).keep();
  const s = K.tensor([3, 6]).keep();
  K.emaUpdate([t], [s], 0.75);
  assertEquals(Array.from(await t.read()), [1.5, 3]);
});
