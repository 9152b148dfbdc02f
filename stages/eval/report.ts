/**
 * The eval report: one self-contained HTML file (images and the GIF inline
 * as data URIs, plots as inline SVG, meshes linked beside it) with the
 * config and artifact ids, the training curves, sample grids, depth maps,
 * the turntable, the metrics beside the paper's published numbers, and
 * every metric that could not be computed with the reason.
 * Deterministic: no timestamps, so the same inputs give the same bytes.
 * @module
 */
import { join } from "node:path";
import { isUnavailable, type MetricEntry } from "./fid_kid.ts";
import type { ShippedRunOrigin } from "../training/shipped_run.ts";
import type { OutputSummary } from "./outputs.ts";
import { MIMIC3D_PAPER_RESULTS, sourceOf } from "./paper_results.ts";
import { escapeHtml } from "../../pipeline/html.ts";
import { viewerLinkHtml } from "../viewer/report_link.ts";
import { TRAINED_OUTS } from "../io/trained_outs.ts";
import { EVAL_OUTS } from "./outs.ts";

/** One training curve: x (kimg or step) against a logged value. */
export interface Curve {
  name: string;
  xLabel: string;
  points: [number, number][];
}

/** Everything the report shows. */
export interface ReportInput {
  config: Record<string, unknown> & { paperDataset: string };
  seed: number;
  artifacts: Record<string, string>;
  generator: Record<string, unknown>;
  metrics: Record<string, MetricEntry>;
  unavailable: Record<string, string>;
  curves: Curve[];
  outputs: OutputSummary;
  /** The imitate stage's before/after grid of the two branches (copied beside the report). */
  branchGapGrid?: string | null;
  /** Where the image files are (read and inlined). */
  outDir: string;
  /** Where the model was trained, when its stage took a shipped run (stages/training/shipped_run.ts). */
  trainedElsewhere?: ShippedRunOrigin | null;
}

const X_KEYS = ["kimg", "step", "tick", "iteration"];

/**
 * Training curves from a model artifact's `log.jsonl` (one JSON object per
 * line; nested numbers flattened as `losses/Gmain/loss`), x = the first of
 * kimg/step/tick/iteration present. None when the model has no log.
 */
export async function readTrainingCurves(modelDir: string): Promise<Curve[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(modelDir, TRAINED_OUTS.log));
  } catch {
    return [];
  }
  const series = new Map<string, [number, number][]>();
  let xLabel = "line";
  text.split("\n").filter((l) => l.trim()).forEach((line, index) => {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line);
    } catch {
      return; // a torn last line of an interrupted log
    }
    const xKey = X_KEYS.find((k) => typeof record[k] === "number");
    if (xKey) xLabel = xKey;
    const x = xKey ? (record[xKey] as number) : index;
    const visit = (value: unknown, name: string) => {
      if (typeof value === "number" && Number.isFinite(value)) {
        if (!series.has(name)) series.set(name, []);
        series.get(name)!.push([x, value]);
      } else if (value && typeof value === "object" && !Array.isArray(value)) {
        for (const [k, v] of Object.entries(value)) visit(v, name ? `${name}/${k}` : k);
      }
    };
    for (const [k, v] of Object.entries(record)) if (!X_KEYS.includes(k)) visit(v, k);
  });
  return [...series].map(([name, points]) => ({ name, xLabel, points }));
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5)
    ? v.toExponential(3)
    : v.toFixed(4).replace(/\.?0+$/, "");
}

/** A line plot as inline SVG (own y-scale; axes labelled with the data range). */
export function svgLinePlot(curve: Curve, width = 340, height = 180): string {
  const pad = { left: 56, right: 10, top: 22, bottom: 30 };
  const xs = curve.points.map((p) => p[0]), ys = curve.points.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const sx = (x: number) =>
    pad.left + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (width - pad.left - pad.right);
  const sy = (y: number) => pad.top + (1 - (y - y0) / (y1 - y0)) * (height - pad.top - pad.bottom);
  const path = curve.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
  const bottom = height - pad.bottom;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="${
      escapeHtml(curve.name)
    }">`,
    `<text x="${width / 2}" y="14" text-anchor="middle" class="t">${escapeHtml(curve.name)}</text>`,
    `<line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${bottom}" class="ax"/>`,
    `<line x1="${pad.left}" y1="${bottom}" x2="${width - pad.right}" y2="${bottom}" class="ax"/>`,
    `<text x="${pad.left - 4}" y="${pad.top + 4}" text-anchor="end" class="l">${fmt(y1)}</text>`,
    `<text x="${pad.left - 4}" y="${bottom}" text-anchor="end" class="l">${fmt(y0)}</text>`,
    `<text x="${pad.left}" y="${bottom + 14}" class="l">${fmt(x0)}</text>`,
    `<text x="${width - pad.right}" y="${bottom + 14}" text-anchor="end" class="l">${
      fmt(x1)
    }</text>`,
    `<text x="${(pad.left + width - pad.right) / 2}" y="${
      bottom + 26
    }" text-anchor="middle" class="l">${escapeHtml(curve.xLabel)}</text>`,
    curve.points.length === 1
      ? `<circle cx="${sx(xs[0]).toFixed(1)}" cy="${sy(ys[0]).toFixed(1)}" r="3" class="ln"/>`
      : `<polyline points="${path}" fill="none" class="ln"/>`,
    `</svg>`,
  ].join("");
}

