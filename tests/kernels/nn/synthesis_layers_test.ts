import { Tensor } from "../../../kernels/tensor/tensor.ts";
import { Rng } from "../../../kernels/ops/random.ts";
import { scope } from "../../../kernels/tensor/scope.ts";
import {
  type NoiseSource,
  SynthesisBlock,
  SynthesisLayer,
  SynthesisNetwork,
} from "../../../stages/model/synthesis.ts";
import { Superresolution } from "../../../stages/model/superresolution.ts";
import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import {
  assertClose,
  assertGpuMatchesCpu,
  gradcheck,
  input,
  setupGpu,
} from "../../helpers/check.ts";

await setupGpu();

const shapes = (m: { stateDict(): Map<string, Tensor> }) =>
  Object.fromEntries([...m.stateDict()].map(([k, t]) => [k, t.shape.join("x")]));

Deno.test("SynthesisNetwork: blocks, channels and num_ws as the original (res 16, base 64, max 8)", () => {
  scope(() => {
    const net = new SynthesisNetwork({
      wDim: 4,
      imgResolution: 16,
      imgChannels: 6,
      channelBase: 64,
      channelMax: 8,
      device: "cpu",
    }, new Rng(1));
    // Blocks 4, 8, 16 with 1 + 2 + 2 convs and one final ToRGB w.
    assertEquals(net.numWs, 6);
    const s = shapes(net);
    assertEquals(s["b4.const"], "8x4x4");
    assertEquals(s["b8.conv0.weight"], "8x8x3x3");
    assertEquals(s["b16.conv0.weight"], "4x8x3x3");
    assertEquals(s["b16.conv1.noise_const"], "16x16");
    assertEquals(s["b16.conv1.noise_strength"], "");
    assertEquals(s["b16.torgb.weight"], "6x4x1x1");
    assertEquals(s["b8.resample_filter"], "4x4");
    assertEquals(Object.keys(s).filter((k) => k.startsWith("b4.")).slice(0, 3), [
      "b4.const",
      "b4.resample_filter",
      "b4.conv1.weight",
    ]);
  });
});

Deno.test("SynthesisLayer: noise modes; 'random' draws [N,1,res,res] from the injected source", async () => {
  const layer = new SynthesisLayer(
    { inChannels: 2, outChannels: 3, wDim: 4, resolution: 6, device: "cpu" },
    new Rng(2),
  );
  const x = Tensor.fromData(input([2, 2, 6, 6], 1).values, [2, 2, 6, 6], "cpu");
  const w = Tensor.fromData(input([2, 4], 2).values, [2, 4], "cpu");
  // noise_strength starts at 0: every mode agrees.
  const none = await layer.forward(x, w, { noiseMode: "none" }).read();
  assertClose(await layer.forward(x, w, { noiseMode: "const" }).read(), none, "const, strength 0", {
    atol: 0,
  });
  await assertThrows(() => layer.forward(x, w, { noiseMode: "random" }), "randomNoise");
  const drawn: number[][] = [];
  const y = layer.forward(x, w, {
    noiseMode: "random",
    randomNoise: (shape, device) => {
      drawn.push(shape);
      return Tensor.fromData(
        new Float64Array(shape.reduce((a, b) => a * b)).fill(1),
        shape,
        device,
      );
    },
  });
  assertEquals(drawn, [[2, 1, 6, 6]]);
  assertClose(await y.read(), none, "random, strength 0", { atol: 0 });
  // With a strength, 'random' noise of ones equals 'const' noise of ones.
  layer.loadStateDict(
    new Map([
      ["noise_strength", Tensor.fromData([0.7], [], "cpu")],
      ["noise_const", Tensor.fromData(new Float64Array(36).fill(1), [6, 6], "cpu")],
    ]),
    { strict: false },
  );
  const ones: NoiseSource = (shape, device) =>
    Tensor.fromData(new Float64Array(shape.reduce((a, b) => a * b)).fill(1), shape, device);
  const random = await layer.forward(x, w, { noiseMode: "random", randomNoise: ones }).read();
  const konst = await layer.forward(x, w, { noiseMode: "const" }).read();
  assertClose(random, konst, "random ones = const ones", { atol: 1e-15 });
  const diff = Array.from(random).reduce((m, v, i) => Math.max(m, Math.abs(v - none[i])), 0);
  assertEquals(diff > 0.1, true);
});

