import * as K from "../../../kernels/mod.ts";
import { kernel } from "../../../kernels/runtime/kernel_cache.ts";
import {
  beforeNextSubmit,
  copyBuffer,
  dispatch,
  pendingDispatches,
  submit,
  submitWhenReady,
} from "../../../kernels/runtime/commands.ts";
import { acquireBuffer, releaseBuffer } from "../../../kernels/runtime/buffer_pool.ts";
import { forcedBackend, NoAdapterError } from "../../../kernels/runtime/device.ts";
import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import { setupGpu } from "../../helpers/check.ts";

await setupGpu();

Deno.test("runtime: no adapter → one readable error line naming the driver, non-zero exit", async () => {
  // Not a forced backend (the other-backend run sets one): that error names the backend.
  const err = await demoWithoutAdapter({ MIMIC3D_NO_ADAPTER: "1", DENO_WEBGPU_BACKEND: "" });
  if (!err.includes("no WebGPU adapter") || !err.includes("mesa-vulkan-drivers")) {
    throw new Error(err);
  }
});

Deno.test("runtime: a forced backend without an adapter → one line naming it and its Debian package", async () => {
  assertEquals(forcedBackend(() => undefined), null);
  assertEquals(forcedBackend(() => " VK "), "vulkan");
  assertEquals(forcedBackend(() => "gles"), "gl");
  const vulkan = new NoAdapterError("vulkan").message;
  if (!/DENO_WEBGPU_BACKEND=vulkan.*apt-get install mesa-vulkan-drivers/.test(vulkan)) {
    throw new Error(vulkan);
  }
  const gl = new NoAdapterError("gl").message;
  if (!/DENO_WEBGPU_BACKEND=gl.*apt-get install libegl1 libegl-mesa0/.test(gl)) throw new Error(gl);
  // End to end with a backend no machine has: the CLI's one line names it.
  const err = await demoWithoutAdapter({ DENO_WEBGPU_BACKEND: "no-such-backend" });
  if (!err.includes("no WebGPU adapter on the no-such-backend backend")) throw new Error(err);
});

/** Runs `mod.ts demo` with `env`; asserts it fails with exactly one stderr line, returned. */
async function demoWithoutAdapter(env: Record<string, string>): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../../mod.ts", import.meta.url).pathname, "demo"],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr).trim().split("\n");
  if (out.code === 0) throw new Error("exit code 0 without an adapter");
  assertEquals(err.length, 1, `stderr: ${err.join(" | ")}`);
  return err[0];
}

Deno.test("runtime: a long batch goes to the GPU while recording goes on, unless held off", async () => {
  await K.flush();
  const chain = () =>
    K.scope(() => {
      let x = K.tensor([1]);
      for (let i = 0; i < 300; i++) x = K.add(x, 1);
      return x;
    });
  const early = chain();
  if (!(pendingDispatches() < 128)) throw new Error(`${pendingDispatches()} dispatches pending`);
  assertEquals(Array.from(await early.read()), [301]);
  const held = await K.withoutEarlySubmission(() => {
    const x = chain();
    assertEquals(pendingDispatches(), 300);
    return Promise.resolve(x);
  });
  assertEquals(Array.from(await held.read()), [301]);
});

Deno.test("runtime: a WGSL error surfaces as an exception naming the op", async () => {
  kernel("my_broken_op", "@compute @workgroup_size(1) fn main() { let x: f32 = undefined_thing; }");
  await assertThrows(() => K.flush(), "op 'my_broken_op'");
  // The runtime stays usable afterwards.
  assertEquals(Array.from(await K.add(K.tensor([1]), 1).read()), [2]);
});

Deno.test("runtime: a step's ops are recorded into one batch and submitted once, on read", async () => {
  await K.flush();
  const x = K.tensor([1, 2, 3]);
  let y = x;
  for (let i = 0; i < 20; i++) y = K.add(y, 1);
  if (pendingDispatches() < 20) throw new Error(`only ${pendingDispatches()} dispatches pending`);
  assertEquals(Array.from(await y.read()), [21, 22, 23]);
  assertEquals(pendingDispatches(), 0);
});

