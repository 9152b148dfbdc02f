/**
 * `import-checkpoint`: an official snapshot becomes a store artifact holding
 * our checkpoint (bit-exact tensors, provenance metadata) and `import.json`;
 * `show` lists it. Every failure — unreadable, truncated or foreign pickle,
 * refused global (`os.system`: nothing runs), missing tensor, shape mismatch,
 * unknown network — stores nothing.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { Store } from "../../pipeline/store.ts";
import { readSafetensors } from "../../kernels/io/safetensors.ts";
import { loadGenerator } from "../../stages/io/generator_checkpoint.ts";
import {
  importCheckpoint,
  prepareImport,
  readSnapshotFile,
  storeImport,
} from "../../stages/io/import_command.ts";
import { withTempDir } from "./fixtures.ts";
import { cli } from "../helpers/cli.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/reference/", import.meta.url));
const EG3D = `${FIXTURES}eg3d_tiny.pkl`;

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Objects and staging leftovers of a store (both must stay empty after a failed import). */
function storeContents(root: string): string[] {
  const found: string[] = [];
  for (const sub of ["objects", "tmp", "runs"]) {
    for (const e of Deno.readDirSync(path.join(root, sub))) found.push(`${sub}/${e.name}`);
  }
  return found;
}

Deno.test("import-checkpoint CLI: stores G_ema.safetensors + import.json; show lists them", async () => {
  await withTempDir(async (dir) => {
    const store = path.join(dir, "store");
    const run = await cli("--store", store, "import-checkpoint", EG3D);
    assertEquals(run.code, 0, run.stderr);
    const id = run.stdout.match(/^artifact ([0-9a-f]{64})$/m)?.[1];
    if (!id) throw new Error(`no artifact id in: ${run.stdout}`);
    const out = path.join(store, "objects", id, "out");
    assertEquals(run.stdout.includes(`path ${out}`), true, run.stdout);
    assertEquals(run.stdout.includes("kind eg3d (G_ema is TriPlaneGenerator"), true, run.stdout);

    const summary = JSON.parse(await Deno.readTextFile(`${out}/import.json`));
    const pickle = await Deno.readFile(EG3D);
    assertEquals(summary.source, {
      file: "eg3d_tiny.pkl",
      bytes: pickle.length,
      sha256: await sha256(pickle),
    });
    assertEquals([summary.network, summary.kind, summary.tensors], ["G_ema", "eg3d", 120]);
    assertEquals(summary.config.neuralRenderingResolution, 8);

    // Our checkpoint: provenance in the metadata, tensors bit-exact to the pickle's G_ema.
    const file = await readSafetensors(`${out}/G_ema.safetensors`);
    assertEquals(file.metadata.sourceSha256, summary.source.sha256);
    assertEquals([file.metadata.source, file.metadata.kind, file.metadata.network], [
      "eg3d_tiny.pkl",
      "eg3d",
      "G_ema",
    ]);
    assertEquals(file.metadata.kindReason, summary.kindReason);
    const { snapshot } = await readSnapshotFile(EG3D);
    const original = snapshot.networks.get("G_ema")!.stateDict;
    assertEquals([...file.tensors.keys()].sort(), [...original.keys()].sort());
    for (const [name, tensor] of original) {
      const stored = file.tensors.get(name)!;
      assertEquals(stored.shape, tensor.shape, name);
      assertEquals(Float32Array.from(stored.data), Float32Array.from(tensor.data), name);
    }
    const { generator } = await loadGenerator(out, "cpu");
    assertEquals(generator.config.kind, "eg3d");

    // `show` lists the artifact's files; importing again gives the same artifact.
    const show = await cli("--store", store, "show", id.slice(0, 8));
    assertEquals(show.code, 0, show.stderr);
    assertEquals(show.stdout.includes("import.json"), true, show.stdout);
    assertEquals(show.stdout.includes("G_ema.safetensors"), true, show.stdout);
    const again = await importCheckpoint(await Store.open(store), EG3D);
    assertEquals(again.id, id);
  });
});

Deno.test("import-checkpoint: --kind override and --network are recorded", async () => {
  await withTempDir(async (dir) => {
    const store = await Store.open(dir);
    const forced = await importCheckpoint(store, `${FIXTURES}mimic3d_tiny.pkl`, {
      kind: "mimic3d",
      network: "G",
    });
    assertEquals([forced.summary.kind, forced.summary.network], ["mimic3d", "G"]);
    assertEquals(forced.summary.kindReason.startsWith("given by --kind"), true);
    const metadata = (await readSafetensors(`${forced.path}/G_ema.safetensors`)).metadata;
    assertEquals([metadata.network, metadata.kind], ["G", "mimic3d"]);
  });
});

