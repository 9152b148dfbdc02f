/**
 * `deno task demo`: the whole DAG (prep → pretrain → imitate → eval) with the
 * `demo` preset — both training stages taken from the shipped GPU runs after
 * their checks, everything else computed here. The second run reuses every
 * cached stage. What a user looks at is there: the branch gap improved by
 * imitation, geometry metrics against the true shapes, meshes with surfaces,
 * the turntable (2-D | 3-D) and the report with its figures.
 */
import { join } from "node:path";
import { assertEquals } from "../helpers/assert.ts";

Deno.test("demo: a trained model — branch gap before/after, geometry, meshes, turntable, report; cached rerun", async () => {
  const store = await Deno.makeTempDir();
  try {
    const run = async () => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL("../../mod.ts", import.meta.url).pathname, "demo"],
        env: { MIMIC3D_STORE: store, XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      if (out.code !== 0) throw new Error(`demo failed: ${new TextDecoder().decode(out.stderr)}`);
      return text;
    };
    const first = await run();
    if (!first.includes("ran prep, pretrain, imitate, reference, eval")) throw new Error(first);
    if (!/branch_gap_psnr\s+[\d.]+ before imitation → [\d.]+ after/.test(first)) {
      throw new Error(`no before → after branch gap in: ${first}`);
    }
    const second = await run();
    if (!second.includes("everything was cached")) throw new Error(second);
    const report = second.match(/report:\s+(\S+)/)?.[1];
    if (!report) throw new Error(`no report path in: ${second}`);
    const evalDir = join(report, "..");
    const metrics = JSON.parse(await Deno.readTextFile(join(evalDir, "metrics.json")));
    // Imitation brought the 3-D branch closer to the SR image (the GPU run: 9.7 → 17.9 dB).
    const gap = metrics.branch_gap_psnr;
    if (!(gap.value > gap.before + 5)) throw new Error(`branch gap ${JSON.stringify(gap)}`);
    // Geometry against the procedural set's true shapes is measured, on shapes with surfaces.
    for (const name of ["mmd_cd", "cov_cd", "depth_l1", "reprojection_3d", "reprojection_2d"]) {
      if (typeof metrics[name]?.value !== "number") {
        throw new Error(`${name}: ${JSON.stringify(metrics[name])}`);
      }
    }
    assertEquals(metrics.mmd_cd.withSurface, metrics.mmd_cd.generated);
    const html = await Deno.readTextFile(report);
    if (!html.includes("Trained on NVIDIA")) {
      throw new Error("report does not say where it trained");
    }
    for (const figure of ["grid.png", "depth_grid.png", "turntable.gif", "branch_gap.png"]) {
      if (!html.includes(figure)) throw new Error(`report does not show ${figure}`);
    }
    if (!/<img[^>]+src="data:image\/png;base64,/.test(html)) {
      throw new Error("report embeds no images");
    }
    const gif = await Deno.readFile(join(evalDir, "turntable.gif"));
    assertEquals(new TextDecoder().decode(gif.subarray(0, 6)), "GIF89a");
    const ply = await Deno.readTextFile(join(evalDir, "mesh_0.ply"));
    const vertices = Number(ply.match(/element vertex (\d+)/)?.[1]);
    if (!(vertices > 100)) throw new Error(`mesh_0.ply has ${vertices} vertices`);
    const preview = second.match(/dataset preview:\s+(\S+)/)![1];
    assertEquals(Array.from((await Deno.readFile(preview)).subarray(1, 4)), [0x50, 0x4e, 0x47]);
  } finally {
    await Deno.remove(store, { recursive: true });
  }
});
