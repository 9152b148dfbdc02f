/**
 * Streaming ZIP writing: entries go to the file one after another and the
 * central directory is appended on `finish`, so memory holds one entry at a
 * time. ZIP64 records are added only when offsets or counts need them, so small
 * archives are plain zips any tool reads. Timestamps are fixed: same entries →
 * same bytes.
 *
 * The archive is written to a temporary sibling and renamed onto the target by
 * `finish`; `abort` (or any error) leaves nothing at the target path.
 * @module
 */
import { deflateSync } from "fflate";
import { crc32 } from "node:zlib";
import { temporarySiblingPath, writeAll } from "../../pipeline/atomic_fs.ts";
import {
  FIXED_DOS_DATE,
  FIXED_DOS_TIME,
  FLAG,
  METHOD,
  RECORD_SIZE,
  SIGNATURE,
  ZIP64_EXTRA_ID,
  ZIP64_MARK_16,
  ZIP64_MARK_32,
} from "./zip_format.ts";

/** How an entry is stored: `store` for already-compressed data (PNG), `deflate` otherwise. */
export type ZipCompression = "store" | "deflate";

interface WrittenEntry {
  nameBytes: Uint8Array;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

// Version 2.0 is enough for deflate; 4.5 is needed once ZIP64 fields appear.
const VERSION_DEFAULT = 20;
const VERSION_ZIP64 = 45;

/** Writes a zip archive entry by entry. */
export class ZipWriter {
  readonly #file: Deno.FsFile;
  readonly #tempPath: string;
  readonly #entries: WrittenEntry[] = [];
  readonly #names = new Set<string>();
  #offset = 0;
  #done = false;

  private constructor(readonly path: string, tempPath: string, file: Deno.FsFile) {
    this.#tempPath = tempPath;
    this.#file = file;
  }

  /** Starts an archive that will appear at `path` when `finish` succeeds. */
  static async create(path: string): Promise<ZipWriter> {
    const tempPath = temporarySiblingPath(path);
    const file = await Deno.open(tempPath, { write: true, createNew: true });
    return new ZipWriter(path, tempPath, file);
  }

  /** Number of entries added so far. */
  get entryCount(): number {
    return this.#entries.length;
  }

