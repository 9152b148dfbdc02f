/**
 * EG3D / Mimic3D snapshots (`eg3d_tiny.pkl`, `mimic3d_tiny.pkl`, written by the
 * original training code): G_ema recovered bit-exactly against the expectation
 * files, rendering options, kind detection, config mapping, and bad input.
 */
import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { readSafetensors } from "../../kernels/io/safetensors.ts";
import { PickleError } from "../../stages/io/pickle_vm.ts";
import {
  detectKind,
  findModule,
  parseSnapshot,
  readSnapshot,
  type Snapshot,
} from "../../stages/io/snapshot.ts";
import { snapshotToCheckpoint } from "../../stages/io/snapshot_checkpoint.ts";
import { formatSnapshot, summarizeSnapshot } from "../../stages/io/snapshot_cli.ts";
import { withTempDir } from "./fixtures.ts";

const FIXTURES = new URL("../fixtures/reference/", import.meta.url).pathname;
const CASES = [
  { name: "eg3d_tiny", kind: "eg3d", count: 120, keys: ["G", "D", "G_ema", "augment_pipe"] },
  { name: "mimic3d_tiny", kind: "mimic3d", count: 158, keys: ["G", "D", "G_ema", "D_patch"] },
] as const;

const cache = new Map<string, Snapshot>();
async function snapshotOf(name: string): Promise<Snapshot> {
  if (!cache.has(name)) cache.set(name, await readSnapshot(`${FIXTURES}${name}.pkl`));
  return cache.get(name)!;
}

function bits(data: Float32Array): Uint32Array {
  return new Uint32Array(data.buffer, data.byteOffset, data.length);
}

for (const c of CASES) {
  Deno.test(`snapshot ${c.name}: G_ema state dict equals the expectation bit for bit`, async () => {
    const snapshot = await snapshotOf(c.name);
    const expect = await readSafetensors(`${FIXTURES}${c.name}_expect.safetensors`);
    const config = JSON.parse(expect.metadata.config);
    assertEquals([...snapshot.networks.keys()], [...c.keys]);
    const gEma = snapshot.networks.get("G_ema")!;
    const expected = [...expect.tensors].filter(([name]) => name.startsWith("param.G_ema."));
    assertEquals(expected.length, c.count);
    assertEquals(
      [...gEma.stateDict.keys()].sort(),
      expected.map(([name]) => name.slice("param.G_ema.".length)).sort(),
    );
    for (const [name, tensor] of expected) {
      const got = gEma.stateDict.get(name.slice("param.G_ema.".length))!;
      assertEquals(got.shape, tensor.shape, name);
      assertEquals(bits(got.data), bits(tensor.data as Float32Array), name);
    }
    // G and G_ema differ (the fixture perturbed G_ema): we read the right one.
    const g = snapshot.networks.get("G")!;
    const wAvg = "backbone.mapping.w_avg";
    assertEquals(
      bits(g.stateDict.get(wAvg)!.data).join() === bits(gEma.stateDict.get(wAvg)!.data).join(),
      false,
    );
    // Parameter and tensor counts as PyTorch reported them.
    for (const [key, info] of Object.entries(config.snapshot_modules)) {
      if (key === "training_set_kwargs") continue;
      const net = snapshot.networks.get(key)!;
      const { n_params, n_state_tensors, class_name } = info as Record<string, unknown>;
      assertEquals([net.className, net.parameterCount, net.stateDict.size], [
        class_name,
        n_params,
        n_state_tensors,
      ]);
    }
    // Every G_ema submodule class as the original listed them.
    const classes = new Set<string>();
    findModule(gEma.tree, (m) => (classes.add(m.className.split(".").pop()!), false));
    const listed = Object.values(config.G_ema_module_classes as Record<string, string>)
      .map((name) => name.split(".").pop()!);
    assertEquals([...classes].sort(), [...new Set(listed)].sort());
    assertEquals(snapshot.trainingSetKwargs?.resolution, 32);
    assertEquals(snapshot.protocol, 4);
  });

  Deno.test(`snapshot ${c.name}: kind, rendering options and config mapping`, async () => {
    const snapshot = await snapshotOf(c.name);
    assertEquals(detectKind(snapshot).kind, c.kind);
    const imported = snapshotToCheckpoint(snapshot, "G_ema");
    assertEquals(imported.kind, c.kind);
    assertEquals(imported.config.planeAxes, c.kind);
    assertEquals(imported.config.neuralRenderingResolution, 8);
    assertEquals(imported.config.rendering.ray_start, 2.25);
    assertEquals(imported.config.rendering.depth_resolution, 6);
    assertEquals(imported.config.imgResolution, 32);
    assertEquals(imported.config.planeChannels, 96);
    assertEquals(imported.config.decoder, { hiddenDim: 64, outputDim: 32 });
    assertEquals(imported.config.superresolution.className, "SuperresolutionHybrid2X");
    assertEquals(imported.stateDict.size, c.count);
    if (c.kind === "eg3d") {
      assertEquals(imported.config.planeResolution, 32);
      assertEquals(imported.config.superresolution.blockChannels, [16, 8]);
      assertEquals(imported.config.mimic3d, undefined);
    } else {
      assertEquals(imported.config.planeResolution, 16);
      assertEquals(imported.config.mimic3d, { aware3dResolutions: [16], returnIndices: [-3, -1] });
    }
    // NumPy float64 scalars (StyleGAN2's gains) arrive as numbers.
    const layer = findModule(
      snapshot.networks.get("G_ema")!.tree,
      (m) => m.className === "FullyConnectedLayer",
    )!;
    assertEquals(typeof layer.attributes.weight_gain, "number");
    // --kind overrides detection and says so.
    const other = c.kind === "eg3d" ? "mimic3d" : "eg3d";
    const forced = snapshotToCheckpoint(snapshot, "G_ema", other);
    assertEquals([forced.kind, forced.config.planeAxes], [other, other]);
    assertEquals(forced.kindReason.startsWith("given by --kind"), true);
    const text = formatSnapshot(summarizeSnapshot(snapshot));
    assertEquals(text.includes(`kind: ${c.kind}`), true);
  });
}

