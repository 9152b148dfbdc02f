import { Tensor } from "../../../kernels/tensor/tensor.ts";
import {
  downsample2d,
  type Filter,
  filter2d,
  type Padding4,
  setupFilter,
  upfirdn2d,
  upsample2d,
} from "../../../kernels/nn/upfirdn2d.ts";
import { assertEquals } from "../../helpers/assert.ts";
import {
  assertClose,
  assertGpuMatchesCpu,
  gradcheck,
  gradgradcheck,
  input,
  setupGpu,
} from "../../helpers/check.ts";

await setupGpu();

/** upfirdn2d by its definition (the original's _upfirdn2d_ref), one channel plane at a time. */
function reference(
  x: ArrayLike<number>,
  [n, c, h, w]: number[],
  f: Filter,
  up: number,
  down: number,
  [px0, px1, py0, py1]: Padding4,
  gain: number,
): { data: Float64Array; shape: number[] } {
  const uh = h * up + py0 + py1;
  const uw = w * up + px0 + px1;
  const oh = Math.floor((uh - f.height) / down) + 1;
  const ow = Math.floor((uw - f.width) / down) + 1;
  const out = new Float64Array(n * c * oh * ow);
  // Value of the upsampled, padded plane at (y, x) (zero outside or at inserted zeros).
  const at = (p: number, y: number, xx: number) => {
    const sy = y - py0;
    const sx = xx - px0;
    if (sy < 0 || sx < 0 || sy % up || sx % up || sy / up >= h || sx / up >= w) return 0;
    return x[(p * h + sy / up) * w + sx / up];
  };
  for (let p = 0; p < n * c; p++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let s = 0;
        for (let a = 0; a < f.height; a++) {
          for (let b = 0; b < f.width; b++) {
            // Convolution (flipped filter), as the original with flip_filter=False.
            const tap = f.taps[(f.height - 1 - a) * f.width + (f.width - 1 - b)];
            s += tap * at(p, oy * down + a, ox * down + b);
          }
        }
        out[(p * oh + oy) * ow + ox] = s * gain;
      }
    }
  }
  return { data: out, shape: [n, c, oh, ow] };
}

Deno.test("setupFilter: outer product of [1,3,3,1] normalised (/64)", () => {
  const f = setupFilter([1, 3, 3, 1]);
  assertEquals([f.height, f.width], [4, 4]);
  assertClose(f.taps, [1, 3, 3, 1].flatMap((a) => [1, 3, 3, 1].map((b) => (a * b) / 64)), "taps", {
    atol: 0,
  });
});

const asym: Filter = { taps: Float64Array.from([1, 2, 3, 4, 5, 6]), height: 2, width: 3 };
const blurRow: Filter = {
  taps: Float64Array.from({ length: 7 }, (_, i) => 1 + i),
  height: 1,
  width: 7,
};
const cases: { up: number; down: number; pad: Padding4; f: Filter; gain: number }[] = [
  { up: 2, down: 1, pad: [2, 1, 2, 1], f: setupFilter(), gain: 4 },
  { up: 1, down: 2, pad: [1, 1, 1, 1], f: setupFilter(), gain: 1 },
  { up: 1, down: 1, pad: [-1, 2, 0, -2], f: asym, gain: 1 },
  { up: 2, down: 2, pad: [1, 0, 2, 1], f: asym, gain: 2 },
  // A 1-D row (the blur's passes), and up 3, where which loads are inserted zeros is decided per
  // thread rather than when the kernel is written.
  { up: 1, down: 1, pad: [3, 3, 0, 0], f: blurRow, gain: 1 },
  { up: 3, down: 1, pad: [1, 2, 0, 1], f: asym, gain: 1 },
];
const label = (c: (typeof cases)[number]) => `up ${c.up} down ${c.down} pad ${c.pad}`;

Deno.test("upfirdn2d: the reference definition, including negative padding and an asymmetric filter", async () => {
  let seed = 10;
  for (const c of cases) {
    const x = input([2, 2, 6, 5], seed++);
    const got = upfirdn2d(Tensor.fromData(x.values, x.shape, "cpu"), c.f, {
      up: c.up,
      down: c.down,
      padding: c.pad,
      gain: c.gain,
    });
    const want = reference(x.values, x.shape, c.f, c.up, c.down, c.pad, c.gain);
    assertEquals(got.shape, want.shape);
    assertClose(await got.read(), want.data, label(c), { atol: 1e-14 });
  }
});

Deno.test("upfirdn2d: GPU matches CPU, gradients included, for every case and widths off the 4-output rows", async () => {
  let seed = 30;
  for (const c of cases) {
    for (const shape of [[2, 2, 6, 5], [1, 3, 5, 11]]) {
      await assertGpuMatchesCpu(
        `${label(c)} x [${shape}]`,
        (x) => upfirdn2d(x, c.f, { up: c.up, down: c.down, padding: c.pad, gain: c.gain }),
        [input(shape, seed++)],
      );
    }
  }
});

Deno.test("upfirdn2d: its gradient and the gradient's gradient are right (asymmetric filters and padding)", () => {
  let seed = 60;
  for (const c of cases) {
    const f = (x: Tensor) => upfirdn2d(x, c.f, { up: c.up, down: c.down, padding: c.pad });
    gradcheck(label(c), f, [input([1, 1, 5, 4], seed++)]);
    gradgradcheck(`${label(c)} (second order)`, f, [input([1, 1, 4, 5], seed++)]);
  }
});

Deno.test("upsample2d / downsample2d / filter2d: sizes, and constants stay constant away from borders", async () => {
  const f = setupFilter();
  const ones = Tensor.fromData(new Float64Array(64).fill(1), [1, 1, 8, 8], "cpu");
  const up = upsample2d(ones, f);
  const down = downsample2d(ones, f);
  const same = filter2d(ones, f);
  assertEquals([up.shape, down.shape, same.shape], [[1, 1, 16, 16], [1, 1, 4, 4], [1, 1, 8, 8]]);
  const u = await up.read();
  assertClose([u[5 * 16 + 7]], [1], "upsampled interior", { atol: 1e-15 });
  const d = await down.read();
  assertClose([d[1 * 4 + 2]], [1], "downsampled interior", { atol: 1e-15 });
});

Deno.test("upfirdn2d: GPU matches CPU; gradients of first and second order", async () => {
  const f = setupFilter();
  await assertGpuMatchesCpu("upsample2d", (x) => upsample2d(x, f), [input([2, 3, 5, 6], 1)]);
  await assertGpuMatchesCpu("downsample2d", (x) => downsample2d(x, f), [input([2, 3, 8, 7], 2)]);
  gradcheck("upsample2d", (x) => upsample2d(x, f), [input([1, 1, 3, 3], 3)]);
  gradgradcheck("downsample2d (second order)", (x) => downsample2d(x, f), [input([1, 1, 4, 4], 4)]);
});
