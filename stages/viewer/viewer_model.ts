/**
 * The server side of the viewer: one generator loaded from a checkpoint, and
 * what the page asks of it — the tri-planes of a seed (mapping + backbone on
 * the server's adapter), the fused renderer's WGSL with its parameter block
 * (the page compiles exactly the string `renderFused` compiles), the 2-D
 * branch's super-resolved image for a camera, and a mesh of the density.
 * GPU work is serialised: memory scopes must not interleave.
 */
import {
  type Gpu,
  initGpu,
  noGrad,
  permute,
  Rng,
  scope,
  scopeAsync,
  Tensor,
} from "../../kernels/mod.ts";
import { loadGenerator } from "../io/generator_checkpoint.ts";
import { lookAtCameraLabel } from "../io/camera_label.ts";
import { encodePng } from "../io/png.ts";
import { marchingCubes } from "../geometry/marching_cubes.ts";
import { writePly } from "../geometry/mesh_io.ts";
import { latentForSeed } from "../render/seed_latent.ts";
import type { TriplaneGenerator } from "../model/generator.ts";
import type { RenderOptions } from "../model/renderer.ts";
import {
  FUSED_PARAM_WORDS,
  FUSED_WORKGROUP_SIZE,
  fusedKernelShape,
  fusedRenderParams,
  fusedRenderSource,
} from "../model/fused_renderer.ts";
import { packDecoder } from "../model/point_decoder.ts";

/** What a latent is: a seed and a truncation ψ. */
export interface LatentKey {
  seed: number;
  psi: number;
}

/** A camera of the orbit viewer (see `page/orbit_camera.js`). */
export interface ViewerCamera {
  yaw: number;
  pitch: number;
  radius?: number;
  focal?: number;
}

/** Wire precision of the planes. */
export type PlaneDtype = "f16" | "f32";

/** The tri-planes of one latent, channels-last, as the page uploads them. */
export interface PlanesPayload {
  dtype: PlaneDtype;
  /** Per plane set (Mimic3D: coarse, detail): [3, H, W, C]. */
  shapes: [number, number, number, number][];
  /** All sets, concatenated, little-endian f16 or f32. */
  bytes: Uint8Array;
}

/** What the page needs to run the fused kernel itself. */
export interface KernelDescription {
  /** The WGSL, exactly as `renderFused` generates it for this model. */
  wgsl: string;
  workgroupSize: number;
  /** The parameter block for a full R×R image; words `countWord`/`offsetWord` change per chunk. */
  paramWords: number[];
  countWord: number;
  offsetWord: number;
  /** Binding indices (group 0). */
  bindings: { rays: number; planes: number[]; weights: number; result: number; params: number };
  /** Floats per ray in the result: features, then depth, weight sum, nearest, farthest. */
  resultStride: number;
  /** The Philox stream the kernel draws from (an `Rng(seed)` at draw `drawIndex`). */
  random: { seed: number; drawIndex: number };
}

/** The render random stream: `new Rng(0)` fresh, as the Deno-side reference uses. */
const RENDER_RANDOM = { seed: 0, drawIndex: 0 };
/** Points per decoder call when sampling the density grid of a mesh. */
const MESH_CHUNK_POINTS = 1 << 18;

/** Options of `ViewerModel.mesh`. */
export interface MeshOptions {
  /** Grid points per side (default 128). */
  resolution?: number;
  /** Density level of the surface (default 10, EG3D's). */
  level?: number;
  /** Stops the work (between slabs) when aborted. */
  signal?: AbortSignal;
}

/** A loaded generator serving the viewer's requests. */
export class ViewerModel {
  #queue: Promise<unknown> = Promise.resolve();
  #cached: { key: string; ws: Tensor; planes: Tensor[] } | null = null;
  /** [H, W] of each plane set, the same for every latent (found by running seed 0 at load). */
  #planeSizes: [number, number][] = [];

  private constructor(
    readonly generator: TriplaneGenerator,
    readonly path: string,
    readonly gpu: Gpu,
  ) {}

