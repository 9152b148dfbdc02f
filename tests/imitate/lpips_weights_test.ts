/**
 * The imitate stage's LPIPS weight settings against a local mirror: explicit paths are used as
 * given with no request; unset settings fetch the pinned files by name from the mirror into
 * `imitation.weightsCache`, and bytes that are not the pinned ones fail naming the setting and
 * the by-hand path, leaving the cache empty. Offline: 127.0.0.1 only.
 */
import { join } from "node:path";
import { imitateConfigSchema } from "../../stages/imitate/config.ts";
import { lpipsWeightFiles } from "../../stages/imitate/lpips_weights.ts";
import { LPIPS_VGG, VGG16 } from "../../stages/weights/registry.ts";
import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { startWeightsServer } from "../weights/weights_server.ts";

const NOT_THE_WEIGHTS = new TextEncoder().encode("not the weights");

Deno.test("imitate LPIPS weights: paths as given; unset fetches the pinned file, wrong bytes fail cleanly", async () => {
  const server = startWeightsServer({
    [`/${VGG16.fileName}`]: { kind: "file", body: NOT_THE_WEIGHTS },
    [`/${LPIPS_VGG.fileName}`]: { kind: "file", body: NOT_THE_WEIGHTS },
  });
  const dir = await Deno.makeTempDir({ prefix: "mimic3d-lpips-" });
  try {
    const cache = join(dir, "cache");
    const [vgg, heads] = [join(dir, "vgg.pth"), join(dir, "heads.pth")];
    const imitation = (set: Record<string, unknown>) =>
      imitateConfigSchema.parse({ imitation: { weightsCache: cache, ...set } }).imitation;
    const options = { mirror: server.base, log: () => {}, interactive: false };

    const both = imitation({ vgg16Weights: vgg, lpipsWeights: heads });
    assertEquals(await lpipsWeightFiles(both, options), { vgg16: vgg, heads });
    assertEquals(server.requests.size, 0, "explicit paths: no request");

    const message = await assertThrows(
      () => lpipsWeightFiles(imitation({ vgg16Weights: vgg }), options),
      `expected sha256 ${LPIPS_VGG.sha256}`,
    );
    assert(message.includes(`${server.base}/${LPIPS_VGG.fileName}`), message);
    assert(message.includes(join(cache, LPIPS_VGG.fileName)), message);
    assert(message.includes(`imitate.imitation.lpipsWeights=/path/to/${LPIPS_VGG.fileName}`));
    assertEquals([...server.requests.keys()], [`/${LPIPS_VGG.fileName}`], "only the unset one");
    assertEquals([...Deno.readDirSync(cache)], [], "nothing cached");

    await assertThrows(
      () => lpipsWeightFiles(imitation({ vgg16Weights: "auto" }), options),
      `imitate.imitation.vgg16Weights=/path/to/${VGG16.fileName}`,
    );
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
