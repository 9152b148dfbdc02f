/**
 * A stage's code version from its module's static import closure: every local module it
 * reaches through `import` / `export … from` (type-only imports are erased and do not count),
 * each with the sha256 of its text, and the npm packages it reaches with the versions
 * `deno.lock` resolved them to. So a stage cannot forget a file that shapes its output, and a
 * package upgrade changes the keys of the stages that use the package.
 *
 * Imports are read from the source text (the project writes them at the top of each module,
 * on one `from "…"` each). A module is read once per process.
 */
import * as path from "node:path";
import { sha256Hex } from "./canonical_json.ts";
import { fromFileUrl } from "./paths.ts";

/**
 * Modules that cannot change what a stage writes, left out of every closure so that editing
 * them keeps the store's artifacts. Paths relative to the repository root.
 */
export const RESULT_NEUTRAL: Record<string, string> = {
  // Draws the terminal progress bar; writes nothing to artifacts.
  "pipeline/progress_bar.ts": "terminal display",
  // Records CPU/GPU timestamps for `--timeline` traces, which live outside artifacts.
  "kernels/runtime/timeline.ts": "timing trace",
};

/** What a closure holds: local modules (path relative to the root → sha256) and packages. */
export interface ImportClosure {
  files: Record<string, string>;
  /** "npm:name" → the locked version. */
  packages: Record<string, string>;
}

interface ModuleInfo {
  hash: string;
  imports: string[];
}

const modules = new Map<string, ModuleInfo>();

/**
 * `import … from "x"`, `export … from "x"` (group 1: `type`, group 2: the specifier) and
 * `import "x"` (group 3). Dynamic `import()` is not followed: stage code does not use it.
 */
const IMPORT =
  /^(?:import|export)\s+(type\s+)?(?:\{[^}]*\}|\*(?:\s+as\s+\w+)?|\w+(?:\s*,\s*\{[^}]*\})?)\s+from\s+["']([^"']+)["']|^import\s+["']([^"']+)["']/gm;

async function readModule(file: string): Promise<ModuleInfo> {
  let info = modules.get(file);
  if (info) return info;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch {
    throw new Error(`cannot read module ${file}`);
  }
  const imports: string[] = [];
  for (const m of text.matchAll(IMPORT)) if (!m[1]) imports.push(m[2] ?? m[3]);
  info = { hash: sha256Hex(new TextEncoder().encode(text)), imports };
  modules.set(file, info);
  return info;
}

interface Project {
  root: string;
  /** deno.json's import map: bare name → target ("npm:zod@^4.1.0"). */
  importMap: Record<string, string>;
  /** deno.lock's resolved versions: "npm:zod@^4.1.0" → "4.6.7". */
  locked: Record<string, string>;
}

const projects = new Map<string, Project>();

/**
 * The project a file belongs to: the nearest folder above it with a deno.json; outside any,
 * `fallbackRoot` with no import map (stage modules written by tests).
 */
async function projectOf(file: string, fallbackRoot: string): Promise<Project> {
  // Every folder passed on the way up is cached with the project found above it.
  const passed: string[] = [];
  for (let dir = path.dirname(file);; dir = path.dirname(dir)) {
    const cached = projects.get(dir);
    if (cached) {
      for (const d of passed) projects.set(d, cached);
      return cached;
    }
    passed.push(dir);
    try {
      const config = JSON.parse(await Deno.readTextFile(path.join(dir, "deno.json")));
      let locked: Record<string, string> = {};
      try {
        locked = JSON.parse(await Deno.readTextFile(path.join(dir, "deno.lock"))).specifiers ??
          {};
      } catch { /* no lock file: packages enter with their requested ranges */ }
      const project = { root: dir, importMap: config.imports ?? {}, locked };
      for (const d of passed) projects.set(d, project);
      return project;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (path.dirname(dir) === dir) return { root: fallbackRoot, importMap: {}, locked: {} };
  }
}

/** "npm:name@range/sub" → ["npm:name", "npm:name@range"]. */
function npmPackage(spec: string): [string, string] {
  const body = spec.slice(4);
  const at = body.indexOf("@", body.startsWith("@") ? 1 : 0);
  const name = at < 0 ? body.split("/")[0] : body.slice(0, at);
  const rest = at < 0 ? "" : body.slice(at).split("/")[0];
  return [`npm:${name}`, `npm:${name}${rest}`];
}

/** The version deno.lock resolved a package to (its specifiers are normalised: "npm:fast-png@8"). */
function lockedVersion(project: Project, name: string, requested: string): string {
  if (project.locked[requested]) return project.locked[requested];
  const versions = Object.entries(project.locked).filter(([k]) => k.startsWith(`${name}@`));
  return versions.length === 1 ? versions[0][1] : requested;
}

/** The static import closure of `entries` (local files), minus the result-neutral modules. */
export async function importClosure(entries: readonly string[]): Promise<ImportClosure> {
  const files: Record<string, string> = {};
  const packages: Record<string, string> = {};
  const seen = new Set<string>();
  const stack = [...entries];
  while (stack.length) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const project = await projectOf(file, path.dirname(entries[0]));
    const relative = path.relative(project.root, file).split(path.sep).join("/");
    if (relative in RESULT_NEUTRAL) continue;
    const info = await readModule(file);
    files[relative] = info.hash;
    for (let spec of info.imports) {
      if (!spec.startsWith(".") && !spec.startsWith("/") && !/^[a-z]+:/.test(spec)) {
        const mapped = Object.entries(project.importMap).find(([k]) =>
          spec === k || (k.endsWith("/") && spec.startsWith(k))
        );
        if (!mapped) throw new Error(`${relative}: cannot resolve import "${spec}"`);
        spec = mapped[1] + spec.slice(mapped[0].length);
      }
      if (spec.startsWith("node:")) continue;
      if (spec.startsWith("npm:")) {
        const [name, requested] = npmPackage(spec);
        packages[name] = lockedVersion(project, name, requested);
        continue;
      }
      if (/^[a-z]+:/.test(spec) && !spec.startsWith("file:")) {
        throw new Error(`${relative}: import "${spec}" is neither local nor npm`);
      }
      const target = spec.startsWith("file:")
        ? fromFileUrl(spec)
        : path.resolve(path.dirname(file), spec);
      stack.push(target);
    }
  }
  return { files, packages };
}

/** Forgets read modules (tests that edit a module within one process). */
export function clearImportClosures(): void {
  modules.clear();
  projects.clear();
}
