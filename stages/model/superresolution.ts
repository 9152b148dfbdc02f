/**
 * EG3D's super-resolution networks (`training/superresolution.py`): the
 * rendered feature image x (32 channels) and its first 3 channels rgb are
 * resized to the SR input resolution (bilinear, antialiased), then two
 * StyleGAN2 synthesis blocks refine and upsample, all styled by the last w
 * repeated 3 times. The output is the block chain's image.
 *
 * | class | block0 | block1 | input → output |
 * |---|---|---|---|
 * | SuperresolutionHybrid2X | NoUp, C→128 at 64 | 128→64 at 128 | 64 → 128 |
 * | SuperresolutionHybrid4X | NoUp, C→128 at 128 | 128→64 at 256 | 128 → 256 |
 * | SuperresolutionHybrid8XDC | C→256 at 256 | 256→128 at 512 | 128 → 512 (FFHQ-512) |
 *
 * The original hard-codes these sizes (and w_dim 512); here they are the
 * defaults of an explicit config, so tiny test networks use the same code.
 *
 * Precision: everything runs in float32. The original runs its SR blocks in
 * fp16 on CUDA when `sr_num_fp16_res > 0` (EG3D's FFHQ config) and then also
 * clamps conv outputs to ±256; the clamp is kept (`convClamp`), fp16 is not.
 */
import {
  bilinearResize,
  type Device,
  expand,
  Module,
  type Rng,
  scope,
  setupFilter,
  slice,
  type Tensor,
  Tensor as TensorClass,
} from "../../kernels/mod.ts";
import {
  SynthesisBlock,
  type SynthesisBlockConfig,
  type SynthesisBlockOptions,
  type SynthesisForwardOptions,
} from "./synthesis.ts";

/**
 * EG3D's SynthesisBlockNoUp: a synthesis block at its input resolution
 * (conv0 does not upsample, and the incoming image is added to ToRGB's output
 * without upsampling). Same parameter names as `SynthesisBlock`. (With
 * 'resnet' the original's skip conv still upsamples and the block cannot run;
 * here it does not upsample. EG3D only uses 'skip'.)
 */
export class SynthesisBlockNoUp extends SynthesisBlock {
  constructor(options: Omit<SynthesisBlockConfig, "up">, rng: Rng) {
    super({ ...options, up: 1 }, rng);
  }
}

/** The three SR classes of EG3D. */
export type SuperresolutionKind =
  | "SuperresolutionHybrid2X"
  | "SuperresolutionHybrid4X"
  | "SuperresolutionHybrid8XDC";

/** Configuration of `Superresolution` (original names in comments). */
export interface SuperresolutionConfig {
  kind: SuperresolutionKind;
  /** Channels of the rendered feature image (`channels`, 32 in EG3D). */
  channels: number;
  /** Output resolution (`img_resolution`: 128 / 256 / 512 for 2X / 4X / 8XDC). */
  imgResolution?: number;
  /** Resolution the inputs are resized to (64 / 128 / 128). */
  inputResolution?: number;
  /** Output channels of block0 and block1 (128,64 / 128,64 / 256,128). */
  blockChannels?: [number, number];
  /** w dimensionality (512 in the original). */
  wDim?: number;
  /** Antialias the input resize (`sr_antialias`, true in EG3D). */
  antialias?: boolean;
  /** Number of fp16 resolutions of the original; > 0 turns on its conv clamp of 256. */
  srNumFp16Res?: number;
  /** Overrides the clamp (default: 256 if srNumFp16Res > 0, else none). */
  convClamp?: number | null;
  /** Block options passed through (architecture, filter). */
  architecture?: SynthesisBlockOptions["architecture"];
  device?: Device;
}

const DEFAULTS: Record<
  SuperresolutionKind,
  { img: number; input: number; channels: [number, number] }
