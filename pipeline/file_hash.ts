/**
 * Fast content hashing of files: streamed sha256 with large reads, and a persistent cache keyed
 * by path + size + mtime + ctime + inode + a hash of the first and last blocks, so a no-op rerun
 * never rehashes a dataset and a same-size rewrite is not mistaken for the file it replaced.
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

/**
 * Identity of a file's current bytes as far as we can tell without reading them all: its stat,
 * plus a hash of its first and last blocks, so that a same-size rewrite within the timestamp
 * granularity (or with its times restored) is still seen where the bytes usually differ.
 */
interface Fingerprint {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  dev: number;
  edges: string;
}

interface CacheEntry extends Fingerprint {
  sha256: string;
}

const EDGE_BYTES = 4096;

async function fingerprintOf(file: string): Promise<Fingerprint> {
  using handle = await Deno.open(file, { read: true });
  const info = await handle.stat();
  const edges = createHash("sha256");
  const block = new Uint8Array(Math.min(EDGE_BYTES, info.size));
  for (const offset of new Set([0, Math.max(0, info.size - EDGE_BYTES)])) {
    await handle.seek(offset, Deno.SeekMode.Start);
    let filled = 0;
    while (filled < block.length) {
      const n = await handle.read(block.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    edges.update(block.subarray(0, filled));
  }
  return {
    size: info.size,
    mtimeMs: info.mtime?.getTime() ?? 0,
    ctimeMs: info.ctime?.getTime() ?? 0,
    ino: info.ino ?? 0,
    dev: info.dev,
    edges: edges.digest("hex").slice(0, 32),
  };
}

/**
 * Whether a fingerprint taken after `at` (ms since the epoch) can vouch for the file from then
 * on, i.e. any later change of the file shows in its stat (git's "racy" rule). Deno reports
 * ctime in whole seconds: a rewrite within the second of the file's last status change, its
 * mtime restored, would leave the fingerprint as it was, so an entry is trusted only once that
 * second is over. The margin allows for a filesystem clock slightly behind ours.
 */
function settledSince(print: Fingerprint, at: number): boolean {
  const ctimeSecondEnd = Math.floor(print.ctimeMs / 1000) * 1000 + 1000;
  return print.mtimeMs < at - RACY_MARGIN_MS && ctimeSecondEnd < at - RACY_MARGIN_MS;
}

const RACY_MARGIN_MS = 50;

function sameFingerprint(a: Fingerprint, b: Fingerprint): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs &&
    a.ino === b.ino && a.dev === b.dev && a.edges === b.edges;
}

/**
 * A file-hash cache persisted as one JSON file. Entries are trusted only while the fingerprint
 * (size, mtime, ctime, inode, device, edge blocks) is unchanged; ctime catches edits that
 * restore mtime (`touch -d`), the edge blocks those within one timestamp tick.
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
    const before = await fingerprintOf(absolute);
    const known = this.#entries.get(absolute);
    if (known && sameFingerprint(known, before)) return known.sha256;
    const startedAt = Date.now();
    const sha256 = await sha256File(absolute);
    const after = await fingerprintOf(absolute);
    // A file modified while we read it, or within the timestamp granularity of our read
    // ("racy" in git's terms), could change again without a visible stat change: don't cache it.
    const settled = sameFingerprint(before, after) && settledSince(after, startedAt);
    if (settled) this.remember(absolute, after, sha256);
    return sha256;
  }

  /**
   * Records a hash the caller computed itself (e.g. while writing an artifact). A file changed
   * too recently to be told apart from a later rewrite is not recorded: its next lookup rehashes.
   */
  async record(file: string, sha256: string): Promise<void> {
    const absolute = path.resolve(file);
    const at = Date.now();
    const print = await fingerprintOf(absolute);
    if (settledSince(print, at)) this.remember(absolute, print, sha256);
  }

  /** Forgets a file (its bytes are known to be bad or gone). */
  forget(file: string): void {
    const absolute = path.resolve(file);
    this.#entries.delete(absolute);
    this.#dirty.delete(absolute);
  }

  private remember(absolute: string, print: Fingerprint, sha256: string) {
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
