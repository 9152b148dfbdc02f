/**
 * One GPU per rank. WebGPU in Deno offers no choice among identical
 * adapters, and the Vulkan loader honours none of CUDA_VISIBLE_DEVICES,
 * WGPU_ADAPTER_NAME or MESA_VK_DEVICE_SELECT. What works: each rank runs
 * in its own mount namespace in which every other
 * GPU's device node is bind-mounted over by /dev/null, so the NVIDIA driver
 * enumerates exactly one GPU.
 *
 * A rank calls `pinToLocalGpu()` first thing, before WebGPU or MPI start. If
 * pinning is due, the process re-executes itself (same pid, through execv, so
 * mpirun's signals and PMIx identity stay valid) as
 * `unshare -m -- sh -c 'mount --bind /dev/null /dev/nvidiaK …; exec "$@"'`
 * with MIMIC3D_PINNED_GPU set, and the second run finds itself pinned.
 * @module
 */

/** Set in a pinned process: the index of the GPU it kept. */
export const PINNED_ENV = "MIMIC3D_PINNED_GPU";
/** Overrides which GPU (index among the visible ones) this rank takes; default: local rank. */
export const GPU_ENV = "MIMIC3D_GPU";

type Env = (name: string) => string | undefined;
const processEnv: Env = (name) => Deno.env.get(name);

