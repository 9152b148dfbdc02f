import * as K from "../../../kernels/mod.ts";
import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import { setupGpu } from "../../helpers/check.ts";

await setupGpu();

Deno.test("safetensors: save → load round trip is exact, metadata kept, bytes deterministic", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = K.tensor([1.5, -2.25, 3e-8, 65504], [2, 2]);
    const b = K.tensor([7], []);
    const path = `${dir}/x.safetensors`;
    await K.saveSafetensors(path, new Map([["b", b], ["a", a]]), { note: "hello" });
    const { tensors, metadata } = await K.loadSafetensors(path);
    assertEquals(metadata, { note: "hello" });
    assertEquals([...tensors.keys()].sort(), ["a", "b"]);
    assertEquals(Array.from(await tensors.get("a")!.read()), [
      1.5,
      -2.25,
      Math.fround(3e-8),
      65504,
    ]);
    assertEquals(tensors.get("b")!.shape, []);
    const again = await K.tensorsToSafetensors(new Map([["a", a], ["b", b]]), { note: "hello" });
    assertEquals(again, await Deno.readFile(path));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("safetensors: reads the reference fixtures (F32 and I64, metadata config)", async () => {
  const f = await K.readSafetensors(
    new URL("../../fixtures/reference/rays.safetensors", import.meta.url).pathname,
  );
  assertEquals(f.tensors.get("input.c")!.shape, [2, 25]);
  const cfg = JSON.parse(f.metadata.config);
  if (typeof cfg !== "object") throw new Error("config is not JSON");
});

Deno.test("safetensors: truncated and malformed files give one clear error naming the file", async () => {
  const good = K.serializeSafetensors(new Map([["w", { shape: [3], data: [1, 2, 3] }]]));
  await assertThrows(() => K.parseSafetensors(good.subarray(0, 5), "f.st"), "f.st: truncated");
  await assertThrows(
    () => K.parseSafetensors(good.subarray(0, good.length - 4), "f.st"),
    "tensor 'w' ends at 12",
  );
  const badJson = good.slice();
  badJson[9] = "!".charCodeAt(0);
  await assertThrows(() => K.parseSafetensors(badJson, "f.st"), "malformed header JSON");
  const header = new TextEncoder().encode(
    JSON.stringify({ w: { dtype: "F32", shape: [4], data_offsets: [0, 12] } }),
  );
  const bad = new Uint8Array(8 + header.length + 12);
  new DataView(bad.buffer).setBigUint64(0, BigInt(header.length), true);
  bad.set(header, 8);
  await assertThrows(() => K.parseSafetensors(bad, "f.st"), "do not hold 4 × F32");
  await assertThrows(
    () => K.readSafetensors("/nonexistent/x.safetensors"),
    "/nonexistent/x.safetensors: cannot read",
  );
});
