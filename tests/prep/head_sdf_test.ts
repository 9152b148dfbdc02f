import { assertEquals } from "../helpers/assert.ts";
import { initGpu } from "../../kernels/runtime/device.ts";
import { sampleHeadParams } from "../../stages/prep/head_params.ts";
import {
  HEAD_PARAM_FLOATS,
  HEAD_SDF_WGSL,
  makeHeadSdf,
  packHeadParams,
} from "../../stages/prep/head_sdf.ts";
import { SeededRng } from "../../stages/prep/seeded_rng.ts";

const heads = Array.from({ length: 200 }, (_, i) => sampleHeadParams(SeededRng.forItem(3, i)));

Deno.test("head SDF: every object lies strictly inside the tri-plane box [-0.5, 0.5]^3", () => {
  for (const head of heads) {
    const sdf = makeHeadSdf(head);
    assertEquals(sdf(0, 0, 0) < 0, true); // solid at the centre
    for (let a = -0.5; a <= 0.5; a += 0.05) {
      for (let b = -0.5; b <= 0.5; b += 0.05) {
        for (
          const [x, y, z] of [[0.5, a, b], [-0.5, a, b], [a, 0.5, b], [a, -0.5, b], [a, b, 0.5], [
            a,
            b,
            -0.5,
          ]]
        ) {
          if (!(sdf(x, y, z) > 0)) throw new Error(`head reaches the box face at ${[x, y, z]}`);
        }
      }
    }
  }
});

Deno.test("head SDF: the WGSL and TypeScript definitions agree", async () => {
  const { device } = await initGpu();
  const rng = new SeededRng(11);
  const count = 16;
  const pointsPerHead = 256;
  const points = new Float32Array(count * pointsPerHead * 4);
  for (let i = 0; i < count * pointsPerHead; i++) {
    points.set([rng.range(-0.45, 0.45), rng.range(-0.45, 0.45), rng.range(-0.45, 0.45), 0], i * 4);
  }
  const packed = new Float32Array(count * HEAD_PARAM_FLOATS);
  heads.slice(0, count).forEach((h, i) => packed.set(packHeadParams(h), i * HEAD_PARAM_FLOATS));
  const code = `
    @group(0) @binding(0) var<storage, read> heads: array<vec4<f32>>;
    @group(0) @binding(1) var<storage, read> points: array<vec4<f32>>;
    @group(0) @binding(2) var<storage, read_write> out: array<f32>;
    ${HEAD_SDF_WGSL}
    @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
      if (id.x >= arrayLength(&out)) { return; }
      out[id.x] = head_sdf((id.x / ${pointsPerHead}u) * HEAD_VEC4S, points[id.x].xyz);
    }`;
  const pipeline = device.createComputePipeline({
    layout: "auto",
    compute: { module: device.createShaderModule({ code }), entryPoint: "main" },
  });
  const buffer = (data: Float32Array<ArrayBuffer>, usage: number) => {
    const b = device.createBuffer({
      size: data.byteLength,
      usage: usage | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(b, 0, data);
    return b;
  };
  const headBuffer = buffer(packed, GPUBufferUsage.STORAGE);
  const pointBuffer = buffer(points, GPUBufferUsage.STORAGE);
  const n = count * pointsPerHead;
  const outBuffer = device.createBuffer({
    size: n * 4,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
  });
  const readBuffer = device.createBuffer({
    size: n * 4,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(
    0,
    device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [headBuffer, pointBuffer, outBuffer].map((b, binding) => ({
        binding,
        resource: { buffer: b },
      })),
    }),
  );
  pass.dispatchWorkgroups(Math.ceil(n / 64));
  pass.end();
  encoder.copyBufferToBuffer(outBuffer, 0, readBuffer, 0, n * 4);
  device.queue.submit([encoder.finish()]);
  await readBuffer.mapAsync(GPUMapMode.READ);
  const gpu = new Float32Array(readBuffer.getMappedRange().slice(0));
  [headBuffer, pointBuffer, outBuffer, readBuffer].forEach((b) => b.destroy());
  let worst = 0;
  for (let i = 0; i < n; i++) {
    const sdf = makeHeadSdf(heads[Math.floor(i / pointsPerHead)]);
    worst = Math.max(
      worst,
      Math.abs(gpu[i] - sdf(points[i * 4], points[i * 4 + 1], points[i * 4 + 2])),
    );
  }
  assertEquals(worst < 2e-5, true, `worst |WGSL − TS| = ${worst}`);
});
