/**
 * The tri-plane generator, as the paper's figure reads:
 *   mapping (z, c → ws) → backbone (ws → tri-planes) → renderer (rays through
 *   the planes, decoded and composited: the raw feature image and depth) →
 *   super-resolution (raw → the final image).
 *
 * `kind: "eg3d"` is EG3D's TriPlaneGenerator: the backbone's last ToRGB is the
 * tri-plane (xy/xz/zx projection). `kind: "mimic3d"` is Mimic3D's
 * DualTriPlaneGenerator: a 3-D-aware branch beside the backbone makes coarse
 * and detail planes (xy/yz/zx projection); the full image (the "2-D branch",
 * through SR) is rendered from the coarse planes, and a patch of a virtual
 * full-resolution image (the "3-D branch") from coarse + detail planes.
 */
import {
  antialiasedResize,
  concat,
  detach,
  type Device,
  isGradEnabled,
  Module,
  mul,
  permute,
  type RandomSource,
  reshape,
  Rng,
  scope,
  slice,
  type Tensor,
  zerosLike,
} from "../../kernels/mod.ts";
import { type MappingForward, MappingNetwork } from "./mapping.ts";
import { type NoiseMode, type SynthesisArchitecture, SynthesisNetwork } from "./synthesis.ts";
import { Aware3DSynthesisNetwork } from "./aware3d_synthesis.ts";
import { Superresolution, type SuperresolutionConfig } from "./superresolution.ts";
import { OSGDecoder } from "./decoder.ts";
import { ImportanceRenderer, type RenderOptions, type RenderResult } from "./renderer.ts";
import { drawPatchTopLeft, patchFullResolution, type Rays, sampleRays } from "./rays.ts";
import { renderFused } from "./fused_renderer.ts";

/** Everything that defines a generator (EG3D's constructor kwargs, camelCased). */
export interface GeneratorConfig {
  kind: "eg3d" | "mimic3d";
  zDim: number;
  cDim: number;
  wDim: number;
  /** Final (SR) image resolution. */
  imgResolution: number;
  /** Backbone / coarse tri-plane resolution (256 for FFHQ). */
  planeResolution: number;
  /** Channels of each plane (32). */
  planeChannels?: number;
  /** Rendered (raw) image resolution (64, later 128). */
  neuralRenderingResolution: number;
  mappingLayers: number;
  mappingLrMultiplier?: number;
  channelBase: number;
  channelMax: number;
  convClamp?: number | null;
  architecture?: SynthesisArchitecture;
  /** Mimic3D: backbone resolutions with 3-D-aware blocks, and the planes to render. */
  aware3dRes?: number[];
  retidx?: number[];
  /** Rendering (planeAxes follows `kind`). */
  rendering: Omit<RenderOptions, "planeAxes">;
  /** c fed to the mapping is c·cScale (EG3D's `c_scale`; 0 when absent in the original). */
  cScale: number;
  /** Condition the mapping on zeros instead of the camera. */
  cGenConditioningZero?: boolean;
  decoderOutputDim?: number;
  decoderLrMultiplier?: number;
  superresolution: Omit<SuperresolutionConfig, "channels" | "imgResolution" | "wDim" | "device">;
  superresolutionNoiseMode?: NoiseMode;
  device?: Device;
}

/** Options of a synthesis pass. */
export interface SynthesisOptions {
  /** Backbone noise: 'random' (training) needs `random`; 'const' for evaluation. */
  noiseMode?: NoiseMode;
  /** How modulation is evaluated (`SynthesisForwardOptions.fusedModconv`; default grouped). */
  fusedModconv?: boolean;
  /** The stream every random draw comes from, in the original's call order. */
  random?: RandomSource;
  neuralRenderingResolution?: number;
  /** Mimic3D: render a patch of a virtual (R / patchScale)² image when < 1. */
  patchScale?: number;
  /** Render the full image (Mimic3D's patch-only D phases skip it). */
  runFull?: boolean;
}

/** What a synthesis pass returns (outputs, and intermediates for checks and losses). */
export interface GeneratorOutput {
  ws: Tensor;
  /** The backbone's own output (EG3D: the tri-plane [N, 96, R, R]; Mimic3D: its 2-D planes). */
  backbonePlanes: Tensor;
  /** The planes rendered, each [N, 3, C, H, W] (Mimic3D: coarse, detail). */
  planes: Tensor[];
  image?: Tensor;
  imageRaw?: Tensor;
  imageDepth?: Tensor;
  rays?: Rays;
  render?: RenderResult;
  patch?: {
    topLeft: number[][];
    rays: Rays;
    render: RenderResult;
    imageRaw: Tensor;
    /** Detached crops of the SR image and of the raw image upsampled to SR size. */
    image?: Tensor;
    imageGr?: Tensor;
  };
}

/** Per-ray values [N, R², C] → an image [N, C, R, R] (ray m = row·R + column). */
export function raysToImage(t: Tensor, resolution: number): Tensor {
  return reshape(permute(t, [0, 2, 1]), [t.shape[0], t.shape[2], resolution, resolution]);
}

