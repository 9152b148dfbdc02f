import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { checkDataset } from "../../stages/io/dataset_check.ts";
import { datasetGrid, datasetGridImage } from "../../stages/io/dataset_grid.ts";
import { datasetInfo, formatDatasetInfo } from "../../stages/io/dataset_info.ts";
import { makeDataset } from "../../stages/io/dataset_make.ts";
import { ImageDataset } from "../../stages/io/dataset_reader.ts";
import { writeDataset } from "../../stages/io/dataset_writer.ts";
import { makeImageGrid } from "../../stages/io/image_grid.ts";
import { lookAtCameraLabel } from "../../stages/io/camera_label.ts";
import { encodePng, readPngFile } from "../../stages/io/png.ts";
import { listDir, testImage, testLabel, withTempDir, writeRawZip } from "./fixtures.ts";

const yawed = (yawDegrees: number) =>
  lookAtCameraLabel({ yaw: (yawDegrees * Math.PI) / 180, pitch: 0 });

Deno.test("dataset check: reports count and shape; the first bad image fails it", async () => {
  await withTempDir(async (dir) => {
    const items = [0, 1, 2].map((i) => ({
      name: `i${i}.png`,
      image: testImage(4, 4, 3, i),
      label: testLabel(i),
    }));
    await writeDataset(`${dir}/ok.zip`, items);
    assertEquals(await checkDataset(`${dir}/ok.zip`), {
      path: `${dir}/ok.zip`,
      imageCount: 3,
      resolution: 4,
      channels: 3,
    });
    await writeRawZip(`${dir}/bad.zip`, {
      "a.png": encodePng(testImage(4, 4, 3)),
      "b.png": encodePng(testImage(4, 4, 3)).subarray(0, 40),
      "dataset.json": JSON.stringify({
        labels: [["a.png", testLabel(0)], ["b.png", testLabel(1)]],
      }),
    });
    await assertThrows(() => checkDataset(`${dir}/bad.zip`), /bad\.zip: b\.png: not a valid PNG/);
    await writeRawZip(`${dir}/odd.zip`, {
      "a.png": encodePng(testImage(6, 6, 3)),
      "dataset.json": JSON.stringify({ labels: [["a.png", testLabel(0)]] }),
    });
    await assertThrows(
      () => checkDataset(`${dir}/odd.zip`),
      /odd\.zip: a\.png: resolution 6 is not a power of two/,
    );
  });
});

Deno.test("dataset info: label statistics and pose histogram", async () => {
  await withTempDir(async (dir) => {
    const yaws = [-30, -10, 0, 0, 10, 30];
    await writeDataset(
      `${dir}/d.zip`,
      yaws.map((y, i) => ({ name: `i${i}.png`, image: testImage(4, 4, 1, i), label: yawed(y) })),
    );
    const info = await datasetInfo(`${dir}/d.zip`, 6);
    assertEquals([info.imageCount, info.resolution, info.channels], [6, 4, 1]);
    assertEquals(Math.abs(info.cameraRadius.mean - 2.7) < 1e-9, true);
    assertEquals(info.focal.min, 4.2647);
    assertEquals(Math.abs(info.yawDegrees.mean) < 1e-9, true);
    assertEquals(Math.abs(info.yawDegrees.max - 30) < 1e-9, true);
    // 6 bins over [−90, 90]: 30° wide; −30 → bin 2, −10 → 2, 0/0/10 → 3, 30 → 4.
    assertEquals(info.yawHistogram.counts, [0, 0, 2, 3, 1, 0]);
    assertEquals(info.labelStats[3].min < 0 && info.labelStats[3].max > 0, true); // camera x
    const text = formatDatasetInfo(info);
    assertEquals(text.includes("images       6"), true);
    assertEquals(text.includes("yaw histogram"), true);
  });
});

