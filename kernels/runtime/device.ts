/**
 * Adapter and device acquisition: one shared GPU per process.
 *
 * High-performance adapter first, then any adapter (including Mesa's CPU
 * adapter). Optional features are requested only when present; limits are the
 * adapter's own, never assumed.
 *
 * The backend is Deno's choice (Vulkan when a Vulkan driver is installed, else
 * GL on Linux) unless `DENO_WEBGPU_BACKEND` forces one (`vulkan`, `gl`,
 * `metal`, `dx12`): Deno's own variable, read once per process at the first
 * WebGPU use, so it must be set before the process starts. See docs/adapters.md.
 */

/** Deno's variable that forces a WebGPU backend (wgpu's names; comma-separated). */
export const BACKEND_ENV = "DENO_WEBGPU_BACKEND";

/** The backend `DENO_WEBGPU_BACKEND` forces ("vulkan", "gl", …), or null when Deno picks. */
export function forcedBackend(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): string | null {
  const raw = env(BACKEND_ENV)?.trim().toLowerCase();
  if (!raw) return null;
  // wgpu's aliases, so that messages use one name per backend.
  const aliases: Record<string, string> = { vk: "vulkan", gles: "gl", opengl: "gl", d3d12: "dx12" };
  return raw.split(",").map((b) => aliases[b.trim()] ?? b.trim()).join(",");
}

/** What gives an adapter on a forced backend without a GPU (Debian packages). */
const BACKEND_HINTS: Record<string, string> = {
  vulkan: "install a Vulkan driver (Debian, Mesa's CPU adapter lavapipe: apt-get install " +
    "mesa-vulkan-drivers)",
  gl: "install OpenGL ES through EGL (Debian, Mesa's llvmpipe: apt-get install libegl1 " +
    "libegl-mesa0)",
};

/** Thrown when no WebGPU adapter exists; its message is one readable line. */
export class NoAdapterError extends Error {
  /** `backend`: the backend DENO_WEBGPU_BACKEND forced, if any. */
  constructor(readonly backend: string | null = null) {
    super(
      backend === null
        ? "no WebGPU adapter found: install a GPU driver with Vulkan support, or Mesa's CPU " +
          "adapter (Debian: apt-get install mesa-vulkan-drivers)"
        : `no WebGPU adapter on the ${backend} backend (forced by ${BACKEND_ENV}=${backend}): ` +
          `${
            BACKEND_HINTS[backend] ??
              "Deno's backends are vulkan, gl, metal, dx12 (comma-separated)"
          }, or unset ${BACKEND_ENV} to let Deno pick`,
    );
    this.name = "NoAdapterError";
  }
}

/** Thrown by any GPU call after the device was lost. */
export class DeviceLostError extends Error {
  constructor(reason: string) {
    super(`GPU device lost: ${reason}`);
    this.name = "DeviceLostError";
  }
}

/** The process's GPU: device, adapter description and the optional features present. */
export interface Gpu {
  readonly device: GPUDevice;
  /** e.g. "NVIDIA H100 80GB HBM3" or "llvmpipe (LLVM 15.0.6, 256 bits)". */
  readonly name: string;
  /** The backend DENO_WEBGPU_BACKEND forced ("vulkan", "gl", …); null when Deno picked. */
  readonly backend: string | null;
  readonly isCpu: boolean;
  readonly hasF16: boolean;
  readonly hasTimestamps: boolean;
  readonly limits: GPUSupportedLimits;
  /** Set once the device is lost; every later GPU call throws it. */
  lost: DeviceLostError | null;
}

/** How adapters are requested; replaceable so tests can force "no adapter". */
export type AdapterSource = (options: GPURequestAdapterOptions) => Promise<GPUAdapter | null>;

const defaultAdapterSource: AdapterSource = (options) =>
  navigator.gpu ? navigator.gpu.requestAdapter(options) : Promise.resolve(null);

let current: Gpu | null = null;
let pending: Promise<Gpu> | null = null;

/**
 * Initialises the shared GPU once (later calls return the same one).
 * Set `MIMIC3D_NO_ADAPTER=1` to behave as if no adapter existed (for tests of
 * the error path).
 */
export function initGpu(source: AdapterSource = defaultAdapterSource): Promise<Gpu> {
  if (current) return Promise.resolve(current);
  pending ??= acquire(source).then((g) => (current = g)).finally(() => (pending = null));
  return pending;
}

/** One line naming the adapter, e.g. "llvmpipe (LLVM 15.0.6, 256 bits) (CPU; DENO_WEBGPU_BACKEND=gl)". */
export function describeGpu(g: Gpu): string {
  const notes = [g.isCpu ? "CPU" : "", g.backend ? `${BACKEND_ENV}=${g.backend}` : ""]
    .filter(Boolean);
  return notes.length ? `${g.name} (${notes.join("; ")})` : g.name;
}

/** The initialised GPU; throws if `initGpu` has not completed or the device was lost. */
export function gpu(): Gpu {
  if (!current) throw new Error("GPU not initialised: await initGpu() first");
  if (current.lost) throw current.lost;
  return current;
}

async function acquire(source: AdapterSource): Promise<Gpu> {
  giveMesaARuntimeDir();
  const forcedMissing = Deno.env.get("MIMIC3D_NO_ADAPTER") === "1";
  const adapter = forcedMissing ? null : (await source({ powerPreference: "high-performance" })) ??
    (await source({}));
  if (!adapter) throw new NoAdapterError(forcedBackend());
  const wanted: GPUFeatureName[] = ["shader-f16", "timestamp-query"];
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
  const limitNames = [
    "maxStorageBufferBindingSize",
    "maxBufferSize",
    "maxComputeWorkgroupStorageSize",
    "maxComputeInvocationsPerWorkgroup",
    "maxComputeWorkgroupSizeX",
    "maxComputeWorkgroupSizeY",
    "maxComputeWorkgroupSizeZ",
    "maxComputeWorkgroupsPerDimension",
    "maxStorageBuffersPerShaderStage",
  ] as const;
  const requiredLimits: Record<string, number> = {};
  for (const name of limitNames) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  const info = adapter.info;
  const g: Gpu = {
    device,
    name: info.description || info.device || info.vendor || "unknown adapter",
    backend: forcedBackend(),
    isCpu: info.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader/i.test(info.description),
    hasF16: requiredFeatures.includes("shader-f16"),
    hasTimestamps: requiredFeatures.includes("timestamp-query"),
    limits: device.limits,
    lost: null,
  };
  device.lost.then((info) => {
    g.lost = new DeviceLostError(info.message || info.reason || "unknown reason");
    if (info.reason !== "destroyed") console.error(g.lost.message);
  });
  // Destroy the device while the runtime is still whole, so that the driver finishes its work
  // and stops its threads before the process exits (not while exit tears the driver down).
  globalThis.addEventListener("unload", () => device.destroy(), { once: true });
  return g;
}

/**
 * Mesa's EGL (probed for the GL backend) prints "error: XDG_RUNTIME_DIR is invalid or not
 * set" twice when the variable is missing, as it is for root in containers and CI: a
 * directory of this user's, set before the first WebGPU call, keeps that out of every output.
 */
function giveMesaARuntimeDir(): void {
  if (Deno.build.os !== "linux" || Deno.env.get("XDG_RUNTIME_DIR")) return;
  const dir = `/tmp/mimic3d-runtime-${Deno.uid() ?? "user"}`;
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  Deno.env.set("XDG_RUNTIME_DIR", dir);
}
