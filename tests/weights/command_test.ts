/**
 * `weights` lists each pinned file's cache state and `weights fetch` downloads it, against a
 * local server through an injected registry; an unknown name is an error naming the known ones.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Command } from "@commander-js/extra-typings";
import { registerWeightsCommands } from "../../stages/weights/command.ts";
import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { startWeightsServer } from "./weights_server.ts";

const BODY = new TextEncoder().encode("small weights");

/** Runs one command line and returns what it printed to stdout. */
async function cli(registry: Parameters<typeof registerWeightsCommands>[1], args: string[]) {
  const program = new Command().exitOverride();
  registerWeightsCommands(program, registry);
  const lines: string[] = [];
  const log = console.log;
  console.log = (...parts: unknown[]) => lines.push(parts.join(" "));
  try {
    await program.parseAsync(args, { from: "user" });
  } finally {
    console.log = log;
  }
  return lines.join("\n");
}

Deno.test("weights command: list states, fetch into the cache, unknown names refused", async () => {
  const server = startWeightsServer({ "/small.pth": { kind: "file", body: BODY } });
  const cache = await Deno.makeTempDir({ prefix: "mimic3d-weights-cli-" });
  try {
    const registry = {
      small: {
        description: "test weights",
        fileName: "small.pth",
        url: `${server.base}/small.pth`,
        sha256: createHash("sha256").update(BODY).digest("hex"),
      },
    };
    const path = join(cache, "small.pth");
    assert((await cli(registry, ["weights", "--cache", cache])).includes(`not downloaded ${path}`));
    assertEquals(server.requests.size, 0, "listing downloads nothing");
    assertEquals(await cli(registry, ["weights", "fetch", "--cache", cache]), `small: ${path}`);
    assert((await cli(registry, ["weights", "--cache", cache])).includes(`small: cached ${path}`));
    await Deno.writeTextFile(path, "damaged");
    assert((await cli(registry, ["weights", "--cache", cache])).includes("damaged"));
    await cli(registry, ["weights", "fetch", "small", "--cache", cache]);
    assertEquals(await Deno.readFile(path), BODY, "fetch replaced the damaged copy");
    await assertThrows(
      () => cli(registry, ["weights", "fetch", "big", "--cache", cache]),
      "unknown weights big (known: small)",
    );
  } finally {
    await server.close();
    await Deno.remove(cache, { recursive: true });
  }
});
