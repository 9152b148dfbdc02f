import * as K from "../../kernels/mod.ts";
import { TriplaneGenerator } from "../../stages/model/generator.ts";
import { loadGenerator, saveGenerator } from "../../stages/io/generator_checkpoint.ts";
import { parseSnapshot } from "../../stages/io/snapshot.ts";
import { snapshotToCheckpoint } from "../../stages/io/snapshot_checkpoint.ts";
import { generatorConfigFromImport } from "../../stages/io/import_generator.ts";
import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { setupGpu } from "../helpers/check.ts";

await setupGpu();
const pkl = new URL("../fixtures/reference/mimic3d_tiny.pkl", import.meta.url).pathname;

Deno.test("generator checkpoint: save → load rebuilds the same network and outputs", async () => {
  const imported = snapshotToCheckpoint(parseSnapshot(await Deno.readFile(pkl), pkl), "G_ema");
  const g = new TriplaneGenerator(generatorConfigFromImport(imported), new K.Rng(3));
  const dir = await Deno.makeTempDir();
  try {
    await saveGenerator(`${dir}/G_ema.safetensors`, g, { source: "test" });
    const { generator: h, metadata } = await loadGenerator(dir);
    assertEquals(metadata.source, "test");
    const z = K.Tensor.fromData(new Float64Array(2 * g.config.zDim).fill(0.3), [2, g.config.zDim]);
    const c = K.tensor(Array.from({ length: 50 }, (_, i) => (i % 5) / 7), [2, 25]);
    const run = (net: TriplaneGenerator) =>
      net.forward(z, c, { noiseMode: "const", random: new K.Rng(1) }).image!.read();
    assertEquals(Array.from(await run(h)), Array.from(await run(g)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("generator checkpoint: a pickle or other file is refused with a clear error", async () => {
  await assertThrows(() => loadGenerator(pkl), "mimic3d_tiny.pkl");
  await assertThrows(() => loadGenerator("/nonexistent/x"), "no such checkpoint");
  const other = new URL("../fixtures/reference/rays.safetensors", import.meta.url).pathname;
  await assertThrows(() => loadGenerator(other), "not a generator checkpoint");
});
