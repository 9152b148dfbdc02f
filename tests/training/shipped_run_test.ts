/**
 * Shipped runs: the file keeps a stage's networks (fp16), log and samples and
 * what they were trained with; a stage takes one only when the config, the
 * dataset and (3-D stage) the pretrained networks are the ones it was trained
 * with, and otherwise refuses, naming what differs, with nothing stored.
 */
import { join } from "node:path";
import { parseSafetensors, serializeSafetensors } from "../../kernels/mod.ts";
import {
  checkShippedRun,
  readShippedRun,
  type ShippedRunExpectation,
  writeShippedRun,
} from "../../stages/training/shipped_run.ts";
import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { cli } from "../helpers/cli.ts";

const origin = { command: "test", device: "test", seconds: 1, commit: "abc", artifact: "def" };

/** A finished stage's artifact directory with one small network. */
async function fakeArtifact(dir: string): Promise<void> {
  const values = [0.1, -1 / 3, 12345.678, 1e-5];
  for (const net of ["G", "G_ema", "D"]) {
    await Deno.writeFile(
      join(dir, `${net}.safetensors`),
      serializeSafetensors(new Map([["w", { shape: [2, 2], data: values }]]), { format: "x" }),
    );
  }
  await Deno.writeTextFile(join(dir, "metrics.json"), JSON.stringify({ steps: 6, kimg: 0.012 }));
  await Deno.writeTextFile(join(dir, "log.jsonl"), '{"step":6}\n');
  await Deno.mkdir(join(dir, "samples"));
  await Deno.writeFile(join(dir, "samples/000000.012.png"), new Uint8Array([1, 2, 3]));
}

Deno.test("shipped run: fp16 networks, log and samples round-trip; every difference is named", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await fakeArtifact(dir);
    const file = join(dir, "run.zip");
    const want: ShippedRunExpectation = {
      stage: "pretrain",
      config: { kimg: 0.012, batch: 2 },
      dataset: { kind: "procedural", count: 16 },
      pretrained: null,
      steps: 6,
    };
    await writeShippedRun(dir, file, { ...want, origin });
    const run = await readShippedRun(file);
    assertEquals(run.info.networks, ["D", "G", "G_ema"]);
    assertEquals(run.info.steps, 6);
    assertEquals(Object.keys(run.files).sort(), ["log.jsonl", "samples/000000.012.png"]);
    const g = parseSafetensors(run.networks.get("G")!);
    assertEquals(g.tensors.get("w")!.dtype, "F16");
    assertEquals(
      [...g.tensors.get("w")!.data],
      [0.1, -1 / 3, 12345.678, 1e-5].map((v) => Math.f16round(v)),
    );
    assertEquals(g.metadata.format, "x");
    checkShippedRun(run, want);
    const refused = async (change: Partial<ShippedRunExpectation>, what: string) =>
      await assertThrows(() => checkShippedRun(run, { ...want, ...change }), what);
    await refused({ config: { kimg: 1, batch: 2 } }, "config 'kimg' differs");
    await refused({ dataset: { kind: "procedural", count: 32 } }, "the dataset differs");
    await refused({ pretrained: { "G.safetensors": "00" } }, "the pretrained networks");
    await refused({ stage: "imitate" }, "the stage differs");
    const message = await refused({ steps: 7 }, "the number of steps differs");
    assertEquals(message.includes("set pretrain.shippedRun=null to train instead"), true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("shipped run: a file that is not one is refused with its path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "not-a-run.zip");
    await Deno.writeTextFile(path, "hello");
    await assertThrows(() => readShippedRun(path), `shipped run ${path}: cannot read`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("demo preset on another dataset: pretrain refuses the shipped run, stores nothing", async () => {
  const store = await Deno.makeTempDir();
  try {
    const out = await cli(
      "--store",
      store,
      "run",
      "experiments/mimic3d.ts",
      "--preset",
      "demo",
      "--set",
      "data.count=8",
      "--until",
      "pretrain",
    );
    assertEquals(out.code, 1, out.stdout + out.stderr);
    const error = out.stderr.trim().split("\n").filter((l) => l.startsWith("error: stage"));
    assertEquals(error.length, 1, out.stderr);
    for (const part of ["cannot stand for this pretrain stage: the dataset differs", "count"]) {
      if (!error[0].includes(part)) throw new Error(`'${part}' missing from: ${error[0]}`);
    }
    if (!error[0].includes("pretrain.shippedRun=null")) throw new Error(error[0]);
    const stages: string[] = [];
    for await (const e of Deno.readDir(join(store, "keys"))) {
      stages.push(JSON.parse(await Deno.readTextFile(join(store, "keys", e.name))).stage);
    }
    assertEquals(stages, ["prep"]);
  } finally {
    await Deno.remove(store, { recursive: true });
  }
});
