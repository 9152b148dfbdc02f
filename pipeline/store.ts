/**
 * The content-addressed store: immutable artifact directories `objects/<sha256>/` (a
 * `manifest.json` plus the files under `out/`), cache-key records, run records and logs.
 *
 * Layout under the store root:
 *   objects/<id>/        manifest.json + out/...   (read-only, never mutated)
 *   keys/<key>.json      stage key → artifact id, with the key's inputs (the cache)
 *   refs/<exp>/<node>.json  last run of each node of an experiment (what `status` diffs against)
 *   runs/<run>.json      which artifacts a run used (gc roots); logs/<run>.jsonl its events
 *   checkpoints/<key>.json  the latest checkpoint of an unfinished stage (points at an object)
 *   locks/<key>.lock     one writer per key;  tmp/  staging;  cache/file-hashes.json
 * @module
 */
import * as path from "node:path";
import { hostname } from "node:os";
import { sha256Hex } from "./canonical_json.ts";
import { exists, readJsonOrNull, syncDirectory, syncFile, writeJsonAtomic } from "./atomic_fs.ts";
import { FileHashCache, sha256File } from "./file_hash.ts";
import { faultPoint } from "./fault_injection.ts";
import { buildManifest, listFiles, type Manifest, manifestBytes } from "./manifest.ts";

/** How thoroughly to check an artifact against its manifest. */
export type CheckLevel =
  /** Files present with the right sizes (catches truncation and deletion). */
  | "sizes"
  /** Sizes + content hashes through the file-hash cache (rehash only files whose stat changed). */
  | "cached"
  /** Rehash every byte and reject extra files (what `verify` does). */
  | "full";

/** An artifact whose bytes no longer match its manifest. */
export class CorruptArtifactError extends Error {
  constructor(readonly id: string, readonly problem: string) {
    super(`artifact ${id.slice(0, 12)} is corrupted: ${problem}`);
    this.name = "CorruptArtifactError";
  }
}

/** What a cache-key record says: this key produced this artifact. */
export interface KeyRecord {
  key: string;
  artifact: string;
  stage: string;
  /** The key's inputs (stage, version, config, inputs, seed), kept to explain staleness. */
  keyInputs: unknown;
  createdAt: string;
  runId: string;
}

const ID_PATTERN = /^[0-9a-f]{64}$/;

/** A store rooted at a directory; all methods are safe with concurrent processes. */
export class Store {
  #hashCache: FileHashCache | null = null;

  private constructor(readonly root: string) {}

  /** Opens a store, creating its directories when missing. */
  static async open(root: string): Promise<Store> {
    const store = new Store(path.resolve(root));
    for (
      const sub of [
        "objects",
        "keys",
        "refs",
        "runs",
        "logs",
        "locks",
        "checkpoints",
        "tmp",
        "cache",
      ]
    ) {
      await Deno.mkdir(path.join(store.root, sub), { recursive: true });
    }
    return store;
  }

  /** Path of a store subdirectory or file. */
  at(...parts: string[]): string {
    return path.join(this.root, ...parts);
  }

  /** The directory of an artifact. */
  objectDir(id: string): string {
    return this.at("objects", id);
  }

  /** The directory holding an artifact's files (what stages get as inputs). */
  filesDir(id: string): string {
    return this.at("objects", id, "out");
  }

  /** The store's persistent file-hash cache. */
  async hashCache(): Promise<FileHashCache> {
    this.#hashCache ??= await FileHashCache.open(this.at("cache", "file-hashes.json"));
    return this.#hashCache;
  }

  /** Persists caches; call at the end of a command. */
  async flush(): Promise<void> {
    await this.#hashCache?.save();
  }

  /**
   * Creates a fresh staging directory (with an empty `out/`) on the store's filesystem, named
   * `<purpose>-<pid>-<random>@<host>` so that `gc` on a shared store can tell whose it is.
   */
  async makeStagingDir(purpose: string): Promise<{ dir: string; outDir: string }> {
    const name = `${purpose}-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}@${hostname()}`;
    const dir = this.at("tmp", name);
    await Deno.mkdir(path.join(dir, "out"), { recursive: true });
    return { dir, outDir: path.join(dir, "out") };
  }

  /**
   * Turns a staging directory into an artifact: hash + fsync every file, write the manifest,
   * make files read-only and rename the directory to `objects/<id>` in one atomic step. If the
   * same content is already stored it is reused, unless it is corrupted, in which case the fresh
   * copy replaces it. `kind` only names the crash-test points. Returns the artifact id.
   */
  async commit(stagingDir: string, kind: "artifact" | "checkpoint" = "artifact"): Promise<string> {
    const manifest = await buildManifest(path.join(stagingDir, "out"));
    const bytes = manifestBytes(manifest);
    const id = sha256Hex(bytes);
    const manifestFile = path.join(stagingDir, "manifest.json");
    await Deno.writeTextFile(manifestFile, bytes);
    await syncFile(manifestFile);
    await makeReadOnly(stagingDir, manifest);
    await syncDirectory(stagingDir);
    faultPoint(kind === "artifact" ? "commit:before-rename" : "checkpoint:before-rename");
    const target = this.objectDir(id);
    if (await exists(target)) {
      const intact = await this.check(id, "full").then(() => true, () => false);
      if (intact) {
        await removeTree(stagingDir);
        return id;
      }
      await this.removeObject(id);
    }
    try {
      await Deno.rename(stagingDir, target);
    } catch (err) {
      // Another process committed the same content between our check and rename.
      if (!(await exists(target))) throw err;
      await removeTree(stagingDir);
    }
    await syncDirectory(this.at("objects"));
    faultPoint(kind === "artifact" ? "commit:after-rename" : "checkpoint:after-rename");
    const cache = await this.hashCache();
    for (const file of manifest.files) {
      await cache.record(path.join(this.filesDir(id), file.path), file.sha256);
    }
    return id;
  }

