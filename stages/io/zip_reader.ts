/**
 * Random-access ZIP reading from a file: the central directory is read from the
 * end of the file, and each entry is read and inflated (fflate) only when asked
 * for, so a 10 GB dataset zip never sits in memory.
 * @module
 */
import { inflateSync } from "fflate";
import { crc32 } from "node:zlib";
import {
  FLAG,
  MAX_EOCD_SEARCH,
  METHOD,
  RECORD_SIZE,
  SIGNATURE,
  ZIP64_EXTRA_ID,
  ZIP64_MARK_16,
  ZIP64_MARK_32,
} from "./zip_format.ts";

/** The largest entry `read` inflates unless told otherwise (a zip bomb's first defence). */
export const MAX_ENTRY_BYTES = 256 * 2 ** 20;

/** Relative, with no ".." part: safe to join under a directory. */
export function isSafeEntryName(name: string): boolean {
  if (name.startsWith("/") || name.startsWith("\\") || /^[A-Za-z]:/.test(name)) return false;
  return !name.split(/[\\/]/).includes("..");
}

/** Thrown for a damaged or unsupported archive; the message names the zip (and entry). */
export class ZipError extends Error {
  constructor(zipPath: string, reason: string, entryName?: string) {
    super(`${zipPath}${entryName === undefined ? "" : `: entry ${entryName}`}: ${reason}`);
    this.name = "ZipError";
  }
}

/** One file of the archive, as the central directory describes it. */
export interface ZipEntry {
  readonly name: string;
  readonly method: number;
  readonly flags: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  /** Offset of the entry's local header in the file. */
  readonly localHeaderOffset: number;
}

