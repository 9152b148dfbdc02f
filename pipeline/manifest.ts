/**
 * Artifact manifests: the list of files (relative path, size, sha256) that an artifact is.
 * The artifact id is the sha256 of the manifest's canonical JSON, so it names the content.
 */
import * as path from "node:path";
import { canonicalJson } from "./canonical_json.ts";
import { sha256File } from "./file_hash.ts";
import { syncDirectory, syncFile } from "./atomic_fs.ts";

/** One file of an artifact. */
export interface ManifestEntry {
  /** Path relative to the artifact's `out/` directory, '/'-separated. */
  path: string;
  size: number;
  sha256: string;
}

/** The full description of an artifact's content. */
export interface Manifest {
  format: "mimic3d-manifest/1";
  files: ManifestEntry[];
}

/** Lists regular files under `dir` (sorted, '/'-separated); other kinds are an error. */
export async function listFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (relative: string) => {
    for await (const entry of Deno.readDir(path.join(dir, relative))) {
      const child = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory) await walk(child);
      else if (entry.isFile) found.push(child);
      else {throw new Error(
          `output ${child} is a ${
            entry.isSymlink ? "symlink" : "special file"
          }; artifacts hold regular files only`,
        );}
    }
  };
  await walk("");
  return found.sort();
}

/**
 * Hashes and fsyncs every file under `dir` and returns its manifest. Directories are fsynced too,
 * so once the caller renames the artifact into place its content is durable.
 */
export async function buildManifest(dir: string): Promise<Manifest> {
  const files: ManifestEntry[] = [];
  const dirs = new Set<string>([dir]);
  for (const relative of await listFiles(dir)) {
    const absolute = path.join(dir, relative);
    await syncFile(absolute);
    const { size } = await Deno.stat(absolute);
    files.push({ path: relative, size, sha256: await sha256File(absolute) });
    dirs.add(path.dirname(absolute));
  }
  for (const d of dirs) await syncDirectory(d);
  return { format: "mimic3d-manifest/1", files };
}

/** The bytes stored as `manifest.json`; its sha256 is the artifact id. */
export function manifestBytes(manifest: Manifest): string {
  return canonicalJson(manifest);
}
