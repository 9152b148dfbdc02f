/**
 * Errors that reach the CLI's top level: each prints one `error:` line naming the problem and
 * exits 1 — also Deno's filesystem and module-load errors, which carry a string `code` like
 * commander's own (those alone were printed by commander already and exit 2).
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { Store } from "../../pipeline/store.ts";
import { MOD as mod } from "./helpers.ts";

async function cli(...args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", mod, ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("CLI: filesystem and module-load errors are printed, exit 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const broken = `${dir}/broken_experiment.ts`;
    await Deno.writeTextFile(broken, "export default {{{");
    const file = `${dir}/a_file`;
    await Deno.writeTextFile(file, "");
    const cases: [string[], string][] = [
      [["run", broken], "broken_experiment.ts"],
      [["dataset", "check", dir], "a directory, not a dataset zip"],
      [["--store", file, "ls"], "a_file"],
    ];
    for (const [args, wanted] of cases) {
      const { code, stderr } = await cli(...args);
      assertEquals(code, 1, `exit code of ${args.join(" ")}`);
      assert(
        stderr.startsWith("error: "),
        `${args.join(" ")}: stderr was ${JSON.stringify(stderr)}`,
      );
      assert(
        stderr.includes(wanted),
        `${args.join(" ")}: ${JSON.stringify(stderr)} lacks ${wanted}`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CLI: a full disk while storing an artifact prints the error, exits 1 and stores nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const toy = new URL("../../experiments/toy.ts", import.meta.url).pathname;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", mod, "--store", `${dir}/store`, "run", toy, "--quiet"],
      env: { MIMIC3D_FAULT: "commit:before-rename=enospc" },
      stdout: "null",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 1, stderr);
    assert(stderr.startsWith('error: stage "'), stderr); // names the stage
    assert(stderr.includes("No space left on device"), stderr);
    assertEquals(stderr.trim().split("\n").length, 1, stderr);
    const store = await Store.open(`${dir}/store`);
    assertEquals(await store.listObjects(), []);
    assertEquals(await store.listKeyRecords(), []);
    assertEquals(await Array.fromAsync(Deno.readDir(store.at("tmp"))), []); // no staging left
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CLI: commander's own errors keep exit 2 (printed by commander)", async () => {
  const { code, stderr } = await cli("--no-such-option");
  assertEquals(code, 2);
  assert(stderr.includes("unknown option '--no-such-option'"), stderr);
});
