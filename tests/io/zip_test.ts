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
