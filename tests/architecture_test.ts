/**
 * The layers and the import graph: no module imports itself through others (a cycle), and no
 * import points up the layers: `kernels/` imports nothing of ours outside it, `pipeline/`
 * nothing of `stages/` or `experiments/`, `stages/` nothing of `experiments/`; autograd
 * (`kernels/tensor/`) nothing of scheduling (the event loop); and above `kernels/` (stages,
 * experiments, the pipeline, benchmarks, the root modules), only its public module
 * `kernels/mod.ts` is imported. Static imports and
 * re-exports of every TypeScript file in the tree, as written.
 */
import { fileURLToPath } from "node:url";
import * as path from "node:path";
import { assertEquals } from "./helpers/assert.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const SKIP = new Set([".git", "node_modules", ".device", ".mimic3d", "scratch", ".snap"]);

/** Repository-relative paths of the TypeScript files. */
async function sources(dir = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(path.join(root, dir))) {
    if (SKIP.has(e.name)) continue;
    const rel = path.join(dir, e.name);
    if (e.isDirectory) out.push(...await sources(rel));
    else if (e.name.endsWith(".ts")) out.push(rel);
  }
  return out;
}

/** The repository files `file` imports or re-exports statically (`import type` included). */
export function importsOf(file: string, text: string): string[] {
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']/gms),
    ...text.matchAll(/^\s*import\s*["']([^"']+)["']/gm),
  ].map((m) => m[1]);
  return specifiers.filter((s) => s.startsWith(".")).map((s) =>
    path.normalize(path.join(path.dirname(file), s))
  );
}

/** The cycles of a graph: each strongly connected component of more than one file (Tarjan). */
export function cycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.includes(v)) found.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

/** The GPU layer's internals: everything of kernels/ but its public module. */
const kernelInternal = (to: string) => to.startsWith("kernels/") && to !== "kernels/mod.ts";

/** Whether a file lies at the repository root (mod.ts, cli.ts). */
const atRoot = (file: string) => !file.includes("/");

/** What the files under a folder must not import. */
const FORBIDDEN: Record<string, (to: string) => boolean> = {
  "kernels/": (to) => !to.startsWith("kernels/"),
  // Autograd knows no scheduling: a backward that must yield is given a pause hook.
  "kernels/tensor/": (to) => to === "kernels/runtime/event_loop.ts",
  "pipeline/": (to) =>
    to.startsWith("stages/") || to.startsWith("experiments/") || kernelInternal(to),
  "stages/": (to) => to.startsWith("experiments/") || kernelInternal(to),
  "experiments/": kernelInternal,
  "bench/": kernelInternal,
};

/** Imports that point up the layers, as "from → to". */
export function upwardImports(graph: Map<string, string[]>): string[] {
  const bad: string[] = [];
  for (const [from, tos] of graph) {
    for (const [folder, rule] of Object.entries(FORBIDDEN)) {
      if (from.startsWith(folder)) {
        for (const to of tos) if (rule(to)) bad.push(`${from} → ${to}`);
      }
    }
    if (atRoot(from)) { for (const to of tos) if (kernelInternal(to)) bad.push(`${from} → ${to}`); }
  }
  return bad.sort();
}

Deno.test("architecture: no import cycles, no import up the layers, kernels only through kernels/mod.ts", async () => {
  const graph = new Map<string, string[]>();
  for (const file of await sources()) {
    graph.set(file, importsOf(file, await Deno.readTextFile(path.join(root, file))));
  }
  if (graph.size < 100) throw new Error(`read only ${graph.size} files`);
  assertEquals(cycles(graph).map((c) => c.join(" ↔ ")), []);
  assertEquals(upwardImports(graph), []);
});

Deno.test("architecture: the checks find a cycle, an upward import and a kernel internal", () => {
  const text = 'import { a } from "./b.ts";\nexport { c } from "../pipeline/c.ts";\n' +
    'import type {\n  D,\n} from "./d.ts";\nimport "./side.ts";\nimport x from "npm:zod";';
  assertEquals(importsOf("stages/a.ts", text), [
    "stages/b.ts",
    "pipeline/c.ts",
    "stages/d.ts",
    "stages/side.ts",
  ]);
  const graph = new Map([
    ["kernels/a.ts", ["kernels/b.ts"]],
    ["kernels/b.ts", ["kernels/c.ts"]],
    ["kernels/c.ts", ["kernels/a.ts", "pipeline/x.ts"]],
    ["pipeline/x.ts", ["stages/y.ts", "kernels/mod.ts"]],
    ["stages/y.ts", ["kernels/mod.ts", "kernels/z.ts"]],
    ["kernels/z.ts", []],
    ["kernels/tensor/t.ts", ["kernels/runtime/event_loop.ts"]],
    ["bench/b.ts", ["kernels/mod.ts", "kernels/ops/o.ts"]],
    ["m.ts", ["kernels/mod.ts", "kernels/runtime/r.ts"]],
  ]);
  assertEquals(cycles(graph), [["kernels/a.ts", "kernels/b.ts", "kernels/c.ts"]]);
  assertEquals(upwardImports(graph), [
    "bench/b.ts → kernels/ops/o.ts",
    "kernels/c.ts → pipeline/x.ts",
    "kernels/tensor/t.ts → kernels/runtime/event_loop.ts",
    "m.ts → kernels/runtime/r.ts",
    "pipeline/x.ts → stages/y.ts",
    "stages/y.ts → kernels/z.ts",
  ]);
});
