import { assert, assertEquals } from "../../helpers/assert.ts";

const mod = new URL("../../../kernels/mod.ts", import.meta.url).href;
const script = `
import * as K from "${mod}";
await K.initGpu();
console.log(Array.from(await K.mul(K.tensor([1, 2]), 3).read()).join(","));
`;

async function run(env: Record<string, string>): Promise<{ out: string; err: string }> {
  const { stdout, stderr, success } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  assert(success, decode(stderr));
  return { out: decode(stdout).trim(), err: decode(stderr) };
}

Deno.test("timeline: MIMIC3D_TIMELINE=1 prints a read-back's request, catch-up and submit; off by default", async () => {
  const on = await run({ MIMIC3D_TIMELINE: "1" });
  assertEquals(on.out, "3,6");
  const events = on.err.split("\n").filter((l) => /^\d+\.\d /.test(l)).map((l) =>
    l.replace(/^\S+ /, "").replace(/^request \d+/, "request")
  );
  assertEquals(events, [
    "request: called (0 writes pending)",
    "request: caught up",
    "request: submitted",
  ]);
  const off = await run({ MIMIC3D_TIMELINE: "" });
  assertEquals(off.out, "3,6");
  assert(!/request \d+/.test(off.err), off.err);
});
