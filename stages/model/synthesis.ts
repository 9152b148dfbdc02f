/**
 * StyleGAN2's synthesis network as EG3D uses it for the tri-plane backbone
 * (`training/networks_stylegan2.py`): modulated 3×3 convolutions with noise,
 * ToRGB layers, blocks that double the resolution, and the network that
 * hands each block its slice of ws. In EG3D the "RGB" output has 96 = 3×32
 * channels: the tri-plane.
 *
 * Everything runs in float32 (G's `num_fp16_res` is 0 in EG3D); conv_clamp is
 * kept as an option because the SR blocks of real checkpoints set 256.
 */
import {
  type Activation,
  add,
  biasAct,
  Conv2dLayer,
  defaultGain,
  type Device,
  expand,
  type Filter,
  FullyConnected,
  modulatedConv2d,
  Module,
  mul,
  reshape,
  type Rng,
  scope,
  setupFilter,
  slice,
  type Tensor,
  Tensor as TensorClass,
  upsample2d,
  zeros,
} from "../../kernels/mod.ts";
import { aware3d } from "./aware3d.ts";

/** 'random': fresh N(0,1) noise per call; 'const': the stored noise_const; 'none': no noise. */
export type NoiseMode = "random" | "const" | "none";

/** Draws the standard-normal noise of `noise_mode='random'` (inject recorded values in tests). */
export type NoiseSource = (shape: number[], device: Device) => Tensor;

/** A `NoiseSource` drawing from a seeded generator. */
export function noiseFromRng(rng: Rng): NoiseSource {
  return (shape, device) => rng.normal(shape, device);
}

/** Options of a synthesis forward pass (the original's `**block_kwargs` / `**layer_kwargs`). */
export interface SynthesisForwardOptions {
  /** Default 'random', as the original. */
  noiseMode?: NoiseMode;
  /** Required for noiseMode 'random'. */
  randomNoise?: NoiseSource;
  /**
   * How modulation is evaluated; the same maths either way, equal up to rounding. True
   * (default): styles and demodulation folded into per-sample weights of one grouped
   * convolution. False: the activations scaled around a shared-weight convolution, as EG3D's
   * training mode (`fused_modconv_default='inference_only'`). The grouped form moves no
   * activation-sized tensors for the scalings, so it trains faster here (BENCHMARKS.md); the
   * fixtures check both.
   */
  fusedModconv?: boolean;
}

/** The filter buffer every resampling layer registers (state-dict fidelity). */
function filterBuffer(f: Filter, device: Device): Tensor {
  return TensorClass.fromData(f.taps, [f.height, f.width], device);
}

/** Options shared by the synthesis layers and blocks. */
export interface SynthesisLayerOptions {
  kernelSize?: number;
  /** 1 or 2 (the first conv of a block upsamples). */
  up?: number;
  useNoise?: boolean;
  activation?: Activation;
  /** 1-D taps of the resampling filter (default [1,3,3,1]). */
  resampleFilter?: number[];
  /** Clamp of the conv output (scaled by the call's gain); null = none (EG3D's G). */
  convClamp?: number | null;
  /** Mimic3D's per-plane layers (see `RollOut`); null = plain StyleGAN2. */
  rollOut?: RollOut;
  device?: Device;
}

/** A synthesis layer's shape and options. */
export interface SynthesisLayerConfig extends SynthesisLayerOptions {
  inChannels: number;
  outChannels: number;
  wDim: number;
  /** Output resolution. */
  resolution: number;
}

/**
 * Mimic3D's tri-plane "roll-out": the batch holds the 3 planes of each sample
 * (N·3 images) and each plane gets its own styles from the same w.
 * "aware3d" (the original's 'b'): the input is first aggregated across planes (`aware3d`,
 * 3·Cin channels, 9·Cin styles); "perPlane" (its 's'): per-plane styles only (3·Cin styles);
 * null: plain StyleGAN2.
 */
export type RollOut = "aware3d" | "perPlane" | null;

