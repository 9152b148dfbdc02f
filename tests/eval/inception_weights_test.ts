/**
 * The eval section's Inception setting against a local mirror: a path is used as given with no
 * request; `auto` fetches pytorch-fid's file by name into `eval.weightsCache`, checked against
 * its published hash prefix; other bytes fail naming the setting and the by-hand path.
 */
import { join } from "node:path";
import { evalConfigSchema } from "../../stages/eval/stage.ts";
import { inceptionWeightsFile } from "../../stages/eval/inception_weights.ts";
import { FID_INCEPTION } from "../../stages/weights/registry.ts";
import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { startWeightsServer } from "../weights/weights_server.ts";

Deno.test("eval Inception weights: a path as given; auto fetches the pinned file, wrong bytes fail cleanly", async () => {
  const server = startWeightsServer({
    [`/${FID_INCEPTION.fileName}`]: { kind: "file", body: new TextEncoder().encode("nope") },
  });
  const dir = await Deno.makeTempDir({ prefix: "mimic3d-inception-" });
  try {
    const cache = join(dir, "cache");
    const ctx = { hashFile: () => Promise.reject(new Deno.errors.NotFound()), log: () => {} };
    const config = (inceptionWeights: string) =>
      evalConfigSchema.parse({ inceptionWeights, weightsCache: cache });
    const options = { mirror: server.base, interactive: false };
    const mine = join(dir, "mine.pth");
    assertEquals(await inceptionWeightsFile(config(mine), ctx, options), mine);
    assertEquals(server.requests.size, 0);
    const message = await assertThrows(
      () => inceptionWeightsFile(config("auto"), ctx, options),
      "expected sha256 6726825d… (its published prefix)",
    );
    assert(message.includes(join(cache, FID_INCEPTION.fileName)), message);
    assert(message.includes(`eval.inceptionWeights=/path/to/${FID_INCEPTION.fileName}`), message);
    assertEquals(server.requests.get(`/${FID_INCEPTION.fileName}`), 1);
    assertEquals([...Deno.readDirSync(cache)], []);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
