import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { runExperiment, Store } from "../../pipeline/mod.ts";
import prepOnly from "../../experiments/prep_only.ts";
import { ImageDataset } from "../../stages/io/dataset_reader.ts";
import { writeDataset } from "../../stages/io/dataset_writer.ts";
import { lookAtCameraLabel } from "../../stages/io/camera_label.ts";
import { readPngFile } from "../../stages/io/png.ts";
import { prepareDataset } from "../../stages/prep/prepare_dataset.ts";
import { PREP_OUTS } from "../../stages/prep/outs.ts";

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "mimic3d-prep-" });
  try {
    await fn(dir);
  } finally {
    await new Deno.Command("chmod", { args: ["-R", "u+w", dir] }).output(); // store objects are read-only
    await Deno.remove(dir, { recursive: true });
  }
}

const userItems = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    name: `img${i}.png`,
    image: { width: 8, height: 8, channels: 3, data: new Uint8Array(192).fill(i * 20) },
    label: lookAtCameraLabel({ yaw: 0.1 * i, pitch: 0 }),
  }));

Deno.test("prepareDataset: procedural spec → dataset, ground truth, stats, preview", async () => {
  await withTempDir(async (dir) => {
    await prepareDataset(
      { kind: "procedural", count: 5, resolution: 16, seed: 1, supersample: 1 },
      dir,
    );
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(files, ["dataset.zip", "ground_truth.zip", "preview.png", "stats.json"]);
    const stats = JSON.parse(await Deno.readTextFile(`${dir}/${PREP_OUTS.stats}`));
    assertEquals([stats.imageCount, stats.resolution, stats.channels], [5, 16, 3]);
    assertEquals(stats.yawHistogram.counts.reduce((a: number, b: number) => a + b, 0), 5);
    const preview = await readPngFile(`${dir}/${PREP_OUTS.preview}`);
    assertEquals(preview.width > 16 * 2, true);
  });
});

Deno.test("prepareDataset: a user zip is validated and copied; a bad one writes nothing", async () => {
  await withTempDir(async (dir) => {
    await writeDataset(`${dir}/user.zip`, userItems(3));
    await Deno.mkdir(`${dir}/out`);
    await prepareDataset({ kind: "zip", path: `${dir}/user.zip` }, `${dir}/out`);
    using dataset = await ImageDataset.open(`${dir}/out/dataset.zip`);
    assertEquals(dataset.imageCount, 3);

    await Deno.writeTextFile(`${dir}/broken.zip`, "nope");
    await Deno.mkdir(`${dir}/out2`);
    await assertThrows(
      () => prepareDataset({ kind: "zip", path: `${dir}/broken.zip` }, `${dir}/out2`),
      /broken\.zip: not a valid zip file/,
    );
    assertEquals([...Deno.readDirSync(`${dir}/out2`)].length, 0);
  });
});

Deno.test("prep stage: cached by spec; a user zip is keyed by its content", async () => {
  await withTempDir(async (dir) => {
    const store = await Store.open(`${dir}/store`);
    const tiny = ["data.count=3", "data.resolution=8", "data.supersample=1"];
    const first = await runExperiment(prepOnly, store, { sets: tiny, quiet: true });
    assertEquals(first.executed, ["prep"]);
    const again = await runExperiment(prepOnly, store, { sets: tiny, quiet: true });
    assertEquals(again.executed, []);
    assertEquals(again.nodes.prep.artifact, first.nodes.prep.artifact);
    const files = [...Deno.readDirSync(store.filesDir(again.nodes.prep.artifact))].map((e) =>
      e.name
    ).sort();
    assertEquals(files, ["dataset.zip", "ground_truth.zip", "preview.png", "stats.json"]);

    await writeDataset(`${dir}/user.zip`, userItems(2));
    const zipSets = [`data.zip=${dir}/user.zip`];
    const user = await runExperiment(prepOnly, store, { sets: zipSets, quiet: true });
    assertEquals(user.executed, ["prep"]);
    assertEquals(
      (await runExperiment(prepOnly, store, { sets: zipSets, quiet: true })).executed,
      [],
    );
    await writeDataset(`${dir}/user.zip`, userItems(3)); // new content, same path
    assertEquals((await runExperiment(prepOnly, store, { sets: zipSets, quiet: true })).executed, [
      "prep",
    ]);
  });
});