/** Styles per input channel produced by the affine layer, and the weight's input-channel factor. */
function rollOutFactors(r: RollOut): { styles: number; weightIn: number } {
  return r === "aware3d"
    ? { styles: 9, weightIn: 3 }
    : r === "perPlane"
    ? { styles: 3, weightIn: 1 }
    : { styles: 1, weightIn: 1 };
}

/** affine(w) [N, k·C] → per-plane styles [N·3, k·C/3] when rolled out. */
function planeStyles(styles: Tensor, r: RollOut): Tensor {
  if (!r) return styles;
  const [n, s] = styles.shape;
  return reshape(styles, [n * 3, s / 3]);
}

/**
 * A modulated convolution layer. Parameters: weight [out, in, k, k],
 * noise_strength [], bias [out]; buffers resample_filter, noise_const
 * [res, res]; child affine (w → styles, bias init 1).
 */
export class SynthesisLayer extends Module {
  readonly weight: Tensor;
  readonly noiseStrength: Tensor | null;
  readonly bias: Tensor;
  readonly noiseConst: Tensor | null;
  readonly affine: FullyConnected;
  readonly filter: Filter;
  readonly up: number;
  readonly padding: number;
  readonly activation: Activation;
  readonly convClamp: number | null;
  readonly rollOut: RollOut;

  readonly inChannels: number;
  readonly outChannels: number;
  readonly wDim: number;
  readonly resolution: number;

  constructor(options: SynthesisLayerConfig, rng: Rng) {
    super();
    const { inChannels, outChannels, wDim, resolution } = options;
    [this.inChannels, this.outChannels, this.wDim, this.resolution] = [
      inChannels,
      outChannels,
      wDim,
      resolution,
    ];
    const device = options.device ?? "gpu";
    const k = options.kernelSize ?? 3;
    this.rollOut = options.rollOut ?? null;
    const roll = rollOutFactors(this.rollOut);
    this.up = options.up ?? 1;
    this.padding = Math.floor(k / 2);
    this.activation = options.activation ?? "lrelu";
    this.convClamp = options.convClamp ?? null;
    this.filter = setupFilter(options.resampleFilter ?? [1, 3, 3, 1]);
    // Registration order = the original's state_dict order: parameters, buffers, children.
    this.weight = this.param(
      "weight",
      rng.normal([outChannels, inChannels * roll.weightIn, k, k], device),
    );
    const useNoise = options.useNoise ?? true;
    this.noiseStrength = useNoise ? this.param("noise_strength", zeros([], device)) : null;
    this.bias = this.param("bias", zeros([outChannels], device));
    this.buffer("resample_filter", filterBuffer(this.filter, device));
    this.noiseConst = useNoise
      ? this.buffer("noise_const", rng.normal([resolution, resolution], device))
      : null;
    this.affine = this.child(
      "affine",
      new FullyConnected(wDim, inChannels * roll.styles, rng, { biasInit: 1, device }),
    );
  }

  /**
   * x [N, in, res/up, res/up], w [N, wDim] → [N, out, res, res] (rolled out:
   * x holds N·3 planes). `gain` scales activation and clamp.
   */
  forward(x: Tensor, w: Tensor, options: SynthesisForwardOptions = {}, gain = 1): Tensor {
    return scope(() => {
      const styles = planeStyles(this.affine.forward(w), this.rollOut);
      if (this.rollOut === "aware3d") x = aware3d(x);
      const mode = options.noiseMode ?? "random";
      let noise: Tensor | null = null;
      if (this.noiseStrength && this.noiseConst && mode === "random") {
        if (!options.randomNoise) {
          throw new Error(
            "SynthesisLayer: noiseMode 'random' needs a randomNoise source (see noiseFromRng)",
          );
        }
        const n = options.randomNoise([x.shape[0], 1, this.resolution, this.resolution], x.device);
        noise = mul(n, this.noiseStrength);
      } else if (this.noiseStrength && this.noiseConst && mode === "const") {
        noise = mul(this.noiseConst, this.noiseStrength);
      }
      const y = modulatedConv2d(x, this.weight, styles, {
        noise,
        up: this.up,
        padding: this.padding,
        filter: this.filter,
        fused: options.fusedModconv ?? true,
      });
      const clamp = this.convClamp === null ? null : this.convClamp * gain;
      return biasAct(y, this.bias, {
        act: this.activation,
        gain: defaultGain(this.activation) * gain,
        clamp,
      });
    });
  }
}

