/**
 * The `dataset` command group: info, check, grid and make for dataset zips.
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { InvalidArgumentError } from "@commander-js/extra-typings";
import { checkDataset } from "./dataset_check.ts";
import { datasetGrid } from "./dataset_grid.ts";
import { datasetInfo, formatDatasetInfo } from "./dataset_info.ts";
import { makeDataset } from "./dataset_make.ts";

/** Adds `dataset info|check|grid|make` to a commander program. */
export function registerDatasetCommands(program: Command): void {
  const dataset = program
    .command("dataset")
    .description(
      "inspect, validate, preview and build EG3D dataset zips (PNG images + dataset.json)",
    );

  dataset
    .command("info")
    .description(
      "summarise a dataset zip: image count, resolution, channels, label statistics, pose histogram",
    )
    .argument("<zip>", "dataset zip")
    .option("--json", "print the summary as JSON")
    .option("--bins <n>", "histogram bins", positiveInteger, 18)
    .action(async (zip, options) => {
      const info = await datasetInfo(zip, options.bins);
      console.log(options.json ? JSON.stringify(info, null, 2) : formatDatasetInfo(info));
    });

  dataset
    .command("check")
    .description(
      "validate every image and label of a dataset zip; exits non-zero at the first problem",
    )
    .argument("<zip>", "dataset zip")
    .action(async (zip) => {
      const report = await checkDataset(zip);
      console.log(
        `ok: ${report.imageCount} images, ${report.resolution}×${report.resolution}, ` +
          `${report.channels} channel${report.channels === 1 ? "" : "s"}, labels valid`,
      );
    });

  dataset
    .command("grid")
    .description("write a PNG grid of the first images of a dataset zip")
    .argument("<zip>", "dataset zip")
    .argument("<out>", "output PNG")
    .option("-n, --count <n>", "number of images", positiveInteger, 64)
    .option("--columns <n>", "images per row (default: square grid)", positiveInteger)
    .option("--padding <px>", "pixels between images", nonNegativeInteger, 2)
    .action(async (zip, out, options) => {
      await datasetGrid(zip, out, options);
      console.log(`wrote ${out}`);
    });

  dataset
    .command("make")
    .description(
      "build a dataset zip from a folder of PNG images and a labels JSON " +
        '({"labels": [[file, [25 numbers]], ...]}); images are centre-cropped and resized to a ' +
        "square power-of-two resolution",
    )
    .argument("<folder>", "folder of PNG images (searched recursively)")
    .argument("<out>", "output zip")
    .option("--labels <path>", "labels JSON (default: labels.json or dataset.json in the folder)")
    .option(
      "--resolution <n>",
      "output resolution, a power of two (default: ≤ smallest side)",
      positiveInteger,
    )
    .action(async (folder, out, options) => {
      const report = await makeDataset(folder, out, {
        labelsPath: options.labels,
        resolution: options.resolution,
      });
      console.log(`wrote ${report.path}: ${report.imageCount} images at ${report.resolution}²`);
    });
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

function nonNegativeInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("expected an integer ≥ 0");
  return n;
}
