/**
 * Config resolution: defaults ← preset ← `--set key=value` overrides, each value parsed by the
 * type the schema declares at that key path, and every error one line naming the key.
 */
import type { z } from "zod";

/** A zod v4 schema's internal definition (the parts we walk). */
interface SchemaDef {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  in?: z.ZodType;
  options?: z.ZodType[];
  entries?: Record<string, unknown>;
  values?: unknown[];
}

function defOf(schema: z.ZodType): SchemaDef {
  return (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;
}

/** Strips wrappers (default, optional, nullable, ...) down to the schema that holds the type. */
function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (;;) {
    const def = defOf(current);
    const inner = def.innerType ?? (def.type === "pipe" ? def.in : undefined);
    if (!inner) return current;
    current = inner;
  }
}

/** The schema at a dotted key path, or an error naming the first unknown part. */
export function schemaAt(schema: z.ZodType, keyPath: string): z.ZodType {
  let current = schema;
  const parts = keyPath.split(".");
  for (const [i, part] of parts.entries()) {
    const def = defOf(unwrap(current));
    const child = def.type === "object" ? def.shape?.[part] : undefined;
    if (!child) {
      const where = parts.slice(0, i).join(".");
      const known = def.type === "object" ? Object.keys(def.shape ?? {}).join(", ") : "";
      throw new Error(
        `unknown config key "${keyPath}"` +
          (def.type === "object"
            ? ` (${where ? `"${where}" has` : "top-level keys are"}: ${known})`
            : ` ("${where}" is not a section)`),
      );
    }
    current = child;
  }
  return current;
}

/** Parses the text of a `--set` value into the type the schema expects at `keyPath`. */
export function parseValue(schema: z.ZodType, keyPath: string, text: string): unknown {
  const at = schemaAt(schema, keyPath);
  if (text.trim() === "null" && isNullable(at)) return null;
  return coerce(unwrap(at), keyPath, text);
}

/** Whether a schema, through its wrappers (default, optional, …), accepts null. */
function isNullable(schema: z.ZodType): boolean {
  for (let current: z.ZodType | undefined = schema; current;) {
    const def = defOf(current);
    if (def.type === "nullable") return true;
    current = def.innerType ?? (def.type === "pipe" ? def.in : undefined);
  }
  return false;
}

function coerce(target: z.ZodType, keyPath: string, text: string): unknown {
  const def = defOf(target);
  const fail = (expected: string): never => {
    throw new Error(
      `invalid value for config key "${keyPath}": expected ${expected}, got "${text}"`,
    );
  };
  switch (def.type) {
    case "number":
    case "int": {
      const value = Number(text);
      if (text.trim() === "" || !Number.isFinite(value)) fail("a number");
      return value;
    }
    case "boolean": {
      const lowered = text.toLowerCase();
      if (["true", "1", "yes", "on"].includes(lowered)) return true;
      if (["false", "0", "no", "off"].includes(lowered)) return false;
      return fail("true or false");
    }
    case "string":
    case "enum":
      return text;
    case "literal":
      return typeof def.values?.[0] === "string" ? text : jsonOr(text);
    case "array": {
      const element = unwrap(def.element!);
      if (text.trim().startsWith("[")) {
        const parsed = jsonOr(text);
        if (!Array.isArray(parsed)) fail("a list like [1,2] or 1,2");
        return parsed;
      }
      if (text.trim() === "") return [];
      return text.split(",").map((item) => coerce(element, keyPath, item.trim()));
    }
    case "object":
    case "record":
      try {
        return JSON.parse(text);
      } catch {
        return fail("a JSON object");
      }
    default:
      return jsonOr(text);
  }
}

function jsonOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Splits `key=value`, with a clear error when there is no `=`. */
export function splitAssignment(assignment: string): [string, string] {
  const eq = assignment.indexOf("=");
  if (eq <= 0) throw new Error(`--set expects key=value, got "${assignment}"`);
  return [assignment.slice(0, eq).trim(), assignment.slice(eq + 1)];
}

/** Sets a dotted key path in a nested plain object (creating sections as needed). */
export function setAtPath(target: Record<string, unknown>, keyPath: string, value: unknown) {
  const parts = keyPath.split(".");
  let cursor = target;
  for (const part of parts.slice(0, -1)) {
    const next = cursor[part];
    if (typeof next !== "object" || next === null || Array.isArray(next)) cursor[part] = {};
    cursor = cursor[part] as Record<string, unknown>;
  }
  cursor[parts[parts.length - 1]] = value;
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>) {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    const bothObjects = typeof v === "object" && v !== null && !Array.isArray(v) &&
      typeof b === "object" && b !== null && !Array.isArray(b);
    out[k] = bothObjects
      ? deepMerge(b as Record<string, unknown>, v as Record<string, unknown>)
      : v;
  }
  return out;
}

/** Formats the first zod issue as one line naming the key path. */
export function describeIssue(error: z.ZodError, prefix = ""): string {
  const issue = error.issues[0];
  const at = (extra: PropertyKey[] = []) =>
    [prefix, ...[...issue.path, ...extra].map(String)].filter((s) => s !== "").join(".");
  if (issue.code === "unrecognized_keys") {
    const keys = (issue as unknown as { keys: string[] }).keys;
    return `unknown config key "${at([keys[0]])}"`;
  }
  return `invalid config key "${at() || "(root)"}": ${issue.message}`;
}

/** Inputs to config resolution. */
export interface ConfigRequest {
  /** Partial config from the experiment's presets. */
  preset?: Record<string, unknown>;
  /** `key=value` assignments, applied in order. */
  sets?: readonly string[];
  /** Already-typed overrides (sweeps), applied after `sets`. */
  values?: Record<string, unknown>;
}

/** Produces the full, validated config; throws one-line errors naming the offending key. */
export function resolveConfig(
  schema: z.ZodType,
  request: ConfigRequest = {},
): Record<string, unknown> {
  let raw: Record<string, unknown> = structuredClone(request.preset ?? {});
  const overrides: Record<string, unknown> = {};
  for (const assignment of request.sets ?? []) {
    const [key, text] = splitAssignment(assignment);
    setAtPath(overrides, key, parseValue(schema, key, text));
  }
  for (const [key, value] of Object.entries(request.values ?? {})) {
    schemaAt(schema, key);
    setAtPath(overrides, key, value);
  }
  raw = deepMerge(raw, overrides);
  const result = schema.safeParse(raw);
  if (!result.success) throw new Error(describeIssue(result.error));
  return result.data as Record<string, unknown>;
}