Deno.test("SynthesisBlock: resnet and orig architectures; fused equals non-fused", async () => {
  for (const architecture of ["resnet", "orig"] as const) {
    const block = new SynthesisBlock({
      inChannels: 3,
      outChannels: 4,
      wDim: 5,
      resolution: 8,
      imgChannels: 2,
      isLast: true,
      architecture,
      device: "cpu",
    }, new Rng(3));
    assertEquals(block.stateDict().has("skip.weight"), architecture === "resnet");
    const x = Tensor.fromData(input([2, 3, 4, 4], 4).values, [2, 3, 4, 4], "cpu");
    const ws = Tensor.fromData(input([2, 3, 5], 5).values, [2, 3, 5], "cpu");
    const a = block.forward(x, null, ws, { noiseMode: "const" });
    const b = block.forward(x, null, ws, { noiseMode: "const", fusedModconv: true });
    assertEquals([a.x.shape, a.img!.shape], [[2, 4, 8, 8], [2, 2, 8, 8]]);
    assertClose(await b.x.read(), await a.x.read(), `${architecture} x`, { atol: 1e-12 });
    assertClose(await b.img!.read(), await a.img!.read(), `${architecture} img`, { atol: 1e-12 });
  }
});

Deno.test("SynthesisNetwork: GPU matches CPU; gradient w.r.t. ws by finite differences", async () => {
  const build = (device: "gpu" | "cpu") =>
    new SynthesisNetwork({
      wDim: 3,
      imgResolution: 8,
      imgChannels: 2,
      channelBase: 16,
      channelMax: 2,
      device,
    }, new Rng(7));
  const gpuNet = build("gpu");
  const cpuNet = build("cpu");
  await assertGpuMatchesCpu(
    "synthesis",
    (ws) => (ws.device === "gpu" ? gpuNet : cpuNet).forward(ws, { noiseMode: "const" }),
    [input([2, 4, 3], 8)],
    { atol: 1e-5, rtol: 1e-5 },
  );
  gradcheck("synthesis ∂/∂ws", (ws) => cpuNet.forward(ws, { noiseMode: "const" }), [
    input([1, 4, 3], 9),
  ], {
    atol: 1e-6,
    rtol: 1e-5,
  });
});

Deno.test("Superresolution: the original classes' default structure (names and shapes)", () => {
  scope(() => {
    const dc = shapes(
      new Superresolution(
        { kind: "SuperresolutionHybrid8XDC", channels: 32, device: "cpu" },
        new Rng(1),
      ),
    );
    assertEquals(dc["resample_filter"], undefined); // 8XDC registers no filter of its own
    assertEquals(dc["block0.conv0.weight"], "256x32x3x3");
    assertEquals(dc["block0.conv0.noise_const"], "256x256");
    assertEquals(dc["block0.conv0.affine.weight"], "32x512");
    assertEquals(dc["block1.conv1.weight"], "128x128x3x3");
    assertEquals(dc["block1.torgb.weight"], "3x128x1x1");
    const x4 = shapes(
      new Superresolution(
        { kind: "SuperresolutionHybrid4X", channels: 32, device: "cpu" },
        new Rng(1),
      ),
    );
    assertEquals(x4["resample_filter"], "4x4");
    assertEquals(x4["block0.conv0.noise_const"], "128x128");
    assertEquals(x4["block1.conv0.weight"], "64x128x3x3");
    assertEquals(x4["block1.conv0.noise_const"], "256x256");
  });
});

Deno.test("Superresolution: tiny 8XDC and 4X forwards (resize when smaller, output size)", async () => {
  for (const kind of ["SuperresolutionHybrid8XDC", "SuperresolutionHybrid4X"] as const) {
    const sr = new Superresolution({
      kind,
      channels: 4,
      imgResolution: 16,
      inputResolution: kind === "SuperresolutionHybrid4X" ? 8 : 4,
      blockChannels: [3, 2],
      wDim: 3,
      device: "cpu",
    }, new Rng(4));
    const x = Tensor.fromData(input([2, 4, 2, 2], 1).values, [2, 4, 2, 2], "cpu");
    const rgb = Tensor.fromData(input([2, 3, 2, 2], 2).values, [2, 3, 2, 2], "cpu");
    const ws = Tensor.fromData(input([2, 5, 3], 3).values, [2, 5, 3], "cpu");
    const image = sr.forward(rgb, x, ws, { noiseMode: "none" });
    assertEquals(image.shape, [2, 3, 16, 16]);
    assertEquals((await image.read()).every(Number.isFinite), true);
  }
  await assertThrows(
    () =>
      new Superresolution({
        kind: "SuperresolutionHybrid2X",
        channels: 4,
        imgResolution: 16,
        inputResolution: 4,
        device: "cpu",
      }, new Rng(1)),
    "must be 2×",
  );
});
