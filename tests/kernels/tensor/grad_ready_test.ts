import * as K from "../../../kernels/mod.ts";
import { withGradReadyListener } from "../../../kernels/tensor/autograd.ts";
import { pendingDispatches } from "../../../kernels/runtime/commands.ts";
import { assertEquals } from "../../helpers/assert.ts";
import { setupGpu } from "../../helpers/check.ts";

await setupGpu();

Deno.test("grad-ready listener: each gradient reported once, final, as soon as no rule adds to it", async () => {
  await K.scopeAsync(async () => {
    const x = K.tensor([0.5, -1, 2], [1, 3]);
    const w1 = K.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [3, 2]);
    const w2 = K.tensor([0.7, -0.8], [2, 1]);
    const unused = K.tensor([1]);
    for (const p of [w1, w2, unused]) p.requiresGrad = true;
    // w1 is used twice (its gradient sums two contributions); w2 once, near the output.
    const h = K.tanh(K.add(K.matmul(x, w1), K.matmul(K.mul(x, 2), w1)));
    const loss = K.sum(K.matmul(h, w2));
    const reports: [number, K.Tensor | null, number][] = [];
    const grads = await withGradReadyListener(
      (i, g) => reports.push([i, g, pendingDispatches()]),
      () => Promise.resolve(K.grad(loss, [w1, w2, unused])),
    );
    assertEquals(reports.map(([i]) => i), [1, 0, 2], "w2 first, then w1, the unused one last");
    reports.forEach(([i, g]) => {
      if (g !== grads[i]) throw new Error(`gradient ${i}: reported tensor is not the final one`);
    });
    assertEquals(grads[2], null);
    // w2's gradient was final before w1's backward was recorded.
    if (!(reports[0][2] < reports[1][2])) throw new Error(`report positions ${reports}`);
  });
});

Deno.test("grad-ready listener: outside withGradReadyListener, nothing is reported", async () => {
  let calls = 0;
  await withGradReadyListener(() => calls++, () => Promise.resolve());
  K.scope(() => {
    const w = K.tensor([1, 2]);
    w.requiresGrad = true;
    K.grad(K.sum(K.square(w)), [w]);
  });
  assertEquals(calls, 0);
});

Deno.test("gradAsync: the same gradients as grad, awaiting what pause() returns between rules", async () => {
  const x = K.tensor([0.3, -0.7, 1.1, 0.2], [2, 2]).keep();
  x.requiresGrad = true;
  const f = () => K.sum(K.square(K.tanh(K.matmul(K.mul(x, 1.5), x))));
  const sync = await K.scope(() => K.grad(f(), [x])[0]!).read();
  let asked = 0;
  let waits = 0;
  let pending = false;
  let wentOnEarly = false;
  // Every second rule: a promise that a macrotask resolves, which the pass must await.
  const pause = () => {
    wentOnEarly ||= pending;
    if (++asked % 2 !== 0) return undefined;
    pending = true;
    waits++;
    return new Promise<void>((resolve) => setTimeout(() => (pending = false, resolve()), 0));
  };
  const [g] = await K.scopeAsync(async () => {
    const out = await K.gradAsync(f(), [x], pause);
    wentOnEarly ||= pending;
    return [await out[0]!.read()];
  });
  assertEquals(Array.from(g), Array.from(sync));
  if (waits < 2) throw new Error(`pause returned ${waits} promises`);
  if (wentOnEarly) throw new Error("the pass went on before pause()'s promise resolved");
  x.dispose();
});
