import { saveResults } from "../../bench/results.ts";
import { assertEquals } from "../helpers/assert.ts";

Deno.test("bench results: one JSON under bench/results/, named by date, kind and device, and a copy in $OUT", async () => {
  const out = await Deno.makeTempDir();
  const before = Deno.env.get("OUT");
  Deno.env.set("OUT", out);
  const json = { device: "Some GPU (rev. 2)", date: "2000-01-01", rows: [{ name: "a", ms: 1.5 }] };
  const local = new URL(
    "../../bench/results/2000-01-01-model-Some-GPU-rev-2-2ranks.json",
    import.meta.url,
  );
  try {
    await saveResults(json, "model", "model_bench.json", "-2ranks");
    assertEquals(JSON.parse(await Deno.readTextFile(local)), json);
    assertEquals(JSON.parse(await Deno.readTextFile(`${out}/model_bench.json`)), json);
  } finally {
    if (before === undefined) Deno.env.delete("OUT");
    else Deno.env.set("OUT", before);
    await Deno.remove(local).catch(() => {});
    await Deno.remove(out, { recursive: true });
  }
});