Deno.test("runtime: scopes release intermediates; the pool reuses their buffers", async () => {
  await K.flush();
  const x = K.tensor(new Float32Array(1 << 16).fill(1), [1 << 16]).keep();
  const step = () => K.scope(() => K.sum(K.mul(K.add(x, 1), K.exp(x))));
  const before = K.memoryStats().inUse;
  const r1 = step();
  await r1.read();
  r1.dispose();
  const after1 = K.memoryStats();
  const r2 = step();
  await r2.read();
  r2.dispose();
  const after2 = K.memoryStats();
  assertEquals(after1.inUse, before);
  assertEquals(after2.inUse, before);
  assertEquals(after2.pooled, after1.pooled); // second step allocated nothing new
  x.dispose();
});

Deno.test("runtime: a scope keeps what its result's backward reads, releases the rest, and the gradients hold", async () => {
  await K.flush();
  const n = 1 << 14;
  const x = K.tensor(Float32Array.from({ length: n }, (_, i) => (i % 7) / 7 - 0.4), [n]).keep();
  const w = K.tensor(Float32Array.from({ length: n }, (_, i) => (i % 5) / 5 + 0.1), [n]).keep();
  x.requiresGrad = w.requiresGrad = true;
  // A "layer": a = x·w, b = a + 1 (add reads nothing), y = exp(b) (reads its output y).
  const layer = () => K.exp(K.add(K.mul(x, w), 1));
  const base = K.memoryStats().inUse;
  const y = K.scope(layer);
  const bytes = n * 4;
  // Kept: y only (exp's saved value is y; mul reads x and w, which live outside the scope).
  assertEquals(K.memoryStats().inUse - base, bytes);
  const [gx, gw] = K.grad(K.sum(y), [x, w]);
  const [ex, ew] = K.grad(K.sum(layer()), [x, w]);
  assertEquals(Array.from(await gx!.read()), Array.from(await ex!.read()));
  assertEquals(Array.from(await gw!.read()), Array.from(await ew!.read()));
  x.requiresGrad = w.requiresGrad = false;
});

Deno.test("runtime: a kept element-wise value whose operands stay is dropped and recomputed when read", async () => {
  await K.flush();
  const shape = [1, 4, 128, 128];
  const n = 4 * 128 * 128;
  const x = K.tensor(Float32Array.from({ length: n }, (_, i) => (i % 11) / 11 - 0.3), shape)
    .keep();
  const s = K.tensor([0.5, -1.5, 2, 0.25], [1, 4, 1, 1]).keep();
  x.requiresGrad = s.requiresGrad = true;
  // square reads x·s; x·s is recomputable from x and s, which stay (parameters here).
  const layer = () => K.square(K.mul(x, s));
  const base = K.memoryStats().inUse;
  const y = K.scope(layer);
  assertEquals(K.memoryStats().inUse - base, n * 4); // y only
  const [gx, gs] = K.grad(K.sum(y), [x, s]);
  const [ex, es] = K.grad(K.sum(layer()), [x, s]);
  assertEquals(Array.from(await gx!.read()), Array.from(await ex!.read()));
  assertEquals(Array.from(await gs!.read()), Array.from(await es!.read()));
  x.requiresGrad = s.requiresGrad = false;
});

Deno.test("runtime: a kept value recomputable from an operand a third its size keeps the operand instead", async () => {
  await K.flush();
  const n = 4 * 128 * 128;
  const x = K.tensor(Float32Array.from({ length: n }, (_, i) => (i % 13) / 13 - 0.4), [
    1,
    4,
    128,
    128,
  ]).keep();
  x.requiresGrad = true;
  // h = x·1.5 is made in the scope and read by nothing the backward keeps; the aggregation
  // concat([h, h, h]) is kept for the square's backward. Its recipe reads h, a third its size.
  const layer = () => {
    const h = K.mul(x, 1.5);
    const wide = aware3dLike(h);
    return K.sum(K.square(wide));
  };
  const base = K.memoryStats().inUse;
  const y = K.scope(layer);
  // Kept: h (n floats) and the scalar y, not the 3n-float aggregation.
  assertEquals(K.memoryStats().inUse - base, n * 4 + 256);
  const [g] = K.grad(y, [x]);
  const [e] = K.grad(layer(), [x]);
  assertEquals(Array.from(await g!.read()), Array.from(await e!.read()));
  x.requiresGrad = false;
});