/** Bytes as a data URI. */
function dataUri(bytes: Uint8Array, mime: string): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return `data:${mime};base64,${btoa(binary)}`;
}

/** What each metric key means (report labels). */
const METRIC_LABELS: Record<string, string> = {
  fid50k_full: "FID50k_full (paper protocol)",
  fid_3d: "FID, 3-D branch (direct render)",
  fid_2d: "FID, 2-D branch (super-resolution)",
  kid_3d: "KID, 3-D branch",
  kid_2d: "KID, 2-D branch",
  mmd_cd: "MMD-CD vs true shapes (↓)",
  cov_cd: "COV-CD vs true shapes (↑)",
  depth_l1: "Depth error vs matched true shape (↓)",
  reprojection_3d: "Reprojection error, 3-D branch (↓)",
  reprojection_2d: "Reprojection error, 2-D branch (↓)",
  branch_gap_psnr: "PSNR, 3-D branch vs 2-D branch's SR image (↑, imitation)",
  branch_gap_l1: "L1, 3-D branch vs 2-D branch's SR image (↓, imitation)",
};

function metricRows(input: ReportInput): string {
  const paper = MIMIC3D_PAPER_RESULTS;
  const rows: string[] = [];
  for (const [name, entry] of Object.entries(input.metrics)) {
    const published = paper.filter((p) => p.metric === name);
    const paperCell = published.length === 0
      ? "—"
      : published.map((p) =>
        `<span title="${escapeHtml(sourceOf(p))}"${
          p.dataset === input.config.paperDataset ? ' class="this"' : ""
        }>${p.value} (${escapeHtml(p.method)}, ${escapeHtml(p.datasetLabel)})</span>`
      ).join("<br>");
    const ours = isUnavailable(entry)
      ? `<span class="na">unavailable</span>`
      : `<b>${fmt(entry.value)}</b>`;
    const details = isUnavailable(entry) ? escapeHtml(entry.unavailable) : escapeHtml(
      Object.entries(entry).filter(([k]) => k !== "value").map(([k, v]) =>
        `${k}: ${typeof v === "number" ? fmt(v) : String(v)}`
      ).join("; "),
    );
    rows.push(
      `<tr><th>${escapeHtml(METRIC_LABELS[name] ?? name)}<br><code>${
        escapeHtml(name)
      }</code></th><td>${ours}</td><td>${paperCell}</td><td class="d">${details}</td></tr>`,
    );
  }
  return rows.join("\n");
}

