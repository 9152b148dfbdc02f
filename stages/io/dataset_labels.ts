/**
 * `dataset.json`, the label file of StyleGAN/EG3D `dataset_tool` zips:
 * `{"labels": [["img00000000.png", [25 numbers]], ...]}`.
 * @module
 */
import { CAMERA_LABEL_LENGTH } from "./camera_label.ts";
import { DatasetError } from "./dataset_error.ts";

/** The label file's name inside a dataset zip. */
export const LABELS_FILE = "dataset.json";

/** Labels by image name, in file order. */
export type LabelMap = Map<string, number[]>;

/**
 * Parses and validates label JSON: every entry a [name, 25 finite numbers] pair,
 * no name twice. Python's `json.dump` writes NaN/Infinity as bare tokens, which
 * are reported as non-finite labels rather than as a JSON syntax error.
 * `source` names the file in errors (e.g. "data.zip: dataset.json").
 */
export function parseLabelsJson(text: string, source: string): LabelMap {
  let parsed: unknown;
  try {
    parsed = JSON.parse(quoteNonFiniteTokens(text));
  } catch (err) {
    throw new DatasetError(source, undefined, `invalid JSON (${(err as Error).message})`);
  }
  const list = Array.isArray(parsed)
    ? parsed
    : (parsed !== null && typeof parsed === "object" && "labels" in parsed)
    ? (parsed as { labels: unknown }).labels
    : undefined;
  if (!Array.isArray(list)) {
    throw new DatasetError(
      source,
      undefined,
      'expected {"labels": [[filename, [25 numbers]], ...]}',
    );
  }
  const labels: LabelMap = new Map();
  list.forEach((item, index) => {
    if (!Array.isArray(item) || item.length !== 2 || typeof item[0] !== "string") {
      throw new DatasetError(
        source,
        `labels[${index}]`,
        "expected a [filename, [25 numbers]] pair",
      );
    }
    const name = item[0].replaceAll("\\", "/");
    if (labels.has(name)) throw new DatasetError(source, name, "labelled twice");
    labels.set(name, checkLabel(item[1], source, name));
  });
  return labels;
}

/** Throws unless `value` is an array of 25 finite numbers; returns it typed. */
export function checkLabel(value: unknown, source: string, name: string): number[] {
  if (!Array.isArray(value)) throw new DatasetError(source, name, "label is not a list of numbers");
  if (value.length !== CAMERA_LABEL_LENGTH) {
    throw new DatasetError(
      source,
      name,
      `label has ${value.length} numbers, expected ${CAMERA_LABEL_LENGTH} (16 cam2world + 9 intrinsics)`,
    );
  }
  value.forEach((v, i) => {
    if (typeof v === "string" && v.startsWith(SENTINEL_PREFIX)) {
      throw new DatasetError(
        source,
        name,
        `label[${i}] is ${v.slice(SENTINEL_PREFIX.length)} (non-finite)`,
      );
    }
    if (typeof v !== "number") throw new DatasetError(source, name, `label[${i}] is not a number`);
    if (!Number.isFinite(v)) {
      throw new DatasetError(source, name, `label[${i}] is ${v} (non-finite)`);
    }
  });
  return value as number[];
}

/** Serialises labels in the dataset_tool layout (one entry per line, readable and diffable). */
export function formatLabelsJson(labels: Iterable<[string, readonly number[]]>): string {
  const lines = [...labels].map(([name, label]) => {
    for (const v of label) if (!Number.isFinite(v)) throw new Error(`${name}: non-finite label`);
    return `  ${JSON.stringify([name, label])}`;
  });
  return `{"labels": [\n${lines.join(",\n")}\n]}\n`;
}

const SENTINEL_PREFIX = "\u0000nonfinite:";

/** Replaces bare NaN / Infinity / -Infinity tokens (outside strings) with sentinel strings. */
function quoteNonFiniteTokens(text: string): string {
  if (!/NaN|Infinity/.test(text)) return text;
  let out = "";
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      out += ch;
      if (ch === "\\") out += text[++i] ?? "";
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    const token = ["-Infinity", "Infinity", "NaN"].find((t) => text.startsWith(t, i));
    if (token) {
      out += JSON.stringify(SENTINEL_PREFIX + token);
      i += token.length - 1;
    } else {
      out += ch;
    }
  }
  return out;
}
