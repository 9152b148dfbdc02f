/**
 * Crash-safe file operations: write to a temp name on the same filesystem, fsync, rename.
 * A reader (or a process restarted after `kill -9`) sees the old file or the new one, never half.
 */
import * as path from "node:path";

/** A unique temporary path beside `file` (the same directory, so a rename onto `file` is atomic). */
export function temporarySiblingPath(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${crypto.randomUUID()}.tmp`);
}

/**
 * Writes `data` to `file` atomically (temp file + fsync + rename + directory fsync); text as
 * UTF-8. On failure nothing is left: not the temp file, and `file` keeps its old content.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  await Deno.mkdir(dir, { recursive: true });
  const temp = temporarySiblingPath(file);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  try {
    const handle = await Deno.open(temp, { write: true, createNew: true });
    try {
      await writeAll(handle, bytes);
      await handle.sync();
    } finally {
      handle.close();
    }
    await Deno.rename(temp, file);
  } catch (err) {
    await Deno.remove(temp).catch(() => {});
    throw err;
  }
  await syncDirectory(dir);
}

/** Writes JSON (2-space indented, trailing newline) atomically. */
export function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  return writeFileAtomic(file, JSON.stringify(value, null, 2) + "\n");
}

/** Reads a JSON file, or returns null when it does not exist. */
export async function readJsonOrNull<T>(file: string): Promise<T | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`${file} is not valid JSON (damaged store file?)`);
  }
}

/** Writes every byte (Deno's `write` may write fewer bytes than asked). */
export async function writeAll(handle: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await handle.write(bytes.subarray(offset));
}

/** fsyncs a directory so a rename or create inside it survives a power loss. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

/** fsyncs a file by path. */
export async function syncFile(file: string): Promise<void> {
  const handle = await Deno.open(file, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

/** True when `file` exists (any kind). */
export async function exists(file: string): Promise<boolean> {
  try {
    await Deno.lstat(file);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}
