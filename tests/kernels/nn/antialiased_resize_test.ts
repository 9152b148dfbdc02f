import { Tensor } from "../../../kernels/tensor/tensor.ts";
import {
  antialiasedResize,
  antialiasedResizeMatrix,
  bilinearResize,
  bilinearResizeMatrix,
} from "../../../kernels/nn/antialiased_resize.ts";
import {
  assertClose,
  assertGpuMatchesCpu,
  gradcheck,
  gradgradcheck,
  input,
  setupGpu,
} from "../../helpers/check.ts";

await setupGpu();

Deno.test("antialiasedResizeMatrix: PyTorch's triangle weights, renormalised at borders", () => {
  // interpolate([0,1,2,3], size=2, bilinear, antialias=True) = [5/7, 16/7] in PyTorch:
  // the first output's taps are pixels 0,1,2 with weights 3/7, 3/7, 1/7.
  assertClose(
    antialiasedResizeMatrix(4, 2),
    [3 / 7, 3 / 7, 1 / 7, 0, 0, 1 / 7, 3 / 7, 3 / 7],
    "4→2",
    {
      atol: 1e-15,
    },
  );
  for (const [i, o] of [[32, 8], [7, 3], [8, 32], [5, 9]]) {
    const m = antialiasedResizeMatrix(i, o);
    for (let r = 0; r < o; r++) {
      const row = m.slice(r * i, (r + 1) * i).reduce((a, b) => a + b, 0);
      assertClose([row], [1], `row ${r} of ${i}→${o} sums to 1`, { atol: 1e-14 });
    }
  }
});

Deno.test("antialiasedResize: upsampling equals plain bilinear (align_corners=False)", () => {
  for (const [i, o] of [[8, 32], [3, 7], [4, 8]]) {
    assertClose(antialiasedResizeMatrix(i, o), bilinearResizeMatrix(i, o), `${i}→${o}`, {
      atol: 1e-14,
    });
  }
  // Plain bilinear 2→4: source positions −0.25 (clamped to 0), 0.25, 0.75, 1.25.
  assertClose(bilinearResizeMatrix(2, 4), [1, 0, 0.75, 0.25, 0.25, 0.75, 0, 1], "2→4", {
    atol: 1e-15,
  });
});

Deno.test("antialiasedResize: separable application, non-square sizes", async () => {
  const x = input([1, 2, 4, 6], 3);
  const out = antialiasedResize(Tensor.fromData(x.values, x.shape, "cpu"), [2, 3]);
  const mh = antialiasedResizeMatrix(4, 2);
  const mw = antialiasedResizeMatrix(6, 3);
  const want = new Float64Array(2 * 2 * 3);
  for (let c = 0; c < 2; c++) {
    for (let oy = 0; oy < 2; oy++) {
      for (let ox = 0; ox < 3; ox++) {
        let s = 0;
        for (let y = 0; y < 4; y++) {
          for (let xx = 0; xx < 6; xx++) {
            s += mh[oy * 4 + y] * mw[ox * 6 + xx] * x.values[(c * 4 + y) * 6 + xx];
          }
        }
        want[(c * 2 + oy) * 3 + ox] = s;
      }
    }
  }
  assertClose(await out.read(), want, "A_h·x·A_wᵀ", { atol: 1e-14 });
});

Deno.test("antialiasedResize: GPU matches CPU; gradients by finite differences", async () => {
  await assertGpuMatchesCpu("down 12→5", (x) => antialiasedResize(x, 5), [
    input([2, 3, 12, 12], 1),
  ]);
  await assertGpuMatchesCpu("up 4→9", (x) => antialiasedResize(x, 9), [input([1, 2, 4, 4], 2)]);
  await assertGpuMatchesCpu("plain down", (x) => bilinearResize(x, 3, { antialias: false }), [
    input([1, 2, 7, 7], 3),
  ]);
  gradcheck("down 6→4", (x) => antialiasedResize(x, 4), [input([1, 2, 6, 6], 4)]);
  gradgradcheck("up 3→5 (second order)", (x) => antialiasedResize(x, 5), [input([1, 1, 3, 3], 5)]);
});