Deno.test("image grid and dataset grid: layout with padding", async () => {
  const a = { width: 2, height: 1, channels: 1, data: new Uint8Array([1, 2]) };
  const b = { width: 2, height: 1, channels: 1, data: new Uint8Array([3, 4]) };
  const c = { width: 2, height: 1, channels: 1, data: new Uint8Array([5, 6]) };
  const grid = makeImageGrid([a, b, c], { columns: 2, padding: 1, background: 0 });
  assertEquals([grid.width, grid.height], [7, 5]);
  assertEquals([...grid.data], [
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    1,
    2,
    0,
    3,
    4,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    5,
    6,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ]); // deno-fmt-ignore
  await withTempDir(async (dir) => {
    const items = [0, 1, 2, 3, 4].map((i) => ({ name: `i${i}.png`, image: testImage(4, 4, 3, i), label: testLabel(i) }));
    await writeDataset(`${dir}/d.zip`, items);
    const image = await datasetGridImage(`${dir}/d.zip`, { count: 4, padding: 0 });
    assertEquals([image.width, image.height], [8, 8]);
    assertEquals([...image.data.subarray(0, 12)], [...items[0].image.data.subarray(0, 12)]);
    await datasetGrid(`${dir}/d.zip`, `${dir}/grid.png`, { count: 5, columns: 5, padding: 2 });
    const png = await readPngFile(`${dir}/grid.png`);
    assertEquals([png.width, png.height], [5 * 4 + 6 * 2, 4 + 2 * 2]);
  });
});

Deno.test("dataset make: crops, resizes to a power of two, converts to RGB, keeps labels", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/in/sub`, { recursive: true });
    // A 40×24 RGBA image whose centre 24×24 square is white, the sides black.
    const wide = new Uint8Array(40 * 24 * 4);
    for (let y = 0; y < 24; y++) {
      for (let x = 0; x < 40; x++) {
        wide.fill(x >= 8 && x < 32 ? 255 : 0, (y * 40 + x) * 4, (y * 40 + x) * 4 + 4);
      }
    }
    await Deno.writeFile(
      `${dir}/in/wide.png`,
      encodePng({ width: 40, height: 24, channels: 4, data: wide }),
    );
    await Deno.writeFile(`${dir}/in/sub/gray.png`, encodePng(testImage(32, 32, 1)));
    const labels = { labels: [["wide.png", testLabel(0)], ["sub/gray.png", testLabel(1)]] };
    await Deno.writeTextFile(`${dir}/in/labels.json`, JSON.stringify(labels));
    const report = await makeDataset(`${dir}/in`, `${dir}/out.zip`);
    assertEquals(report.resolution, 16); // largest power of two ≤ the smallest side (24)
    using dataset = await ImageDataset.open(`${dir}/out.zip`);
    assertEquals([...dataset.imageNames], ["sub/gray.png", "wide.png"]);
    assertEquals([dataset.resolution, dataset.channels], [16, 3]);
    assertEquals(dataset.labels[1], testLabel(0));
    const wideOut = await dataset.readImage(1);
    assertEquals(wideOut.data.every((v) => v === 255), true); // the crop kept only the white centre
    const report2 = await makeDataset(`${dir}/in`, `${dir}/out32.zip`, { resolution: 32 });
    assertEquals(report2.resolution, 32);
  });
});

Deno.test("dataset make: bad input (truncated PNG, missing/extra/short labels) writes nothing", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/in`);
    const good = encodePng(testImage(16, 16, 3));
    await Deno.writeFile(`${dir}/in/a.png`, good);
    await Deno.writeFile(`${dir}/in/b.png`, good.subarray(0, good.length - 16));
    const write = (entries: unknown) =>
      Deno.writeTextFile(`${dir}/in/labels.json`, JSON.stringify({ labels: entries }));
    const out = `${dir}/out.zip`;

    await write([["a.png", testLabel(0)], ["b.png", testLabel(1)]]);
    await assertThrows(
      () => makeDataset(`${dir}/in`, out),
      /in\/b\.png: not a valid PNG \(truncated/,
    );
    await write([["a.png", testLabel(0)]]);
    await assertThrows(
      () => makeDataset(`${dir}/in`, out),
      /labels\.json: b\.png: image has no label/,
    );
    await write([["a.png", testLabel(0)], ["b.png", testLabel(1)], ["c.png", testLabel(2)]]);
    await assertThrows(
      () => makeDataset(`${dir}/in`, out),
      /labels\.json: c\.png: labelled, but no such image/,
    );
    await write([["a.png", testLabel(0)], ["b.png", testLabel(1).slice(1)]]);
    await assertThrows(
      () => makeDataset(`${dir}/in`, out),
      /labels\.json: b\.png: label has 24 numbers/,
    );
    await Deno.writeFile(`${dir}/in/b.png`, good);
    await write([["a.png", testLabel(0)], ["b.png", testLabel(1)]]);
    await assertThrows(
      () => makeDataset(`${dir}/in`, out, { resolution: 12 }),
      /not a power of two/,
    );
    assertEquals(listDir(dir), ["in"]);
    await makeDataset(`${dir}/in`, out);
    assertEquals(listDir(dir), ["in", "out.zip"]);
  });
});
