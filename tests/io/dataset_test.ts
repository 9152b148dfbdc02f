import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { flipCameraLabel } from "../../stages/io/camera_label.ts";
import { ImageDataset } from "../../stages/io/dataset_reader.ts";
import { DatasetWriter, writeDataset } from "../../stages/io/dataset_writer.ts";
import { encodePng } from "../../stages/io/png.ts";
import { listDir, testImage, testLabel, withTempDir, writeRawZip } from "./fixtures.ts";

const items = (n: number, channels = 3, size = 8) =>
  Array.from({ length: n }, (_, i) => ({
    name: `img${String(i).padStart(8, "0")}.png`,
    image: testImage(size, size, channels, i),
    label: testLabel(i),
  }));

Deno.test("dataset: write → read gives identical pixels and labels", async () => {
  await withTempDir(async (dir) => {
    for (const channels of [1, 3]) {
      const written = items(5, channels);
      await writeDataset(`${dir}/d${channels}.zip`, written);
      using dataset = await ImageDataset.open(`${dir}/d${channels}.zip`);
      assertEquals([dataset.imageCount, dataset.resolution, dataset.channels], [5, 8, channels]);
      for (const [i, item] of written.entries()) {
        const read = await dataset.item(i);
        assertEquals(read.name, item.name);
        assertEquals([...read.image.data], [...item.image.data]);
        assertEquals(read.label, item.label);
      }
    }
  });
});

Deno.test("dataset: x-flip doubles the set with mirrored images and labels", async () => {
  await withTempDir(async (dir) => {
    const written = items(3);
    await writeDataset(`${dir}/d.zip`, written);
    using dataset = await ImageDataset.open(`${dir}/d.zip`, { xflip: true });
    assertEquals(dataset.length, 6);
    const item = await dataset.item(4); // mirror of image 1
    assertEquals([item.name, item.xflip], [written[1].name, true]);
    assertEquals(item.label, flipCameraLabel(written[1].label));
    const src = written[1].image.data;
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        for (let c = 0; c < 3; c++) {
          assertEquals(item.image.data[(y * 8 + x) * 3 + c], src[(y * 8 + 7 - x) * 3 + c]);
        }
      }
    }
  });
});

Deno.test("dataset: the zip is plain dataset_tool layout (stored PNGs + dataset.json)", async () => {
  await withTempDir(async (dir) => {
    await writeDataset(`${dir}/d.zip`, items(2));
    using dataset = await ImageDataset.open(`${dir}/d.zip`);
    assertEquals(dataset.entryNames, ["img00000000.png", "img00000001.png", "dataset.json"]);
    const json = JSON.parse(new TextDecoder().decode(await dataset.readEntry("dataset.json")));
    assertEquals(json.labels[1], ["img00000001.png", testLabel(1)]);
  });
});

/** Writes a raw zip from images/labels, returns the error message of opening + reading it. */
async function badDatasetError(
  dir: string,
  entries: Record<string, Uint8Array | string>,
  pattern: RegExp,
): Promise<string> {
  const path = `${dir}/bad.zip`;
  await writeRawZip(path, entries);
  return await assertThrows(async () => {
    using dataset = await ImageDataset.open(path);
    for (let i = 0; i < dataset.imageCount; i++) await dataset.readImage(i);
  }, pattern);
}

const png = (w: number, h: number, c = 3) => encodePng(testImage(w, h, c));
const labels = (entries: [string, unknown][]) => JSON.stringify({ labels: entries });

