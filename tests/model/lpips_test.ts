/**
 * LPIPS-VGG structure and invariants; numerical parity with Mimic3D's LPIPS
 * (values and both input gradients) is the lpips_vgg fixture's job.
 */
import { Tensor } from "../../kernels/mod.ts";
import { LPIPS_TAPS, lpipsStateDict, LpipsVgg } from "../../stages/model/lpips.ts";
import { formulaConfig, formulaStateDict } from "../../stages/fixtures/formula_weights.ts";
import { readSafetensors } from "../../kernels/mod.ts";
import { assertClose, randomValues, setupGpu } from "../helpers/check.ts";

await setupGpu();
const fixture = new URL("../fixtures/reference/lpips_vgg.safetensors", import.meta.url).pathname;
const fixtureConfig = async () =>
  formulaConfig(JSON.parse((await readSafetensors(fixture)).metadata.config!));
const rows = async () => (await fixtureConfig()).state_dict_keys;

Deno.test("LPIPS state dict names/shapes = the original module's (aliases lins.* aside)", async () => {
  const original = (await rows()).filter(([, , , kind]) => !kind.startsWith("alias"));
  const mine = [...new LpipsVgg("cpu").stateDict()];
  if (mine.length !== original.length) {
    throw new Error(`${mine.length} entries vs ${original.length}`);
  }
  original.forEach(([, name, shape], i) => {
    if (mine[i][0] !== name || mine[i][1].shape.join() !== shape.join()) {
      throw new Error(
        `entry ${i}: ours ${mine[i][0]} [${mine[i][1].shape}], original ${name} [${shape}]`,
      );
    }
  });
});

Deno.test("lpipsStateDict maps torchvision features.{i} and vgg.pth heads onto LPIPS names", () => {
  const vgg = new Map<string, string>();
  for (const i of [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]) {
    vgg.set(`features.${i}.weight`, `w${i}`);
    vgg.set(`features.${i}.bias`, `b${i}`);
  }
  vgg.set("classifier.0.weight", "unused");
  const heads = new Map([0, 1, 2, 3, 4].map((l) => [`lin${l}.model.1.weight`, `h${l}`]));
  const state = lpipsStateDict(vgg, heads);
  if (state.get("net.slice3.14.weight") !== "w14" || state.get("net.slice5.28.bias") !== "b28") {
    throw new Error("wrong VGG mapping");
  }
  if (state.get("lin4.model.1.weight") !== "h4" || state.size !== 31) {
    throw new Error("wrong head mapping");
  }
  vgg.delete("features.26.bias");
  let message = "";
  try {
    lpipsStateDict(vgg, heads);
  } catch (e) {
    message = (e as Error).message;
  }
  if (!message.includes("features.26.bias")) {
    throw new Error(`missing entry not named: '${message}'`);
  }
});

Deno.test("LPIPS on the GPU: 0 for identical images, symmetric, Σ per-layer = total", async () => {
  const net = new LpipsVgg("gpu");
  const own = net.stateDict();
  net.loadStateDict(formulaStateDict(await fixtureConfig(), "gpu", (k) => own.get(k)));
  const a = Tensor.fromData(randomValues(2 * 3 * 16 * 16, 1), [2, 3, 16, 16], "gpu");
  const b = Tensor.fromData(randomValues(2 * 3 * 16 * 16, 2), [2, 3, 16, 16], "gpu");
  const same = net.forward(a, a);
  assertClose(await same.distance.read(), [0, 0], "LPIPS(x, x)", { atol: 1e-7 });
  const ab = net.forward(a, b);
  const ba = net.forward(b, a);
  const total = await ab.distance.read();
  assertClose(await ba.distance.read(), total, "LPIPS symmetry", { atol: 1e-7, rtol: 1e-5 });
  const layers = await Promise.all(LPIPS_TAPS.map((t) => ab.perLayer.get(t)!.read()));
  assertClose([0, 1].map((i) => layers.reduce((s, l) => s + l[i], 0)), total, "Σ layers", {
    atol: 1e-7,
    rtol: 1e-6,
  });
  if (!(total[0] > 0 && total[1] > 0)) throw new Error(`LPIPS of different images ${total}`);
});
