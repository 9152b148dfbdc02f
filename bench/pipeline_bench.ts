/**
 * Pipeline bench: no-op rerun latency of the 5-stage toy DAG (in-process and through the CLI)
 * and streaming sha256 throughput (cold read of a fresh hash, then the cached lookup).
 * Run: `deno run -A bench/pipeline_bench.ts` (HASH_BENCH_MB to change the file size, default 1024).
 */
import { fileURLToPath } from "node:url";
import toy from "../experiments/toy.ts";
import { FileHashCache, runExperiment, sha256File, Store } from "../pipeline/mod.ts";

const dir = await Deno.makeTempDir({ prefix: "mimic3d-bench-" });
try {
  const store = await Store.open(`${dir}/store`);
  await runExperiment(toy, store, { quiet: true });
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const result = await runExperiment(toy, store, { quiet: true });
    samples.push(performance.now() - t0);
    if (result.executed.length !== 0) throw new Error("no-op rerun executed stages");
  }
  samples.sort((a, b) => a - b);
  console.log(
    `no-op rerun of 5-stage DAG (in-process): median ${samples[2].toFixed(1)} ms, max ${
      samples[4].toFixed(1)
    } ms`,
  );

  const cli = fileURLToPath(new URL("../pipeline/main.ts", import.meta.url));
  const toyPath = fileURLToPath(new URL("../experiments/toy.ts", import.meta.url));
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, "run", toyPath, "--store", store.root, "--quiet"],
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  console.log(
    `no-op rerun through the CLI (new process, incl. Deno startup): ${
      (performance.now() - t0).toFixed(0)
    } ms`,
  );

  const megabytes = Number(Deno.env.get("HASH_BENCH_MB") ?? "1024");
  const file = `${dir}/big.bin`;
  const chunk = new Uint8Array(16 << 20);
  for (let i = 0; i < chunk.length; i += 65536) {
    crypto.getRandomValues(chunk.subarray(i, i + 65536));
  }
  const handle = await Deno.open(file, { write: true, create: true });
  for (let written = 0; written < megabytes << 20; written += chunk.length) {
    await handle.write(chunk);
  }
  handle.close();
  await Deno.utime(file, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  const bytes = (await Deno.stat(file)).size;
  for (let i = 0; i < 2; i++) {
    const t1 = performance.now();
    await sha256File(file);
    const seconds = (performance.now() - t1) / 1000;
    console.log(
      `sha256 streaming, ${megabytes} MiB (page cache ${i === 0 ? "warm from write" : "warm"}): ${
        (bytes / 1e9 / seconds).toFixed(2)
      } GB/s`,
    );
  }
  const cache = FileHashCache.inMemory();
  await cache.hash(file);
  const t2 = performance.now();
  await cache.hash(file);
  console.log(`cached hash lookup of the same file: ${(performance.now() - t2).toFixed(2)} ms`);
} finally {
  await new Deno.Command("chmod", { args: ["-R", "u+w", dir] }).output();
  await Deno.remove(dir, { recursive: true });
}