Deno.test("bad input: corrupt zip", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/bad.zip`, "PK\u0003\u0004 definitely not a zip");
    await assertThrows(() => ImageDataset.open(`${dir}/bad.zip`), /bad\.zip: not a valid zip file/);
  });
});

Deno.test("bad input: corrupt PNG names the zip and entry", async () => {
  await withTempDir(async (dir) => {
    const bytes = png(8, 8);
    bytes.fill(0x55, 37, 60);
    await badDatasetError(dir, {
      "a.png": png(8, 8),
      "b.png": bytes,
      "dataset.json": labels([["a.png", testLabel(0)], ["b.png", testLabel(1)]]),
    }, /bad\.zip: b\.png: not a valid PNG/);
  });
});

Deno.test("bad input: truncated PNG names the zip and entry", async () => {
  await withTempDir(async (dir) => {
    const bytes = png(8, 8);
    await badDatasetError(dir, {
      "a.png": bytes.subarray(0, bytes.length - 30),
      "dataset.json": labels([["a.png", testLabel(0)]]),
    }, /bad\.zip: a\.png: not a valid PNG \(truncated/);
  });
});

Deno.test("bad input: missing labels (no dataset.json, or an image without a label)", async () => {
  await withTempDir(async (dir) => {
    await badDatasetError(dir, { "a.png": png(8, 8) }, /bad\.zip: dataset\.json: missing/);
    await badDatasetError(dir, {
      "a.png": png(8, 8),
      "b.png": png(8, 8),
      "dataset.json": labels([["a.png", testLabel(0)]]),
    }, /bad\.zip: b\.png: has no label in dataset\.json/);
  });
});

Deno.test("bad input: extra label for a file that is not in the zip", async () => {
  await withTempDir(async (dir) => {
    await badDatasetError(dir, {
      "a.png": png(8, 8),
      "dataset.json": labels([["a.png", testLabel(0)], ["ghost.png", testLabel(1)]]),
    }, /bad\.zip: dataset\.json: label for ghost\.png, which is not an image/);
  });
});

Deno.test("bad input: short label", async () => {
  await withTempDir(async (dir) => {
    await badDatasetError(dir, {
      "a.png": png(8, 8),
      "dataset.json": labels([["a.png", testLabel(0).slice(0, 24)]]),
    }, /bad\.zip: dataset\.json: a\.png: label has 24 numbers, expected 25/);
  });
});

Deno.test("bad input: non-finite labels (Python's NaN/Infinity tokens, overflowing numbers)", async () => {
  await withTempDir(async (dir) => {
    // Written as Python's json.dump writes them.
    const labelText = (index: number, token: string) => {
      const numbers = testLabel(0).map(String);
      numbers[index] = token;
      return `{"labels": [["a.png", [${numbers.join(", ")}]]]}`;
    };
    const cases: [number, string, RegExp][] = [
      [0, "NaN", /bad\.zip: dataset\.json: a\.png: label\[0\] is NaN \(non-finite\)/],
      [14, "-Infinity", /a\.png: label\[14\] is -Infinity \(non-finite\)/],
      [3, "1e999", /a\.png: label\[3\] is Infinity \(non-finite\)/],
    ];
    for (const [index, token, pattern] of cases) {
      await badDatasetError(
        dir,
        { "a.png": png(8, 8), "dataset.json": labelText(index, token) },
        pattern,
      );
    }
  });
});

Deno.test("bad input: mixed resolutions", async () => {
  await withTempDir(async (dir) => {
    await badDatasetError(dir, {
      "a.png": png(8, 8),
      "b.png": png(16, 16),
      "dataset.json": labels([["a.png", testLabel(0)], ["b.png", testLabel(1)]]),
    }, /bad\.zip: b\.png: resolution 16×16, but a\.png is 8×8 \(mixed resolutions\)/);
  });
});

Deno.test("bad input: mixed channel counts", async () => {
  await withTempDir(async (dir) => {
    await badDatasetError(dir, {
      "a.png": png(8, 8, 3),
      "b.png": png(8, 8, 1),
      "dataset.json": labels([["a.png", testLabel(0)], ["b.png", testLabel(1)]]),
    }, /bad\.zip: b\.png: 1 channels, but a\.png has 3 \(mixed channel counts\)/);
  });
});

Deno.test("bad input: non-square images", async () => {
  await withTempDir(async (dir) => {
    await badDatasetError(dir, {
      "a.png": png(8, 6),
      "dataset.json": labels([["a.png", testLabel(0)]]),
    }, /bad\.zip: a\.png: image is 8×6, not square/);
  });
});

Deno.test("bad input: the writer rejects mixed shapes and bad labels and writes nothing", async () => {
  await withTempDir(async (dir) => {
    const cases = [
      [
        { ...items(1)[0], name: "b.png", image: testImage(16, 16, 3) },
        /b\.png: 16²×3 differs from img00000000\.png/,
      ],
      [
        { ...items(1)[0], name: "b.png", label: [...testLabel(0).slice(0, 24), NaN] },
        /b\.png: label\[24\] is NaN/,
      ],
      [
        { ...items(1)[0], name: "b.png", label: testLabel(0).slice(0, 20) },
        /b\.png: label has 20 numbers/,
      ],
      [
        { ...items(1)[0], name: "b.png", image: testImage(8, 4, 3) },
        /b\.png: image is 8×4, not square/,
      ],
    ] as const;
    for (const [bad, pattern] of cases) {
      await assertThrows(() => writeDataset(`${dir}/out.zip`, [items(1)[0], bad]), pattern);
      assertEquals(listDir(dir), []);
    }
    const writer = await DatasetWriter.create(`${dir}/x.zip`);
    await assertThrows(
      () => writer.addFile("depth.png", new Uint8Array(1)),
      /must not have image extensions/,
    );
    await writer.abort();
    assertEquals(listDir(dir), []);
  });
});

Deno.test("bad input: zip entry names that escape (absolute, `..`) are refused", async () => {
  await withTempDir(async (dir) => {
    // Our writer refuses such names: write a same-length safe name, then swap the bytes.
    for (const name of ["../../evil.png", "/abs/x.png", "sub/../../x.png"]) {
      const safe = "a".repeat(name.length - 4) + ".png";
      const path = `${dir}/bad.zip`;
      await writeRawZip(path, {
        [safe]: png(8, 8),
        "dataset.json": labels([[name, testLabel(0)]]),
      });
      const bytes = await Deno.readFile(path);
      const [from, to] = [safe, name].map((t) => new TextEncoder().encode(t));
      for (let i = 0; i + from.length <= bytes.length; i++) {
        if (from.every((b, j) => bytes[i + j] === b)) bytes.set(to, i);
      }
      await Deno.writeFile(path, bytes);
      await assertThrows(() => ImageDataset.open(path), /bad\.zip: .*unsafe entry name "/);
    }
  });
});

Deno.test("bad input: an image entry larger than its resolution allows is refused uninflated", async () => {
  await withTempDir(async (dir) => {
    // 3 MiB of zeros deflate to a few KiB; an 8×8 PNG can never be that large.
    const message = await badDatasetError(dir, {
      "a.png": png(8, 8),
      "b.png": new Uint8Array(3 * 2 ** 20),
      "dataset.json": labels([["a.png", testLabel(0)], ["b.png", testLabel(1)]]),
    }, /bad\.zip: b\.png: declares 3145728 bytes, more than the \d+ allowed/);
    assertEquals(message.includes("not a valid PNG"), false);
  });
});