/** mapping + synthesis network under the original names (`backbone.mapping`, `backbone.synthesis`). */
class Backbone extends Module {
  readonly mapping: MappingNetwork;
  readonly synthesis: SynthesisNetwork;
  constructor(config: GeneratorConfig, rng: Rng) {
    super();
    const planeChannels = config.planeChannels ?? 32;
    const synthesisConfig = {
      wDim: config.wDim,
      imgResolution: config.planeResolution,
      imgChannels: 3 * planeChannels,
      channelBase: config.channelBase,
      channelMax: config.channelMax,
      convClamp: config.convClamp ?? null,
      architecture: config.architecture,
      device: config.device,
    };
    this.synthesis = this.child(
      "synthesis",
      config.kind === "mimic3d"
        ? new Aware3DSynthesisNetwork({
          ...synthesisConfig,
          aware3dRes: config.aware3dRes ?? [],
          retidx: config.retidx ?? null,
        }, rng)
        : new SynthesisNetwork(synthesisConfig, rng),
    );
    this.mapping = this.child(
      "mapping",
      new MappingNetwork({
        zDim: config.zDim,
        cDim: config.cDim,
        wDim: config.wDim,
        numWs: this.synthesis.numWs,
        numLayers: config.mappingLayers,
        lrMultiplier: config.mappingLrMultiplier,
        device: config.device,
      }, rng),
    );
  }
}

export class TriplaneGenerator extends Module {
  readonly backbone: Backbone;
  readonly superresolution: Superresolution;
  readonly decoder: OSGDecoder;
  readonly renderer: ImportanceRenderer;

  constructor(readonly config: GeneratorConfig, rng: Rng = new Rng(0)) {
    super();
    const planeChannels = config.planeChannels ?? 32;
    this.backbone = this.child("backbone", new Backbone(config, rng));
    this.superresolution = this.child(
      "superresolution",
      new Superresolution({
        ...config.superresolution,
        channels: planeChannels,
        imgResolution: config.imgResolution,
        wDim: config.wDim,
        device: config.device,
      }, rng),
    );
    this.decoder = this.child(
      "decoder",
      new OSGDecoder({
        nFeatures: planeChannels,
        outputDim: config.decoderOutputDim ?? 32,
        lrMultiplier: config.decoderLrMultiplier ?? 1,
        device: config.device,
      }, rng),
    );
    this.renderer = new ImportanceRenderer({
      ...config.rendering,
      planeAxes: config.kind === "mimic3d" ? "mimic3d" : "eg3d",
    });
  }

  /** z [N, zDim], c [N, 25] → ws [N, numWs, wDim]. */
  mapping(z: Tensor, c: Tensor, options: MappingForward = {}): Tensor {
    const cond = this.config.cGenConditioningZero ? zerosLike(c) : mul(c, this.config.cScale);
    return this.backbone.mapping.forward(z, cond, options);
  }

  /** ws → tri-planes, each [N, 3, C, H, W] (Mimic3D: coarse, detail), and the backbone's own output. */
  planes(ws: Tensor, options: SynthesisOptions = {}): { planes: Tensor[]; backbonePlanes: Tensor } {
    const synthesisOptions = {
      noiseMode: options.noiseMode,
      fusedModconv: options.fusedModconv,
      randomNoise: options.random &&
        ((shape: number[], device: Device) => options.random!.normal(shape, device)),
    };
    const n = ws.shape[0];
    const c = this.config.planeChannels ?? 32;
    const asPlanes = (t: Tensor) => reshape(t, [n, 3, c, t.shape[2], t.shape[3]]);
    const s = this.backbone.synthesis;
    if (s instanceof Aware3DSynthesisNetwork) {
      const out = s.forwardPlanes(ws, synthesisOptions);
      return { planes: out.planes.map(asPlanes), backbonePlanes: out.planes2d };
    }
    const img = s.forward(ws, synthesisOptions);
    return { planes: [asPlanes(img)], backbonePlanes: img };
  }

  /** Renders rays through `planes` to [N, C, R, R] features and [N, 1, R, R] depth. */
  private renderImage(planes: Tensor[], rays: Rays, resolution: number, random: RandomSource) {
    const render = this.renderer.render(
      planes,
      this.decoder,
      rays.origins,
      rays.directions,
      random,
    );
    return {
      render,
      features: raysToImage(render.rgb, resolution),
      depth: raysToImage(render.depth, resolution),
    };
  }

