import {
  argsort,
  invertPermutation,
  permuteAlongAxis,
  scatterAddAlongAxis,
  sortAlongAxis,
  takeAlongAxis,
} from "../../../kernels/ops/sort.ts";
import { cumprod, cumsum } from "../../../kernels/ops/scan.ts";
import { searchsorted } from "../../../kernels/ops/searchsorted.ts";
import { Tensor } from "../../../kernels/tensor/tensor.ts";
import { mul, sub } from "../../../kernels/ops/elementwise.ts";
import { assertEquals } from "../../helpers/assert.ts";
import {
  assertGpuMatchesCpu,
  gradcheck,
  gradgradcheck,
  input,
  setupGpu,
} from "../../helpers/check.ts";

await setupGpu();

Deno.test("argsort / sortAlongAxis: stable, any axis, GPU = CPU, values differentiable", async () => {
  const x = Tensor.fromData([3, 1, 2, 1, 0, 5], [2, 3], "gpu");
  assertEquals([...await argsort(x, 1).read()], [1, 2, 0, 1, 0, 2]);
  assertEquals([...await argsort(x, 0).read()], [1, 1, 0, 0, 0, 1]);
  assertEquals([...await argsort(Tensor.fromData([2, 1, 2, 1], [4], "gpu")).read()], [1, 3, 0, 2]);
  for (const axis of [0, 1, 2]) {
    await assertGpuMatchesCpu(`sortAlongAxis axis ${axis}`, (t) => sortAlongAxis(t, axis).values, [
      input([3, 5, 4], 1),
    ]);
  }
  gradcheck("sortAlongAxis", (t) => sortAlongAxis(t, 1).values, [input([2, 6, 3], 2)]);
});

Deno.test("permuteAlongAxis: takeAlongAxis's values, a gather by the inverse as its backward", async () => {
  // Per row of [2, 4] along axis 1, broadcast over a last axis of 3.
  const orderVals = [2, 0, 3, 1, 1, 3, 0, 2];
  const order = (device: "gpu" | "cpu") => Tensor.fromData(orderVals, [2, 4, 1], device);
  for (const device of ["gpu", "cpu"] as const) {
    assertEquals([...await invertPermutation(order(device), 1).read()], [1, 3, 0, 2, 2, 0, 3, 1]);
  }
  const x = input([2, 4, 3], 5);
  await assertGpuMatchesCpu("permuteAlongAxis", (t) => permuteAlongAxis(t, order(t.device), 1), [
    x,
  ]);
  await assertGpuMatchesCpu(
    "permuteAlongAxis = takeAlongAxis",
    (t) => sub(permuteAlongAxis(t, order(t.device), 1), takeAlongAxis(t, order(t.device), 1)),
    [x],
  );
  gradcheck("permuteAlongAxis", (t) => permuteAlongAxis(t, order("cpu"), 1), [x]);
  gradgradcheck("permuteAlongAxis²", (t) => {
    const p = permuteAlongAxis(t, order("cpu"), 1);
    return mul(p, p);
  }, [x]);
  let message = "";
  try {
    permuteAlongAxis(Tensor.fromData([1, 2, 3], [1, 3]), Tensor.fromData([0, 1], [1, 2]), 1);
  } catch (e) {
    message = (e as Error).message;
  }
  assertEquals(
    message,
    "permuteAlongAxis: a permutation [1,2] must have the length of axis 1 of [1,3]",
  );
});