> = {
  SuperresolutionHybrid2X: { img: 128, input: 64, channels: [128, 64] },
  SuperresolutionHybrid4X: { img: 256, input: 128, channels: [128, 64] },
  SuperresolutionHybrid8XDC: { img: 512, input: 128, channels: [256, 128] },
};

/**
 * rgb [N, 3, r, r], x [N, channels, r, r], ws [N, *, wDim] → image
 * [N, 3, imgResolution, imgResolution]. Parameters: block0.*, block1.*, and
 * (2X / 4X only, as the original) the buffer resample_filter.
 */
export class Superresolution extends Module {
  readonly block0: SynthesisBlock;
  readonly block1: SynthesisBlock;
  readonly inputResolution: number;
  readonly imgResolution: number;
  readonly wDim: number;

  constructor(readonly config: SuperresolutionConfig, rng: Rng) {
    super();
    const d = DEFAULTS[config.kind];
    if (!d) throw new Error(`unknown super-resolution class '${config.kind}'`);
    const device = config.device ?? "gpu";
    this.imgResolution = config.imgResolution ?? d.img;
    this.inputResolution = config.inputResolution ?? d.input;
    this.wDim = config.wDim ?? 512;
    const [c0, c1] = config.blockChannels ?? d.channels;
    const convClamp = config.convClamp !== undefined
      ? config.convClamp
      : (config.srNumFp16Res ?? 0) > 0
      ? 256
      : null;
    const options: SynthesisBlockOptions = { convClamp, architecture: config.architecture, device };
    // 2X / 4X: a no-up block at the input resolution, then ×2. 8XDC: two ×2 blocks.
    const ups = config.kind === "SuperresolutionHybrid8XDC" ? 4 : 2;
    if (this.inputResolution * ups !== this.imgResolution) {
      throw new Error(
        `${config.kind}: imgResolution ${this.imgResolution} must be ${ups}× inputResolution ${this.inputResolution}`,
      );
    }
    const block0Resolution = config.kind === "SuperresolutionHybrid8XDC"
      ? this.imgResolution / 2
      : this.inputResolution;
    if (config.kind !== "SuperresolutionHybrid8XDC") {
      const f = setupFilter([1, 3, 3, 1]);
      this.buffer("resample_filter", TensorClass.fromData(f.taps, [f.height, f.width], device));
    }
    const block0 = {
      ...options,
      inChannels: config.channels,
      outChannels: c0,
      wDim: this.wDim,
      resolution: block0Resolution,
      imgChannels: 3,
      isLast: false,
    };
    this.block0 = this.child(
      "block0",
      config.kind === "SuperresolutionHybrid8XDC"
        ? new SynthesisBlock(block0, rng)
        : new SynthesisBlockNoUp(block0, rng),
    );
    this.block1 = this.child(
      "block1",
      new SynthesisBlock({
        ...options,
        inChannels: c0,
        outChannels: c1,
        wDim: this.wDim,
        resolution: this.imgResolution,
        imgChannels: 3,
        isLast: true,
      }, rng),
    );
  }

  forward(rgb: Tensor, x: Tensor, ws: Tensor, options: SynthesisForwardOptions = {}): Tensor {
    return scope(() => {
      const [n, count, wDim] = ws.shape;
      // The last w, three times (conv0, conv1, torgb of each block).
      const w = expand(slice(ws, [null, [count - 1, count]]), [n, 3, wDim]);
      const size = x.shape[3];
      // 4X resizes only upwards (`<`), 2X and 8XDC whenever the size differs.
      const resize = this.config.kind === "SuperresolutionHybrid4X"
        ? size < this.inputResolution
        : size !== this.inputResolution;
      if (resize) {
        const antialias = this.config.antialias ?? true;
        x = bilinearResize(x, this.inputResolution, { antialias });
        rgb = bilinearResize(rgb, this.inputResolution, { antialias });
      }
      const a = this.block0.forward(x, rgb, w, options);
      const b = this.block1.forward(a.x, a.img, w, options);
      return b.img!;
    });
  }
}
