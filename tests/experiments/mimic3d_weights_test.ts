/**
 * Which weights the mimic3d presets use and how they enter stage keys, computed offline: the
 * paper presets imitate by LPIPS-VGG and measure FID with the pinned files (keyed by their
 * pinned hashes, nothing fetched); `tiny` and `small` name `l1`, leave FID off and never ask
 * the network; keys hold a file's content hash, never its path or the cache directory.
 */
import { join } from "node:path";
import mimic3d from "../../experiments/mimic3d.ts";
import { configFor, FileHashCache } from "../../pipeline/mod.ts";
import { keyInputsFor, keyOf, nodeConfig } from "../../pipeline/stage_key.ts";
import { NO_WEIGHTS_REASON } from "../../stages/eval/reference_stats.ts";
import { imitationDistance, l1Distance } from "../../stages/imitate/imitation_distance.ts";
import { FID_INCEPTION, LPIPS_VGG, VGG16 } from "../../stages/weights/registry.ts";
import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { startWeightsServer } from "../weights/weights_server.ts";

/** Stand-in upstream artifact ids: keys are computed without running anything. */
const UPSTREAM = Object.fromEntries(
  ["prep", "pretrain", "imitate", "reference"].map((n, i) => [n, String(i).repeat(64)]),
);

function nodeKeyInputs(node: string, preset: string | undefined, sets: string[] = []) {
  const config = configFor(mimic3d, { preset, sets });
  const dagNode = mimic3d.dag[node];
  const parsed = nodeConfig(node, dagNode, config);
  return keyInputsFor(dagNode, parsed, UPSTREAM, 0, FileHashCache.inMemory());
}

const nodeKey = async (node: string, preset: string | undefined, sets: string[] = []) =>
  keyOf(await nodeKeyInputs(node, preset, sets));

for (const preset of ["ffhq512", "afhq512"]) {
  Deno.test(`mimic3d ${preset}: LPIPS-VGG imitation and FID with the pinned files, keyed by their hashes`, async () => {
    const config = configFor(mimic3d, { preset }) as {
      imitate: { imitation: Record<string, unknown> };
      eval: { inceptionWeights: string };
    };
    assertEquals(config.imitate.imitation.loss, "lpips");
    assertEquals(config.imitate.imitation.vgg16Weights, "auto");
    assertEquals(config.imitate.imitation.lpipsWeights, "auto");
    assertEquals(config.eval.inceptionWeights, "auto");
    assertEquals((await nodeKeyInputs("imitate", preset)).external, {
      [`auto:${VGG16.fileName}`]: VGG16.sha256,
      [`auto:${LPIPS_VGG.fileName}`]: LPIPS_VGG.sha256,
    });
    for (const node of ["reference", "eval"]) {
      assertEquals((await nodeKeyInputs(node, preset)).external, {
        [`auto:${FID_INCEPTION.fileName}`]: FID_INCEPTION.sha256,
      });
    }
  });
}

Deno.test("mimic3d tiny and small: l1 imitation, FID off with how to enable it, no request to the network", async () => {
  const server = startWeightsServer({});
  const cache = await Deno.makeTempDir({ prefix: "mimic3d-weights-" });
  try {
    for (const preset of ["tiny", "small"]) {
      const config = configFor(mimic3d, { preset }) as {
        imitate: { imitation: { loss: string; vgg16Weights: string | null } };
        eval: { inceptionWeights: string };
      };
      assertEquals(config.imitate.imitation.loss, "l1", preset);
      assertEquals(config.eval.inceptionWeights, "", preset);
      for (const node of ["imitate", "reference", "eval"]) {
        assertEquals((await nodeKeyInputs(node, preset)).external, {}, `${preset} ${node}`);
      }
      // The stage's distance: l1, even with every download pointed at a live local server.
      const imitation = { ...config.imitate.imitation, weightsCache: cache } as never;
      const distance = await imitationDistance(imitation, { mirror: server.base });
      assertEquals(distance, l1Distance);
    }
    assertEquals(server.requests.size, 0, "no request");
    assertEquals([...Deno.readDirSync(cache)], [], "nothing cached");
    assert(NO_WEIGHTS_REASON.includes("--set eval.inceptionWeights=auto"), NO_WEIGHTS_REASON);
    assert(!/\bhere\b/.test(NO_WEIGHTS_REASON), NO_WEIGHTS_REASON);
  } finally {
    await server.close();
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("mimic3d keys: a weights file enters by content, not by path or cache directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mimic3d-weights-" });
  try {
    const bytes = new TextEncoder().encode("stand-in weights");
    const [a, b] = [join(dir, "a.pth"), join(dir, "b", "copy.pth")];
    await Deno.mkdir(join(dir, "b"));
    await Deno.writeFile(a, bytes);
    await Deno.writeFile(b, bytes);
    const other = join(dir, "other.pth");
    await Deno.writeFile(other, new TextEncoder().encode("other weights"));

    const imitate = (sets: string[]) => nodeKey("imitate", "ffhq512", sets);
    const auto = await imitate([]);
    assertEquals(await imitate([`imitate.imitation.weightsCache=${dir}`]), auto, "cache dir");
    // No preset: the schema defaults (LPIPS, weights unset) are the paper preset's `auto`.
    assertEquals(await nodeKey("imitate", undefined), auto, "unset = auto");
    const atA = await imitate([`imitate.imitation.vgg16Weights=${a}`]);
    assert(atA !== auto, "another file, another key");
    assertEquals(await imitate([`imitate.imitation.vgg16Weights=${b}`]), atA, "same bytes");
    assert(await imitate([`imitate.imitation.vgg16Weights=${other}`]) !== atA, "other bytes");
    // Weights an l1 loss does not read change nothing.
    assertEquals(
      await nodeKey("imitate", "small", [`imitate.imitation.vgg16Weights=${other}`]),
      await nodeKey("imitate", "small"),
    );

    for (const node of ["reference", "eval"]) {
      const key = (sets: string[]) => nodeKey(node, "small", sets);
      const atA = await key([`eval.inceptionWeights=${a}`]);
      assertEquals(await key([`eval.inceptionWeights=${b}`]), atA, `${node}: same bytes`);
      assertEquals(
        await key([`eval.inceptionWeights=${b}`, `eval.weightsCache=${dir}`]),
        atA,
        `${node}: cache dir`,
      );
      const off = await key([]);
      const pinned = await key(["eval.inceptionWeights=auto"]);
      assert(new Set([off, pinned, atA]).size === 3, `${node}: off, auto and a file differ`);
    }
    // A missing explicit file is an error when the key is computed, before anything runs.
    await assertThrows(
      () => nodeKey("eval", "small", [`eval.inceptionWeights=${join(dir, "missing.pth")}`]),
      "missing.pth does not exist",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