  /** Appends one entry. Names must be unique, relative, with "/" separators. */
  async add(
    name: string,
    data: Uint8Array,
    compression: ZipCompression = "deflate",
  ): Promise<void> {
    if (this.#done) throw new Error(`${this.path}: archive already finished`);
    if (this.#names.has(name)) throw new Error(`${this.path}: duplicate entry ${name}`);
    if (
      name === "" || name.startsWith("/") || name.includes("\\") || name.split("/").includes("..")
    ) {
      throw new Error(`${this.path}: invalid entry name ${JSON.stringify(name)}`);
    }
    this.#names.add(name);
    const nameBytes = new TextEncoder().encode(name);
    const stored = compression === "deflate" ? deflateSync(data, { level: 6 }) : data;
    // Deflate can grow incompressible data; store it then, as zip tools do.
    const useDeflate = compression === "deflate" && stored.length < data.length;
    const body = useDeflate ? stored : data;
    const entry: WrittenEntry = {
      nameBytes,
      method: useDeflate ? METHOD.deflated : METHOD.stored,
      crc32: crc32(data) >>> 0,
      compressedSize: body.length,
      uncompressedSize: data.length,
      localHeaderOffset: this.#offset,
    };
    if (body.length >= ZIP64_MARK_32) throw new Error(`${this.path}: entry ${name} is over 4 GiB`);
    const header = new Uint8Array(RECORD_SIZE.localFile + nameBytes.length);
    const view = new DataView(header.buffer);
    view.setUint32(0, SIGNATURE.localFile, true);
    view.setUint16(4, VERSION_DEFAULT, true);
    view.setUint16(6, FLAG.utf8Names, true);
    view.setUint16(8, entry.method, true);
    view.setUint16(10, FIXED_DOS_TIME, true);
    view.setUint16(12, FIXED_DOS_DATE, true);
    view.setUint32(14, entry.crc32, true);
    view.setUint32(18, entry.compressedSize, true);
    view.setUint32(22, entry.uncompressedSize, true);
    view.setUint16(26, nameBytes.length, true);
    view.setUint16(28, 0, true);
    header.set(nameBytes, RECORD_SIZE.localFile);
    await this.#write(header);
    await this.#write(body);
    this.#entries.push(entry);
  }

  /** Writes the central directory, flushes, and renames the archive onto `path`. */
  async finish(): Promise<void> {
    if (this.#done) throw new Error(`${this.path}: archive already finished`);
    try {
      const directoryOffset = this.#offset;
      for (const entry of this.#entries) await this.#write(centralRecord(entry));
      const directorySize = this.#offset - directoryOffset;
      const count = this.#entries.length;
      if (
        count >= ZIP64_MARK_16 || directoryOffset >= ZIP64_MARK_32 || directorySize >= ZIP64_MARK_32
      ) {
        const recordOffset = this.#offset;
        await this.#write(zip64EndRecord(count, directorySize, directoryOffset));
        await this.#write(zip64Locator(recordOffset));
      }
      await this.#write(endRecord(count, directorySize, directoryOffset));
      await this.#file.syncData();
      this.#file.close();
      this.#done = true;
      await Deno.rename(this.#tempPath, this.path);
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  /** Discards the partial archive; nothing appears at `path`. Safe to call twice. */
  async abort(): Promise<void> {
    if (!this.#done) {
      this.#done = true;
      try {
        this.#file.close();
      } catch { /* already closed */ }
    }
    await Deno.remove(this.#tempPath).catch(() => {});
  }

  async #write(bytes: Uint8Array): Promise<void> {
    await writeAll(this.#file, bytes);
    this.#offset += bytes.length;
  }
}

function centralRecord(entry: WrittenEntry): Uint8Array {
  const offsetNeedsZip64 = entry.localHeaderOffset >= ZIP64_MARK_32;
  const extraLength = offsetNeedsZip64 ? 4 + 8 : 0;
  const record = new Uint8Array(RECORD_SIZE.centralFile + entry.nameBytes.length + extraLength);
  const view = new DataView(record.buffer);
  view.setUint32(0, SIGNATURE.centralFile, true);
  // "Made by" high byte 3 = Unix, so the external attributes below are Unix permissions.
  view.setUint16(4, (3 << 8) | (offsetNeedsZip64 ? VERSION_ZIP64 : VERSION_DEFAULT), true);
  view.setUint16(6, offsetNeedsZip64 ? VERSION_ZIP64 : VERSION_DEFAULT, true);
  view.setUint16(8, FLAG.utf8Names, true);
  view.setUint16(10, entry.method, true);
  view.setUint16(12, FIXED_DOS_TIME, true);
  view.setUint16(14, FIXED_DOS_DATE, true);
  view.setUint32(16, entry.crc32, true);
  view.setUint32(20, entry.compressedSize, true);
  view.setUint32(24, entry.uncompressedSize, true);
  view.setUint16(28, entry.nameBytes.length, true);
  view.setUint16(30, extraLength, true);
  view.setUint32(38, (0o100644 << 16) >>> 0, true);
  view.setUint32(42, offsetNeedsZip64 ? ZIP64_MARK_32 : entry.localHeaderOffset, true);
  record.set(entry.nameBytes, RECORD_SIZE.centralFile);
  if (offsetNeedsZip64) {
    const at = RECORD_SIZE.centralFile + entry.nameBytes.length;
    view.setUint16(at, ZIP64_EXTRA_ID, true);
    view.setUint16(at + 2, 8, true);
    view.setBigUint64(at + 4, BigInt(entry.localHeaderOffset), true);
  }
  return record;
}

function zip64EndRecord(count: number, directorySize: number, directoryOffset: number): Uint8Array {
  const record = new Uint8Array(RECORD_SIZE.zip64EndOfCentralDirectory);
  const view = new DataView(record.buffer);
  view.setUint32(0, SIGNATURE.zip64EndOfCentralDirectory, true);
  // Size of the rest of the record (excludes the signature and this field).
  view.setBigUint64(4, BigInt(RECORD_SIZE.zip64EndOfCentralDirectory - 12), true);
  view.setUint16(12, (3 << 8) | VERSION_ZIP64, true);
  view.setUint16(14, VERSION_ZIP64, true);
  view.setBigUint64(24, BigInt(count), true);
  view.setBigUint64(32, BigInt(count), true);
  view.setBigUint64(40, BigInt(directorySize), true);
  view.setBigUint64(48, BigInt(directoryOffset), true);
  return record;
}

function zip64Locator(recordOffset: number): Uint8Array {
  const record = new Uint8Array(RECORD_SIZE.zip64Locator);
  const view = new DataView(record.buffer);
  view.setUint32(0, SIGNATURE.zip64Locator, true);
  view.setBigUint64(8, BigInt(recordOffset), true);
  view.setUint32(16, 1, true);
  return record;
}

function endRecord(count: number, directorySize: number, directoryOffset: number): Uint8Array {
  const record = new Uint8Array(RECORD_SIZE.endOfCentralDirectory);
  const view = new DataView(record.buffer);
  view.setUint32(0, SIGNATURE.endOfCentralDirectory, true);
  view.setUint16(8, Math.min(count, ZIP64_MARK_16), true);
  view.setUint16(10, Math.min(count, ZIP64_MARK_16), true);
  view.setUint32(12, Math.min(directorySize, ZIP64_MARK_32), true);
  view.setUint32(16, Math.min(directoryOffset, ZIP64_MARK_32), true);
  return record;
}
