import { Rng } from "../../kernels/ops/random.ts";
import { slice } from "../../kernels/ops/movement.ts";
import { reshape } from "../../kernels/ops/movement.ts";
import { Tensor } from "../../kernels/tensor/tensor.ts";
import { scopeAsync } from "../../kernels/tensor/scope.ts";
import { OSGDecoder } from "../../stages/model/decoder.ts";
import { drawPatchTopLeft, sampleRays } from "../../stages/model/rays.ts";
import { ImportanceRenderer, type RenderOptions } from "../../stages/model/renderer.ts";
import { renderFused } from "../../stages/model/fused_renderer.ts";
import { projectOntoPlanes, sampleTriplanes } from "../../stages/model/triplane.ts";
import { decodePoints } from "../../stages/model/point_decoder.ts";
import { add, mul } from "../../kernels/ops/elementwise.ts";
import { sum } from "../../kernels/ops/reduce.ts";
import { grad } from "../../kernels/ops/grad.ts";
import { noGrad } from "../../kernels/tensor/autograd.ts";
import { assertEquals } from "../helpers/assert.ts";
import { assertClose, setupGpu } from "../helpers/check.ts";

await setupGpu();

/** Two cameras at radius 2.7 looking at the origin (OpenCV axes), focal 4.2647. */
function cameras(device: "gpu" | "cpu"): Tensor {
  const rows: number[] = [];
  for (const yaw of [0.3, -0.2]) {
    const [s, c] = [Math.sin(yaw), Math.cos(yaw)];
    const pos = [2.7 * s, 0.1, 2.7 * c];
    // Columns: right, down, forward (towards the origin).
    const f = pos.map((v) => -v / Math.hypot(...pos));
    const right = [c, 0, -s];
    const down = [
      f[1] * right[2] - f[2] * right[1],
      f[2] * right[0] - f[0] * right[2],
      f[0] * right[1] - f[1] * right[0],
    ];
    for (let r = 0; r < 3; r++) rows.push(right[r], down[r], f[r], pos[r]);
    rows.push(0, 0, 0, 1, 4.2647, 0, 0.5, 0, 4.2647, 0.5, 0, 0, 1);
  }
  return Tensor.fromData(rows, [2, 25], device);
}

Deno.test("rays: a patch is the same crop of the virtual full grid", async () => {
  const c = cameras("gpu");
  const full = sampleRays(c, 12);
  const topLeft = [[2, 5], [7, 0]];
  const patch = sampleRays(c, 4, { fullResolution: 12, topLeft });
  const fullDirs = await full.directions.read();
  const patchDirs = await patch.directions.read();
  const want: number[] = [];
  topLeft.forEach(([top, left], n) => {
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) {
        want.push(
          ...fullDirs.slice(
            (n * 144 + (top + i) * 12 + left + j) * 3,
            (n * 144 + (top + i) * 12 + left + j) * 3 + 3,
          ),
        );
      }
    }
  });
  assertClose(patchDirs, want, "patch directions", { atol: 1e-6 });
  const drawn = drawPatchTopLeft(new Rng(5), 3, 64, 512);
  assertEquals(
    drawn.every(([t, l]) => Number.isInteger(t) && t >= 0 && t <= 448 && l >= 0 && l <= 448),
    true,
  );
  assertEquals(drawPatchTopLeft(new Rng(5), 3, 64, 512), drawn);
});

Deno.test("triplane: EG3D projects (x,y), (x,z), (z,x); Mimic3D (x,y), (y,z), (z,x)", async () => {
  const p = Tensor.fromData([0.1, 0.2, 0.3], [1, 1, 3], "gpu");
  const eg3d = await projectOntoPlanes(p, { planeAxes: "eg3d", boxWarp: 1 }).read();
  const mimic = await projectOntoPlanes(p, { planeAxes: "mimic3d", boxWarp: 2 }).read();
  assertClose(eg3d, [0.2, 0.4, 0.2, 0.6, 0.6, 0.2], "eg3d");
  assertClose(mimic, [0.1, 0.2, 0.2, 0.3, 0.3, 0.1], "mimic3d");
});

