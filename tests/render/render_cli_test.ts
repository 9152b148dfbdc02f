/**
 * `render` through a subprocess on the imported tiny snapshots (EG3D and
 * Mimic3D): the files it writes, their sizes, the turntable GIF's frames, the
 * `--branch 3d` error on EG3D, bad input as one error line, and determinism
 * (the same seed and camera rendered in this process give the same PNG bytes).
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { assertEquals } from "../helpers/assert.ts";
import { setupGpu } from "../helpers/check.ts";
import { Store } from "../../pipeline/store.ts";
import { importCheckpoint } from "../../stages/io/import_command.ts";
import { loadGenerator } from "../../stages/io/generator_checkpoint.ts";
import { decodePng } from "../../stages/io/png.ts";
import { parseRenderFlags } from "../../stages/render/command.ts";
import { renderViews } from "../../stages/render/render_views.ts";
import { readGifStructure } from "./gif_check.ts";
import { cli } from "../helpers/cli.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/reference/", import.meta.url));

/** A temp dir with a store holding both tiny imports. */
async function withImports(
  fn: (dir: string, ids: { eg3d: string; mimic3d: string }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mimic3d-render-" });
  try {
    const store = await Store.open(path.join(dir, "store"));
    const eg3d = await importCheckpoint(store, `${FIXTURES}eg3d_tiny.pkl`);
    const mimic3d = await importCheckpoint(store, `${FIXTURES}mimic3d_tiny.pkl`);
    await fn(dir, { eg3d: eg3d.id, mimic3d: mimic3d.id });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function png(file: string) {
  const bytes = await Deno.readFile(file);
  assertEquals(Array.from(bytes.subarray(0, 8)), [137, 80, 78, 71, 13, 10, 26, 10]);
  return decodePng(bytes, file);
}

async function pngSize(file: string): Promise<[number, number]> {
  const image = await png(file);
  return [image.width, image.height];
}

Deno.test("render CLI: EG3D import → views, raw, depth, grid, turntable GIF; deterministic", async () => {
  await setupGpu();
  await withImports(async (dir, ids) => {
    const store = path.join(dir, "store");
    const out = path.join(dir, "eg3d");
    const run = await cli(
      "--store",
      store,
      "render",
      ids.eg3d.slice(0, 10),
      "--seeds",
      "3",
      "--yaw",
      "-20",
      "20",
      "--turntable",
      "3",
      "--out",
      out,
    );
    assertEquals(run.code, 0, run.stderr);
    assertEquals(run.stderr.includes("render 5/5 images (100%)"), true, run.stderr);
    const files = [...Deno.readDirSync(out)].map((e) => e.name).sort();
    assertEquals(files, [
      "grid.png",
      "grid_depth.png",
      "render.json",
      "seed0003_turntable.gif",
      "seed0003_view0.png",
      "seed0003_view0_depth.png",
      "seed0003_view0_raw.png",
      "seed0003_view1.png",
      "seed0003_view1_depth.png",
      "seed0003_view1_raw.png",
    ]);
    // SR image at the image resolution (32); raw and depth at the neural rendering resolution (8).
    assertEquals(await pngSize(`${out}/seed0003_view0.png`), [32, 32]);
    assertEquals(await pngSize(`${out}/seed0003_view0_raw.png`), [8, 8]);
    assertEquals(await pngSize(`${out}/seed0003_view1_depth.png`), [8, 8]);
    assertEquals(await pngSize(`${out}/grid.png`), [2 * 32 + 3 * 2, 32 + 2 * 2]);
    const gif = readGifStructure(await Deno.readFile(`${out}/seed0003_turntable.gif`));
    assertEquals([gif.width, gif.height, gif.frames.length, gif.loops], [32, 32, 3, true]);
    const summary = JSON.parse(await Deno.readTextFile(`${out}/render.json`));
    assertEquals([summary.kind, summary.branch, summary.seeds], ["eg3d", "2d", [3]]);
    assertEquals(summary.views.map((v: { yawDeg: number }) => v.yawDeg), [-20, 20]);

    // Determinism: the same seed and camera rendered here, in another process, give the same bytes.
    const { generator } = await loadGenerator(path.join(store, "objects", ids.eg3d, "out"));
    const again = path.join(dir, "again");
    const request = parseRenderFlags({
      seeds: "3",
      trunc: "0.7",
      truncCutoff: "14",
      yaw: ["20"],
      radius: "2.7",
      fovFocal: "4.2647",
      pivot: "0,0,0.2",
      out: again,
    });
    await renderViews(generator, { ...request, branch: "2d", source: "test" });
    for (const suffix of ["", "_raw", "_depth"]) {
      assertEquals(
        await Deno.readFile(`${again}/seed0003_view0${suffix}.png`),
        await Deno.readFile(`${out}/seed0003_view1${suffix}.png`),
        suffix,
      );
    }

    // EG3D has no 3-D branch: one clear line, exit 1, nothing written.
    const bad = await cli("--store", store, "render", ids.eg3d, "--branch", "3d", "--out", again);
    assertEquals(bad.code, 1);
    const lines = bad.stderr.trim().split("\n");
    assertEquals(lines.length, 1, bad.stderr);
    assertEquals(
      lines[0].startsWith("error: --branch 3d needs a Mimic3D generator"),
      true,
      lines[0],
    );
    assertEquals(await Deno.stat(`${again}/grid.png`).then(() => true, () => false), true);
    assertEquals(
      [...Deno.readDirSync(again)].some((e) => e.name.startsWith("seed0000")),
      false,
    );
  });
});

Deno.test("render CLI: Mimic3D import → 3-D branch direct render; turntable shows both branches", async () => {
  await withImports(async (dir, ids) => {
    const out = path.join(dir, "mimic3d");
    const artifactDir = path.join(dir, "store", "objects", ids.mimic3d);
    const run = await cli(
      "render",
      artifactDir,
      "--seeds",
      "0",
      "--yaw",
      "0",
      "--resolution",
      "16",
      "--turntable",
      "2",
      "--out",
      out,
    );
    assertEquals(run.code, 0, run.stderr);
    const files = [...Deno.readDirSync(out)].map((e) => e.name).sort();
    // The 3-D branch has no raw image: it renders the final image directly.
    assertEquals(files, [
      "grid.png",
      "grid_depth.png",
      "render.json",
      "seed0000_turntable.gif",
      "seed0000_view0.png",
      "seed0000_view0_depth.png",
    ]);
    assertEquals(await pngSize(`${out}/seed0000_view0.png`), [16, 16]);
    assertEquals(await pngSize(`${out}/seed0000_view0_depth.png`), [16, 16]);
    // [2-D branch (SR, 32²) | 3-D branch (16², scaled to 32²)] per frame.
    const gif = readGifStructure(await Deno.readFile(`${out}/seed0000_turntable.gif`));
    assertEquals([gif.width, gif.height, gif.frames.length], [64, 32, 2]);
    const summary = JSON.parse(await Deno.readTextFile(`${out}/render.json`));
    assertEquals([summary.kind, summary.branch], ["mimic3d", "3d"]);
  });
});

Deno.test("render CLI: bad checkpoint or flags → one error line, exit 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mimic3d-render-" });
  try {
    await Deno.writeTextFile(`${dir}/notes.txt`, "not a checkpoint");
    const cases: [string[], string][] = [
      [["render", `${dir}/missing.safetensors`], "no such checkpoint file or directory"],
      [["render", `${dir}/notes.txt`], "notes.txt"],
      [["render", `${FIXTURES}eg3d_tiny.pkl`], "is a training snapshot pickle"],
      [["--store", `${dir}/none`, "render", "abcd1234"], "no store at"],
      [["render", `${dir}/notes.txt`, "--seeds", "5-2"], "--seeds: range 5-2 runs backwards"],
    ];
    for (const [args, message] of cases) {
      const run = await cli(...args);
      assertEquals(run.code, 1, args.join(" "));
      const lines = run.stderr.trim().split("\n");
      assertEquals(lines.length, 1, run.stderr);
      assertEquals(lines[0].startsWith("error: ") && lines[0].includes(message), true, lines[0]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
