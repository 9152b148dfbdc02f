/**
 * One URL → one file whose sha256 is checked before it exists: the bytes go to a temporary file
 * beside the target, are fsynced and hashed on the way, and are renamed onto the target only
 * when the body is complete and the hash is the pinned one. Any failure (HTTP error, connection
 * closed early, a stall, a wrong hash) removes the temporary file: the target directory never
 * holds a partial or unverified file under the target's name.
 * @module
 */
import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { syncDirectory, writeAll } from "../../pipeline/atomic_fs.ts";
import type { DownloadProgress } from "./download_progress.ts";

/** What to fetch and how to judge it. */
export interface VerifiedDownload {
  url: string;
  /** The file to create (its directory must exist). */
  target: string;
  /** Whether the computed sha256 is the expected one. */
  accept(sha256: string): boolean;
  /** A download with no bytes for this long fails (a stall is an error, not a hang). */
  idleTimeoutMs: number;
  progress?: DownloadProgress;
}

/** Temporary files of `target` end with this; `staleParts` finds those of dead downloads. */
const PART = ".part";

function partPath(target: string): string {
  return join(dirname(target), `.${basename(target)}.${crypto.randomUUID()}${PART}`);
}

/**
 * Removes temporary files of `target` left by a killed process. A live download writes at least
 * once per idle timeout (or fails and removes its file), so one untouched for twice that is dead.
 */
async function removeStaleParts(target: string, idleTimeoutMs: number): Promise<void> {
  const dir = dirname(target);
  const prefix = `.${basename(target)}.`;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.startsWith(prefix) || !entry.name.endsWith(PART)) continue;
    const file = join(dir, entry.name);
    const info = await Deno.stat(file).catch(() => null);
    const age = Date.now() - (info?.mtime?.getTime() ?? Date.now());
    if (age > 2 * idleTimeoutMs) await Deno.remove(file).catch(() => {});
  }
}

/**
 * Downloads `url` to `target`, verified. Returns the file's sha256. Throws a one-line Error
 * saying what went wrong (the caller adds what the user can do about it).
 */
export async function downloadVerified(d: VerifiedDownload): Promise<string> {
  await removeStaleParts(d.target, d.idleTimeoutMs);
  const part = partPath(d.target);
  const controller = new AbortController();
  let stalled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Re-armed on every chunk: the timeout bounds silence, not the length of the download.
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      controller.abort();
    }, d.idleTimeoutMs);
  };
  const idle = () => `no data for ${d.idleTimeoutMs / 1000} s (the connection stalled)`;
  let received = 0;
  let total: number | null = null;
  try {
    arm();
    let response: Response;
    try {
      // identity: Content-Length must count the bytes we hash (no transparent decompression).
      response = await fetch(d.url, {
        signal: controller.signal,
        headers: { "accept-encoding": "identity" },
      });
    } catch (err) {
      throw new Error(stalled ? idle() : `cannot connect (${(err as Error).message})`);
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel().catch(() => {});
      throw new Error(`the server answered HTTP ${response.status} ${response.statusText}`.trim());
    }
    const length = response.headers.get("content-length");
    total = length !== null && /^\d+$/.test(length) ? Number(length) : null;
    const hash = createHash("sha256");
    const file = await Deno.open(part, { write: true, createNew: true });
    try {
      const reader = response.body.getReader();
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (err) {
          throw new Error(
            stalled
              ? idle()
              : `the connection broke after ${received}${
                total !== null ? ` of ${total}` : ""
              } bytes (${(err as Error).message})`,
          );
        }
        if (chunk.done) break;
        arm();
        hash.update(chunk.value);
        await writeAll(file, chunk.value);
        received += chunk.value.length;
        d.progress?.update(received, total);
      }
      clearTimeout(timer);
      if (total !== null && received !== total) {
        throw new Error(`the connection closed after ${received} of ${total} bytes`);
      }
      await file.sync();
    } finally {
      file.close();
    }
    const sha256 = hash.digest("hex");
    if (!d.accept(sha256)) {
      throw new Error(`the downloaded file's sha256 is ${sha256} (${received} bytes)`);
    }
    await Deno.rename(part, d.target);
    await syncDirectory(dirname(d.target));
    return sha256;
  } catch (err) {
    await Deno.remove(part).catch(() => {});
    throw err;
  } finally {
    clearTimeout(timer);
    d.progress?.stop();
  }
}
