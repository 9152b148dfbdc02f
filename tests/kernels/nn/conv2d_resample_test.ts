import { Tensor } from "../../../kernels/tensor/tensor.ts";
import { conv2d } from "../../../kernels/ops/conv.ts";
import { slice } from "../../../kernels/ops/movement.ts";
import { conv2dResample } from "../../../kernels/nn/conv2d_resample.ts";
import { setupFilter, upfirdn2d } from "../../../kernels/nn/upfirdn2d.ts";
import { assertEquals } from "../../helpers/assert.ts";
import {
  assertClose,
  assertGpuMatchesCpu,
  gradcheck,
  gradgradcheck,
  input,
  type InputSpec,
  setupGpu,
} from "../../helpers/check.ts";

await setupGpu();

const f = setupFilter([1, 3, 3, 1]);
const cpu = (s: InputSpec) => Tensor.fromData(s.values, s.shape, "cpu");

/** Spatially flipped weights (true convolution instead of correlation). */
function flipped(s: InputSpec): Tensor {
  const [o, i, kh, kw] = s.shape;
  const out = new Float64Array(s.values.length);
  for (let a = 0; a < o * i; a++) {
    for (let y = 0; y < kh; y++) {
      for (let x = 0; x < kw; x++) {
        out[(a * kh + y) * kw + x] = s.values[(a * kh + kh - 1 - y) * kw + kw - 1 - x];
      }
    }
  }
  return Tensor.fromData(out, s.shape, "cpu");
}

Deno.test("conv2dResample up 2: transposed conv + filter = the original's generic path (filtered upsampling, then convolution)", async () => {
  // Generic path with flip_weight=False (as SynthesisLayer with up=2): upfirdn2d(up 2, pad, gain 4) then conv with the flipped weight.
  const x = input([2, 3, 5, 5], 1);
  const w = input([4, 3, 3, 3], 2);
  const got = conv2dResample(cpu(x), cpu(w), f, { up: 2, padding: 1 });
  assertEquals(got.shape, [2, 4, 10, 10]);
  // Padding 1 plus the filter's own for up 2: [1 + 2, 1 + 1].
  const want = conv2d(upfirdn2d(cpu(x), f, { up: 2, padding: [3, 2, 3, 2], gain: 4 }), flipped(w));
  assertClose(await got.read(), await want.read(), "up-conv", { atol: 1e-13 });
});

Deno.test("conv2dResample down 2: filter then strided conv = full conv subsampled", async () => {
  const x = input([1, 2, 8, 8], 3);
  const w = input([3, 2, 3, 3], 4);
  const got = conv2dResample(cpu(x), cpu(w), f, { down: 2, padding: 1 });
  assertEquals(got.shape, [1, 3, 4, 4]);
  const full = conv2d(upfirdn2d(cpu(x), f, { padding: [2, 2, 2, 2] }), cpu(w));
  const want = slice(full, [null, null, [0, full.shape[2], 2], [0, full.shape[3], 2]]);
  assertClose(await got.read(), await want.read(), "down-conv", { atol: 1e-13 });
  // 1×1 down (resnet skip): subsample first, then the 1×1 conv.
  const w1 = input([3, 2, 1, 1], 5);
  const got1 = conv2dResample(cpu(x), cpu(w1), f, { down: 2 });
  const want1 = conv2d(upfirdn2d(cpu(x), f, { down: 2, padding: [1, 1, 1, 1] }), cpu(w1));
  assertClose(await got1.read(), await want1.read(), "1×1 down", { atol: 1e-13 });
});

Deno.test("conv2dResample: grouped up-conv equals per-group up-convs", async () => {
  const x = input([1, 4, 4, 4], 6);
  const w = input([6, 2, 3, 3], 7);
  const got = await conv2dResample(cpu(x), cpu(w), f, { up: 2, padding: 1, groups: 2 }).read();
  for (let g = 0; g < 2; g++) {
    const xs = slice(cpu(x), [null, [2 * g, 2 * g + 2]]);
    const ws = slice(cpu(w), [[3 * g, 3 * g + 3]]);
    const one = await conv2dResample(xs, ws, f, { up: 2, padding: 1 }).read();
    assertClose(got.slice(g * one.length, (g + 1) * one.length), one, `group ${g}`, {
      atol: 1e-13,
    });
  }
});

Deno.test("conv2dResample: GPU matches CPU; gradients of first and second order", async () => {
  await assertGpuMatchesCpu("up 2", (x, w) => conv2dResample(x, w, f, { up: 2, padding: 1 }), [
    input([2, 3, 4, 4], 8),
    input([5, 3, 3, 3], 9),
  ]);
  await assertGpuMatchesCpu("down 2", (x, w) => conv2dResample(x, w, f, { down: 2, padding: 1 }), [
    input([2, 3, 8, 8], 10),
    input([5, 3, 3, 3], 11),
  ]);
  gradcheck("up 2", (x, w) => conv2dResample(x, w, f, { up: 2, padding: 1 }), [
    input([1, 2, 3, 3], 12),
    input([2, 2, 3, 3], 13),
  ]);
  gradgradcheck(
    "down 2 (second order)",
    (x, w) => conv2dResample(x, w, f, { down: 2, padding: 1 }),
    [
      input([1, 1, 6, 6], 14),
      input([2, 1, 3, 3], 15),
    ],
  );
});
