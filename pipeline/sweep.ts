/**
 * Sweeps: a grid of config points (`--set a=1,2 --set b=x,y` → 4 points), run in order in this
 * process or in parallel child processes. Points share the store, so common upstream stages
 * resolve to the same keys and are computed once (locks serialise concurrent writers).
 */
import { fileURLToPath } from "node:url";
import type { z } from "zod";
import { parseValue, splitAssignment } from "./config_overrides.ts";
import type { Experiment } from "./experiment.ts";
import { runExperiment, type RunOptions, type RunResult } from "./runner.ts";
import type { Store } from "./store.ts";

/** One swept key and its values. */
export interface SweepAxis {
  key: string;
  values: unknown[];
  /** The values as typed on the command line (for child processes and job files). */
  texts: string[];
}

/** A grid point: dotted key → value, plus its `--set` arguments. */
export interface SweepPoint {
  values: Record<string, unknown>;
  sets: string[];
}

/** Splits on commas outside brackets and quotes: `a,[1,2],"x,y"` → 3 items. */
export function splitTopLevel(text: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let quoted = false;
  let current = "";
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (!quoted && (ch === "[" || ch === "{")) depth++;
    if (!quoted && (ch === "]" || ch === "}")) depth--;
    if (ch === "," && depth === 0 && !quoted) {
      items.push(current);
      current = "";
    } else current += ch;
  }
  items.push(current);
  return items.map((s) => s.trim());
}

/** Parses `--set key=v1,v2` sweep assignments against the schema. */
export function parseSweepAxes(schema: z.ZodType, assignments: readonly string[]): SweepAxis[] {
  return assignments.map((assignment) => {
    const [key, text] = splitAssignment(assignment);
    const texts = splitTopLevel(text);
    if (texts.some((t) => t === "")) throw new Error(`--set ${key}: empty value in "${text}"`);
    return { key, texts, values: texts.map((t) => parseValue(schema, key, t)) };
  });
}

/** The cartesian product of the axes; the first axis varies slowest. */
export function gridPoints(axes: readonly SweepAxis[]): SweepPoint[] {
  let points: SweepPoint[] = [{ values: {}, sets: [] }];
  for (const axis of axes) {
    points = points.flatMap((point) =>
      axis.values.map((value, i) => ({
        values: { ...point.values, [axis.key]: value },
        sets: [...point.sets, `${axis.key}=${axis.texts[i]}`],
      }))
    );
  }
  return points;
}

/** Options for running a sweep. */
export interface SweepOptions extends Pick<RunOptions, "preset" | "sets" | "until" | "quiet"> {
  /** Points run at once; > 1 runs each point in its own process. */
  jobs?: number;
  /** How to reach the experiment from a child process (its path or name); needed when jobs > 1. */
  experimentRef?: string;
}

/** The outcome of one point. */
export interface PointOutcome {
  point: SweepPoint;
  /** Present when the point ran in this process. */
  result?: RunResult;
  error?: string;
}

/** Runs every point; throws after all ran if any failed. */
export async function runSweep(
  experiment: Experiment,
  store: Store,
  points: readonly SweepPoint[],
  options: SweepOptions = {},
): Promise<PointOutcome[]> {
  const jobs = Math.max(1, options.jobs ?? 1);
  const say = (text: string) => options.quiet || console.error(text);
  const outcomes: PointOutcome[] = new Array(points.length);
  const runPoint = async (index: number) => {
    const point = points[index];
    say(`point ${index + 1}/${points.length}: ${point.sets.join(" ")}`);
    try {
      if (jobs === 1) {
        const result = await runExperiment(experiment, store, {
          ...options,
          sets: [...(options.sets ?? []), ...point.sets],
        });
        outcomes[index] = { point, result };
      } else {
        await runChild(store, point, index, options);
        outcomes[index] = { point };
      }
    } catch (err) {
      outcomes[index] = { point, error: (err as Error).message };
      say(`point ${index + 1} failed: ${(err as Error).message}`);
    }
  };
  let next = 0;
  const worker = async () => {
    while (next < points.length) await runPoint(next++);
  };
  await Promise.all(Array.from({ length: Math.min(jobs, points.length) }, worker));
  const failed = outcomes.filter((o) => o.error);
  if (failed.length) {
    throw new Error(
      `${failed.length} of ${points.length} sweep points failed; first: ${failed[0].error}`,
    );
  }
  return outcomes;
}

const CLI_ENTRY = fileURLToPath(new URL("./main.ts", import.meta.url));

async function runChild(store: Store, point: SweepPoint, index: number, options: SweepOptions) {
  if (!options.experimentRef) throw new Error("parallel sweeps need the experiment's path or name");
  const args = ["run", "-A", CLI_ENTRY, "run", options.experimentRef, "--store", store.root];
  for (const set of [...(options.sets ?? []), ...point.sets]) args.push("--set", set);
  if (options.preset) args.push("--preset", options.preset);
  if (options.until) args.push("--until", options.until);
  if (options.quiet) args.push("--quiet");
  const output = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(output.stderr).trimEnd();
  if (!options.quiet && text) {
    console.error(text.split("\n").map((line) => `  [point ${index + 1}] ${line}`).join("\n"));
  }
  if (!output.success) {
    const last = text.split("\n").filter((l) => l.startsWith("error:")).pop() ??
      `exit ${output.code}`;
    throw new Error(last.replace(/^error: /, ""));
  }
}