  /**
   * The 2-D branch's image from a rendered feature image [N, C, R, R]: the raw
   * RGB (first 3 channels) through super-resolution — except in Mimic3D when
   * the raw image is already larger than SR's input (the original's rule).
   */
  superResolve(features: Tensor, ws: Tensor, random: RandomSource, fusedModconv?: boolean) {
    const raw = slice(features, [null, [0, 3]]);
    const sr = this.superresolution;
    const useSr = this.config.kind === "eg3d" || features.shape[3] <= sr.inputResolution;
    const image = useSr
      ? sr.forward(raw, features, ws, {
        noiseMode: this.config.superresolutionNoiseMode ?? "none",
        fusedModconv,
        randomNoise: (shape, device) => random.normal(shape, device),
      })
      : raw;
    return { image, raw };
  }

  /**
   * An inference view of the 2-D branch from given coarse planes and rays,
   * through the fused renderer (no per-sample tensors): image, raw, depth, opacity.
   */
  renderView2d(coarse: Tensor, ws: Tensor, rays: Rays, resolution: number, random: Rng) {
    const o = renderFused(
      [coarse],
      this.decoder,
      rays.origins,
      rays.directions,
      this.renderer.options,
      random,
    );
    const { image, raw } = this.superResolve(raysToImage(o.rgb, resolution), ws, random, true);
    return {
      image,
      raw,
      depth: raysToImage(o.depth, resolution),
      opacity: raysToImage(o.weightsSum, resolution),
    };
  }

  /** The full synthesis pass for ws and rendering cameras c [N, 25]. */
  synthesis(ws: Tensor, c: Tensor, options: SynthesisOptions = {}): GeneratorOutput {
    const random = options.random ?? new Rng(0);
    const r = options.neuralRenderingResolution ?? this.config.neuralRenderingResolution;
    const { planes, backbonePlanes } = this.planes(ws, { ...options, random });
    const out: GeneratorOutput = { ws, backbonePlanes, planes };
    if (options.runFull ?? true) {
      const rays = sampleRays(c, r);
      // Mimic3D renders the full image from the coarse planes only.
      const { render, features, depth } = this.renderImage([planes[0]], rays, r, random);
      const { image, raw } = this.superResolve(features, ws, random, options.fusedModconv);
      Object.assign(out, { image, imageRaw: raw, imageDepth: depth, rays, render });
    }
    const patchScale = options.patchScale ?? 1;
    if (this.config.kind === "mimic3d" && patchScale < 1) {
      const n = ws.shape[0];
      const full = patchFullResolution(r, patchScale);
      const topLeft = drawPatchTopLeft(random, n, r, full);
      const rays = sampleRays(c, r, { fullResolution: full, topLeft });
      const { render, features } = this.renderImage(planes, rays, r, random);
      out.patch = { topLeft, rays, render, imageRaw: slice(features, [null, [0, 3]]) };
      if (out.image && out.imageRaw) {
        const sr = detach(out.image);
        const upsampled = antialiasedResize(detach(out.imageRaw), sr.shape[3]);
        const crop = (t: Tensor) =>
          concat(
            topLeft.map(([top, left], i) =>
              slice(t, [[i, i + 1], null, [top, top + r], [left, left + r]])
            ),
            0,
          );
        out.patch.image = crop(sr);
        out.patch.imageGr = crop(upsampled);
      }
    }
    return out;
  }

  /**
   * G(z, c): mapping then synthesis; `c` conditions the mapping and places the
   * camera. Without gradients, `maxBatch` renders a large batch in chunks (each
   * chunk's intermediates released before the next), returning the images only.
   */
  forward(
    z: Tensor,
    c: Tensor,
    options: SynthesisOptions & MappingForward & { maxBatch?: number } = {},
  ): GeneratorOutput {
    const n = z.shape[0];
    const max = options.maxBatch ?? n;
    if (n <= max || isGradEnabled()) return this.synthesis(this.mapping(z, c, options), c, options);
    const parts: GeneratorOutput[] = [];
    for (let i = 0; i < n; i += max) {
      const rows = (t: Tensor) => slice(t, [[i, Math.min(i + max, n)]]);
      parts.push(scope(() => {
        const o = this.synthesis(this.mapping(rows(z), rows(c), options), rows(c), options);
        return {
          ws: o.ws,
          backbonePlanes: o.backbonePlanes,
          planes: [],
          image: o.image,
          imageRaw: o.imageRaw,
          imageDepth: o.imageDepth,
        };
      }));
    }
    const cat = (pick: (o: GeneratorOutput) => Tensor | undefined) => {
      const ts = parts.map(pick).filter((t): t is Tensor => t !== undefined);
      return ts.length ? concat(ts, 0) : undefined;
    };
    return {
      ws: cat((o) => o.ws)!,
      backbonePlanes: cat((o) => o.backbonePlanes)!,
      planes: [],
      image: cat((o) => o.image),
      imageRaw: cat((o) => o.imageRaw),
      imageDepth: cat((o) => o.imageDepth),
    };
  }

  /** Raw density and features at points [N, M, 3] for given ws (EG3D's `sample_mixed`). */
  sampleMixed(points: Tensor, ws: Tensor, options: SynthesisOptions = {}) {
    const { planes } = this.planes(ws, options);
    return this.renderer.runModel(planes, this.decoder, points);
  }
}