Deno.test("snapshot: a missing tensor or a shape mismatch → one clear error", async () => {
  const snapshot = await readSnapshot(`${FIXTURES}eg3d_tiny.pkl`);
  const stateDict = snapshot.networks.get("G_ema")!.stateDict;
  const weight = stateDict.get("decoder.net.0.weight")!;
  stateDict.set("decoder.net.0.weight", { shape: [64, 31], data: weight.data });
  await assertThrows(
    () => snapshotToCheckpoint(snapshot),
    /G_ema: shape mismatch: 'decoder.net.0.weight' is \[64,31\], the network's options imply \[64,32\]/,
  );
  stateDict.delete("backbone.mapping.w_avg");
  await assertThrows(
    () => snapshotToCheckpoint(snapshot),
    /G_ema: missing tensor 'backbone.mapping.w_avg'/,
  );
  await assertThrows(() => snapshotToCheckpoint(snapshot, "G_patch"), /no network 'G_patch'/);
});

Deno.test("snapshot: truncated, random and foreign files → one PickleError each", async () => {
  const bytes = await Deno.readFile(`${FIXTURES}eg3d_tiny.pkl`);
  for (const cut of [0, 1, 2, 11, 300, 7000, 100_000, bytes.length >> 1, bytes.length - 1]) {
    let error: unknown;
    try {
      parseSnapshot(bytes.subarray(0, cut), "cut.pkl");
    } catch (err) {
      error = err;
    }
    if (!(error instanceof PickleError)) throw new Error(`cut at ${cut}: ${error}`);
    assertEquals(/^cut\.pkl: .*truncated/.test(error.message), true, error.message);
  }
  // Random bytes (seeded), a plain list, extra bytes after STOP.
  let seed = 12345;
  const random = Uint8Array.from(
    { length: 4096 },
    () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24,
  );
  await assertThrows(() => parseSnapshot(random, "random.bin"), /^random\.bin: /);
  const list = Uint8Array.from([0x80, 0x04, 0x5d, 0x4b, 1, 0x61, 0x2e]); // [1]
  await assertThrows(
    () => parseSnapshot(list, "list.pkl"),
    /list.pkl: not a training snapshot: the pickle holds a list/,
  );
  const dict = Uint8Array.from([0x80, 0x04, 0x7d, 0x2e]); // {}
  await assertThrows(
    () => parseSnapshot(dict, "dict.pkl"),
    /not a training snapshot: no G or G_ema/,
  );
  await assertThrows(
    () => parseSnapshot(Uint8Array.from([...list, 0]), "x.pkl"),
    /1 unexpected bytes after the pickle/,
  );
  await withTempDir(async (dir) => {
    await assertThrows(() => readSnapshot(`${dir}/absent.pkl`), /absent\.pkl: cannot read/);
  });
});
