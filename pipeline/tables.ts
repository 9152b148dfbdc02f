/**
 * Result tables: rows are config points of an experiment, columns are metrics read from a
 * node's metric artifact (JSON), with reference numbers (e.g. a paper's) beside the measured
 * ones; rendered as Markdown, CSV, LaTeX (booktabs) or HTML. A row may also be a reference
 * alone (a published number with no run of ours), and each row may name its source.
 *
 * A metric a run could not compute is written as `{"unavailable": reason}` at the metric's key
 * (or a parent of it); the table shows "unavailable" with the reason as a footnote, never "—"
 * (which means: not run yet) and never another number.
 * @module
 */
import * as path from "node:path";
import type { Experiment } from "./experiment.ts";
import { experimentStatus } from "./status.ts";
import type { Store } from "./store.ts";
import { escapeHtml } from "./html.ts";

/** A reference value as its source prints it: `text` keeps its precision, `marks` its notes. */
export interface ReferenceValue {
  value: number;
  /** The number as printed (default: the value with the column's digits). */
  text?: string;
  /** Marks after the number (e.g. "†*"), explained in the table's footnotes. */
  marks?: string;
}

/** One row: a label and the config overrides (dotted key → value) that define the point. */
export interface TableRow {
  label: string;
  /** The point's overrides; absent for a reference-only row (a published number, no run). */
  set?: Record<string, unknown>;
  /** The row's preset (default: the table's). */
  preset?: string;
  /** Reference values by metric name (e.g. the published numbers). */
  reference?: Record<string, number | ReferenceValue>;
  /** Where the row's numbers come from (a citation, or who ran it); shown as its own column. */
  source?: string;
}

/** One metric column. */
export interface TableColumn {
  /** Key in the metrics JSON (dotted for nested values). */
  metric: string;
  label?: string;
  /** Decimal places (default 3). */
  digits?: number;
}

/** A table definition (default export of a table module). */
export interface TableSpec {
  title: string;
  experiment: Experiment;
  preset?: string;
  /** The node whose artifact holds the metrics. */
  node: string;
  /** The metrics file in that artifact: one of its stage's declared outs (default `metrics.json`). */
  file?: string;
  rows: TableRow[];
  columns: TableColumn[];
  /** Header suffix of reference columns (default "ref"). */
  referenceLabel?: string;
  /** Header suffix of measured columns (default "ours"). */
  measuredLabel?: string;
  /** Notes printed under the table (e.g. what the reference marks mean). */
  footnotes?: string[];
}

/** A defined table. */
export interface Table extends TableSpec {
  readonly kind: "mimic3d-table";
}

/** Defines a table; checks its node exists. */
export function defineTable(spec: TableSpec): Table {
  const dagNode = spec.experiment.dag[spec.node];
  if (!dagNode) {
    throw new Error(
      `table "${spec.title}": experiment ${spec.experiment.name} has no stage "${spec.node}"`,
    );
  }
  const file = spec.file ?? "metrics.json";
  const outs = Object.values(dagNode.stage.outs);
  if (!outs.includes(file)) {
    throw new Error(
      `table "${spec.title}": stage "${spec.node}" declares no out "${file}" ` +
        `(its outs: ${outs.join(", ")})`,
    );
  }
  return { ...spec, kind: "mimic3d-table" };
}

/** Rows for every point of a grid, labelled `key=value, ...` with the last key segment. */
export function gridRows(
  axes: Record<string, unknown[]>,
  reference: Record<string, Record<string, number>> = {},
): TableRow[] {
  let rows: TableRow[] = [{ label: "", set: {} }];
  for (const [key, values] of Object.entries(axes)) {
    const short = key.split(".").pop();
    rows = rows.flatMap((row) =>
      values.map((value) => ({
        label: [row.label, `${short}=${JSON.stringify(value).replace(/^"|"$/g, "")}`].filter(
          Boolean,
        ).join(", "),
        set: { ...row.set, [key]: value },
      }))
    );
  }
  return rows.map((
    row,
  ) => (reference[row.label] ? { ...row, reference: reference[row.label] } : row));
}

/** A measured cell: a number, why the run could not compute it, or null (not run yet). */
export type MeasuredValue = number | { unavailable: string } | null;

/** Measured values of a table: per row, metric → value (empty for reference-only rows). */
export interface TableData {
  table: Table;
  measured: Record<string, MeasuredValue>[];
  /** Row labels whose point has not been run (or is stale). */
  missing: string[];
}

/** The value at a dotted key, or the `unavailable` reason recorded there or at a parent. */
function metricAt(metrics: unknown, key: string): MeasuredValue {
  let current = metrics;
  for (const part of key.split(".")) {
    const reason = (current as { unavailable?: unknown } | null)?.unavailable;
    if (typeof reason === "string") return { unavailable: reason };
    current = (current as Record<string, unknown> | null)?.[part];
  }
  return typeof current === "number" ? current : null;
}

/** Reads every row's metrics artifact from the store (without running anything). */
export async function collectTable(table: Table, store: Store): Promise<TableData> {
  const measured: Record<string, MeasuredValue>[] = [];
  const missing: string[] = [];
  const nothing = () => Object.fromEntries(table.columns.map((c) => [c.metric, null]));
  for (const row of table.rows) {
    if (!row.set) {
      measured.push({});
      continue;
    }
    // A row whose run cannot even be keyed yet (e.g. its dataset file is not there) is a row
    // not measured: shown as "—" with the reason, not an error for the whole table.
    const rows = await experimentStatus(table.experiment, store, {
      preset: row.preset ?? table.preset,
      values: row.set,
    }).catch((e: Error) => {
      missing.push(`${row.label} (${e.message})`);
      return null;
    });
    if (!rows) {
      measured.push(nothing());
      continue;
    }
    const target = rows.find((r) => r.node === table.node);
    if (target?.state === "cached" && target.artifact) {
      const file = path.join(store.filesDir(target.artifact), table.file ?? "metrics.json");
      const metrics = JSON.parse(await Deno.readTextFile(file));
      measured.push(
        Object.fromEntries(table.columns.map((c) => [c.metric, metricAt(metrics, c.metric)])),
      );
    } else {
      missing.push(row.label);
      measured.push(nothing());
    }
  }
  return { table, measured, missing };
}