/**
 * ToRGB: a modulated 1×1 convolution without demodulation, styles scaled by
 * 1/√(in·k²), bias, linear, clamped. Parameters: weight [out, in, k, k],
 * bias [out]; child affine.
 */
export class ToRGBLayer extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly affine: FullyConnected;
  readonly weightGain: number;
  readonly convClamp: number | null;
  readonly rollOut: RollOut;

  readonly inChannels: number;
  readonly outChannels: number;
  readonly wDim: number;

  constructor(
    options: {
      inChannels: number;
      outChannels: number;
      wDim: number;
      kernelSize?: number;
      convClamp?: number | null;
      rollOut?: RollOut;
      device?: Device;
    },
    rng: Rng,
  ) {
    super();
    const { inChannels, outChannels, wDim } = options;
    [this.inChannels, this.outChannels, this.wDim] = [inChannels, outChannels, wDim];
    const device = options.device ?? "gpu";
    const k = options.kernelSize ?? 1;
    this.convClamp = options.convClamp ?? null;
    this.rollOut = options.rollOut ?? null;
    const roll = rollOutFactors(this.rollOut);
    this.weight = this.param(
      "weight",
      rng.normal([outChannels, inChannels * roll.weightIn, k, k], device),
    );
    this.bias = this.param("bias", zeros([outChannels], device));
    this.affine = this.child(
      "affine",
      new FullyConnected(wDim, inChannels * roll.styles, rng, { biasInit: 1, device }),
    );
    // Mimic3D keeps 1/√(in·k²) of the un-aggregated width even when the weight has 3·in inputs.
    this.weightGain = 1 / Math.sqrt(inChannels * k * k);
  }

  /** x [N, in, H, W], w [N, wDim] → [N, out, H, W] (rolled out: N·3 planes). */
  forward(x: Tensor, w: Tensor, options: SynthesisForwardOptions = {}): Tensor {
    return scope(() => {
      const styles = planeStyles(mul(this.affine.forward(w), this.weightGain), this.rollOut);
      if (this.rollOut === "aware3d") x = aware3d(x);
      const y = modulatedConv2d(x, this.weight, styles, {
        demodulate: false,
        fused: options.fusedModconv ?? true,
      });
      return biasAct(y, this.bias, { act: "linear", clamp: this.convClamp });
    });
  }
}

/** Block architectures of StyleGAN2 ('orig': no skip image, no residual). */
export type SynthesisArchitecture = "orig" | "skip" | "resnet";

/** A synthesis block's shape and options. */
export interface SynthesisBlockConfig extends SynthesisBlockOptions {
  /** 0 for the first block (a learned const input). */
  inChannels: number;
  outChannels: number;
  wDim: number;
  resolution: number;
  imgChannels: number;
  isLast: boolean;
  /** 2 for StyleGAN2's blocks (default); EG3D's SynthesisBlockNoUp passes 1. */
  up?: number;
}

/** Options of `SynthesisBlock`. */
export interface SynthesisBlockOptions {
  architecture?: SynthesisArchitecture;
  resampleFilter?: number[];
  convClamp?: number | null;
  useNoise?: boolean;
  /** Mimic3D's per-plane blocks (the input holds N·3 planes). */
  rollOut?: RollOut;
  /** Mimic3D stores the first block's const as [1, C, r, r] (EG3D: [C, r, r]). */
  constLeadingAxis?: boolean;
  device?: Device;
}

/** The w at index `i` of ws [N, num, wDim], as [N, wDim]. */
function wAt(ws: Tensor, i: number): Tensor {
  const [n, , wDim] = ws.shape;
  return reshape(slice(ws, [null, [i, i + 1]]), [n, wDim]);
}

