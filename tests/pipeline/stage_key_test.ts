/**
 * Stage keys of external files and narrowed configs: a file given by a pinned hash keys like a
 * path holding bytes of that hash; `keyConfig` keeps what it leaves out from the key (and from
 * `status`'s reasons) while the stage still runs with the whole config.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { z } from "zod";
import { defineExperiment, defineStage, FileHashCache, node } from "../../pipeline/mod.ts";
import { keyInputsFor, keyOf } from "../../pipeline/stage_key.ts";
import { explainChange, type NodeRef } from "../../pipeline/node_refs.ts";
import { assertEquals } from "../helpers/assert.ts";

const schema = z.strictObject({ file: z.string(), where: z.string(), lr: z.number() });

const stage = defineStage({
  name: "test-keyed-file",
  sources: [import.meta.url],
  config: schema,
  externalFiles: (c) =>
    c.file.startsWith("pin:") ? [{ name: c.file, sha256: c.file.slice(4) }] : [c.file],
  keyConfig: ({ where: _where, ...rest }) => ({ ...rest, file: "file" }),
  outs: { none: "none" },
  optionalOuts: ["none"],
  async run() {},
});

const experiment = defineExperiment({
  name: "test-keyed-file",
  config: z.strictObject({ s: schema }),
  dag: { s: node(stage, { config: "s" }) },
});

const inputs = (config: z.output<typeof schema>) =>
  keyInputsFor(experiment.dag.s, config, {}, 0, FileHashCache.inMemory());

Deno.test("stage key: a pinned hash keys like a file of those bytes; keyConfig leaves values out", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mimic3d-key-" });
  try {
    const bytes = new TextEncoder().encode("weights");
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const file = join(dir, "w.bin");
    await Deno.writeFile(file, bytes);
    const byPath = await inputs({ file, where: "/a", lr: 1 });
    const byPin = await inputs({ file: `pin:${sha256}`, where: "/b", lr: 1 });
    assertEquals(byPath.config, { file, where: "/a", lr: 1 }, "the stage runs with all of it");
    assertEquals(keyOf(byPath), keyOf(byPin));
    const otherPin = await inputs({ file: `pin:${"0".repeat(64)}`, where: "/b", lr: 1 });
    assertEquals(keyOf(otherPin) === keyOf(byPin), false, "another hash, another key");
    const otherLr = await inputs({ file, where: "/a", lr: 2 });
    assertEquals(keyOf(otherLr) === keyOf(byPath), false, "kept values still count");
    // status names only what entered the key.
    const ref = { keyInputs: byPath } as NodeRef;
    assertEquals(explainChange(ref, await inputs({ file, where: "/c", lr: 1 }), "s", {}), []);
    assertEquals(explainChange(ref, otherLr, "s", {}), ["config s.lr changed: 1 → 2"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
