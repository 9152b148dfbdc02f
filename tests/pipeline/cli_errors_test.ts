/**
 * Errors that reach the CLI's top level: each prints one `error:` line naming the problem and
 * exits 1 — also Deno's filesystem and module-load errors, which carry a string `code` like
 * commander's own (those alone were printed by commander already and exit 2).
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { Store } from "../../pipeline/store.ts";
import { MOD as mod } from "./helpers.ts";
import { unshareSucceeds } from "../helpers/unshare.ts";

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
    // Deno's message for a missing import holds an `at` line (with terminal colours).
    const badImport = `${dir}/bad_import_experiment.ts`;
    await Deno.writeTextFile(badImport, 'export { default } from "./no_such_module.ts";\n');
    const file = `${dir}/a_file`;
    await Deno.writeTextFile(file, "");
    const cases: [string[], string][] = [
      [["run", broken], "broken_experiment.ts: SyntaxError: "],
      [["run", badImport], "no_such_module.ts"],
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
      assertEquals(stderr.trimEnd().split("\n").length, 1, `one line: ${JSON.stringify(stderr)}`);
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

/**
 * Whether this machine lets an unprivileged process mount a tmpfs in namespaces of its own
 * (`unshare --user --map-root-user --mount`); where it cannot, the simulated ENOSPC above stands in.
 */
async function canMountTmpfs(): Promise<boolean> {
  const dir = await Deno.makeTempDir();
  try {
    return await unshareSucceeds([
      ...["--user", "--map-root-user", "--mount", "mount", "-t", "tmpfs", "tmpfs", dir],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const tmpfs = await canMountTmpfs();
if (!tmpfs) {
  console.log(
    "cli_errors_test.ts: the real full-disk test is ignored: this machine cannot mount a tmpfs " +
      "in a user namespace (unshare --user --map-root-user --mount)",
  );
}

Deno.test({
  name:
    "CLI: a real full disk (a 512 KiB tmpfs) fails the stage with one line, exit 1, nothing stored",
  ignore: !tmpfs,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const toy = new URL("../../experiments/toy.ts", import.meta.url).pathname;
      // The store lives on the tmpfs, which exists only inside the namespace: list what the
      // failed run left there before the namespace goes away.
      const script = 'mount -t tmpfs -o size=512k tmpfs "$0" && "$@"; code=$?; ' +
        'find "$0/store/objects" "$0/store/keys" "$0/store/tmp" -mindepth 1; exit $code';
      const out = await new Deno.Command("unshare", {
        args: [
          ...["--user", "--map-root-user", "--mount", "sh", "-c", script, dir],
          ...[Deno.execPath(), "run", "-A", mod, "--store", `${dir}/store`, "run", toy, "--quiet"],
          ...["--set", "data.count=200000"], // 1.6 MB of values: more than the disk holds
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assertEquals(out.code, 1, stderr);
      assert(stderr.startsWith('error: stage "generate" failed: No space left on device'), stderr);
      assertEquals(stderr.trimEnd().split("\n").length, 1, stderr);
      assertEquals(new TextDecoder().decode(out.stdout), "", "objects, keys or staging left");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("CLI: commander's own errors keep exit 2 (printed by commander)", async () => {
  const { code, stderr } = await cli("--no-such-option");
  assertEquals(code, 2);
  assert(stderr.includes("unknown option '--no-such-option'"), stderr);
});