/** Output formats of `renderTable`. */
export type TableFormat = "md" | "csv" | "tex" | "html";

interface Grid {
  header: string[];
  /** null: not run yet ("—"); "": nothing to show (a reference-only row's measured cells). */
  body: (string | null)[][];
  footnotes: string[];
}

function toGrid(data: TableData): Grid {
  const { table } = data;
  const ref = table.referenceLabel ?? "ref";
  const ours = table.measuredLabel ?? "ours";
  // Reasons a metric is unavailable, lettered in order of first appearance.
  const reasons: string[] = [];
  const reasonMark = (reason: string) => {
    if (!reasons.includes(reason)) reasons.push(reason);
    return `(${String.fromCharCode(97 + reasons.indexOf(reason))})`;
  };
  const header = ["Setting"];
  const cells: ((row: number) => string | null)[] = [];
  if (table.rows.some((row) => row.source)) {
    header.push("Source");
    cells.push((i) => table.rows[i].source ?? "");
  }
  for (const column of table.columns) {
    const label = column.label ?? column.metric;
    const digits = column.digits ?? 3;
    if (table.rows.some((row) => row.reference?.[column.metric] !== undefined)) {
      header.push(`${label} (${ref})`);
      cells.push((i) => {
        const r = table.rows[i].reference?.[column.metric];
        if (r === undefined) return table.rows[i].set ? null : "";
        const { value, text, marks = "" } = typeof r === "number" ? { value: r } : r;
        return (text ?? value.toFixed(digits)) + marks;
      });
    }
    header.push(`${label} (${ours})`);
    cells.push((i) => {
      if (!table.rows[i].set) return "";
      const v = data.measured[i][column.metric];
      if (v === null || v === undefined) return null;
      return typeof v === "number" ? v.toFixed(digits) : `unavailable ${reasonMark(v.unavailable)}`;
    });
  }
  const body = table.rows.map((row, i) => [row.label, ...cells.map((cell) => cell(i))]);
  const footnotes = [
    ...(table.footnotes ?? []),
    ...reasons.map((r, k) => `(${String.fromCharCode(97 + k)}) unavailable: ${r}`),
  ];
  return { header, body, footnotes };
}

const escapeTex = (s: string) =>
  s.replace(/([&%$#_{}])/g, "\\$1").replaceAll("~", "\\textasciitilde{}").replaceAll(
    "†",
    "\\dag{}",
  );
const quoteCsv = (s: string) => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);

/**
 * Renders a table. Not-run values show as "—" (empty in CSV); footnotes follow the table
 * (CSV: as `# ` lines, which CSV readers take as comments, e.g. pandas' `comment="#"`).
 */
export function renderTable(data: TableData, format: TableFormat): string {
  const { header, body, footnotes } = toGrid(data);
  const title = data.table.title;
  switch (format) {
    case "md": {
      const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
      return [
        `**${title}**`,
        "",
        line(header),
        // Text columns (the label, the source) left-aligned, numbers right.
        line(header.map((h, i) => (i === 0 || h === "Source" ? "---" : "---:"))),
        ...body.map((row) => line(row.map((c) => c ?? "—"))),
        ...footnotes.flatMap((f) => ["", f]),
        "",
      ].join("\n");
    }
    case "csv":
      return [
        ...[header, ...body].map((row) => row.map((c) => quoteCsv(c ?? "")).join(",")),
        ...footnotes.map((f) => `# ${f.replaceAll("\n", " ")}`),
      ].join("\n") + "\n";
    case "tex":
      return [
        "\\begin{table}",
        "  \\centering",
        `  \\caption{${escapeTex(title)}}`,
        `  \\begin{tabular}{l${"r".repeat(header.length - 1)}}`,
        "    \\toprule",
        `    ${header.map(escapeTex).join(" & ")} \\\\`,
        "    \\midrule",
        ...body.map((row) => `    ${row.map((c) => escapeTex(c ?? "--")).join(" & ")} \\\\`),
        "    \\bottomrule",
        "  \\end{tabular}",
        ...(footnotes.length
          ? ["  \\par\\footnotesize", ...footnotes.map((f) => `  ${escapeTex(f)}\\par`)]
          : []),
        "\\end{table}",
        "",
      ].join("\n");
    case "html":
      return [
        "<table>",
        `  <caption>${escapeHtml(title)}</caption>`,
        `  <thead><tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead>`,
        "  <tbody>",
        ...body.map((row) =>
          `    <tr>${
            row.map((
              c,
              i,
            ) => (i === 0 ? `<th>${escapeHtml(c ?? "")}</th>` : `<td>${escapeHtml(c ?? "—")}</td>`))
              .join("")
          }</tr>`
        ),
        "  </tbody>",
        ...(footnotes.length
          ? [
            `  <tfoot><tr><td colspan="${header.length}">${
              footnotes.map(escapeHtml).join("<br>")
            }</td></tr></tfoot>`,
          ]
          : []),
        "</table>",
        "",
      ].join("\n");
  }
}
