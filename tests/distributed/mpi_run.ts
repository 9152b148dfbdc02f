/**
 * Runs a rank program of tests/distributed/ranks/ under `mpirun -np N` (or
 * alone) with this Deno binary, and returns rank 0's JSON line.
 */
import { fileURLToPath } from "node:url";
import { mpirunCommand } from "../../stages/distributed/launcher.ts";

/** Path of a rank program. */
export function rankProgram(name: string): string {
  return fileURLToPath(new URL(`./ranks/${name}`, import.meta.url));
}

/** The deno argv that runs `program` with `args`. */
export function denoCommand(program: string, args: readonly string[] = []): string[] {
  return [Deno.execPath(), "run", "-A", program, ...args];
}

/** A rank program that has not exited by then hangs (e.g. something keeps its process alive). */
const TIMEOUT_MS = 300_000;

/** Runs argv; fails with its output unless it exits 0; returns the last stdout line as JSON. */
export async function runForJson<T>(argv: readonly string[]): Promise<T> {
  const [program, ...args] = argv;
  const signal = AbortSignal.timeout(TIMEOUT_MS);
  const out = await new Deno.Command(program, {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    signal,
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  if (signal.aborted) {
    throw new Error(`${argv.join(" ")} did not exit within ${TIMEOUT_MS / 1000} s\n${stdout}`);
  }
  if (!out.success) {
    throw new Error(`${argv.join(" ")} exited ${out.code}\n${stdout}\n${stderr}`);
  }
  const lines = stdout.trim().split("\n").filter((l) => l.startsWith("{") || l.startsWith("["));
  if (!lines.length) throw new Error(`no JSON from ${argv.join(" ")}\n${stdout}\n${stderr}`);
  return JSON.parse(lines[lines.length - 1]) as T;
}

/** Runs a rank program as `ranks` MPI ranks on this host (oversubscribing the cores if needed). */
export function runRanks<T>(
  ranks: number,
  program: string,
  args: readonly string[] = [],
): Promise<T> {
  return runForJson<T>(
    mpirunCommand(ranks, denoCommand(rankProgram(program), args), {
      asRoot: Deno.uid() === 0,
      cores: 1, // always oversubscribe: CI machines may have fewer cores than ranks
    }),
  );
}

/** Runs a rank program as a single process (no MPI: the SingleProcess communicator). */
export function runAlone<T>(program: string, args: readonly string[] = []): Promise<T> {
  return runForJson<T>(denoCommand(rankProgram(program), args));
}
