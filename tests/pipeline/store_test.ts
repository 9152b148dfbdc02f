import { assert, assertEquals, assertNotEquals, assertRejects } from "../helpers/assert.ts";
import {
  canonicalJson,
  CorruptArtifactError,
  FileHashCache,
  hashFile,
  Store,
} from "../../pipeline/mod.ts";
import { sha256Hex } from "../../pipeline/canonical_json.ts";
import { makeWritable } from "./helpers.ts";

async function withStore(fn: (store: Store, dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "mimic3d-store-" });
  try {
    await fn(await Store.open(`${dir}/store`), dir);
  } finally {
    await makeWritable(dir);
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Waits until a file changed just now may be cached: the file-hash cache trusts no entry within
 * the second of the file's last status change (ctime, which Deno gives in whole seconds).
 */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1100));
}

async function stage(store: Store, files: Record<string, string>): Promise<string> {
  const staging = await store.makeStagingDir("test");
  for (const [name, text] of Object.entries(files)) {
    const file = `${staging.outDir}/${name}`;
    await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(file, text);
  }
  return staging.dir;
}

Deno.test("canonicalJson sorts keys at every level and rejects NaN", () => {
  assertEquals(
    canonicalJson({ b: 1, a: { d: [1, { z: 0, y: 1 }], c: "x" } }),
    '{"a":{"c":"x","d":[1,{"y":1,"z":0}]},"b":1}',
  );
  let threw = false;
  try {
    canonicalJson({ a: NaN });
  } catch {
    threw = true;
  }
  assert(threw);
});

Deno.test("commit stores content-addressed, read-only, deduplicated artifacts", async () => {
  await withStore(async (store) => {
    const id = await store.commit(await stage(store, { "a.txt": "hello", "sub/b.txt": "world" }));
    const manifest = await store.check(id, "full");
    assertEquals(manifest.files.map((f) => f.path), ["a.txt", "sub/b.txt"]);
    assertEquals(manifest.files[0].sha256, sha256Hex("hello"));
    assertEquals((await Deno.stat(`${store.filesDir(id)}/a.txt`)).mode! & 0o222, 0);
    const again = await store.commit(
      await stage(store, { "sub/b.txt": "world", "a.txt": "hello" }),
    );
    assertEquals(again, id);
    const other = await store.commit(
      await stage(store, { "a.txt": "hellO", "sub/b.txt": "world" }),
    );
    assertNotEquals(other, id);
    assertEquals((await store.listObjects()).length, 2);
    // Staging directories are consumed.
    assertEquals([...Deno.readDirSync(store.at("tmp"))].length, 0);
  });
});

Deno.test("a flipped byte is caught by full and cached checks, not only by verify", async () => {
  await withStore(async (store) => {
    const id = await store.commit(await stage(store, { "data.bin": "0123456789" }));
    await store.check(id, "cached");
    const file = `${store.filesDir(id)}/data.bin`;
    await Deno.chmod(file, 0o644);
    await Deno.writeTextFile(file, "0123456788");
    await store.check(id, "sizes"); // same size: the fast path cannot see it
    const full = await assertRejects(() => store.check(id, "full"), CorruptArtifactError);
    assert(full.message.includes("out/data.bin content does not match"), full.message);
    await assertRejects(() => store.check(id, "cached"), CorruptArtifactError);
  });
});

Deno.test("re-committing content whose stored copy is corrupted replaces the copy", async () => {
  await withStore(async (store) => {
    const id = await store.commit(await stage(store, { "x": "abc" }));
    const file = `${store.filesDir(id)}/x`;
    await Deno.chmod(file, 0o644);
    await Deno.writeTextFile(file, "abd");
    assertEquals(await store.commit(await stage(store, { "x": "abc" })), id);
    await store.check(id, "full");
  });
});

Deno.test("symlinks in outputs are rejected and nothing is stored", async () => {
  await withStore(async (store) => {
    const dir = await stage(store, { "a": "1" });
    await Deno.symlink("/etc/hostname", `${dir}/out/link`);
    await assertRejects(() => store.commit(dir), Error, "symlink");
    assertEquals((await store.listObjects()).length, 0);
  });
});

