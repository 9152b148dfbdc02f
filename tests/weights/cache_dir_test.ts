/** The weights cache directory: config key, then MIMIC3D_CACHE, XDG_CACHE_HOME, ~/.cache. */
import { weightsCacheDir } from "../../stages/weights/cache_dir.ts";
import { assertEquals, assertThrows } from "../helpers/assert.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("weights cache dir: config key > MIMIC3D_CACHE > XDG_CACHE_HOME > HOME", async () => {
  const all = { MIMIC3D_CACHE: "/m", XDG_CACHE_HOME: "/x", HOME: "/h" };
  assertEquals(weightsCacheDir("/configured", envOf(all)), "/configured");
  assertEquals(weightsCacheDir("", envOf(all)), "/m/weights");
  assertEquals(
    weightsCacheDir("", envOf({ XDG_CACHE_HOME: "/x", HOME: "/h" })),
    "/x/mimic3d-ts/weights",
  );
  assertEquals(weightsCacheDir("", envOf({ HOME: "/h" })), "/h/.cache/mimic3d-ts/weights");
  await assertThrows(() => weightsCacheDir("", envOf({})), "set MIMIC3D_CACHE");
});
