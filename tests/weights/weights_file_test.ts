/**
 * Download on first use against a local server: a good file lands verified and is not fetched
 * twice; a truncated body, a wrong hash, a 404 and a stall each throw one line naming the URL,
 * the expected hash and the by-hand path, and leave nothing in the cache; a slow download that
 * keeps progressing completes; a damaged cached copy is reported and replaced; an explicit path
 * needs no server at all.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { FileHashCache } from "../../pipeline/mod.ts";
import type { PinnedWeights } from "../../stages/weights/registry.ts";
import { ensurePinnedWeights, resolveWeights } from "../../stages/weights/weights_file.ts";
import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { type Route, startWeightsServer, type WeightsServer } from "./weights_server.ts";

const IDLE_MS = 500;

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) crypto.getRandomValues(out.subarray(at, at + 65536));
  return out;
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

const BODY = randomBytes(300_000);

/** A temp cache, a server with `routes`, and lines the module printed; all removed after. */
async function withServer(
  routes: Record<string, Route>,
  fn: (s: WeightsServer, cacheDir: string, lines: string[]) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "mimic3d-weights-" });
  const server = startWeightsServer(routes);
  try {
    await fn(server, join(dir, "cache"), []);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function pinned(server: WeightsServer, route: string, hash = sha256(BODY)): PinnedWeights {
  return {
    description: "test weights",
    fileName: "test-weights.pth",
    url: `${server.base}${route}`,
    sha256: hash,
  };
}

function listCache(cacheDir: string): string[] {
  try {
    return [...Deno.readDirSync(cacheDir)].map((e) => e.name).sort();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
}

/** A failure is one line naming URL, pinned hash and by-hand path, and the cache stays empty. */
async function assertCleanFailure(
  pin: PinnedWeights,
  cacheDir: string,
  lines: string[],
  reason: RegExp,
): Promise<string> {
  const message = await assertThrows(
    () =>
      ensurePinnedWeights(pin, {
        cacheDir,
        idleTimeoutMs: IDLE_MS,
        configKey: "eval.inceptionWeights",
        log: (l) => lines.push(l),
        interactive: false,
      }),
    reason,
  );
  assert(!message.includes("\n"), `one line: ${message}`);
  assert(message.includes(pin.url), `names the URL: ${message}`);
  assert(message.includes(`expected sha256 ${pin.sha256}`), `names the hash: ${message}`);
  assert(message.includes(join(cacheDir, pin.fileName)), `names the by-hand path: ${message}`);
  assert(message.includes("eval.inceptionWeights=/path/to/test-weights.pth"), message);
  assert(/offline/.test(message) && !/\bhere\b/i.test(message), message);
  assertEquals(listCache(cacheDir), [], "nothing left in the cache");
  return message;
}

Deno.test("weights: a good file lands in the cache verified, with progress lines; the second call does not download", async () => {
  await withServer(
    { "/w": { kind: "file", body: BODY, chunks: 10 } },
    async (s, cacheDir, lines) => {
      const pin = pinned(s, "/w");
      const options = { cacheDir, log: (l: string) => lines.push(l), interactive: false };
      const path = await ensurePinnedWeights(pin, options);
      assertEquals(path, join(cacheDir, pin.fileName));
      assertEquals(sha256(await Deno.readFile(path)), pin.sha256);
      assertEquals(listCache(cacheDir), [pin.fileName], "no temporary file left");
      const progress = lines.filter((l) => /%/.test(l));
      assert(progress.some((l) => l.includes("100%")), lines.join("\n"));
      assert(progress.length <= 11, `about one line per 10%: ${progress.length}`);
      assertEquals(await ensurePinnedWeights(pin, options), path);
      assertEquals(await resolveWeights("auto", pin, options), path);
      assertEquals(s.requests.get("/w"), 1, "fetched once");
    },
  );
});

Deno.test("weights: a published hash prefix is accepted, a mirror base URL serves files by name", async () => {
  await withServer(
    { "/mirror/test-weights.pth": { kind: "file", body: BODY } },
    async (s, cacheDir) => {
      const pin = { ...pinned(s, "/canonical/never"), sha256: sha256(BODY).slice(0, 8) };
      const env = (name: string) =>
        ({ MIMIC3D_WEIGHTS_URL: `${s.base}/mirror/`, MIMIC3D_CACHE: cacheDir })[name];
      const path = await ensurePinnedWeights(pin, { env, log: () => {}, interactive: false });
      assertEquals(path, join(cacheDir, "weights", pin.fileName), "MIMIC3D_CACHE/weights");
      assertEquals(s.requests.get("/mirror/test-weights.pth"), 1);
      assertEquals(s.requests.get("/canonical/never"), undefined);
    },
  );
});

Deno.test("weights: a body cut short of its Content-Length fails cleanly", async () => {
  await withServer(
    { "/w": { kind: "truncated", body: BODY, sent: 100_000 } },
    async (s, dir, lines) => {
      await assertCleanFailure(pinned(s, "/w"), dir, lines, /100000 of 300000 bytes/);
    },
  );
});

Deno.test("weights: a file with the wrong hash fails cleanly", async () => {
  await withServer({ "/w": { kind: "file", body: BODY } }, async (s, dir, lines) => {
    const pin = pinned(s, "/w", "0".repeat(64));
    const message = await assertCleanFailure(pin, dir, lines, /sha256 is [0-9a-f]{64}/);
    assert(message.includes(sha256(BODY)), "says which hash came");
  });
});

Deno.test("weights: a 404 fails cleanly", async () => {
  await withServer({}, async (s, dir, lines) => {
    await assertCleanFailure(pinned(s, "/missing"), dir, lines, /HTTP 404/);
  });
});

Deno.test("weights: a slow download that keeps sending completes past the idle timeout", async () => {
  const route: Route = { kind: "file", body: BODY, chunks: 6, delayMs: IDLE_MS / 3 };
  await withServer({ "/w": route }, async (s, cacheDir) => {
    const started = performance.now();
    const path = await ensurePinnedWeights(pinned(s, "/w"), {
      cacheDir,
      idleTimeoutMs: IDLE_MS,
      log: () => {},
      interactive: false,
    });
    assert(performance.now() - started > IDLE_MS, "took longer than the idle timeout in all");
    assertEquals(sha256(await Deno.readFile(path)), sha256(BODY));
  });
});

Deno.test("weights: a stalled download fails within the idle timeout, not a hang", async () => {
  await withServer({ "/w": { kind: "stall", body: BODY, sent: 50_000 } }, async (s, dir, lines) => {
    const started = performance.now();
    await assertCleanFailure(pinned(s, "/w"), dir, lines, /stalled/);
    const elapsed = performance.now() - started;
    assert(elapsed >= IDLE_MS && elapsed < IDLE_MS + 3000, `failed after ${elapsed} ms`);
  });
});

Deno.test("weights: a server that never answers fails within the idle timeout", async () => {
  await withServer({ "/w": { kind: "silent" } }, async (s, dir, lines) => {
    const started = performance.now();
    await assertCleanFailure(pinned(s, "/w"), dir, lines, /stalled/);
    assert(performance.now() - started < IDLE_MS + 3000, "bounded");
  });
});

Deno.test("weights: a damaged cached copy is reported and replaced, also through a stat-keyed hash cache", async () => {
  await withServer({ "/w": { kind: "file", body: BODY } }, async (s, cacheDir, lines) => {
    const pin = pinned(s, "/w");
    const hashes = FileHashCache.inMemory();
    const options = {
      cacheDir,
      log: (l: string) => lines.push(l),
      interactive: false,
      hashFile: (p: string) => hashes.hash(p),
    };
    const path = await ensurePinnedWeights(pin, options);
    // An old mtime lets the stat-keyed cache remember the good hash (it skips "racy" files)...
    const past = new Date(Date.now() - 60_000);
    await Deno.utime(path, past, past);
    assertEquals(await ensurePinnedWeights(pin, options), path);
    assertEquals(s.requests.get("/w"), 1);
    // ...then one byte changes, same size: the write moves mtime, so the cache rehashes.
    const damaged = await Deno.readFile(path);
    damaged[1234] ^= 0xff;
    await Deno.writeFile(path, damaged);
    lines.length = 0;
    assertEquals(await ensurePinnedWeights(pin, options), path);
    assert(lines.some((l) => /damaged/.test(l) && l.includes(path)), lines.join("\n"));
    assertEquals(sha256(await Deno.readFile(path)), pin.sha256, "replaced by the good file");
    assertEquals(s.requests.get("/w"), 2);
  });
});

Deno.test("weights: a leftover temporary file of a killed download is removed, a fresh one is not", async () => {
  await withServer({ "/w": { kind: "file", body: BODY } }, async (s, cacheDir) => {
    await Deno.mkdir(cacheDir, { recursive: true });
    const old = join(cacheDir, ".test-weights.pth.dead.part");
    const live = join(cacheDir, ".test-weights.pth.live.part");
    await Deno.writeFile(old, new Uint8Array(10));
    await Deno.writeFile(live, new Uint8Array(10));
    const past = new Date(Date.now() - 10 * IDLE_MS);
    await Deno.utime(old, past, past);
    await ensurePinnedWeights(pinned(s, "/w"), {
      cacheDir,
      idleTimeoutMs: IDLE_MS,
      log: () => {},
      interactive: false,
    });
    assertEquals(listCache(cacheDir), [".test-weights.pth.live.part", "test-weights.pth"]);
  });
});

Deno.test("weights: an explicit path is used as given, with no server and no cache", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mimic3d-weights-" });
  try {
    const file = join(dir, "mine.pth");
    await Deno.writeFile(file, BODY);
    const pin: PinnedWeights = {
      description: "test weights",
      fileName: "test-weights.pth",
      url: "http://127.0.0.1:9/unreachable",
      sha256: sha256(BODY),
    };
    const cacheDir = join(dir, "cache");
    assertEquals(await resolveWeights(file, pin, { cacheDir }), file);
    assertEquals(listCache(cacheDir), [], "the cache was not even created");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