/** Three copies of `h` along the channels, with a recipe reading `h` (as aware3d's output has). */
function aware3dLike(h: K.Tensor): K.Tensor {
  const out = K.concat([h, h, h], 1);
  out.recipe = { operands: [h], run: () => K.noGrad(() => K.concat([h, h, h], 1)) };
  return out;
}

Deno.test("runtime: a backward pass releases values kept only for it once read; a second pass says so", async () => {
  await K.flush();
  const n = 1 << 14;
  const x = K.tensor(Float32Array.from({ length: n }, (_, i) => (i % 9) / 9), [n]).keep();
  x.requiresGrad = true;
  await K.scopeAsync(async () => {
    // Two layers: the inner values (x² and its square) are kept for the backward only.
    const h = K.scope(() => K.square(K.square(x)));
    const loss = K.sum(K.scope(() => K.square(h)));
    const seed = K.onesLike(loss);
    const before = K.memoryStats().inUse;
    const [g] = K.grad(loss, [x], { gradOutput: seed });
    // The pass made ∂x and released x², which only its rules read (h is still ours); the
    // intermediate gradients and the rules' temporaries went as soon as they were used.
    assertEquals(K.memoryStats().inUse - before, 0);
    const values = await x.read();
    const got = await g!.read();
    for (const i of [0, 1, 100, n - 1]) {
      const want = 8 * Math.fround(values[i]) ** 7;
      if (Math.abs(got[i] - want) > 1e-5 * Math.max(1, Math.abs(want))) {
        throw new Error(`∂x⁸ at ${i}: ${got[i]} vs ${want}`);
      }
    }
    await assertThrows(() => K.grad(loss, [x]), "was disposed");
  });
  x.requiresGrad = false;
});

Deno.test("runtime: a disposed tensor used again gives a clear error", async () => {
  const t = K.scope(() => {
    const inner = K.tensor([1, 2]);
    K.add(inner, 1);
    return inner;
  });
  let leaked: K.Tensor | null = null;
  K.scope(() => {
    leaked = K.tensor([3]);
  });
  await assertThrows(() => K.add(leaked!, 1), "was disposed");
  assertEquals(Array.from(await t.read()), [1, 2]);
});

Deno.test("runtime: dispatch limits are checked with the op's name", async () => {
  const k = kernel(
    "tiny_op",
    "@group(0) @binding(0) var<storage, read_write> o: array<f32>;\n@compute @workgroup_size(1) fn main() { o[0] = 1.0; }",
  );
  const buf = K.zeros([1]);
  await assertThrows(
    () => dispatch({ kernel: k, buffers: [buf.buffer], workgroups: [1e9] }),
    "op 'tiny_op': dispatch",
  );
});

Deno.test({
  name: "runtime: per-op GPU timestamps time every dispatch, also past the query set's 2,048 " +
    "(needs an adapter with timestamp-query)",
  ignore: !K.gpu().hasTimestamps,
  fn: async () => {
    K.setProfiling(true);
    K.profileReport(true);
    await K.scope(async () => {
      let x = K.full([64], 1);
      for (let i = 0; i < 2500; i++) x = K.mul(x, 1.0001);
      await x.read();
    });
    K.setProfiling(false);
    const report = K.profileReport();
    assertEquals(report.get("mul")?.count, 2500);
    assertEquals(report.get("fill")?.count, 1);
  },
});