const options: RenderOptions = {
  depthResolution: 7,
  depthResolutionImportance: 5,
  rayStart: 2.25,
  rayEnd: 3.3,
  boxWarp: 1,
  planeAxes: "mimic3d",
};

async function compareFusedToUnfused(
  opts: RenderOptions,
  injected: boolean,
  planeSets: number,
  channels = 6,
): Promise<void> {
  await scopeAsync(async () => {
    const rng = new Rng(11);
    // Strong densities so that weights are far from uniform (importance sampling matters).
    const planes = [
      rng.normal([2, 3, channels, 10, 10]),
      rng.normal([2, 3, channels, 20, 20]),
    ].slice(0, planeSets);
    const decoder = new OSGDecoder({ nFeatures: channels, outputDim: 5, hiddenDim: 12 }, rng);
    const { origins, directions } = sampleRays(cameras("gpu"), 6);
    const random = () =>
      injected
        ? {
          stratified: new Rng(3).uniform([2, 36, opts.depthResolution, 1]),
          importance: new Rng(4).uniform([72, opts.depthResolutionImportance]),
        }
        : new Rng(21);
    const a = new ImportanceRenderer(opts).render(planes, decoder, origins, directions, random());
    const b = renderFused(planes, decoder, origins, directions, opts, random(), { chunkRays: 25 });
    const what = `${JSON.stringify(opts)} injected=${injected} planes=${planeSets} C=${channels}`;
    assertClose(await b.rgb.read(), await a.rgb.read(), `${what}: rgb`, { atol: 2e-6, rtol: 1e-5 });
    assertClose(await b.depth.read(), await a.depth.read(), `${what}: depth`, {
      atol: 2e-6,
      rtol: 1e-5,
    });
    assertClose(await b.weightsSum.read(), await a.weightsSum.read(), `${what}: weights sum`, {
      atol: 2e-6,
      rtol: 1e-5,
    });
  });
}

Deno.test("fused renderer = unfused renderer (injected uniforms and the same Rng stream)", async () => {
  await compareFusedToUnfused(options, true, 2);
  await compareFusedToUnfused(options, false, 1);
  await compareFusedToUnfused({ ...options, planeAxes: "eg3d", whiteBack: true }, false, 2);
  await compareFusedToUnfused({ ...options, depthResolutionImportance: 0 }, false, 1);
  await compareFusedToUnfused(options, false, 2, 8); // channels read four at a time
});

Deno.test("point decoder = tri-plane sampling + OSG decoder; a render without gradients uses it", async () => {
  await scopeAsync(async () => {
    const rng = new Rng(5);
    // Channels read one or four at a time; points in one or several workgroups, one or more
    // points a thread (≥ 2²⁰ points).
    const cases = [
      { planeAxes: "mimic3d", planeSets: 1, c: 6, points: 1500 },
      { planeAxes: "eg3d", planeSets: 2, c: 6, points: 1500 },
      { planeAxes: "mimic3d", planeSets: 2, c: 8, points: 1500 },
      { planeAxes: "eg3d", planeSets: 1, c: 4, points: 600_000 },
    ] as const;
    for (const { planeAxes, planeSets, c, points: m } of cases) {
      await scopeAsync(async () => {
        const planes = [rng.normal([2, 3, c, 10, 10]), rng.normal([2, 3, c, 20, 14])]
          .slice(0, planeSets);
        const decoder = new OSGDecoder({ nFeatures: c, outputDim: 5, hiddenDim: 12 }, rng);
        // Points inside and outside the box (zero padding), 2 batch items.
        const points = mul(rng.normal([2, m, 3]), 0.6);
        const triplane = { planeAxes, boxWarp: 1 };
        const fused = decodePoints(planes, decoder, points, triplane);
        const reference = decoder.forward(sampleTriplanes(planes, points, triplane));
        const what = `${planeAxes}, ${planeSets} plane sets, C ${c}, ${2 * m} points`;
        const tol = { atol: 2e-6, rtol: 1e-5 };
        assertEquals(fused.rgb.shape, reference.rgb.shape);
        assertEquals(fused.sigma.shape, reference.sigma.shape);
        assertClose(await fused.rgb.read(), await reference.rgb.read(), `${what}: rgb`, tol);
        assertClose(await fused.sigma.read(), await reference.sigma.read(), `${what}: σ`, tol);
      });
    }
    // The renderer decodes with it where it records no gradient, and gives the same image.
    const planes = [rng.normal([2, 3, 6, 10, 10])];
    const decoder = new OSGDecoder({ nFeatures: 6, outputDim: 5, hiddenDim: 12 }, rng);
    const { origins, directions } = sampleRays(cameras("gpu"), 5);
    const renderer = new ImportanceRenderer(options);
    const recorded = renderer.render(planes, decoder, origins, directions, new Rng(8));
    assertEquals(recorded.rgb.requiresGrad, true);
    const inference = noGrad(() =>
      renderer.render(planes, decoder, origins, directions, new Rng(8))
    );
    const tol = { atol: 2e-6, rtol: 1e-5 };
    assertClose(await inference.rgb.read(), await recorded.rgb.read(), "no-grad render rgb", tol);
    assertClose(await inference.depth.read(), await recorded.depth.read(), "no-grad depth", tol);
  });
});

