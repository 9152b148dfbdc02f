/**
 * Tests that need an optional system package (Chromium, Open MPI, a Vulkan
 * driver, …): one mechanism for all of them.
 *
 *     const mpi = await needs(OPEN_MPI);
 *     Deno.test(mpi.wrap({ name: "…", async fn() { … } }));
 *
 * Package missing, `CI` not `true`: the tests are registered with `ignore`
 * (Deno lists them as "ignored") and the one-line reason, naming the Debian
 * package, is printed once when the file loads. Under `CI=true` they run, and
 * a missing package is a failure with that same message: CI never passes by
 * skipping.
 */

/** Something a test needs from the system. */
export interface Requirement {
  /** Null when present; otherwise the one-line reason, naming the Debian package. */
  missing(): Promise<string | null>;
}

/** Whether `program args…` starts and exits 0 (false when it is not installed). */
async function runs(program: string, args: string[], env?: Record<string, string>) {
  try {
    const out = await new Deno.Command(program, { args, env, stdout: "null", stderr: "null" })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

/** Debian's Chromium with the SwiftShader Vulkan ICD its WebGPU runs on without a GPU. */
export const CHROMIUM_PATH = "/usr/bin/chromium";
export const CHROMIUM: Requirement = {
  async missing() {
    if (!(await runs(CHROMIUM_PATH, ["--version"]))) {
      return "needs Chromium: apt-get install chromium";
    }
    // Without a GPU, Chromium's WebGPU (and its canvas) run on its bundled SwiftShader.
    const swiftshader = "/usr/lib/chromium/libvk_swiftshader.so";
    if (!(await Deno.stat(swiftshader).then(() => true, () => false))) {
      return `needs Chromium's SwiftShader (${swiftshader}, part of Debian's chromium): ` +
        "apt-get install chromium";
    }
    return null;
  },
};

/** Open MPI: `mpirun` starts the ranks; the ranks load libmpi.so.40 through FFI. */
export const OPEN_MPI: Requirement = {
  async missing() {
    const reason = "needs Open MPI: apt-get install openmpi-bin libopenmpi-dev";
    if (!(await runs("mpirun", ["--version"]))) return reason;
    // The dynamic linker's cache (ldconfig is in /sbin, often not on a user's PATH).
    for (const ldconfig of ["ldconfig", "/sbin/ldconfig"]) {
      let out: Deno.CommandOutput | null = null;
      try {
        out = await new Deno.Command(ldconfig, { args: ["-p"], stdout: "piped" }).output();
      } catch { /* not there: try the next */ }
      if (out?.success) {
        return new TextDecoder().decode(out.stdout).includes("libmpi.so.40") ? null : reason;
      }
    }
    return reason;
  },
};

/** `unshare` and `mount` (util-linux, mount): a rank hides the other ranks' GPUs in a mount namespace. */
export const UNSHARE: Requirement = {
  async missing() {
    const present = await runs("unshare", ["--version"]) && await runs("mount", ["--version"]);
    return present ? null : "needs unshare and mount: apt-get install util-linux mount";
  },
};

/** Debian packages that give Deno's WebGPU an adapter on each backend without a GPU. */
const BACKEND_PACKAGES: Record<string, string> = {
  vulkan: "a Vulkan driver: apt-get install mesa-vulkan-drivers",
  gl: "OpenGL ES through EGL: apt-get install libegl1 libegl-mesa0",
};

/** Whether a fresh Deno process finds a WebGPU adapter with DENO_WEBGPU_BACKEND=`backend`. */
export function backendHasAdapter(backend: string): Promise<boolean> {
  // A subprocess: Deno reads the variable once, at the first WebGPU use of a process.
  const probe = "Deno.exit((await navigator.gpu?.requestAdapter()) ? 0 : 1)";
  return runs(Deno.execPath(), ["eval", probe], { DENO_WEBGPU_BACKEND: backend });
}

/** An adapter on Deno's WebGPU `backend` ("vulkan" or "gl"). */
export function webgpuBackend(backend: string): Requirement {
  return {
    async missing() {
      if (await backendHasAdapter(backend)) return null;
      return `needs ${BACKEND_PACKAGES[backend] ?? `a WebGPU adapter on the ${backend} backend`}`;
    },
  };
}

/** What `needs` gives a test file. */
export interface Gate {
  /** The one-line reason when something is missing, else null. */
  readonly reason: string | null;
  /** True when the tests are ignored (something missing and CI is not "true"). */
  readonly ignore: boolean;
  /**
   * `definition`, ignored (or failing under CI) when something is missing: pass it to
   * `Deno.test` in the test file, so that Deno reports the test at its own line.
   */
  wrap(definition: Deno.TestDefinition): Deno.TestDefinition;
}

const printed = new Set<string>();

/**
 * The test file that called `needs` (from the stack, as Deno locates tests): Deno prints what a
 * file logs while loading under the previous file's output, so the line names its file.
 */
function callerFile(): string {
  const here = import.meta.url;
  const frames = new Error().stack?.split("\n") ?? [];
  const url = frames.map((f) => f.match(/(file:\/\/[^\s)]+?):\d+:\d+/)?.[1])
    .find((u) => u !== undefined && u !== here);
  if (!url) return "a test file";
  const root = new URL("../../", here).href;
  return url.startsWith(root) ? url.slice(root.length) : url;
}

/** Checks `requirements` once (when the test file loads); see the module comment. */
export async function needs(...requirements: Requirement[]): Promise<Gate> {
  const reasons = (await Promise.all(requirements.map((r) => r.missing())))
    .filter((r): r is string => r !== null);
  const reason = reasons.length ? reasons.join("; ") : null;
  const ignore = reason !== null && Deno.env.get("CI") !== "true";
  if (ignore && !printed.has(reason)) {
    printed.add(reason);
    console.log(`${callerFile()}: tests ignored: ${reason} (under CI=true they fail instead)`);
  }
  return {
    reason,
    ignore,
    wrap(definition) {
      return {
        ...definition,
        ignore: ignore || definition.ignore,
        fn: reason === null ? definition.fn : () => {
          // Only under CI=true (otherwise ignored): a missing package is a failure.
          throw new Error(reason);
        },
      };
    },
  };
}
