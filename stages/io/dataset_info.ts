/**
 * A quick summary of a dataset zip, read from the central directory, the
 * labels and the first image only: counts, shape, per-number label statistics
 * and the distribution of camera poses (yaw/pitch histograms).
 * @module
 */
import { CAMERA_LABEL_LENGTH, cameraYawPitch } from "./camera_label.ts";
import { ImageDataset } from "./dataset_reader.ts";

/** Statistics of one quantity over the dataset. */
export interface Summary {
  mean: number;
  std: number;
  min: number;
  max: number;
}

/** A histogram with `counts.length` equal bins between `edges[0]` and `edges[last]`. */
export interface Histogram {
  edges: number[];
  counts: number[];
}

/** What `datasetInfo` reports. */
export interface DatasetInfo {
  path: string;
  imageCount: number;
  resolution: number;
  channels: number;
  /** Statistics of each of the 25 label numbers. */
  labelStats: Summary[];
  /** Camera distance from the origin. */
  cameraRadius: Summary;
  /** Normalised focal length (label[16]). */
  focal: Summary;
  /** Camera yaw and pitch in degrees (0 = frontal; yaw > 0 camera to +x; pitch > 0 above). */
  yawDegrees: Summary;
  pitchDegrees: Summary;
  yawHistogram: Histogram;
  pitchHistogram: Histogram;
}

/** Summarises a dataset zip without decoding all images (use `checkDataset` for that). */
export async function datasetInfo(path: string, bins = 18): Promise<DatasetInfo> {
  using dataset = await ImageDataset.open(path);
  const labels = dataset.labels;
  const labelStats = Array.from(
    { length: CAMERA_LABEL_LENGTH },
    (_, k) => summarize(labels.map((label) => label[k])),
  );
  const poses = labels.map((label) => cameraYawPitch(label));
  const yaw = poses.map((p) => (p.yaw * 180) / Math.PI);
  const pitch = poses.map((p) => (p.pitch * 180) / Math.PI);
  return {
    path,
    imageCount: dataset.imageCount,
    resolution: dataset.resolution,
    channels: dataset.channels,
    labelStats,
    cameraRadius: summarize(labels.map((l) => Math.hypot(l[3], l[7], l[11]))),
    focal: summarize(labels.map((l) => l[16])),
    yawDegrees: summarize(yaw),
    pitchDegrees: summarize(pitch),
    yawHistogram: histogram(yaw, -90, 90, bins),
    pitchHistogram: histogram(pitch, -45, 45, bins),
  };
}

/** Mean, population standard deviation, min and max. */
export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  if (n === 0) return { mean: NaN, std: NaN, min: NaN, max: NaN };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / n;
  return { mean, std: Math.sqrt(variance), min: Math.min(...values), max: Math.max(...values) };
}

/** Counts values into `bins` equal bins over [lo, hi]; values outside go to the end bins. */
export function histogram(
  values: readonly number[],
  lo: number,
  hi: number,
  bins: number,
): Histogram {
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) {
    const bin = Math.floor(((v - lo) / (hi - lo)) * bins);
    counts[Math.min(bins - 1, Math.max(0, bin))]++;
  }
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + ((hi - lo) * i) / bins);
  return { edges, counts };
}

/** Renders the info as readable text, histograms as bars. */
export function formatDatasetInfo(info: DatasetInfo): string {
  const f = (v: number, digits = 4) => v.toFixed(digits);
  const s = (x: Summary, digits = 4) =>
    `mean ${f(x.mean, digits)}  std ${f(x.std, digits)}  min ${f(x.min, digits)}  max ${
      f(x.max, digits)
    }`;
  const lines = [
    `dataset      ${info.path}`,
    `images       ${info.imageCount}`,
    `resolution   ${info.resolution}×${info.resolution}`,
    `channels     ${info.channels}`,
    `cam radius   ${s(info.cameraRadius)}`,
    `focal        ${s(info.focal)}`,
    `yaw (deg)    ${s(info.yawDegrees, 2)}`,
    `pitch (deg)  ${s(info.pitchDegrees, 2)}`,
    "label numbers (0–15 cam2world row-major, 16–24 intrinsics):",
    ...info.labelStats.map((x, k) => `  c[${String(k).padStart(2)}]  ${s(x)}`),
    "yaw histogram (deg):",
    ...formatHistogram(info.yawHistogram),
    "pitch histogram (deg):",
    ...formatHistogram(info.pitchHistogram),
  ];
  return lines.join("\n");
}

function formatHistogram(h: Histogram, width = 40): string[] {
  const peak = Math.max(1, ...h.counts);
  return h.counts.map((count, i) => {
    const range = `${h.edges[i].toFixed(0).padStart(4)} … ${h.edges[i + 1].toFixed(0).padStart(4)}`;
    return `  ${range}  ${"#".repeat(Math.round((count / peak) * width)).padEnd(width)} ${count}`;
  });
}
