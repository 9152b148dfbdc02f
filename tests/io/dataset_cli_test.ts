import { assertEquals } from "../helpers/assert.ts";
import { writeDataset } from "../../stages/io/dataset_writer.ts";
import { encodePng } from "../../stages/io/png.ts";
import { testImage, testLabel, withTempDir } from "./fixtures.ts";
import { cli } from "../helpers/cli.ts";

Deno.test("dataset CLI: info, check, grid through a subprocess; bad input → one error line, exit 1", async () => {
  await withTempDir(async (dir) => {
    const items = [0, 1, 2, 3].map((i) => ({
      name: `i${i}.png`,
      image: testImage(8, 8, 3, i),
      label: testLabel(i),
    }));
    await writeDataset(`${dir}/d.zip`, items);

    const check = await cli("dataset", "check", `${dir}/d.zip`);
    assertEquals([check.code, check.stdout.trim()], [
      0,
      "ok: 4 images, 8×8, 3 channels, labels valid",
    ]);

    const info = await cli("dataset", "info", `${dir}/d.zip`, "--json");
    assertEquals(check.code, 0);
    assertEquals(JSON.parse(info.stdout).imageCount, 4);

    const grid = await cli(
      "dataset",
      "grid",
      `${dir}/d.zip`,
      `${dir}/g.png`,
      "--count",
      "4",
      "--padding",
      "0",
    );
    assertEquals(grid.code, 0);
    assertEquals((await Deno.stat(`${dir}/g.png`)).isFile, true);

    await Deno.writeTextFile(`${dir}/bad.zip`, "not a zip");
    const bad = await cli("dataset", "check", `${dir}/bad.zip`);
    assertEquals(bad.code, 1);
    assertEquals(bad.stderr.trim().split("\n").length, 1);
    assertEquals(bad.stderr.includes("bad.zip: not a valid zip file"), true);

    await Deno.mkdir(`${dir}/folder`);
    await Deno.writeFile(`${dir}/folder/x.png`, encodePng(testImage(20, 12, 3)));
    await Deno.writeTextFile(
      `${dir}/folder/labels.json`,
      JSON.stringify({ labels: [["x.png", testLabel(0)]] }),
    );
    const make = await cli(
      "dataset",
      "make",
      `${dir}/folder`,
      `${dir}/made.zip`,
      "--resolution",
      "8",
    );
    assertEquals([make.code, make.stdout.trim()], [0, `wrote ${dir}/made.zip: 1 images at 8²`]);

    const help = await cli("dataset", "--help");
    for (const command of ["info", "check", "grid", "make"]) {
      assertEquals(help.stdout.includes(command), true);
    }
  });
});