Deno.test("differentiable render: GPU gradients (fused tri-plane sampling, merge by permutation) = float64 CPU", async () => {
  await scopeAsync(async () => {
    const rng = new Rng(12);
    const gpuPlanes = [rng.normal([2, 3, 6, 10, 10]), rng.normal([2, 3, 6, 16, 12])];
    const decoder = new OSGDecoder({ nFeatures: 6, outputDim: 5, hiddenDim: 12 }, rng);
    const state = new Map<string, Tensor>();
    for (const [k, t] of decoder.stateDict()) {
      state.set(k, Tensor.fromData(await t.read(), t.shape, "cpu"));
    }
    const cpuDecoder = new OSGDecoder(
      { nFeatures: 6, outputDim: 5, hiddenDim: 12, device: "cpu" },
      new Rng(0),
    );
    cpuDecoder.loadStateDict(state);
    const stratified = rng.uniform([2, 25, options.depthResolution, 1]);
    const importance = rng.uniform([50, options.depthResolutionImportance]);
    const weights = rng.normal([2, 25, 5]);
    const run = async (device: "gpu" | "cpu") => {
      const on = async (t: Tensor) =>
        device === "gpu" ? t : Tensor.fromData(await t.read(), t.shape, "cpu");
      const planes = await Promise.all(gpuPlanes.map(on));
      for (const p of planes) p.requiresGrad = true;
      const dec = device === "gpu" ? decoder : cpuDecoder;
      const { origins, directions } = sampleRays(cameras(device), 5);
      const random = { stratified: await on(stratified), importance: await on(importance) };
      const r = new ImportanceRenderer(options).render(planes, dec, origins, directions, random);
      const loss = sum(add(mul(r.rgb, await on(weights)), mul(r.depth, 0.3)));
      const params = [...planes, ...dec.parameters().values()];
      return Promise.all(grad(loss, params).map((g) => g!.read()));
    };
    const [onGpu, onCpu] = [await run("gpu"), await run("cpu")];
    const names = ["coarse planes", "detail planes", ...decoder.parameters().keys()];
    onGpu.forEach((g, i) => {
      // Parameter gradients: 1e−4 relative to the tensor's max (the fixtures' tolerance).
      const scale = Math.max(...onCpu[i].map(Math.abs));
      assertClose(g, onCpu[i], `∂/∂${names[i]}`, { atol: 1e-4 * scale, rtol: 0 });
    });
  });
});

Deno.test("fused renderer on the CPU backend runs the unfused renderer", async () => {
  const rng = new Rng(1);
  const planes = rng.normal([2, 3, 4, 8, 8], "cpu");
  const decoder = new OSGDecoder({ nFeatures: 4, outputDim: 3, hiddenDim: 8, device: "cpu" }, rng);
  const { origins, directions } = sampleRays(cameras("cpu"), 3);
  const r = renderFused(planes, decoder, origins, directions, options, new Rng(2));
  assertEquals(r.rgb.shape, [2, 9, 3]);
  assertEquals(r.depth.shape, [2, 9, 1]);
  const d = await reshape(slice(r.depth, [null, null, null]), [-1]).read();
  assertEquals([...d].every((v) => v >= 2.25 && v <= 3.3 + 1.05 / 6), true);
});