Deno.test("takeAlongAxis / scatterAddAlongAxis: torch.gather semantics, adjoint pair", async () => {
  const x = Tensor.fromData([10, 11, 12, 20, 21, 22], [2, 3], "gpu");
  const idx = Tensor.fromData([2, 2, 0, 1], [2, 2], "gpu");
  assertEquals([...await takeAlongAxis(x, idx, 1).read()], [12, 12, 20, 21]);
  const idxVals = [0, 2, 2, 1, 1, 0, 2, 2, 0, 1, 1, 1];
  const index = (device: "gpu" | "cpu") => Tensor.fromData(idxVals, [2, 3, 2], device);
  // Repeated indices: the scatter sums.
  for (const device of ["gpu", "cpu"] as const) {
    const s = scatterAddAlongAxis(
      Tensor.fromData([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 3, 2], device),
      index(device),
      4,
      1,
    );
    assertEquals([...await s.read()], [1, 6, 5, 4, 3, 2, 0, 0, 9, 0, 11, 22, 7, 8, 0, 0]);
  }
  await assertGpuMatchesCpu(
    "takeAlongAxis broadcast",
    (t) => takeAlongAxis(t, broadcastIdx(t.device), 2),
    [input([2, 3, 4, 5], 3)],
  );
  gradcheck("takeAlongAxis", (t) => takeAlongAxis(t, broadcastIdx("cpu"), 2), [
    input([2, 3, 4, 5], 4),
  ]);
  // Squared, so ∂L/∂x depends on x through the scatter: exercises the scatter's own backward.
  gradgradcheck("takeAlongAxis²", (t) => {
    const y = takeAlongAxis(t, broadcastIdx("cpu"), 2);
    return mul(y, y);
  }, [input([2, 3, 4, 5], 5)]);
});

function broadcastIdx(device: "gpu" | "cpu"): Tensor {
  return Tensor.fromData(
    [3, 0, 0, 2, 1, 1, 3, 3, 2, 0, 1, 2, 0, 0, 3, 1, 2, 2],
    [2, 3, 3, 1],
    device,
  );
}

Deno.test("cumsum / cumprod: inclusive, exclusive, reverse; gradients of both orders", async () => {
  const x = Tensor.fromData([1, 2, 3, 4], [1, 4], "gpu");
  assertEquals([...await cumsum(x, 1).read()], [1, 3, 6, 10]);
  assertEquals([...await cumsum(x, 1, { exclusive: true }).read()], [0, 1, 3, 6]);
  assertEquals([...await cumsum(x, 1, { reverse: true }).read()], [10, 9, 7, 4]);
  assertEquals([...await cumprod(x, 1, { exclusive: true }).read()], [1, 1, 2, 6]);
  assertEquals([...await cumprod(x, 1, { exclusive: true, reverse: true }).read()], [24, 12, 4, 1]);
  for (
    const options of [{}, { exclusive: true }, { reverse: true }, {
      exclusive: true,
      reverse: true,
    }]
  ) {
    const what = JSON.stringify(options);
    await assertGpuMatchesCpu(`cumsum ${what}`, (t) => cumsum(t, 1, options), [
      input([2, 5, 3], 6),
    ]);
    await assertGpuMatchesCpu(`cumprod ${what}`, (t) => cumprod(t, 1, options), [
      input([2, 5, 3], 7, { lo: 0.5, hi: 1.5 }),
    ]);
    gradcheck(`cumsum ${what}`, (t) => cumsum(t, 1, options), [input([2, 5, 3], 8)]);
    gradcheck(`cumprod ${what}`, (t) => cumprod(t, 1, options), [
      input([2, 5, 3], 9, { lo: 0.5, hi: 1.5 }),
    ]);
    gradgradcheck(`cumprod ${what}`, (t) => cumprod(t, 2, options), [
      input([2, 3, 5], 10, { lo: 0.5, hi: 1.5 }),
    ]);
  }
});

Deno.test("searchsorted: left and right, like torch", async () => {
  const sorted = [0, 0.25, 0.25, 0.75, 1];
  const queries = [-1, 0, 0.25, 0.5, 1, 2];
  for (const device of ["gpu", "cpu"] as const) {
    const s = Tensor.fromData([...sorted, ...sorted], [2, 5], device);
    const q = Tensor.fromData([...queries, ...queries], [2, 6], device);
    assertEquals([...await searchsorted(s, q, { right: true }).read()].slice(0, 6), [
      0,
      1,
      3,
      3,
      5,
      5,
    ]);
    assertEquals([...await searchsorted(s, q).read()].slice(6), [0, 0, 1, 3, 4, 5]);
  }
});
