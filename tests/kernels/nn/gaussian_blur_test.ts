import { Tensor } from "../../../kernels/tensor/tensor.ts";
import { blurTaps, gaussianBlur } from "../../../kernels/nn/gaussian_blur.ts";
import { assertEquals } from "../../helpers/assert.ts";
import {
  assertClose,
  assertGpuMatchesCpu,
  gradcheck,
  input,
  setupGpu,
} from "../../helpers/check.ts";

await setupGpu();

Deno.test("blurTaps: exp2(−(k/σ)²) for |k| ≤ ⌊3σ⌋, normalised; none below σ = 1/3", () => {
  const raw = [-3, -2, -1, 0, 1, 2, 3].map((k) => 2 ** -(k * k));
  const total = raw.reduce((a, b) => a + b, 0);
  assertClose(blurTaps(1), raw.map((v) => v / total), "σ = 1", { atol: 1e-16 });
  assertEquals(blurTaps(2.5).length, 15);
  assertEquals(blurTaps(0.3).length, 0);
});

Deno.test("gaussianBlur: the separable filter with zero padding, by a direct 2-D sum", async () => {
  const x = input([1, 2, 9, 8], 7);
  const sigma = 0.7; // radius 2
  const taps = blurTaps(sigma);
  const got = await gaussianBlur(Tensor.fromData(x.values, x.shape, "cpu"), sigma).read();
  const want = new Float64Array(x.values.length);
  for (let c = 0; c < 2; c++) {
    for (let i = 0; i < 9; i++) {
      for (let j = 0; j < 8; j++) {
        let s = 0;
        for (let a = -2; a <= 2; a++) {
          for (let b = -2; b <= 2; b++) {
            const y = i + a;
            const xx = j + b;
            if (y >= 0 && y < 9 && xx >= 0 && xx < 8) {
              s += taps[a + 2] * taps[b + 2] * x.values[(c * 9 + y) * 8 + xx];
            }
          }
        }
        want[(c * 9 + i) * 8 + j] = s;
      }
    }
  }
  assertClose(got, want, "blur", { atol: 1e-14 });
});

Deno.test("gaussianBlur: GPU matches CPU; gradient by finite differences", async () => {
  await assertGpuMatchesCpu("σ = 1", (x) => gaussianBlur(x, 1), [input([2, 3, 10, 10], 1)]);
  gradcheck("σ = 0.5", (x) => gaussianBlur(x, 0.5), [input([1, 1, 5, 5], 2)]);
});
