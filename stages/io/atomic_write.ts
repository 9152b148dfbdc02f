/**
 * Atomic file output: write to a temporary sibling, then rename over the target,
 * so a failure (bad input found half-way, a crash) never leaves a partial file.
 * @module
 */
import { basename, dirname, join } from "node:path";

/** A unique temporary path next to `path` (same directory, so rename is atomic). */
export function temporarySiblingPath(path: string): string {
  const nonce = `${Deno.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  return join(dirname(path), `.${basename(path)}.tmp-${nonce}`);
}

/**
 * Runs `write(tempPath)` and renames the temp file onto `path` only if it succeeds;
 * on failure the temp file is removed and the error rethrown.
 */
export async function writeAtomically<T>(
  path: string,
  write: (tempPath: string) => Promise<T>,
): Promise<T> {
  const tempPath = temporarySiblingPath(path);
  try {
    const result = await write(tempPath);
    await Deno.rename(tempPath, path);
    return result;
  } catch (err) {
    await Deno.remove(tempPath).catch(() => {});
    throw err;
  }
}

/** Writes `bytes` to `path` atomically, flushed to disk before the rename. */
export function atomicWriteFile(path: string, bytes: Uint8Array): Promise<void> {
  return writeAtomically(path, async (tempPath) => {
    using file = await Deno.open(tempPath, { write: true, createNew: true });
    await writeAll(file, bytes);
    await file.syncData();
  });
}

/** Writes `text` to `path` atomically (UTF-8). */
export function atomicWriteTextFile(path: string, text: string): Promise<void> {
  return atomicWriteFile(path, new TextEncoder().encode(text));
}

/** Writes every byte of `bytes` (a single `write` may write fewer). */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}