/** An open archive. Reads are serialised, so concurrent `read` calls are safe. */
export class ZipReader {
  readonly #file: Deno.FsFile;
  readonly #entries: Map<string, ZipEntry>;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(readonly path: string, file: Deno.FsFile, entries: Map<string, ZipEntry>) {
    this.#file = file;
    this.#entries = entries;
  }

  /** Opens `path` and reads its central directory; throws `ZipError` if it is not a valid zip. */
  static async open(path: string): Promise<ZipReader> {
    const file = await Deno.open(path, { read: true });
    try {
      const size = (await file.stat()).size;
      const entries = await readCentralDirectory(file, size, path);
      return new ZipReader(path, file, entries);
    } catch (err) {
      file.close();
      throw err;
    }
  }

  /** Entry names in central-directory order (directories, which end in "/", included). */
  get names(): string[] {
    return [...this.#entries.keys()];
  }

  /** The entry called `name`, or undefined. */
  entry(name: string): ZipEntry | undefined {
    return this.#entries.get(name);
  }

  /** Whether the archive has an entry called `name`. */
  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /**
   * Reads and decompresses one entry, checking its size and CRC-32. An entry that declares more
   * than `maxBytes` is refused before anything is inflated (inflation stops at the declared size).
   */
  read(name: string, maxBytes = MAX_ENTRY_BYTES): Promise<Uint8Array> {
    const entry = this.#entries.get(name);
    if (!entry) return Promise.reject(new ZipError(this.path, "no such entry", name));
    if (entry.uncompressedSize > maxBytes) {
      return Promise.reject(
        new ZipError(
          this.path,
          `declares ${entry.uncompressedSize} bytes, more than the ${maxBytes} allowed here`,
          name,
        ),
      );
    }
    const result = this.#queue.then(() => this.#readEntry(entry));
    this.#queue = result.catch(() => {});
    return result;
  }

  /** Reads an entry as UTF-8 text. */
  async readText(name: string): Promise<string> {
    return new TextDecoder().decode(await this.read(name));
  }

  /** Closes the file. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#file.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async #readEntry(entry: ZipEntry): Promise<Uint8Array> {
    if (this.#closed) throw new ZipError(this.path, "archive already closed", entry.name);
    const fail = (reason: string) => new ZipError(this.path, reason, entry.name);
    if (entry.flags & FLAG.encrypted) throw fail("encrypted entries are not supported");
    const header = await readAt(this.#file, entry.localHeaderOffset, RECORD_SIZE.localFile);
    const view = viewOf(header);
    if (header.length < RECORD_SIZE.localFile || view.getUint32(0, true) !== SIGNATURE.localFile) {
      throw fail(`no local file header at offset ${entry.localHeaderOffset}`);
    }
    // The local header's name/extra lengths may differ from the central directory's.
    const dataOffset = entry.localHeaderOffset + RECORD_SIZE.localFile +
      view.getUint16(26, true) + view.getUint16(28, true);
    const stored = await readAt(this.#file, dataOffset, entry.compressedSize);
    if (stored.length !== entry.compressedSize) {
      throw fail(`truncated: ${stored.length} of ${entry.compressedSize} bytes present`);
    }
    let data: Uint8Array;
    if (entry.method === METHOD.stored) {
      data = stored;
    } else if (entry.method === METHOD.deflated) {
      try {
        data = inflateSync(stored, { out: new Uint8Array(entry.uncompressedSize) });
      } catch (err) {
        throw fail(`corrupt deflate data (${err instanceof Error ? err.message : err})`);
      }
    } else {
      throw fail(`compression method ${entry.method} is not supported (only stored and deflate)`);
    }
    if (data.length !== entry.uncompressedSize) {
      throw fail(`size mismatch: ${data.length} bytes, directory says ${entry.uncompressedSize}`);
    }
    if ((crc32(data) >>> 0) !== entry.crc32) throw fail("CRC-32 mismatch (corrupt data)");
    return data;
  }
}

async function readCentralDirectory(
  file: Deno.FsFile,
  fileSize: number,
  path: string,
): Promise<Map<string, ZipEntry>> {
  const fail = (reason: string) => new ZipError(path, `not a valid zip file (${reason})`);
  if (fileSize < RECORD_SIZE.endOfCentralDirectory) throw fail("file too small");
  const tailStart = Math.max(0, fileSize - MAX_EOCD_SEARCH);
  const tail = await readAt(file, tailStart, fileSize - tailStart);
  const eocdInTail = findEndOfCentralDirectory(tail);
  if (eocdInTail < 0) throw fail("no end-of-central-directory record");
  const eocd = viewOf(tail, eocdInTail);
  let entryCount: number = eocd.getUint16(10, true);
  let directorySize: number = eocd.getUint32(12, true);
  let directoryOffset: number = eocd.getUint32(16, true);
  if (eocd.getUint16(4, true) !== 0 || eocd.getUint16(6, true) !== 0) {
    throw fail("multi-disk (split) archives are not supported");
  }

  const needsZip64 = entryCount === ZIP64_MARK_16 || directorySize === ZIP64_MARK_32 ||
    directoryOffset === ZIP64_MARK_32;
  const locatorInTail = eocdInTail - RECORD_SIZE.zip64Locator;
  if (
    locatorInTail >= 0 && viewOf(tail, locatorInTail).getUint32(0, true) === SIGNATURE.zip64Locator
  ) {
    const recordOffset = readU64(viewOf(tail, locatorInTail), 8);
    const record = await readAt(file, recordOffset, RECORD_SIZE.zip64EndOfCentralDirectory);
    const view = viewOf(record);
    if (
      record.length < RECORD_SIZE.zip64EndOfCentralDirectory ||
      view.getUint32(0, true) !== SIGNATURE.zip64EndOfCentralDirectory
    ) {
      throw fail("ZIP64 locator points to no ZIP64 end record");
    }
    entryCount = readU64(view, 32);
    directorySize = readU64(view, 40);
    directoryOffset = readU64(view, 48);
  } else if (needsZip64) {
    throw fail("ZIP64 sizes announced but no ZIP64 end record");
  }

  if (directoryOffset + directorySize > fileSize) {
    throw fail(`central directory (${directorySize} bytes at ${directoryOffset}) past end of file`);
  }
  const directory = await readAt(file, directoryOffset, directorySize);
  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder("utf-8", { fatal: false });
  let at = 0;
  for (let i = 0; i < entryCount; i++) {
    if (at + RECORD_SIZE.centralFile > directory.length) {
      throw fail(`central directory cut at entry ${i}`);
    }
    const view = viewOf(directory, at);
    if (view.getUint32(0, true) !== SIGNATURE.centralFile) {
      throw fail(`bad central directory record at entry ${i}`);
    }
    const nameLength = view.getUint16(28, true);
    const extraLength = view.getUint16(30, true);
    const commentLength = view.getUint16(32, true);
    const recordEnd = at + RECORD_SIZE.centralFile + nameLength + extraLength + commentLength;
    if (recordEnd > directory.length) throw fail(`central directory cut at entry ${i}`);
    const nameStart = at + RECORD_SIZE.centralFile;
    const name = decoder.decode(directory.subarray(nameStart, nameStart + nameLength));
    if (!isSafeEntryName(name)) {
      throw fail(`unsafe entry name ${JSON.stringify(name)} (absolute, or with a ".." part)`);
    }
    let uncompressedSize: number = view.getUint32(24, true);
    let compressedSize: number = view.getUint32(20, true);
    let localHeaderOffset: number = view.getUint32(42, true);
    const extra = directory.subarray(nameStart + nameLength, nameStart + nameLength + extraLength);
    const zip64 = findExtraField(extra, ZIP64_EXTRA_ID);
    if (zip64) {
      // Present only for the fields whose 32-bit value is the ZIP64 mark, in this order.
      let field = 0;
      const next = () => {
        if (field + 8 > zip64.byteLength) throw fail(`short ZIP64 extra field for ${name}`);
        const value = readU64(zip64, field);
        field += 8;
        return value;
      };
      if (uncompressedSize === ZIP64_MARK_32) uncompressedSize = next();
      if (compressedSize === ZIP64_MARK_32) compressedSize = next();
      if (localHeaderOffset === ZIP64_MARK_32) localHeaderOffset = next();
    }
    entries.set(name, {
      name,
      method: view.getUint16(10, true),
      flags: view.getUint16(8, true),
      crc32: view.getUint32(16, true),
      compressedSize,
      uncompressedSize,
      localHeaderOffset,
    });
    at = recordEnd;
  }
  return entries;
}

/** Reads up to `length` bytes at `offset` (fewer only at end of file). */
async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < length) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return filled === length ? buffer : buffer.subarray(0, filled);
}

/** The last EOCD record whose comment ends exactly at the end of the file (as zip readers do). */
function findEndOfCentralDirectory(tail: Uint8Array): number {
  const view = viewOf(tail);
  for (let i = tail.length - RECORD_SIZE.endOfCentralDirectory; i >= 0; i--) {
    if (
      view.getUint32(i, true) === SIGNATURE.endOfCentralDirectory &&
      i + RECORD_SIZE.endOfCentralDirectory + view.getUint16(i + 20, true) === tail.length
    ) return i;
  }
  return -1;
}

function findExtraField(extra: Uint8Array, id: number): DataView | undefined {
  const view = viewOf(extra);
  for (let at = 0; at + 4 <= extra.length;) {
    const size = view.getUint16(at + 2, true);
    if (view.getUint16(at, true) === id) return viewOf(extra.subarray(at + 4, at + 4 + size));
    at += 4 + size;
  }
  return undefined;
}

function viewOf(bytes: Uint8Array, offset = 0): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset + offset, bytes.byteLength - offset);
}

function readU64(view: DataView, offset: number): number {
  const value = view.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new Error(`64-bit zip field too large: ${value}`);
  }
  return Number(value);
}