Deno.test("file-hash cache: persisted entries are trusted until the file's stat or edge blocks change", async () => {
  await withStore(async (_store, dir) => {
    const file = `${dir}/dataset.zip`;
    await Deno.writeFile(file, new Uint8Array(3 << 20).map((_, i) => i % 251));
    await Deno.utime(file, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    await settle();
    const cacheFile = `${dir}/hashes.json`;
    const cache = await FileHashCache.open(cacheFile);
    const real = await cache.hash(file);
    assertEquals(real, await hashFile(file));
    await cache.save();
    // Plant a marker hash: if the next lookup returns it, the file was not reread.
    const stored = JSON.parse(await Deno.readTextFile(cacheFile));
    const key = Object.keys(stored)[0];
    stored[key].sha256 = "f".repeat(64);
    await Deno.writeTextFile(cacheFile, JSON.stringify(stored));
    assertEquals(await (await FileHashCache.open(cacheFile)).hash(file), "f".repeat(64));
    // Any write changes the stat fingerprint → rehash.
    await Deno.writeFile(file, new Uint8Array([1]), { append: true });
    const changed = await (await FileHashCache.open(cacheFile)).hash(file);
    assertEquals(changed, await hashFile(file));
    assertNotEquals(changed, real);
    // An entry whose stat matches but whose edge blocks do not (a same-size rewrite within one
    // timestamp tick looks like this) is not trusted either.
    await settle();
    const settled = await FileHashCache.open(cacheFile);
    await settled.record(file, "e".repeat(64));
    await settled.save();
    assertEquals(await (await FileHashCache.open(cacheFile)).hash(file), "e".repeat(64));
    const planted = JSON.parse(await Deno.readTextFile(cacheFile));
    planted[key].edges = "0".repeat(32);
    await Deno.writeTextFile(cacheFile, JSON.stringify(planted));
    assertEquals(await (await FileHashCache.open(cacheFile)).hash(file), changed);
  });
});

Deno.test("a same-size rewrite in the middle of a file, its mtime restored, is caught by cached checks", async () => {
  await withStore(async (store) => {
    // Large enough that the flipped byte lies far from the first and last blocks.
    const bytes = new Uint8Array(1 << 20).map((_, i) => i % 253);
    const commit = async (salt: number) => {
      const staging = await store.makeStagingDir("test");
      await Deno.writeFile(`${staging.outDir}/G_ema.safetensors`, bytes);
      await Deno.writeTextFile(`${staging.outDir}/salt`, String(salt));
      return await store.commit(staging.dir);
    };
    const rewriteMiddle = async (id: string) => {
      const file = `${store.filesDir(id)}/G_ema.safetensors`;
      const before = await Deno.stat(file);
      await Deno.chmod(file, 0o644);
      {
        using handle = await Deno.open(file, { write: true });
        await handle.seek(bytes.length / 2, Deno.SeekMode.Start);
        await handle.write(new Uint8Array([bytes[bytes.length / 2] ^ 0x01]));
      }
      await Deno.chmod(file, 0o444);
      await Deno.utime(file, before.atime!, before.mtime!);
      const after = await Deno.stat(file);
      assertEquals(
        [after.size, after.mtime?.getTime(), after.ino],
        [before.size, before.mtime?.getTime(), before.ino],
      );
    };
    const assertCaught = async (id: string) => {
      // A later command: a fresh store object reading the persisted cache.
      const next = await Store.open(store.root);
      const err = await assertRejects(() => next.check(id, "cached"), CorruptArtifactError);
      assert(err.message.includes("out/G_ema.safetensors content does not match"), err.message);
    };
    const entries = async () =>
      Object.keys(JSON.parse(await Deno.readTextFile(store.at("cache", "file-hashes.json"))));
    // Within the second of its commit (Deno's ctime has whole seconds): the rewrite is caught.
    const fresh = await commit(1);
    await store.check(fresh, "cached");
    await store.flush();
    await rewriteMiddle(fresh);
    await assertCaught(fresh);
    // Checked (and its hash cached) once that second is over: caught too.
    const settled = await commit(2);
    await settle();
    await store.check(settled, "cached");
    await store.flush();
    const file = `${store.filesDir(settled)}/G_ema.safetensors`;
    assert((await entries()).includes(file), "the settled file's hash is cached");
    await rewriteMiddle(settled);
    await assertCaught(settled);
  });
});