/**
 * One resolution of the synthesis network: a learned const input (first
 * block) or conv0 (upsampling ×`up`), conv1, and ToRGB; with 'skip' the
 * image of the previous block is upsampled and the ToRGB output added.
 * Parameters: const [out, res, res] (first block); buffer resample_filter;
 * children conv0, conv1, torgb, skip (resnet).
 *
 * It consumes ws [N, numConv + numTorgb, wDim]; the network advances by
 * numConv, so the ToRGB's w is the next block's conv0 w.
 */
export class SynthesisBlock extends Module {
  readonly const: Tensor | null;
  readonly conv0: SynthesisLayer | null;
  readonly conv1: SynthesisLayer;
  readonly torgb: ToRGBLayer | null;
  readonly skip: Conv2dLayer | null;
  readonly filter: Filter;
  readonly architecture: SynthesisArchitecture;
  readonly numConv: number;
  readonly numTorgb: number;

  readonly inChannels: number;
  readonly outChannels: number;
  readonly wDim: number;
  readonly resolution: number;
  readonly up: number;

  constructor(options: SynthesisBlockConfig, rng: Rng) {
    super();
    const { inChannels, outChannels, wDim, resolution, imgChannels, isLast } = options;
    const up = options.up ?? 2;
    [this.inChannels, this.outChannels, this.wDim, this.resolution, this.up] = [
      inChannels,
      outChannels,
      wDim,
      resolution,
      up,
    ];
    const device = options.device ?? "gpu";
    this.architecture = options.architecture ?? "skip";
    const resampleFilter = options.resampleFilter ?? [1, 3, 3, 1];
    this.filter = setupFilter(resampleFilter);
    const rollOut = options.rollOut ?? null;
    const layer = {
      resampleFilter,
      convClamp: options.convClamp ?? null,
      useNoise: options.useNoise,
      rollOut,
      device,
    };
    if (rollOut && inChannels === 0) {
      throw new Error("SynthesisBlock: a rolled-out (per-plane) block cannot be the first block");
    }
    this.const = inChannels === 0
      ? this.param(
        "const",
        rng.normal(
          [...(options.constLeadingAxis ? [1] : []), outChannels, resolution, resolution],
          device,
        ),
      )
      : null;
    this.buffer("resample_filter", filterBuffer(this.filter, device));
    this.conv0 = inChannels !== 0
      ? this.child(
        "conv0",
        new SynthesisLayer({ ...layer, inChannels, outChannels, wDim, resolution, up }, rng),
      )
      : null;
    this.conv1 = this.child(
      "conv1",
      new SynthesisLayer({ ...layer, inChannels: outChannels, outChannels, wDim, resolution }, rng),
    );
    this.torgb = isLast || this.architecture === "skip"
      ? this.child(
        "torgb",
        new ToRGBLayer({
          inChannels: outChannels,
          outChannels: imgChannels,
          wDim,
          convClamp: layer.convClamp,
          rollOut,
          device,
        }, rng),
      )
      : null;
    this.skip = inChannels !== 0 && this.architecture === "resnet"
      ? this.child(
        "skip",
        new Conv2dLayer(inChannels, outChannels, 1, rng, { bias: false, up, device }),
      )
      : null;
    this.numConv = inChannels === 0 ? 1 : 2;
    this.numTorgb = this.torgb ? 1 : 0;
  }

  /**
   * x [N, in, res/up, res/up] (null for the first block), img the previous
   * image (or null), ws [N, numConv + numTorgb, wDim] → { x, img }.
   */
  forward(
    x: Tensor | null,
    img: Tensor | null,
    ws: Tensor,
    options: SynthesisForwardOptions = {},
  ): { x: Tensor; img: Tensor | null } {
    return scope(() => {
      const [n, count, wDim] = ws.shape;
      if (count !== this.numConv + this.numTorgb || wDim !== this.wDim) {
        throw new Error(
          `SynthesisBlock ${this.resolution}: ws [${ws.shape}] should be [N, ${
            this.numConv + this.numTorgb
          }, ${this.wDim}]`,
        );
      }
      let k = 0;
      let h: Tensor;
      if (this.const) {
        const shape = [this.outChannels, this.resolution, this.resolution];
        h = this.conv1.forward(
          expand(reshape(this.const, [1, ...shape]), [n, ...shape]),
          wAt(ws, k++),
          options,
        );
      } else {
        if (!x) throw new Error(`SynthesisBlock ${this.resolution}: needs an input x`);
        if (this.skip) {
          const y = this.skip.forward(x, Math.SQRT1_2);
          h = this.conv0!.forward(x, wAt(ws, k++), options);
          h = this.conv1.forward(h, wAt(ws, k++), options, Math.SQRT1_2);
          h = add(y, h);
        } else {
          h = this.conv0!.forward(x, wAt(ws, k++), options);
          h = this.conv1.forward(h, wAt(ws, k++), options);
        }
      }
      let out = img;
      if (out && this.up > 1) out = upsample2d(out, this.filter, this.up);
      if (this.torgb) {
        const y = this.torgb.forward(h, wAt(ws, k), options);
        out = out ? add(out, y) : y;
      }
      return { x: h, img: out };
    });
  }
}