/** Renders the report HTML. */
export async function renderReport(input: ReportInput): Promise<string> {
  const o = input.outputs;
  const read = (file: string) => Deno.readFile(join(input.outDir, file));
  const figure = async (file: string, mime: string, caption: string) =>
    `<figure><img src="${dataUri(await read(file), mime)}" alt="${escapeHtml(file)}">` +
    `<figcaption><a href="${escapeHtml(file)}">${escapeHtml(file)}</a>: ${
      escapeHtml(caption)
    }</figcaption></figure>`;
  const curves = input.curves.length > 0
    ? `<div class="plots">${input.curves.slice(0, 24).map((c) => svgLinePlot(c)).join("\n")}</div>`
    : `<p class="na">The model artifact has no training log (log.jsonl): no curves to plot.</p>`;
  const unavailable = Object.entries(input.unavailable);
  const paperNote = MIMIC3D_PAPER_RESULTS.map((p) =>
    `${p.method} ${p.datasetLabel} ${p.metric} = ${p.value}`
  ).join("; ");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Mimic3D-TS eval report</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; width: 100%; } th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f6f6; font-weight: 600; } td.d { color: #555; font-size: 12px; }
.na { color: #a33; } .this { font-weight: 700; } code { font-size: 12px; }
figure { display: inline-block; margin: 8px 16px 8px 0; vertical-align: top; }
figure img { image-rendering: pixelated; min-width: 256px; max-width: 100%; border: 1px solid #ccc; }
figcaption { font-size: 12px; color: #555; max-width: 520px; }
.plots svg { margin: 4px; border: 1px solid #eee; } .t { font-size: 12px; } .l { font-size: 10px; fill: #555; }
.ax { stroke: #888; } .ln { stroke: #1f6feb; stroke-width: 1.5; fill: #1f6feb; } polyline.ln { fill: none; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; font-size: 12px; }
</style>
</head>
<body>
<h1>Mimic3D-TS eval report</h1>
<p>Generator: <b>${
    escapeHtml(String(input.generator.kind))
  }</b>, image ${input.generator.imgResolution}², neural rendering ${input.generator.neuralRenderingResolution}²; branches: ${
    (input.generator.branches as string[]).join(", ")
  } (headline: ${escapeHtml(String(input.generator.headlineBranch))}). Seed ${input.seed}.</p>

<h2>Artifacts</h2>
<table>${
    Object.entries(input.artifacts).map(([k, v]) =>
      `<tr><th>${escapeHtml(k)}</th><td><code>${escapeHtml(v)}</code></td></tr>`
    ).join("")
  }</table>
${viewerLinkHtml(input.artifacts.model.slice(0, 12))}
${trainedElsewhereHtml(input.trainedElsewhere)}

<h2>Metrics</h2>
<table>
<tr><th>Metric</th><th>Ours</th><th>Paper</th><th>Protocol / reason</th></tr>
${metricRows(input)}
</table>
<p class="d">Paper numbers (${
    escapeHtml(paperNote)
  }) are FID50k_full of the 3-D branch at 512²; they compare with ours only under the same protocol and dataset. Source: ${
    escapeHtml(`${MIMIC3D_PAPER_RESULTS[0].paper.citation}, ${MIMIC3D_PAPER_RESULTS[0].where}`)
  }.</p>

<h2>Unavailable</h2>
${
    unavailable.length === 0
      ? "<p>Every metric was computed.</p>"
      : `<ul>${
        unavailable.map(([k, why]) => `<li><code>${escapeHtml(k)}</code>: ${escapeHtml(why)}</li>`)
          .join("")
      }</ul>`
  }

<h2>Training curves</h2>
${curves}

<h2>Samples</h2>
${await figure(o.grid.file, "image/png", o.grid.layout)}
${await figure(o.depthGrid.file, "image/png", o.depthGrid.layout)}

${
    input.branchGapGrid
      ? `<h2>3-D branch imitating the 2-D branch</h2>\n${await figure(
        input.branchGapGrid,
        "image/png",
        "per seed and view: SR image and 3-D direct render at the start of the imitate stage, " +
          "then both at its end",
      )}`
      : ""
  }

<h2>Turntable</h2>
${await figure(
    o.turntable.file,
    "image/gif",
    `${o.turntable.frames} frames; ${o.turntable.layout}`,
  )}

<h2>Meshes</h2>
<p>Marching cubes of the raw density at level ${o.meshLevel} (open in MeshLab or Blender).</p>
<table><tr><th>Seed</th><th>Files</th><th>Vertices</th><th>Faces</th><th>Area</th></tr>${
    o.meshes.map((m) =>
      `<tr><td>${m.seed}</td><td><a href="${escapeHtml(m.ply)}">${
        escapeHtml(m.ply)
      }</a> · <a href="${escapeHtml(m.obj)}">${
        escapeHtml(m.obj)
      }</a></td><td>${m.vertices}</td><td>${m.faces}</td><td>${fmt(m.area)}</td></tr>`
    ).join("")
  }</table>

<h2>Config</h2>
<pre>${escapeHtml(JSON.stringify(input.config, null, 2))}</pre>
<p>Details: ${
    [EVAL_OUTS.metrics, EVAL_OUTS.geometry, EVAL_OUTS.consistency]
      .map((file) => `<a href="${file}">${file}</a>`).join(" · ")
  }</p>
</body>
</html>
`;
}

/** One line saying the model's training ran elsewhere (a shipped run), with how and how long. */
function trainedElsewhereHtml(origin: ShippedRunOrigin | null | undefined): string {
  if (!origin) return "";
  return `<p><strong>Trained on ${escapeHtml(origin.device)}</strong>: its last training stage ` +
    `ran ${(origin.seconds / 60).toFixed(1)} min there (<code>${
      escapeHtml(origin.command)
    }</code>, commit <code>${
      escapeHtml(origin.commit.slice(0, 12))
    }</code>) and ships with the repository; its training stages took that run after checking ` +
    `it was trained with their config, dataset and inputs. Everything on this page was computed ` +
    `from it on this machine, apart from the training curves.</p>`;
}
