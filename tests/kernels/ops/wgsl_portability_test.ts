/**
 * WGSL patterns that a backend translates wrongly, kept out of every kernel.
 * Through the GL backend (Mesa llvmpipe without a Vulkan driver), a loop whose
 * test is `a && b[i] …` runs with a different result: an insertion sort with
 * `while (j > 0u && tf[j - 1u] > v)` left values duplicated and lost, where
 * Vulkan sorts correctly (docs/adapters.md has the reproduction).
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { assertEquals } from "../../helpers/assert.ts";

const root = fileURLToPath(new URL("../../..", import.meta.url));

Deno.test("no WGSL loop tests `… && array[…]` (the GL backend miscompiles it)", async () => {
  const offenders: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = join(dir, e.name);
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts")) {
        const lines = (await Deno.readTextFile(path)).split("\n");
        lines.forEach((line, i) => {
          // WGSL loops only: an unsigned literal (`0u`) marks shader source.
          if (/\bwhile\s*\(.*&&.*\[.*\]/.test(line) && /\d+u\b/.test(line)) {
            offenders.push(`${path.slice(root.length)}:${i + 1}`);
          }
        });
      }
    }
  };
  for (const dir of ["kernels", "stages"]) await walk(join(root, dir));
  assertEquals(offenders, []);
});
