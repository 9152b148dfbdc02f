/** Shared helpers for the pipeline tests: temp stores, the toy experiment, child CLI runs. */
import { fileURLToPath } from "node:url";
import { Store } from "../../pipeline/mod.ts";

/** Repository root. */
export const REPO = fileURLToPath(new URL("../../", import.meta.url));
/** The pipeline-only CLI entry (same commands as mod.ts, faster to start). */
export const PIPELINE_CLI = fileURLToPath(new URL("../../pipeline/main.ts", import.meta.url));
/** The full CLI entry (every command, the model's included). */
export const MOD = fileURLToPath(new URL("../../mod.ts", import.meta.url));
/** The toy experiment module. */
export const TOY = fileURLToPath(new URL("../../experiments/toy.ts", import.meta.url));

/** A temp dir holding a store and an execution log, removed by `cleanup`. */
export interface Sandbox {
  dir: string;
  store: Store;
  execLog: string;
  /** Lines the toy stages appended since the last `takeExecutions` call. */
  takeExecutions(): string[];
  cleanup(): Promise<void>;
}

/** Creates a sandbox and points the toy stages' execution log at it. */
export async function sandbox(): Promise<Sandbox> {
  const dir = await Deno.makeTempDir({ prefix: "mimic3d-pipeline-" });
  const store = await Store.open(`${dir}/store`);
  const execLog = `${dir}/executions.log`;
  await Deno.writeTextFile(execLog, "");
  Deno.env.set("TOY_EXEC_LOG", execLog);
  let seen = 0;
  return {
    dir,
    store,
    execLog,
    takeExecutions() {
      const lines = Deno.readTextFileSync(execLog).split("\n").filter(Boolean);
      const fresh = lines.slice(seen);
      seen = lines.length;
      return fresh;
    },
    async cleanup() {
      Deno.env.delete("TOY_EXEC_LOG");
      await makeWritable(dir);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Store objects are read-only; make them writable so the tree can be removed or corrupted. */
export async function makeWritable(dir: string): Promise<void> {
  await new Deno.Command("chmod", { args: ["-R", "u+w", dir] }).output();
}

/** Result of a CLI child process. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the pipeline CLI in a child process. */
export async function runCli(
  args: string[],
  env: Record<string, string> = {},
  entry = PIPELINE_CLI,
): Promise<CliResult> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", entry, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
    cwd: REPO,
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

/** Counts of each line. */
export function countLines(lines: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of lines) counts[line] = (counts[line] ?? 0) + 1;
  return counts;
}
