/**
 * Declared outs: the files a stage says it writes (`StageSpec.outs`), checked when the stage is
 * defined, and again by the runner before it stores an artifact — the top level of the output
 * directory must hold exactly the declared outs: each required one, nothing else.
 *
 * A declaration is a file name (`metrics.json`), a directory with any contents (`samples/`), or
 * a family of files with `*` standing for any characters but `/` (`mesh_*.ply`, zero or more).
 * @module
 */

/** A stage's outs by name, and which of them it may leave out. */
export interface OutsDeclaration {
  readonly outs: Readonly<Record<string, string>>;
  readonly optionalOuts?: readonly string[];
}

interface ParsedOut {
  name: string;
  declared: string;
  kind: "file" | "dir" | "family";
  matches(entry: string): boolean;
}

const SEGMENT = /^[A-Za-z0-9_.*-]+$/;

function parseOut(name: string, declared: string): ParsedOut {
  const dir = declared.endsWith("/");
  const base = dir ? declared.slice(0, -1) : declared;
  if (!SEGMENT.test(base) || base === "." || base === ".." || (dir && base.includes("*"))) {
    throw new Error(
      `out "${name}" = "${declared}": use a file name (letters, digits, '_', '.', '-'), a ` +
        `directory "name/", or a file pattern with '*'`,
    );
  }
  if (dir) return { name, declared, kind: "dir", matches: (entry) => entry === base };
  if (!base.includes("*")) return { name, declared, kind: "file", matches: (e) => e === base };
  const pattern = new RegExp(
    `^${base.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, "\\$&")).join(".*")}$`,
  );
  return { name, declared, kind: "family", matches: (entry) => pattern.test(entry) };
}

function parseOuts(stage: string, declaration: OutsDeclaration): ParsedOut[] {
  const parsed = Object.entries(declaration.outs).map(([name, declared]) => {
    try {
      return parseOut(name, declared);
    } catch (err) {
      throw new Error(`stage "${stage}": ${(err as Error).message}`);
    }
  });
  for (const optional of declaration.optionalOuts ?? []) {
    if (!(optional in declaration.outs)) {
      throw new Error(`stage "${stage}": optional out "${optional}" is not one of its outs`);
    }
  }
  return parsed;
}

/** Throws a one-line error for a malformed declaration (at `defineStage` time). */
export function validateOuts(stage: string, declaration: OutsDeclaration): void {
  if (Object.keys(declaration.outs).length === 0) {
    throw new Error(`stage "${stage}" declares no outs; name the files it writes in outs`);
  }
  parseOuts(stage, declaration);
}

/**
 * Checks that `outDir` holds exactly the declared outs; throws one line naming what is missing
 * or undeclared (the runner then stores nothing).
 */
export async function checkDeclaredOuts(
  outDir: string,
  stage: string,
  declaration: OutsDeclaration,
): Promise<void> {
  const outs = parseOuts(stage, declaration);
  const optional = new Set(declaration.optionalOuts ?? []);
  const present = new Set<string>();
  const undeclared: string[] = [];
  for await (const entry of Deno.readDir(outDir)) {
    const out = outs.find((o) => o.matches(entry.name));
    const isDir = entry.isDirectory;
    if (!out) undeclared.push(isDir ? `${entry.name}/` : entry.name);
    else if ((out.kind === "dir") !== isDir) {
      throw new Error(
        `its out ${entry.name} is a ${isDir ? "directory" : "file"}, but is declared as ` +
          `"${out.declared}"`,
      );
    } else present.add(out.name);
  }
  const missing = outs.filter((o) =>
    o.kind !== "family" && !optional.has(o.name) && !present.has(o.name)
  );
  if (missing.length > 0) {
    throw new Error(
      `it did not write its declared out${missing.length > 1 ? "s" : ""} ` +
        missing.map((o) => o.declared).join(", "),
    );
  }
  if (undeclared.length > 0) {
    throw new Error(
      `it wrote ${undeclared.sort().join(", ")}, which its declared outs do not name ` +
        `(${outs.map((o) => o.declared).join(", ")})`,
    );
  }
}

/** One file of a family out: `memberOf("mesh_*.ply", 3)` is `mesh_3.ply`. */
export function memberOf(family: string, id: string | number): string {
  if (!family.includes("*")) throw new Error(`out "${family}" is not a family (it has no '*')`);
  return family.replace("*", String(id));
}
