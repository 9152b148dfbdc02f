/**
 * Result tables: rows are config points of an experiment, columns are metrics read from a
 * node's metric artifact (JSON), with reference numbers (e.g. a paper's) beside the measured
 * ones; rendered as Markdown, CSV, LaTeX (booktabs) or HTML.
 * @module
 */
import * as path from "node:path";
import type { Experiment } from "./experiment.ts";
import { experimentStatus } from "./status.ts";
import type { Store } from "./store.ts";
import { escapeHtml } from "./html.ts";

/** One row: a label and the config overrides (dotted key → value) that define the point. */
export interface TableRow {
  label: string;
  set: Record<string, unknown>;
  /** The row's preset (default: the table's). */
  preset?: string;
  /** Reference values by metric name (e.g. the published numbers). */
  reference?: Record<string, number>;
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
  /** The metrics file inside that artifact (default `metrics.json`). */
  file?: string;
  rows: TableRow[];
  columns: TableColumn[];
  /** Header suffix of reference columns (default "ref"). */
  referenceLabel?: string;
  /** Header suffix of measured columns (default "ours"). */
  measuredLabel?: string;
}

/** A defined table. */
export interface Table extends TableSpec {
  readonly kind: "mimic3d-table";
}

/** Defines a table; checks its node exists. */
export function defineTable(spec: TableSpec): Table {
  if (!(spec.node in spec.experiment.dag)) {
    throw new Error(
      `table "${spec.title}": experiment ${spec.experiment.name} has no stage "${spec.node}"`,
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

/** Measured values of a table: per row, metric → number (null where not computed yet). */
export interface TableData {
  table: Table;
  measured: (Record<string, number | null>)[];
  /** Row labels whose point has not been run (or is stale). */
  missing: string[];
}

/** Reads every row's metrics artifact from the store (without running anything). */
export async function collectTable(table: Table, store: Store): Promise<TableData> {
  const measured: Record<string, number | null>[] = [];
  const missing: string[] = [];
  for (const row of table.rows) {
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
      measured.push(Object.fromEntries(table.columns.map((c) => [c.metric, null])));
      continue;
    }
    const target = rows.find((r) => r.node === table.node);
    const values: Record<string, number | null> = {};
    if (target?.state === "cached" && target.artifact) {
      const file = path.join(store.filesDir(target.artifact), table.file ?? "metrics.json");
      const metrics = JSON.parse(await Deno.readTextFile(file));
      for (const column of table.columns) {
        const value = column.metric.split(".").reduce((v, k) => v?.[k], metrics);
        values[column.metric] = typeof value === "number" ? value : null;
      }
    } else {
      missing.push(row.label);
      for (const column of table.columns) values[column.metric] = null;
    }
    measured.push(values);
  }
  return { table, measured, missing };
}

/** Output formats of `renderTable`. */
export type TableFormat = "md" | "csv" | "tex" | "html";

interface Grid {
  header: string[];
  body: (string | null)[][];
}

function toGrid(data: TableData): Grid {
  const { table } = data;
  const ref = table.referenceLabel ?? "ref";
  const ours = table.measuredLabel ?? "ours";
  const header = ["Setting"];
  const cells: ((row: number) => string | null)[] = [];
  for (const column of table.columns) {
    const label = column.label ?? column.metric;
    const format = (
      v: number | null | undefined,
    ) => (v == null ? null : v.toFixed(column.digits ?? 3));
    if (table.rows.some((row) => row.reference?.[column.metric] !== undefined)) {
      header.push(`${label} (${ref})`);
      cells.push((i) => format(table.rows[i].reference?.[column.metric]));
    }
    header.push(`${label} (${ours})`);
    cells.push((i) => format(data.measured[i][column.metric]));
  }
  const body = table.rows.map((row, i) => [row.label, ...cells.map((cell) => cell(i))]);
  return { header, body };
}

const escapeTex = (s: string) =>
  s.replace(/([&%$#_{}])/g, "\\$1").replaceAll("~", "\\textasciitilde{}");
const quoteCsv = (s: string) => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);

/** Renders a table. Missing values show as "—" (empty in CSV). */
export function renderTable(data: TableData, format: TableFormat): string {
  const { header, body } = toGrid(data);
  const title = data.table.title;
  switch (format) {
    case "md": {
      const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
      return [
        `**${title}**`,
        "",
        line(header),
        line(header.map((_, i) => (i === 0 ? "---" : "---:"))),
        ...body.map((row) => line(row.map((c) => c ?? "—"))),
        "",
      ].join("\n");
    }
    case "csv":
      return [header, ...body].map((row) => row.map((c) => quoteCsv(c ?? "")).join(",")).join(
        "\n",
      ) + "\n";
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
        "</table>",
        "",
      ].join("\n");
  }
}