Deno.test("runtime: a deferred write lands before the commands recorded after it; submit waits", async () => {
  await K.flush();
  // Commands that read a buffer whose data is not on the host yet (a gradient exchange).
  const target = K.zeros([4]);
  const staged = acquireBuffer(16, true);
  copyBuffer(staged, 0, target.buffer, 0, 16);
  releaseBuffer(staged); // later dispatches may reuse it: the write still comes first
  const doubled = K.mul(target, 2);
  let arrive!: (data: Float32Array<ArrayBuffer>) => void;
  const data = new Promise<Float32Array<ArrayBuffer>>((resolve) => (arrive = resolve));
  beforeNextSubmit(data.then((d) => K.gpu().device.queue.writeBuffer(staged, 0, d)));
  await assertThrows(() => submit(), "deferred writes are pending");
  const read = doubled.read(); // waits for the write, then submits
  await new Promise((r) => setTimeout(r, 20));
  arrive(Float32Array.from([1, 2, 3, 4]));
  assertEquals(Array.from(await read), [2, 4, 6, 8]);
  submit(); // nothing holds submissions back any more
  // A failed write surfaces once, at the next submit that waited for it.
  beforeNextSubmit(Promise.reject(new Error("exchange failed")));
  await assertThrows(() => K.flush(), "exchange failed");
  assertEquals(Array.from(await K.add(K.tensor([1]), 1).read()), [2]);
});

Deno.test("runtime: an action deferred by a submit request runs when a later request has to wait", async () => {
  await K.flush();
  const source = K.tensor([1, 2, 3, 4]);
  const staging = K.gpu().device.createBuffer({ size: 16, usage: 0x01 | 0x08 });
  copyBuffer(source.buffer, 0, staging, 0, 16);
  const events: string[] = [];
  let mapped!: Promise<void>;
  await submitWhenReady(() => {
    events.push("action");
    mapped = staging.mapAsync(0x01); // the copy above was submitted by the first request
  });
  assertEquals(events, [], "not run by its own request");
  await submitWhenReady();
  assertEquals(events, [], "nor by a request that has nothing to wait for");
  // A write that waits for the read-back (as a gradient exchange does): the next request finds
  // it unsettled and runs the deferred map first, or it would wait forever.
  const target = K.zeros([4]);
  const staged = acquireBuffer(16, true);
  copyBuffer(staged, 0, target.buffer, 0, 16);
  beforeNextSubmit(
    (async () => {
      while (!mapped) await new Promise((r) => setTimeout(r, 1));
      await mapped;
      const values = new Float32Array(staging.getMappedRange()).map((v) => v * 10);
      staging.unmap();
      K.gpu().device.queue.writeBuffer(staged, 0, values);
    })(),
  );
  releaseBuffer(staged);
  const later = K.add(target, 1); // recorded, sealed by the next request, submitted after the write
  const next = submitWhenReady();
  events.push("requested");
  await next;
  assertEquals(events, ["requested", "action"]);
  assertEquals(Array.from(await later.read()), [11, 21, 31, 41]);
  // flush runs what is deferred too.
  copyBuffer(source.buffer, 0, staging, 0, 16);
  let flushed!: Promise<void>;
  await submitWhenReady(() => (flushed = staging.mapAsync(0x01)));
  await K.flush();
  await flushed;
  assertEquals(Array.from(new Float32Array(staging.getMappedRange())), [1, 2, 3, 4]);
  staging.unmap();
  staging.destroy();
});

Deno.test("runtime: a submit request waits only for the deferred writes registered before it", async () => {
  await K.flush();
  const before = K.mul(K.tensor([1, 2]), 3);
  const first = submitWhenReady();
  let land!: () => void;
  const target = K.zeros([2]);
  const staged = acquireBuffer(8, true);
  copyBuffer(staged, 0, target.buffer, 0, 8);
  beforeNextSubmit(
    new Promise<void>((resolve) => (land = resolve)).then(() =>
      K.gpu().device.queue.writeBuffer(staged, 0, Float32Array.from([5, 6]))
    ),
  );
  releaseBuffer(staged);
  const after = K.add(target, 1);
  const second = submitWhenReady();
  let secondDone = false;
  second.then(() => (secondDone = true));
  // The first request does not wait for the write registered after it.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error("the earlier request waited for a later write")),
      2000,
    );
  });
  await Promise.race([first, late]);
  clearTimeout(timer);
  await new Promise((r) => setTimeout(r, 20));
  assertEquals(secondDone, false, "the later request waits for the write");
  land();
  await second;
  assertEquals(Array.from(await before.read()), [3, 6]);
  assertEquals(Array.from(await after.read()), [6, 7]);
});
