/**
 * Mimic3D's Aware3DBlock: the 3-D branch beside the StyleGAN2 backbone. At a
 * backbone resolution r it takes the backbone's tri-plane image there
 * (N, 3·C, r, r) as N·3 planes, adds the branch's previous output, and runs a
 * per-plane synthesis block with 3-D-aware convolutions (roll-out "aware3d", up 2
 * unless r is the last resolution) whose ToRGB output is the next 3-D plane.
 * At the last resolution Mimic3D adds `extraBlocks` more blocks (up 2, then
 * up 1; roll-out "perPlane" when there are two) that make the 2× detail planes.
 * All of them use the backbone block's last w, repeated for their 3 layers.
 */
import {
  add,
  type Device,
  expand,
  Module,
  reshape,
  type Rng,
  scope,
  slice,
  type Tensor,
} from "../../kernels/mod.ts";
import {
  SynthesisBlock,
  type SynthesisBlockOptions,
  type SynthesisForwardOptions,
} from "./synthesis.ts";

/** Configuration of an Aware3DBlock (names as the original constructor). */
export interface Aware3DBlockConfig {
  /** Channels of the backbone's tri-plane image (3 planes × C). */
  imgChannels: number;
  /** The backbone resolution this block sits at. */
  imgResolution: number;
  /** The resolution of the coarse planes (the last 3-D-aware resolution). */
  retResolution: number;
  /** Detail blocks after the last block (Mimic3D: −retidx[0] − 1 = 2; 0 = none). */
  extraBlocks: number;
  wDim: number;
  /** Channels of each output plane (32 in Mimic3D). */
  planeChannels?: number;
  block?: Omit<SynthesisBlockOptions, "rollOut" | "device">;
  device?: Device;
}

export class Aware3DBlock extends Module {
  readonly block: SynthesisBlock;
  readonly block2: SynthesisBlock | null;
  readonly block3: SynthesisBlock | null;

  constructor(readonly config: Aware3DBlockConfig, rng: Rng) {
    super();
    const c = config.imgChannels / 3;
    const planes = config.planeChannels ?? 32;
    const isLastRes = config.imgResolution === config.retResolution;
    const up = isLastRes ? 1 : 2;
    const block = (up: number, rollOut: "aware3d" | "perPlane", resolution: number) =>
      new SynthesisBlock({
        ...config.block,
        inChannels: c,
        outChannels: c,
        wDim: config.wDim,
        resolution,
        imgChannels: planes,
        isLast: true,
        up,
        rollOut,
        device: config.device,
      }, rng);
    this.block = this.child("block", block(up, "aware3d", config.imgResolution * up));
    const extra = isLastRes ? config.extraBlocks : 0;
    const detailRoll = extra > 1 ? "perPlane" : "aware3d";
    this.block2 = extra > 0
      ? this.child("block2", block(2, detailRoll, config.imgResolution * 2))
      : null;
    this.block3 = extra > 1
      ? this.child("block3", block(1, "perPlane", config.imgResolution * 2))
      : null;
  }

  /**
   * prev: the previous 3-D planes (N·3, C, r, r) or null; img2d: the backbone's
   * tri-plane image (N, 3·C, r, r); ws: the backbone block's ws (N, k, wDim).
   * Returns the block's planes, then the detail planes if any.
   */
  forward(
    prev: Tensor | null,
    img2d: Tensor,
    ws: Tensor,
    options: SynthesisForwardOptions = {},
  ): Tensor[] {
    return scope(() => {
      const [n, ch, h, w] = img2d.shape;
      let x = reshape(img2d, [n * 3, ch / 3, h, w]);
      if (prev) x = add(x, prev);
      const [, k, wDim] = ws.shape;
      const last = expand(slice(ws, [null, [k - 1, k]]), [n, 3, wDim]);
      const out = [this.block.forward(x, null, last, options).img!];
      if (this.block2) out.push(this.block2.forward(out[0], null, last, options).img!);
      if (this.block3) out.push(this.block3.forward(out[1], null, last, options).img!);
      return out;
    });
  }
}
