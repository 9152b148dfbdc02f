/** `deno task demo`: runs the prep DAG, prints the preview path; a second run reuses the artifact. */
import { assertEquals } from "../helpers/assert.ts";

Deno.test("demo: first run builds the dataset artifact, the second reuses it, the preview exists", async () => {
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
    const second = await run();
    if (!first.includes("prep: built")) throw new Error(first);
    if (!second.includes("prep: reused cached")) throw new Error(second);
    const preview = second.match(/preview:\s+(\S+)/)?.[1];
    if (!preview) throw new Error(`no preview path in: ${second}`);
    const png = await Deno.readFile(preview);
    assertEquals(Array.from(png.subarray(1, 4)), [0x50, 0x4e, 0x47]); // "PNG"
  } finally {
    await Deno.remove(store, { recursive: true });
  }
});
