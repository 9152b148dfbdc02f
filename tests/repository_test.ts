/**
 * The repository stands alone: no tracked file refers to a folder beside the
 * checkout (a user's clone has nothing there), and the reference data the
 * tests and `task fixtures` read ships inside it.
 */
import { fileURLToPath } from "node:url";
import { join, relative } from "node:path";
import { assertEquals } from "./helpers/assert.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Tracked files (git's list; a walk of the tree where there is no git checkout). */
async function trackedFiles(): Promise<string[]> {
  try {
    const out = await new Deno.Command("git", { args: ["ls-files", "-z"], cwd: root }).output();
    if (out.success) return new TextDecoder().decode(out.stdout).split("\0").filter(Boolean);
  } catch { /* no git: walk */ }
  const skip = new Set([".git", "node_modules", ".mimic3d", ".device", "scratch"]);
  const files: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      if (skip.has(e.name)) continue;
      const path = join(dir, e.name);
      if (e.isDirectory) await walk(path);
      else if (e.isFile) files.push(relative(root, path));
    }
  };
  await walk(root);
  return files;
}

/** `file:line: text` of every line of a tracked text file that matches `pattern`. */
async function trackedLinesMatching(pattern: RegExp): Promise<string[]> {
  const found: string[] = [];
  for (const file of await trackedFiles()) {
    if (/\.(safetensors|pkl|png|gif|gz|zip|npy|pth)$/.test(file)) continue;
    const text = await Deno.readTextFile(join(root, file));
    text.split("\n").forEach((line, i) => {
      if (pattern.test(line)) found.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  return found;
}

Deno.test("no tracked file refers to the folder beside the checkout", async () => {
  const outside = /\.\.\/shared\b|(^|[\s`(])shared\/(fixtures|BASELINES|DESIGN|device)/;
  assertEquals(await trackedLinesMatching(outside), []);
});

Deno.test("the reference fixture cases and their provenance README ship in the repository", async () => {
  const dir = join(root, "tests/fixtures/reference");
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  const cases = names.filter((n) => n.endsWith(".safetensors"));
  assertEquals(names.includes("README.md"), true);
  assertEquals(cases.length >= 20, true, `only ${cases.length} cases in ${dir}`);
});

Deno.test("no tracked file says pretrained weights cannot be downloaded", async () => {
  // Built from parts so this file does not match itself.
  const stale = new RegExp(["cannot", "be", "downloaded", "here"].join(" "), "i");
  assertEquals(await trackedLinesMatching(stale), []);
});
