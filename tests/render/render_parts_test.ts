/**
 * The render command's parts that need no GPU: seeds → latents as NumPy draws
 * them, seed lists, cameras, depth colouring and GIF encoding.
 */
import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { latentForSeed, numpyRandn } from "../../stages/render/seed_latent.ts";
import { parseRenderFlags, parseSeeds } from "../../stages/render/command.ts";
import {
  conditioningLabel,
  FFHQ_RIG,
  turntableView,
  viewGrid,
  viewLabel,
} from "../../stages/render/cameras.ts";
import { cameraPosition } from "../../stages/io/camera_label.ts";
import { colorizeDepth, turbo } from "../../stages/render/depth_colormap.ts";
import { encodeGif } from "../../stages/render/gif.ts";
import { readGifStructure } from "./gif_check.ts";

function assertClose(actual: number, expected: number, tolerance = 1e-9): void {
  if (!(Math.abs(actual - expected) <= tolerance)) {
    throw new Error(`${actual} is not within ${tolerance} of ${expected}`);
  }
}

Deno.test("seed latents: np.random.RandomState(seed).randn, value for value", async () => {
  // Printed by NumPy (legacy MT19937 + polar Box–Muller).
  const seed0 = [
    1.764052345967664,
    0.4001572083672233,
    0.9787379841057392,
    2.240893199201458,
    1.8675579901499675,
    -0.977277879876411,
    0.9500884175255894,
    -0.1513572082976979,
    -0.10321885179355784,
    0.41059850193837233,
  ];
  assertEquals(Array.from(numpyRandn(0, 10)), seed0);
  assertEquals(Array.from(numpyRandn(42, 3)), [
    0.4967141530112327,
    -0.13826430117118466,
    0.6476885381006925,
  ]);
  assertEquals(latentForSeed(0, 512).length, 512);
  assertEquals(latentForSeed(0, 4)[3], seed0[3]);
  await assertThrows(() => numpyRandn(-1, 1), "seed -1");
  await assertThrows(() => numpyRandn(2 ** 32, 1), "2^32");
});

Deno.test("render flags: seed ranges, cameras, and one clear error per bad flag", async () => {
  assertEquals(parseSeeds("0-3,7"), [0, 1, 2, 3, 7]);
  assertEquals(parseSeeds("5"), [5]);
  for (const bad of ["3-1", "a", "1,,2", "-1", "0-20000"]) {
    await assertThrows(() => parseSeeds(bad), "--seeds");
  }
  const base = {
    seeds: "0",
    trunc: "0.7",
    truncCutoff: "14",
    radius: "2.7",
    fovFocal: "4.2647",
    pivot: "0,0,0.2",
    out: "o",
  };
  const parsed = parseRenderFlags({ ...base, yaw: ["-30,0", "30"], pitch: ["5"] });
  assertEquals(parsed.views.length, 3);
  assertClose(parsed.views[0].yaw, -Math.PI / 6, 1e-12);
  assertEquals(parsed.settings.truncationCutoff, 14);
  assertEquals(parseRenderFlags({ ...base, truncCutoff: "none" }).settings.truncationCutoff, null);
  const cases: [Record<string, unknown>, string][] = [
    [{ branch: "4d" }, "--branch must be 2d or 3d"],
    [{ yaw: ["x"] }, "--yaw expects numbers"],
    [{ pitch: ["90"] }, "--pitch must be strictly between"],
    [{ radius: "-1" }, "--radius expects a positive number"],
    [{ turntable: "0" }, "--turntable expects a positive integer"],
    [{ resolution: "2.5" }, "--resolution expects a positive integer"],
    [{ trunc: "abc" }, "--trunc expects a number"],
    [{ pivot: "1,2" }, "--pivot expects x,y,z"],
  ];
  for (const [flags, message] of cases) {
    await await assertThrows(() => parseRenderFlags({ ...base, ...flags }), message);
  }
});

Deno.test("cameras: views orbit the pivot; conditioning is frontal; the turntable loops", () => {
  const [view] = viewGrid([90], [0]);
  const [x, y, z] = cameraPosition(viewLabel(view, FFHQ_RIG));
  assertClose(x, 2.7, 1e-9); // yaw 90° → on +x
  assertClose(y, 0, 1e-9);
  assertClose(z, 0.2, 1e-9); // the pivot's z
  const frontal = cameraPosition(conditioningLabel(FFHQ_RIG));
  assertEquals(frontal.map((v) => Math.round(v * 1e9) / 1e9), [0, 0, 2.9]);
  const first = turntableView(0, 24), last = turntableView(24, 24);
  assertClose(first.yaw, last.yaw, 1e-12);
  assertClose(first.pitch, last.pitch, 1e-12);
  const yaws = Array.from({ length: 24 }, (_, i) => turntableView(i, 24).yaw);
  assertClose(Math.max(...yaws), 0.5, 1e-12);
  assertClose(Math.min(...yaws), -0.5, 1e-12);
});

Deno.test("depth colouring: near is red, far is blue, flat maps do not divide by zero", async () => {
  const image = colorizeDepth([2.5, 3.0, 2.75, 3.0], 2, 2);
  assertEquals([image.width, image.height, image.channels], [2, 2, 3]);
  assertEquals(Array.from(image.data.subarray(0, 3)), turbo(1));
  assertEquals(Array.from(image.data.subarray(3, 6)), turbo(0));
  const [r, , b] = turbo(1);
  assertEquals(r > b, true);
  assertEquals(colorizeDepth([1, 1], 2, 1).data.length, 6);
  await assertThrows(() => colorizeDepth([1, 2, 3], 2, 2), "expected 2×2");
});

Deno.test("GIF encoding: looping, one frame per image, deterministic bytes", async () => {
  const frame = (salt: number) => ({
    width: 5,
    height: 3,
    channels: 3,
    data: Uint8Array.from({ length: 45 }, (_, i) => (i * 29 + salt * 71) & 255),
  });
  const bytes = encodeGif([frame(0), frame(1), frame(2)], 40);
  const gif = readGifStructure(bytes);
  assertEquals([gif.version, gif.width, gif.height, gif.loops], ["GIF89a", 5, 3, true]);
  assertEquals(gif.frames.map((f) => [f.width, f.height, f.delayCs]), [
    [5, 3, 4],
    [5, 3, 4],
    [5, 3, 4],
  ]);
  assertEquals(encodeGif([frame(0), frame(1), frame(2)], 40), bytes);
  await await assertThrows(
    () => encodeGif([frame(0), { ...frame(1), width: 3, data: new Uint8Array(27) }], 40),
    "frame 1 is 3×3",
  );
});