  /** True when an artifact directory exists (not checked). */
  hasObject(id: string): Promise<boolean> {
    return exists(this.objectDir(id));
  }

  /** Reads an artifact's manifest, checking that it hashes to the id. */
  async manifest(id: string): Promise<Manifest> {
    let bytes: string;
    try {
      bytes = await Deno.readTextFile(path.join(this.objectDir(id), "manifest.json"));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new CorruptArtifactError(id, "manifest.json is missing");
      }
      throw err;
    }
    if (sha256Hex(bytes) !== id) throw new CorruptArtifactError(id, "manifest.json was modified");
    return JSON.parse(bytes) as Manifest;
  }

  /** Checks an artifact against its manifest; throws `CorruptArtifactError` naming the file. */
  async check(id: string, level: CheckLevel): Promise<Manifest> {
    const manifest = await this.manifest(id);
    const outDir = this.filesDir(id);
    const cache = level === "cached" ? await this.hashCache() : null;
    for (const file of manifest.files) {
      const absolute = path.join(outDir, file.path);
      let size: number;
      try {
        size = (await Deno.stat(absolute)).size;
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) {
          throw new CorruptArtifactError(id, `out/${file.path} is missing`);
        }
        throw err;
      }
      if (size !== file.size) {
        throw new CorruptArtifactError(
          id,
          `out/${file.path} has ${size} bytes, expected ${file.size}`,
        );
      }
      if (level === "sizes") continue;
      const actual = cache ? await cache.hash(absolute) : await sha256File(absolute);
      if (actual !== file.sha256) {
        cache?.forget(absolute);
        throw new CorruptArtifactError(id, `out/${file.path} content does not match its sha256`);
      }
    }
    if (level === "full") {
      const listed = new Set(manifest.files.map((f) => f.path));
      const extra = (await listFiles(outDir).catch(() => [])).find((f) => !listed.has(f));
      if (extra) throw new CorruptArtifactError(id, `out/${extra} is not in the manifest`);
    }
    return manifest;
  }

  /** All artifact ids in the store. */
  async listObjects(): Promise<string[]> {
    const ids: string[] = [];
    for await (const entry of Deno.readDir(this.at("objects"))) {
      if (entry.isDirectory && ID_PATTERN.test(entry.name)) ids.push(entry.name);
    }
    return ids.sort();
  }

  /** Resolves a unique id prefix (at least 4 hex digits) to a full artifact id. */
  async resolveId(prefix: string): Promise<string> {
    if (!/^[0-9a-f]{4,64}$/.test(prefix)) {
      throw new Error(`"${prefix}" is not an artifact id (4 to 64 lowercase hex digits)`);
    }
    const matches = (await this.listObjects()).filter((id) => id.startsWith(prefix));
    if (matches.length === 0) throw new Error(`no artifact ${prefix} in store ${this.root}`);
    if (matches.length > 1) {
      throw new Error(`artifact prefix ${prefix} is ambiguous (${matches.length} matches)`);
    }
    return matches[0];
  }

  /** Removes an artifact: renamed out of `objects/` first, so it disappears atomically. */
  async removeObject(id: string): Promise<void> {
    const trash = this.at("tmp", `trash-${id.slice(0, 12)}-${crypto.randomUUID().slice(0, 8)}`);
    try {
      await Deno.rename(this.objectDir(id), trash);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      throw err;
    }
    await syncDirectory(this.at("objects"));
    await removeTree(trash);
  }

  /** The cache record for a key, or null. */
  readKeyRecord(key: string): Promise<KeyRecord | null> {
    return readJsonOrNull<KeyRecord>(this.at("keys", `${key}.json`));
  }

  /** Records (atomically) that a key produced an artifact. */
  writeKeyRecord(record: KeyRecord): Promise<void> {
    return writeJsonAtomic(this.at("keys", `${record.key}.json`), record);
  }

  /** Drops a key record (the artifact will be recomputed on the next run). */
  async removeKeyRecord(key: string): Promise<void> {
    await Deno.remove(this.at("keys", `${key}.json`)).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
  }

  /** Every key record in the store. */
  async listKeyRecords(): Promise<KeyRecord[]> {
    return (await this.scanKeyRecords()).records;
  }

  /** Every key record, and the names of key files that cannot be read (damaged). */
  async scanKeyRecords(): Promise<{ records: KeyRecord[]; damaged: string[] }> {
    const records: KeyRecord[] = [];
    const damaged: string[] = [];
    for await (const entry of Deno.readDir(this.at("keys"))) {
      if (!entry.name.endsWith(".json") || entry.name.startsWith(".")) continue;
      try {
        const record = await readJsonOrNull<KeyRecord>(this.at("keys", entry.name));
        if (record && typeof record.key === "string" && typeof record.artifact === "string") {
          records.push(record);
        } else if (record) damaged.push(entry.name);
      } catch {
        damaged.push(entry.name);
      }
    }
    records.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    return { records, damaged: damaged.sort() };
  }
}

async function makeReadOnly(stagingDir: string, manifest: Manifest): Promise<void> {
  for (const file of manifest.files) {
    await Deno.chmod(path.join(stagingDir, "out", file.path), 0o444);
  }
  await Deno.chmod(path.join(stagingDir, "manifest.json"), 0o444);
}

/** Removes a directory tree, ignoring one that is already gone. */
export async function removeTree(dir: string): Promise<void> {
  await Deno.remove(dir, { recursive: true }).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
}