Deno.test("import-checkpoint: bad pickles are refused and nothing is stored", async () => {
  await withTempDir(async (dir) => {
    const root = path.join(dir, "store");
    const store = await Store.open(root);
    const bytes = await Deno.readFile(EG3D);
    const write = async (name: string, data: Uint8Array) => {
      await Deno.writeFile(path.join(dir, name), data);
      return path.join(dir, name);
    };
    const cases: [string, string | RegExp][] = [
      [path.join(dir, "absent.pkl"), "absent.pkl: cannot read"],
      [await write("cut.pkl", bytes.subarray(0, bytes.length >> 1)), /cut\.pkl: .*truncated/],
      [await write("empty.pkl", new Uint8Array()), "empty.pkl"],
      [
        await write("list.pkl", Uint8Array.from([0x80, 0x04, 0x5d, 0x4b, 1, 0x61, 0x2e])),
        "not a training snapshot: the pickle holds a list",
      ],
      [await write("zip.pkl", Uint8Array.from([0x50, 0x4b, 3, 4])), "is a zip"],
    ];
    for (const [file, message] of cases) {
      await assertThrows(() => importCheckpoint(store, file), message);
    }
    await assertThrows(
      () => importCheckpoint(store, EG3D, { network: "G_patch" }),
      "no network 'G_patch'",
    );
    assertEquals(storeContents(root), []);
  });
});

Deno.test("import-checkpoint: a missing tensor or a shape mismatch stores nothing", async () => {
  await withTempDir(async (dir) => {
    const root = path.join(dir, "store");
    const store = await Store.open(root);
    // A tensor the structural checks do not look at: the strict load must catch it.
    const missing = await readSnapshotFile(EG3D);
    missing.snapshot.networks.get("G_ema")!.stateDict.delete("superresolution.block0.conv0.weight");
    await assertThrows(
      () => storeImport(store, prepareImport(missing.snapshot, missing.source), EG3D),
      /eg3d_tiny\.pkl: G_ema does not load into our eg3d generator: .*missing \[superresolution\.block0\.conv0\.weight\]/,
    );
    const misshapen = await readSnapshotFile(EG3D);
    const stateDict = misshapen.snapshot.networks.get("G_ema")!.stateDict;
    const name = "backbone.synthesis.b8.conv0.weight";
    const [o, i, kh, kw] = stateDict.get(name)!.shape;
    stateDict.set(name, { shape: [o, i * kh * kw], data: stateDict.get(name)!.data });
    await assertThrows(
      () => storeImport(store, prepareImport(misshapen.snapshot, misshapen.source), EG3D),
      `'${name}': shape [${o},${i * kh * kw}] does not match [${o},${i},${kh},${kw}]`,
    );
    // A tensor the structural checks do look at: refused while mapping.
    const unchecked = await readSnapshotFile(EG3D);
    unchecked.snapshot.networks.get("G_ema")!.stateDict.delete("backbone.mapping.w_avg");
    await assertThrows(
      () => prepareImport(unchecked.snapshot, unchecked.source),
      "missing tensor 'backbone.mapping.w_avg'",
    );
    assertEquals(storeContents(root), []);
  });
});

Deno.test("import-checkpoint CLI: a pickle calling os.system is refused, runs nothing, stores nothing", async () => {
  await withTempDir(async (dir) => {
    const marker = path.join(dir, "pwned");
    // GLOBAL os.system, MARK, STRING 'touch <marker>', TUPLE, REDUCE, STOP.
    const evil = `cos\nsystem\n(S'touch ${marker}'\ntR.`;
    await Deno.writeFile(`${dir}/evil.pkl`, Uint8Array.from(evil, (c) => c.charCodeAt(0)));
    const store = path.join(dir, "store");
    const run = await cli("--store", store, "import-checkpoint", `${dir}/evil.pkl`);
    assertEquals(run.code, 1);
    const lines = run.stderr.trim().split("\n");
    assertEquals(lines.length, 1, run.stderr);
    assertEquals(lines[0].includes("refusing global 'os.system'"), true, lines[0]);
    assertEquals(await Deno.stat(marker).then(() => true, () => false), false);
    // The store is opened only after a successful validation: not even created.
    assertEquals(await Deno.stat(store).then(() => true, () => false), false);
    const badKind = await cli("--store", store, "import-checkpoint", EG3D, "--kind", "gan");
    assertEquals([badKind.code, badKind.stderr.trim()], [
      1,
      'error: --kind must be eg3d or mimic3d, got "gan"',
    ]);
  });
});
