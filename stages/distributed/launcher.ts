/**
 * `train --gpus N` on one host: starts N ranks of the same command under
 * Open MPI's `mpirun`; each rank pins itself to GPU = its local rank
 * (gpu_pinning.ts) and joins the group (communicator.ts). On a cluster the
 * scheduler starts the ranks instead (`srun`, or `mpirun` inside an
 * allocation) and this launcher is not used.
 *
 * Falls back to one process, with a warning saying why, when ranks could not
 * each get their own GPU (not root, no `unshare`, no mount permission) or
 * `mpirun` is missing. A machine without NVIDIA device nodes (the CPU
 * adapter in CI, other vendors) runs N ranks sharing the default adapter.
 *
 * Run directly: `deno run -A stages/distributed/launcher.ts --gpus 2 -- <rank command…>`.
 * @module
 */
import { fileURLToPath } from "node:url";
import { nvidiaDeviceNodes, pinningUnavailableReason } from "./gpu_pinning.ts";

/** How to start the ranks. */
export interface LaunchOptions {
  /** Ranks to start, one per GPU. */
  gpus: number;
  /** What each rank runs (argv). */
  command: string[];
  /** Where GPU device nodes live (tests use a fake directory). */
  devDir?: string;
  /** The mpirun executable. */
  mpirun?: string;
  /** Extra arguments for mpirun (before the command). */
  mpirunArgs?: string[];
  /** Extra environment for the ranks. */
  env?: Record<string, string>;
}

/** The single-process fallback and why it was taken, or the mpirun argv. */
export type LaunchPlan =
  | { kind: "single"; command: string[]; warning?: string }
  | { kind: "mpirun"; command: string[]; note?: string };

/**
 * The mpirun argv for `ranks` local ranks: `--bind-to none` because a rank is
 * a multi-threaded runtime (V8, GPU driver threads), not one compute thread;
 * `--allow-run-as-root` when root; `--oversubscribe` when ranks outnumber cores.
 */
export function mpirunCommand(
  ranks: number,
  command: readonly string[],
  options: { mpirun?: string; asRoot?: boolean; cores?: number; extra?: readonly string[] } = {},
): string[] {
  const args = [options.mpirun ?? "mpirun", "-np", String(ranks), "--bind-to", "none"];
  if (options.asRoot) args.push("--allow-run-as-root");
  if (options.cores !== undefined && ranks > options.cores) args.push("--oversubscribe");
  return [...args, ...(options.extra ?? []), ...command];
}

async function commandExists(name: string): Promise<boolean> {
  try {
    const out = await new Deno.Command(name, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

/** Decides how to start `options.gpus` ranks on this host (checks devices, unshare, mpirun). */
export async function planLaunch(options: LaunchOptions): Promise<LaunchPlan> {
  const { gpus, command } = options;
  if (!Number.isInteger(gpus) || gpus < 1) throw new Error(`--gpus ${gpus}: expected a count ≥ 1`);
  if (gpus === 1) return { kind: "single", command };
  const devices = nvidiaDeviceNodes(options.devDir);
  if (devices.length && devices.length < gpus) {
    throw new Error(
      `--gpus ${gpus} but this host has ${devices.length} GPU(s) (${devices.join(", ")})`,
    );
  }
  const fallback = (why: string): LaunchPlan => ({
    kind: "single",
    command,
    warning:
      `warning: cannot run ${gpus} ranks: ${why}. Falling back to ONE GPU (same global batch, ` +
      "only slower).",
  });
  if (devices.length > 1) {
    const reason = await pinningUnavailableReason(devices[1]);
    if (reason) return fallback(`cannot give each rank its own GPU: ${reason}`);
  }
  const mpirun = options.mpirun ?? "mpirun";
  if (!(await commandExists(mpirun))) {
    return fallback(`'${mpirun}' not found (Debian: apt-get install openmpi-bin libopenmpi-dev)`);
  }
  return {
    kind: "mpirun",
    command: mpirunCommand(gpus, command, {
      mpirun,
      asRoot: Deno.uid() === 0,
      cores: navigator.hardwareConcurrency,
      extra: options.mpirunArgs,
    }),
    note: devices.length ? undefined : `no NVIDIA GPU device nodes: the ${gpus} ranks share the ` +
      "default WebGPU adapter (fine for tests on the CPU adapter)",
  };
}

/** Starts the ranks (or the single-process fallback) and returns the exit code. */
export async function launch(options: LaunchOptions): Promise<number> {
  const plan = await planLaunch(options);
  if (plan.kind === "single" && plan.warning) console.warn(plan.warning);
  if (plan.kind === "mpirun" && plan.note) console.warn(`note: ${plan.note}`);
  const [program, ...args] = plan.command;
  const child = new Deno.Command(program, {
    args,
    // PMIx's default "native" regex component can crash mpirun (a segfault in
    // pmix_preg_base_generate_ppn, docs/distributed.md); the plain "raw" one works everywhere.
    env: { PMIX_MCA_preg: Deno.env.get("PMIX_MCA_preg") ?? "raw", ...options.env },
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // Ctrl-C reaches mpirun through the process group; SIGTERM (a scheduler) is passed on.
  const forward = () => child.kill("SIGTERM");
  Deno.addSignalListener("SIGTERM", forward);
  try {
    return (await child.status).code;
  } finally {
    Deno.removeSignalListener("SIGTERM", forward);
  }
}

/**
 * The argv that re-runs this Deno program with other arguments: what a
 * `train --gpus N …` command passes as each rank's command (its own
 * arguments without `--gpus`).
 */
export function selfCommand(args: readonly string[]): string[] {
  return [Deno.execPath(), "run", "-A", fileURLToPath(Deno.mainModule), ...args];
}

if (import.meta.main) {
  const sep = Deno.args.indexOf("--");
  const flags = sep < 0 ? Deno.args : Deno.args.slice(0, sep);
  const gpuIndex = flags.indexOf("--gpus");
  if (sep < 0 || gpuIndex < 0 || sep === Deno.args.length - 1) {
    console.error("usage: launcher.ts --gpus N -- <rank command…>");
    Deno.exit(2);
  }
  Deno.exit(await launch({ gpus: Number(flags[gpuIndex + 1]), command: Deno.args.slice(sep + 1) }));
}