/** The NVIDIA GPU device nodes visible in `devDir`, ordered by index (/dev/nvidia0, …). */
export function nvidiaDeviceNodes(devDir = "/dev"): string[] {
  const found: [number, string][] = [];
  try {
    for (const entry of Deno.readDirSync(devDir)) {
      const m = /^nvidia(\d+)$/.exec(entry.name);
      if (m) found.push([Number(m[1]), `${devDir}/${entry.name}`]);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return found.sort((a, b) => a[0] - b[0]).map(([, path]) => path);
}

/** This rank's index on its host, from Open MPI, Slurm, MPICH or torchrun-style launchers. */
export function localRankFromEnv(env: Env = processEnv): number | null {
  for (
    const name of ["OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID", "LOCAL_RANK"]
  ) {
    const v = env(name);
    if (v !== undefined && /^\d+$/.test(v)) return Number(v);
  }
  return null;
}

/** The number of ranks on this host, when the launcher says. */
function localSizeFromEnv(env: Env): number | null {
  for (const name of ["OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE", "MPI_LOCALNRANKS"]) {
    const v = env(name);
    if (v !== undefined && /^\d+$/.test(v)) return Number(v);
  }
  return null;
}

/** What `pinToLocalGpu` decided. */
export type PinPlan =
  | { kind: "pinned"; gpu: number; node: string }
  | { kind: "not-needed"; reason: string }
  | { kind: "pin"; gpu: number; node: string; hide: string[] };

/** Decides, without side effects, whether and how this process should pin itself. */
export function planPinning(devices: readonly string[], env: Env = processEnv): PinPlan {
  const pinned = env(PINNED_ENV);
  if (pinned !== undefined) {
    return { kind: "pinned", gpu: Number(pinned), node: devices[Number(pinned)] ?? "?" };
  }
  if (devices.length <= 1) {
    return {
      kind: "not-needed",
      reason: devices.length ? `only ${devices[0]} is visible` : "no NVIDIA GPU device nodes",
    };
  }
  const explicit = env(GPU_ENV);
  const localRank = localRankFromEnv(env);
  const localSize = localSizeFromEnv(env);
  if (explicit === undefined && (localRank === null || localSize === 1)) {
    return { kind: "not-needed", reason: "a single rank on this host uses the default GPU" };
  }
  const gpu = explicit !== undefined ? Number(explicit) : localRank!;
  if (!Number.isInteger(gpu) || gpu < 0 || gpu >= devices.length) {
    throw new Error(
      `this rank should take GPU ${explicit ?? gpu} (${
        explicit !== undefined ? GPU_ENV : "local rank"
      }) ` +
        `but only ${devices.length} are visible (${
          devices.join(", ")
        }): start at most one rank per ` +
        "GPU on each host",
    );
  }
  return { kind: "pin", gpu, node: devices[gpu], hide: devices.filter((_, i) => i !== gpu) };
}

/**
 * Why the mount-namespace trick cannot work here (null when it can): checks
 * root, `unshare`, and that a bind mount over `probeNode` succeeds in a
 * throwaway namespace (containers without CAP_SYS_ADMIN fail there).
 */
export async function pinningUnavailableReason(probeNode: string): Promise<string | null> {
  if (Deno.uid() !== 0) {
    return "not running as root (hiding GPUs needs a mount namespace: root or CAP_SYS_ADMIN)";
  }
  try {
    const probe = await new Deno.Command("unshare", {
      args: [
        "--mount",
        "--propagation",
        "private",
        "--",
        "mount",
        "--bind",
        "/dev/null",
        probeNode,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!probe.success) {
      const why = new TextDecoder().decode(probe.stderr).trim();
      return `'unshare --mount' + 'mount --bind' failed on this machine (${
        why || `exit ${probe.code}`
      })`;
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "'unshare' is not installed (util-linux)";
    throw e;
  }
  return null;
}

/** The exact argv this process was started with (Linux). */
function ownCommandLine(): string[] {
  const raw = Deno.readTextFileSync("/proc/self/cmdline");
  return raw.split("\0").slice(0, -1);
}

/** The command that re-runs `argv` with `hide` bind-mounted over by /dev/null, in a new namespace. */
export function pinnedCommand(hide: readonly string[], argv: readonly string[]): string[] {
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const mounts = hide.map((node) => `mount --bind /dev/null ${quote(node)}`).join(" && ");
  return [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "--",
    "sh",
    "-c",
    `${mounts} && exec "$@"`,
    "mimic3d-gpu-pin",
    ...argv,
  ];
}

/** execvp through libc: replaces this process (keeps the pid); returns only on failure. */
function execvp(argv: readonly string[]): Error {
  const libc = Deno.dlopen("libc.so.6", {
    execvp: { parameters: ["buffer", "buffer"], result: "i32" },
  });
  const strings = argv.map((s) => new TextEncoder().encode(s + "\0"));
  const pointers = new BigUint64Array(argv.length + 1);
  strings.forEach((s, i) => {
    pointers[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(s)));
  });
  libc.symbols.execvp(strings[0], pointers);
  libc.close();
  return new Error(`execvp ${argv[0]} failed`);
}

/** What happened when a rank tried to pin itself. */
export type PinOutcome =
  | { kind: "pinned"; gpu: number; node: string }
  | { kind: "not-needed"; reason: string }
  | { kind: "unavailable"; reason: string };

/**
 * Restricts this process to its local rank's GPU (re-executing itself in a
 * private mount namespace; does not return then). Call before initialising
 * WebGPU or MPI. When the trick is unavailable, warns and returns
 * "unavailable": the rank then shares the default GPU with the others.
 */
export async function pinToLocalGpu(
  options: { devDir?: string; env?: Env; quiet?: boolean } = {},
): Promise<PinOutcome> {
  const plan = planPinning(nvidiaDeviceNodes(options.devDir), options.env ?? processEnv);
  if (plan.kind !== "pin") return plan;
  const reason = await pinningUnavailableReason(plan.hide[0]);
  if (reason) {
    if (!options.quiet) {
      console.warn(
        `warning: cannot give this rank its own GPU: ${reason}. It will share the default GPU ` +
          "with the other ranks on this host (correct but slow). Run as root, or use a " +
          "scheduler that gives each task one GPU (Slurm --gpus-per-task=1 with ConstrainDevices).",
      );
    }
    return { kind: "unavailable", reason };
  }
  Deno.env.set(PINNED_ENV, String(plan.gpu));
  throw execvp(pinnedCommand(plan.hide, ownCommandLine()));
}