  /** Loads a checkpoint file or artifact directory on the process's GPU. */
  static async load(pathOrDir: string): Promise<ViewerModel> {
    if (await looksLikePickle(pathOrDir)) {
      throw new Error(
        `${pathOrDir}: an official training snapshot; import it first ` +
          `(import-checkpoint ${pathOrDir}), then serve the artifact id it prints`,
      );
    }
    const device = await initGpu();
    const { generator, path } = await loadGenerator(pathOrDir);
    const model = new ViewerModel(generator, path, device);
    // Running one latent now fails early on a checkpoint that loads but cannot run.
    await model.#exclusive(async () => {
      const { planes } = model.#latent({ seed: 0, psi: 1 });
      model.#planeSizes = planes.map((p) => [p.shape[3], p.shape[4]]);
      await planes[0].read();
    });
    return model;
  }

  /** The rendering options of the 3-D branch (the generator's own). */
  get renderOptions(): RenderOptions {
    return this.generator.renderer.options;
  }

  /** Plane sets the 3-D branch sums (EG3D 1; Mimic3D coarse + detail = 2). */
  get planeSets(): number {
    return this.#planeSizes.length;
  }

  /** The precision planes travel in: f16 when the server's adapter has it. */
  get defaultDtype(): PlaneDtype {
    return this.gpu.hasF16 ? "f16" : "f32";
  }

  /** Model facts for the page (sizes, rendering options, decoder weights). */
  async info(): Promise<Record<string, unknown>> {
    const decoderWeights = await this.#exclusive(() =>
      scopeAsync(async () =>
        Array.from(await noGrad(() => packDecoder(this.generator.decoder)).read())
      )
    );
    const c = this.generator.config;
    return {
      // The last two path parts (artifact and file): no absolute paths leave the server.
      checkpoint: this.path.split(/[\\/]/).filter(Boolean).slice(-2).join("/"),
      kind: c.kind,
      zDim: c.zDim,
      imgResolution: c.imgResolution,
      planeResolution: c.planeResolution,
      planeChannels: c.planeChannels ?? 32,
      planeSets: this.planeSets,
      rendering: this.renderOptions,
      decoderWeights,
      adapter: this.gpu.name,
      planeDtype: this.defaultDtype,
    };
  }

  /**
   * The fused kernel for an R×R view in a browser whose workgroup memory is
   * `maxWorkgroupStorage` bytes (decides where the decoder weights live).
   */
  kernel(resolution: number, maxWorkgroupStorage: number): KernelDescription {
    const options = this.renderOptions;
    const sets = this.planeSets;
    const shape = fusedKernelShape(this.generator.decoder, options, sets, {
      injected: false,
      maxWorkgroupStorage,
    });
    const rays = resolution * resolution;
    const params = fusedRenderParams(
      options,
      { count: 0, offset: 0, raysPerSample: rays, totalRays: rays },
      this.#planeSizes,
      RENDER_RANDOM,
    );
    return {
      wgsl: fusedRenderSource(shape),
      workgroupSize: FUSED_WORKGROUP_SIZE,
      paramWords: Array.from(params.bytes()),
      countWord: FUSED_PARAM_WORDS.count,
      offsetWord: FUSED_PARAM_WORDS.offset,
      bindings: {
        rays: 0,
        planes: Array.from({ length: sets }, (_, i) => 1 + i),
        weights: 1 + sets,
        result: 2 + sets,
        params: 3 + sets,
      },
      resultStride: shape.out + 4,
      random: RENDER_RANDOM,
    };
  }

  /** The tri-planes of a latent, channels-last, in `dtype`. */
  planes(key: LatentKey, dtype: PlaneDtype = this.defaultDtype): Promise<PlanesPayload> {
    return this.#exclusive(async () => {
      const { planes } = this.#latent(key);
      const shapes: [number, number, number, number][] = [];
      const parts: Uint8Array[] = [];
      for (const p of planes) {
        const channelsLast = noGrad(() => permute(p, [0, 1, 3, 4, 2]));
        const data = await channelsLast.read() as Float32Array;
        channelsLast.dispose();
        shapes.push([3, p.shape[3], p.shape[4], p.shape[2]]);
        const typed = dtype === "f16" ? new Float16Array(data) : Float32Array.from(data);
        parts.push(new Uint8Array(typed.buffer));
      }
      const bytes = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
      let o = 0;
      for (const b of parts) bytes.set(b, (o += b.length) - b.length);
      return { dtype, shapes, bytes };
    });
  }

  /** The 2-D branch (coarse planes → raw image → super-resolution) for a camera, as PNG. */
  image2d(key: LatentKey, camera: ViewerCamera): Promise<Uint8Array> {
    return this.#exclusive(() =>
      scopeAsync(async () => {
        const { ws } = this.#latent(key);
        const label = Tensor.fromData(lookAtCameraLabel(camera), [1, 25]);
        const out = noGrad(() =>
          this.generator.synthesis(ws, label, { noiseMode: "const", random: new Rng(0) })
        );
        const image = out.image!;
        const [, , h, w] = image.shape;
        const chw = await image.read();
        const data = new Uint8Array(h * w * 3);
        for (let i = 0; i < h * w; i++) {
          for (let ch = 0; ch < 3; ch++) data[3 * i + ch] = toByte(chw[ch * h * w + i]);
        }
        return encodePng({ width: w, height: h, channels: 3, data });
      })
    );
  }

  /**
   * A mesh of the 3-D branch's density (EG3D's shape extraction: raw density
   * on an N³ grid over the tri-plane box, level set `level`, default 10), with
   * vertex colours from the decoder's first three features, as binary PLY.
   *
   * The grid is decoded slab by slab, each slab a turn of its own on the GPU, so requests for
   * images and planes are served between slabs rather than after the whole mesh; `signal`
   * (the client leaving) stops the work at the next slab with an `AbortError`.
   */
  async mesh(
    key: LatentKey,
    { resolution = 128, level = 10, signal }: MeshOptions = {},
  ): Promise<{ ply: Uint8Array; faces: number }> {
    // Its own planes: another latent's request between slabs replaces the cached ones.
    const { ws, planes } = await this.#exclusive(() => Promise.resolve(this.#compute(key)));
    try {
      const n = resolution;
      const half = this.renderOptions.boxWarp / 2;
      const step = (2 * half) / (n - 1);
      const density = new Float32Array(n * n * n);
      const slab = Math.max(1, Math.floor(MESH_CHUNK_POINTS / (n * n)));
      for (let z0 = 0; z0 < n; z0 += slab) {
        signal?.throwIfAborted();
        const z1 = Math.min(n, z0 + slab);
        const points = new Float32Array((z1 - z0) * n * n * 3);
        let o = 0;
        for (let z = z0; z < z1; z++) {
          for (let y = 0; y < n; y++) {
            for (let x = 0; x < n; x++) {
              points.set([-half + x * step, -half + y * step, -half + z * step], o);
              o += 3;
            }
          }
        }
        density.set(await this.#decodeTurn(planes, points, "sigma"), z0 * n * n);
      }
      // Close the surface where it meets the box, as EG3D pads the grid.
      for (let z = 0; z < n; z++) {
        for (let y = 0; y < n; y++) {
          for (let x = 0; x < n; x++) {
            if (x % (n - 1) && y % (n - 1) && z % (n - 1)) continue;
            const i = (z * n + y) * n + x;
            density[i] = Math.min(density[i], level - 1);
          }
        }
      }
      const mesh = marchingCubes({
        data: density,
        size: [n, n, n],
        origin: [-half, -half, -half],
        spacing: [step, step, step],
      }, { level });
      signal?.throwIfAborted();
      if (mesh.positions.length) {
        const rgb = await this.#decodeTurn(planes, mesh.positions, "rgb");
        mesh.colors = Uint8Array.from(rgb, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
      }
      return { ply: writePly(mesh), faces: mesh.faces.length / 3 };
    } finally {
      for (const t of [ws, ...planes]) t.dispose();
    }
  }

  /** Frees the cached latent's GPU memory. */
  dispose(): void {
    this.#dropCache();
  }

  /** `#decode` as one turn on the GPU, its intermediates freed. */
  #decodeTurn(planes: Tensor[], points: Float32Array, what: "sigma" | "rgb") {
    return this.#exclusive(() => scopeAsync(() => this.#decode(planes, points, what)));
  }

  /** Decoder outputs at world points [M·3]: raw density [M], or the first three features [M·3]. */
  async #decode(planes: Tensor[], points: Float32Array, what: "sigma" | "rgb") {
    const m = points.length / 3;
    const result = new Float32Array(what === "sigma" ? m : 3 * m);
    for (let start = 0; start < m; start += MESH_CHUNK_POINTS) {
      const count = Math.min(MESH_CHUNK_POINTS, m - start);
      const chunk = Tensor.fromData(points.subarray(3 * start, 3 * (start + count)), [1, count, 3]);
      const decoded = noGrad(() =>
        this.generator.renderer.runModel(planes, this.generator.decoder, chunk)
      );
      if (what === "sigma") result.set(await decoded.sigma.read(), start);
      else {
        const feats = await decoded.rgb.read();
        const c = decoded.rgb.shape[2];
        for (let i = 0; i < count; i++) {
          for (let ch = 0; ch < 3; ch++) result[3 * (start + i) + ch] = feats[i * c + ch];
        }
      }
      for (const t of [chunk, decoded.sigma, decoded.rgb]) t.dispose();
    }
    return result;
  }

  /** ws and planes of a latent, computed once and kept until another latent is asked for. */
  #latent(key: LatentKey): { ws: Tensor; planes: Tensor[] } {
    const name = `${key.seed}/${key.psi}`;
    if (this.#cached?.key === name) return this.#cached;
    this.#dropCache();
    this.#cached = { key: name, ...this.#compute(key) };
    return this.#cached;
  }

  /** ws and planes of a latent, kept (the caller disposes them). */
  #compute({ seed, psi }: LatentKey): { ws: Tensor; planes: Tensor[] } {
    const g = this.generator;
    // A scope of its own: the backbone's intermediates go, whoever calls.
    const computed = scope(() =>
      noGrad(() => {
        const z = Tensor.fromData(latentForSeed(seed, g.config.zDim), [1, g.config.zDim]);
        const c = Tensor.fromData(conditioningLabel(g.config.cDim), [1, g.config.cDim]);
        const ws = g.mapping(z, c, { truncationPsi: psi });
        return { ws, planes: g.planes(ws, { noiseMode: "const" }).planes };
      })
    );
    return { ws: computed.ws.keep(), planes: computed.planes.map((p) => p.keep()) };
  }

  #dropCache(): void {
    if (!this.#cached) return;
    this.#cached.ws.dispose();
    for (const p of this.#cached.planes) p.dispose();
    this.#cached = null;
  }

  /** Runs GPU work one request at a time. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }
}

/** Pickles start with the PROTO opcode (0x80) for every protocol a snapshot uses. */
async function looksLikePickle(file: string): Promise<boolean> {
  const stat = await Deno.stat(file).catch(() => null);
  if (!stat?.isFile) return false;
  using handle = await Deno.open(file);
  const head = new Uint8Array(2);
  const read = await handle.read(head);
  return read === 2 && head[0] === 0x80 && head[1] >= 2 && head[1] <= 5;
}

/** The mapping's conditioning camera: frontal, FFHQ radius and focal (EG3D's scripts). */
function conditioningLabel(cDim: number): number[] {
  return cDim === 25 ? lookAtCameraLabel({ yaw: 0, pitch: 0 }) : new Array(cDim).fill(0);
}

/** [−1, 1] → 0…255 as EG3D saves images (`x·127.5 + 128`, clamped, truncated). */
export function toByte(v: number): number {
  return Math.min(255, Math.max(0, Math.floor(v * 127.5 + 128)));
}
