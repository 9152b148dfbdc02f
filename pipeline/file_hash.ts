/**
 * Fast content hashing of files: streamed sha256 with large reads, and a persistent cache keyed
 * by path + size + mtime + ctime + inode so a no-op rerun never rehashes a dataset.
 * @module
 */
import { createHash } from "node:crypto";
import * as path from "node:path";
import { readJsonOrNull, writeJsonAtomic } from "./atomic_fs.ts";

const READ_SIZE = 4 << 20;

/** Streams a file through sha256 (4 MiB reads, next read overlapped with hashing). */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  const handle = await Deno.open(file, { read: true });
  try {
    let buffers = [new Uint8Array(READ_SIZE), new Uint8Array(READ_SIZE)];
    let pending = handle.read(buffers[0]);
    for (;;) {
      const n = await pending;
      if (n === null) break;
      const current = buffers[0];
      buffers = [buffers[1], current];
      pending = handle.read(buffers[0]);
      hash.update(current.subarray(0, n));
    }
  } finally {
    handle.close();
  }
  return hash.digest("hex");
}

/** Identity of a file's current bytes as far as the filesystem tells without reading them. */
interface StatFingerprint {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  dev: number;
}

interface CacheEntry extends StatFingerprint {
  sha256: string;
}

function fingerprint(info: Deno.FileInfo): StatFingerprint {
  return {
    size: info.size,
    mtimeMs: info.mtime?.getTime() ?? 0,
    ctimeMs: info.ctime?.getTime() ?? 0,
    ino: info.ino ?? 0,
    dev: info.dev,
  };
}

function sameFingerprint(a: StatFingerprint, b: StatFingerprint): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs &&
    a.ino === b.ino && a.dev === b.dev;
}

/**
 * A file-hash cache persisted as one JSON file. Entries are trusted only while size, mtime,
 * ctime, inode and device are unchanged; ctime catches edits that restore mtime (`touch -d`).
 * Concurrent writers are safe: saves merge with the file on disk and replace it atomically.
 */
export class FileHashCache {
  #entries = new Map<string, CacheEntry>();
  #dirty = new Map<string, CacheEntry>();

  private constructor(readonly file: string | null) {}

  /** Opens (or starts) the cache stored at `file`. */
  static async open(file: string): Promise<FileHashCache> {
    const cache = new FileHashCache(file);
    const stored = await readJsonOrNull<Record<string, CacheEntry>>(file).catch(() => null);
    for (const [key, entry] of Object.entries(stored ?? {})) cache.#entries.set(key, entry);
    return cache;
  }

  /** A cache that lives only in memory. */
  static inMemory(): FileHashCache {
    return new FileHashCache(null);
  }

  /** Returns the file's sha256, rehashing only when its stat fingerprint changed. */
  async hash(file: string): Promise<string> {
    const absolute = path.resolve(file);
    const before = fingerprint(await Deno.stat(absolute));
    const known = this.#entries.get(absolute);
    if (known && sameFingerprint(known, before)) return known.sha256;
    const startedAt = Date.now();
    const sha256 = await sha256File(absolute);
    const after = fingerprint(await Deno.stat(absolute));
    // A file modified while we read it, or within the timestamp granularity of our read
    // ("racy" in git's terms), could change again without a visible stat change: don't cache it.
    const settled = sameFingerprint(before, after) && after.mtimeMs < startedAt - 50;
    if (settled) this.remember(absolute, after, sha256);
    return sha256;
  }

  /** Records a hash the caller computed itself (e.g. while writing an artifact). */
  async record(file: string, sha256: string): Promise<void> {
    const absolute = path.resolve(file);
    this.remember(absolute, fingerprint(await Deno.stat(absolute)), sha256);
  }

  /** Forgets a file (its bytes are known to be bad or gone). */
  forget(file: string): void {
    const absolute = path.resolve(file);
    this.#entries.delete(absolute);
    this.#dirty.delete(absolute);
  }

  private remember(absolute: string, print: StatFingerprint, sha256: string) {
    const entry = { ...print, sha256 };
    this.#entries.set(absolute, entry);
    this.#dirty.set(absolute, entry);
  }

  /** Persists new entries (merged with entries other processes saved meanwhile). */
  async save(): Promise<void> {
    if (this.file === null || this.#dirty.size === 0) return;
    const onDisk = await readJsonOrNull<Record<string, CacheEntry>>(this.file).catch(() => null);
    const merged = { ...(onDisk ?? {}), ...Object.fromEntries(this.#dirty) };
    await writeJsonAtomic(this.file, merged);
    this.#dirty.clear();
  }
}

/**
 * Content hash (sha256 hex) of a file. With a cache, unchanged files are not reread; use
 * `FileHashCache.open(<store>/cache/file-hashes.json)` to share the store's cache.
 */
export function hashFile(file: string, cache?: FileHashCache): Promise<string> {
  return cache ? cache.hash(file) : sha256File(file);
}
