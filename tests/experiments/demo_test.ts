/**
 * `deno task demo`: the whole DAG (prep → pretrain → imitate → eval) on the
 * tiny preset; the second run reuses every cached stage; the report exists
 * and embeds its figures.
 */
import { assertEquals } from "../helpers/assert.ts";

Deno.test("demo: first run executes every stage, the second reuses them all; the report has its figures", async () => {
  const store = await Deno.makeTempDir();
  try {
    const run = async () => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL("../../mod.ts", import.meta.url).pathname, "demo"],
        env: { MIMIC3D_STORE: store, XDG_RUNTIME_DIR: "/tmp" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      if (out.code !== 0) throw new Error(`demo failed: ${new TextDecoder().decode(out.stderr)}`);
      return text;
    };
    const first = await run();
    if (!first.includes("ran prep, pretrain, imitate, reference, eval")) throw new Error(first);
    const second = await run();
    if (!second.includes("everything was cached")) throw new Error(second);
    const report = second.match(/report:\s+(\S+)/)?.[1];
    if (!report) throw new Error(`no report path in: ${second}`);
    const html = await Deno.readTextFile(report);
    for (const figure of ["grid.png", "depth_grid.png", "turntable.gif"]) {
      if (!html.includes(figure)) throw new Error(`report does not show ${figure}`);
    }
    if (!/<img[^>]+src="data:image\/png;base64,/.test(html)) {
      throw new Error("report embeds no images");
    }
    const preview = second.match(/dataset preview:\s+(\S+)/)![1];
    assertEquals(Array.from((await Deno.readFile(preview)).subarray(1, 4)), [0x50, 0x4e, 0x47]);
  } finally {
    await Deno.remove(store, { recursive: true });
  }
});
