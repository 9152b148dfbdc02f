/**
 * The FID Inception's state dict matches pytorch-fid's names and shapes (the
 * fixture's key table = the real `.pth` file's entries), so weights load by
 * plain copy. The forward pass itself is checked by the inception_fid fixture.
 */
import { readSafetensors } from "../../kernels/mod.ts";
import { FidInceptionV3, inceptionStateDict } from "../../stages/eval/inception.ts";
import type { StateDictKeyRow } from "../../stages/fixtures/formula_weights.ts";
import { setupGpu } from "../helpers/check.ts";

await setupGpu();
const fixture =
  new URL("../fixtures/reference/inception_fid.safetensors", import.meta.url).pathname;

Deno.test("FID Inception state dict = pytorch-fid's minus fc and num_batches_tracked, same order and shapes", async () => {
  const rows = JSON.parse((await readSafetensors(fixture)).metadata.config!)
    .state_dict_keys as StateDictKeyRow[];
  const original = new Map(rows.map(([, name, shape]) => [name, shape]));
  const wanted = [...inceptionStateDict(original)];
  const net = new FidInceptionV3("cpu");
  const mine = [...net.stateDict()].map(([k, t]) => [k, [...t.shape]] as const);
  if (wanted.length !== mine.length) {
    throw new Error(`${mine.length} entries, pytorch-fid has ${wanted.length}`);
  }
  wanted.forEach(([name, shape], i) => {
    if (mine[i][0] !== name || mine[i][1].join() !== shape.join()) {
      throw new Error(
        `entry ${i}: ours ${mine[i][0]} [${mine[i][1]}], pytorch-fid ${name} [${shape}]`,
      );
    }
  });
  if (net.parameters().size !== 0) {
    throw new Error("the frozen FID network should hold buffers only");
  }
});
