/**
 * The `demo` command: the main job on the embedded default. Until the full DAG
 * runs, it proves the GPU stack end to end: fits a small curve with autograd
 * and gradient descent on the adapter, and reports what it computed.
 */
import * as K from "../kernels/mod.ts";

/** Runs the demo; prints the adapter and the fit. */
export async function runDemo(): Promise<void> {
  const g = await K.initGpu();
  console.log(
    `adapter: ${g.name}${
      g.isCpu ? " (CPU)" : ""
    }, shader-f16 ${g.hasF16}, timestamps ${g.hasTimestamps}`,
  );
  // Fit y = a·sin(b·x + c) to samples of 1.5·sin(2x + 0.5) by gradient descent.
  const n = 256;
  const xs = Float32Array.from({ length: n }, (_, i) => -3 + (6 * i) / (n - 1));
  const x = K.tensor(xs).keep();
  const y = K.tensor(xs.map((v) => 1.5 * Math.sin(2 * v + 0.5))).keep();
  const params = [K.tensor([1]), K.tensor([1.8]), K.tensor([0])].map((p) => {
    p.requiresGrad = true;
    return p.keep();
  });
  const lossOf = () =>
    K.mean(K.square(K.sub(K.mul(params[0], K.sin(K.add(K.mul(params[1], x), params[2]))), y)));
  const first = (await K.scope(() => lossOf()).read())[0];
  const t0 = performance.now();
  for (let step = 0; step < 300; step++) {
    K.scope(() => {
      const grads = K.grad(lossOf(), params);
      K.noGrad(() =>
        params.forEach((p, i) => {
          const next = K.sub(p, K.mul(grads[i]!, 0.1)).keep();
          next.requiresGrad = true;
          params[i] = next;
          p.dispose();
        })
      );
    });
  }
  const last = (await K.scope(() => lossOf()).read())[0];
  const ms = performance.now() - t0;
  const [a, b, c] = await Promise.all(params.map(async (p) => (await p.read())[0]));
  console.log(`fit 1.5·sin(2x + 0.5) with 300 gradient steps in ${ms.toFixed(0)} ms on the GPU:`);
  console.log(
    `  loss ${first.toFixed(4)} → ${last.toExponential(2)}; a=${a.toFixed(4)} b=${b.toFixed(4)} c=${
      c.toFixed(4)
    }`,
  );
}
