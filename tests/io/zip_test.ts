import { Deflate } from "fflate";
import { crc32 } from "node:zlib";
import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { ZipReader } from "../../stages/io/zip_reader.ts";
import { ZipWriter } from "../../stages/io/zip_writer.ts";
import { listDir, withTempDir } from "./fixtures.ts";

Deno.test("zip: write → read round-trips stored and deflated entries, bytes are reproducible", async () => {
  await withTempDir(async (dir) => {
    const entries: Record<string, Uint8Array> = {
      "a.txt": new TextEncoder().encode("hello ".repeat(100)),
      "sub/b.bin": Uint8Array.from({ length: 5000 }, (_, i) => (i * 7919) & 255),
      "empty": new Uint8Array(0),
    };
    for (const path of [`${dir}/one.zip`, `${dir}/two.zip`]) {
      const zip = await ZipWriter.create(path);
      for (const [name, data] of Object.entries(entries)) {
        await zip.add(name, data, name === "a.txt" ? "deflate" : "store");
      }
      await zip.finish();
    }
    assertEquals([...await Deno.readFile(`${dir}/one.zip`)], [
      ...await Deno.readFile(`${dir}/two.zip`),
    ]);
    using reader = await ZipReader.open(`${dir}/one.zip`);
    assertEquals(reader.names, Object.keys(entries));
    for (const [name, data] of Object.entries(entries)) {
      assertEquals([...await reader.read(name)], [...data]);
    }
    assertEquals(reader.entry("a.txt")!.method, 8);
    // No temp files left next to the archive.
    assertEquals(listDir(dir), ["one.zip", "two.zip"]);
  });
});

Deno.test("zip: concurrent reads of one archive are safe", async () => {
  await withTempDir(async (dir) => {
    const zip = await ZipWriter.create(`${dir}/c.zip`);
    for (let i = 0; i < 20; i++) await zip.add(`f${i}`, new Uint8Array(1000).fill(i));
    await zip.finish();
    using reader = await ZipReader.open(`${dir}/c.zip`);
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) => reader.read(`f${i}`)));
    all.forEach((data, i) => assertEquals(data.every((v) => v === i), true));
  });
});

Deno.test("zip: more than 65,535 entries uses ZIP64 records and reads back", async () => {
  await withTempDir(async (dir) => {
    const zip = await ZipWriter.create(`${dir}/many.zip`);
    const count = 65_540;
    for (let i = 0; i < count; i++) await zip.add(`e${i}`, new Uint8Array([i & 255]), "store");
    await zip.finish();
    using reader = await ZipReader.open(`${dir}/many.zip`);
    assertEquals(reader.names.length, count);
    assertEquals([...await reader.read("e65539")], [65539 & 255]);
  });
});

Deno.test("zip: corrupt archives and entries are errors naming the zip and entry", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/garbage.zip`, "this is not a zip file at all, just some text");
    await assertThrows(
      () => ZipReader.open(`${dir}/garbage.zip`),
      /garbage\.zip: not a valid zip file/,
    );

    const zip = await ZipWriter.create(`${dir}/good.zip`);
    await zip.add("data.bin", new Uint8Array(4000).fill(7), "store");
    await zip.add("text.txt", new TextEncoder().encode("abc ".repeat(500)), "deflate");
    await zip.finish();
    const bytes = await Deno.readFile(`${dir}/good.zip`);

    await Deno.writeFile(`${dir}/cut.zip`, bytes.subarray(0, 3000));
    await assertThrows(() => ZipReader.open(`${dir}/cut.zip`), /cut\.zip: not a valid zip file/);

    const flipped = bytes.slice();
    flipped[100] ^= 0xff; // inside data.bin's stored bytes
    await Deno.writeFile(`${dir}/crc.zip`, flipped);
    using reader = await ZipReader.open(`${dir}/crc.zip`);
    await assertThrows(() => reader.read("data.bin"), /crc\.zip: entry data\.bin: CRC-32 mismatch/);
    await assertThrows(() => reader.read("nope"), /entry nope: no such entry/);
  });
});

Deno.test("zip: an aborted writer leaves nothing behind", async () => {
  await withTempDir(async (dir) => {
    const zip = await ZipWriter.create(`${dir}/x.zip`);
    await zip.add("a", new Uint8Array(10));
    await zip.abort();
    assertEquals(listDir(dir), []);
  });
});

Deno.test("zip: an entry that inflates past its declared size is cut there, never inflated whole", async () => {
  await withTempDir(async (dir) => {
    // 64 MiB of zeros deflated in 1 MiB pieces (a few tens of KiB), declared as 1 KiB: a zip
    // bomb that lies about its size to pass the declared-size check.
    const pieces: Uint8Array[] = [];
    const deflate = new Deflate({ level: 1 }, (chunk) => pieces.push(chunk));
    const zeros = new Uint8Array(1 << 20);
    for (let i = 0; i < 64; i++) deflate.push(zeros);
    deflate.push(new Uint8Array(0), true);
    const data = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
    pieces.reduce((at, p) => (data.set(p, at), at + p.length), 0);
    const declared = 1024;
    const name = new TextEncoder().encode("bomb.png");
    const crc = crc32(new Uint8Array(declared)) >>> 0; // what the first 1 KiB would give
    const local = new DataView(new ArrayBuffer(30));
    [[0, 0x04034b50], [14, crc], [18, data.length], [22, declared]]
      .forEach(([at, v]) => local.setUint32(at, v, true));
    [[4, 20], [8, 8], [26, name.length]].forEach(([at, v]) => local.setUint16(at, v, true));
    const central = new DataView(new ArrayBuffer(46));
    [[0, 0x02014b50], [16, crc], [20, data.length], [24, declared], [42, 0]]
      .forEach(([at, v]) => central.setUint32(at, v, true));
    [[4, 20], [6, 20], [10, 8], [28, name.length]]
      .forEach(([at, v]) => central.setUint16(at, v, true));
    const centralAt = 30 + name.length + data.length;
    const end = new DataView(new ArrayBuffer(22));
    end.setUint32(0, 0x06054b50, true);
    end.setUint16(8, 1, true);
    end.setUint16(10, 1, true);
    end.setUint32(12, 46 + name.length, true);
    end.setUint32(16, centralAt, true);
    const parts = [local, name, data, central, name, end].map((p) =>
      p instanceof DataView ? new Uint8Array(p.buffer) : p
    );
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (bytes.set(p, at), at + p.length), 0);
    await Deno.writeFile(`${dir}/bomb.zip`, bytes);

    using reader = await ZipReader.open(`${dir}/bomb.zip`);
    assertEquals(reader.entry("bomb.png")?.uncompressedSize, declared);
    const rssBefore = Deno.memoryUsage().rss;
    // Inflation writes into a buffer of the declared size: the output stops at 1 KiB (whose
    // CRC this archive gets right), where unbounded inflation would hold 64 MiB and then fail
    // with "size mismatch: 67108864 bytes".
    const read = await reader.read("bomb.png").then(
      (out) => `read ${out.length} bytes`,
      (err: Error) => err.message,
    );
    const grown = Deno.memoryUsage().rss - rssBefore;
    assertEquals(read, `read ${declared} bytes`);
    assertEquals(grown < 32 * 2 ** 20, true, `memory grew by ${grown} bytes`);
  });
});