/** Configuration of `SynthesisNetwork` (names as the original's constructor). */
export interface SynthesisNetworkConfig {
  wDim: number;
  imgResolution: number;
  imgChannels: number;
  channelBase?: number;
  channelMax?: number;
  architecture?: SynthesisArchitecture;
  resampleFilter?: number[];
  convClamp?: number | null;
  /** Mimic3D's const layout [1, C, 4, 4] (see SynthesisBlockOptions). */
  constLeadingAxis?: boolean;
  device?: Device;
}

/**
 * Blocks b4 … b{imgResolution}, channels(res) = min(channelBase / res,
 * channelMax); ws [N, numWs, wDim] → the last block's image
 * [N, imgChannels, imgResolution, imgResolution].
 */
export class SynthesisNetwork extends Module {
  readonly blocks: SynthesisBlock[] = [];
  readonly numWs: number;

  constructor(readonly config: SynthesisNetworkConfig, rng: Rng) {
    super();
    const { wDim, imgResolution, imgChannels } = config;
    if (imgResolution < 4 || (imgResolution & (imgResolution - 1)) !== 0) {
      throw new Error(
        `SynthesisNetwork: imgResolution must be a power of two ≥ 4, got ${imgResolution}`,
      );
    }
    const channelBase = config.channelBase ?? 32768;
    const channelMax = config.channelMax ?? 512;
    const channels = (res: number) => Math.min(Math.floor(channelBase / res), channelMax);
    let numWs = 0;
    for (let res = 4; res <= imgResolution; res *= 2) {
      const isLast = res === imgResolution;
      const block = new SynthesisBlock({
        inChannels: res > 4 ? channels(res / 2) : 0,
        outChannels: channels(res),
        wDim,
        resolution: res,
        imgChannels,
        isLast,
        architecture: config.architecture,
        resampleFilter: config.resampleFilter,
        convClamp: config.convClamp,
        constLeadingAxis: config.constLeadingAxis,
        device: config.device,
      }, rng);
      this.blocks.push(this.child(`b${res}`, block));
      numWs += block.numConv + (isLast ? block.numTorgb : 0);
    }
    this.numWs = numWs;
  }

  /** Each block's ws [N, numConv + numTorgb, wDim]: block k's ToRGB shares its w with block k+1's conv0. */
  blockWs(ws: Tensor): Tensor[] {
    if (ws.rank !== 3 || ws.shape[1] !== this.numWs || ws.shape[2] !== this.config.wDim) {
      throw new Error(
        `SynthesisNetwork: ws [${ws.shape}] should be [N, ${this.numWs}, ${this.config.wDim}]`,
      );
    }
    let k = 0;
    return this.blocks.map((block) => {
      const w = slice(ws, [null, [k, k + block.numConv + block.numTorgb]]);
      k += block.numConv;
      return w;
    });
  }

  forward(ws: Tensor, options: SynthesisForwardOptions = {}): Tensor {
    let x: Tensor | null = null;
    let img: Tensor | null = null;
    const perBlock = this.blockWs(ws);
    this.blocks.forEach((block, i) => ({ x, img } = block.forward(x, img, perBlock[i], options)));
    return img!;
  }
}
