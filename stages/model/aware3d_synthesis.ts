/**
 * Mimic3D's synthesis network: EG3D's tri-plane backbone (the "2-D branch")
 * with an Aware3DBlock `b3d{r}` beside every block at the resolutions in
 * `aware3dRes` (the "3-D branch"). Each 3-D block reads the backbone's
 * tri-plane image at r plus the branch's previous output; past the last 3-D
 * resolution the backbone continues from the 3-D planes. The outputs the
 * generator renders are picked from the list of every block's planes by
 * `retidx` (Mimic3D: [−3, −1] = the coarse planes at the last 3-D resolution
 * and the 2× detail planes).
 */
import { reshape, type Rng, type Tensor } from "../../kernels/mod.ts";
import { Aware3DBlock } from "./aware3d_block.ts";
import {
  type SynthesisForwardOptions,
  SynthesisNetwork,
  type SynthesisNetworkConfig,
} from "./synthesis.ts";

/** Configuration: the backbone's, plus the 3-D branch. */
export interface Aware3DSynthesisConfig extends SynthesisNetworkConfig {
  /** Backbone resolutions with a 3-D-aware block (Mimic3D FFHQ: 4 … 256). */
  aware3dRes: number[];
  /** Which planes of the list to return (null: the final planes only). */
  retidx: number[] | null;
}

/** The planes a forward pass produces. */
export interface TriplaneOutputs {
  /** Per `retidx`, planes in the rolled-out layout (N·3, C, H, W) (or the single final planes). */
  planes: Tensor[];
  /** The backbone's own final tri-plane image (N, 3·C, R, R) (an input of the 3-D branch only). */
  planes2d: Tensor;
}

export class Aware3DSynthesisNetwork extends SynthesisNetwork {
  readonly blocks3d = new Map<number, Aware3DBlock>();

  constructor(readonly config3d: Aware3DSynthesisConfig, rng: Rng) {
    super({ ...config3d, constLeadingAxis: true }, rng);
    const res3d = config3d.aware3dRes;
    const retResolution = res3d.length ? res3d[res3d.length - 1] : -1;
    const extraBlocks = config3d.retidx ? -config3d.retidx[0] - 1 : 0;
    for (const block of this.blocks) {
      const r = block.resolution;
      if (!res3d.includes(r)) continue;
      this.blocks3d.set(
        r,
        this.child(
          `b3d${r}`,
          new Aware3DBlock({
            imgChannels: config3d.imgChannels,
            // The 3-D planes keep the backbone's per-plane width (the block's default is 32).
            planeChannels: config3d.imgChannels / 3,
            imgResolution: r,
            retResolution,
            extraBlocks,
            wDim: config3d.wDim,
            block: {
              architecture: config3d.architecture,
              resampleFilter: config3d.resampleFilter,
              convClamp: config3d.convClamp,
            },
            device: config3d.device,
          }, rng),
        ),
      );
    }
  }

  /** ws [N, numWs, wDim] → the selected planes. */
  forwardPlanes(ws: Tensor, options: SynthesisForwardOptions = {}): TriplaneOutputs {
    const perBlock = this.blockWs(ws);
    let x: Tensor | null = null;
    let img: Tensor | null = null;
    let img3d: Tensor | null = null;
    let lastHad3d = false;
    const list: Tensor[] = [];
    const rolled = (t: Tensor) =>
      reshape(t, [t.shape[0] * 3, t.shape[1] / 3, t.shape[2], t.shape[3]]);
    this.blocks.forEach((block, i) => {
      const block3d = this.blocks3d.get(block.resolution);
      // Past the 3-D branch, the backbone continues from the 3-D planes.
      if (lastHad3d && !block3d && img && img3d) img = reshape(img3d, img.shape);
      ({ x, img } = block.forward(x, img, perBlock[i], options));
      if (block3d) {
        lastHad3d = true;
        const out = block3d.forward(img3d, img!, perBlock[i], options);
        list.push(...out);
        img3d = out[out.length - 1];
      } else {
        lastHad3d = false;
        list.push(img3d ? rolled(img!) : img!);
      }
    });
    const retidx = this.config3d.retidx;
    const pick = (k: number) => list[k < 0 ? list.length + k : k];
    return {
      planes: retidx ? retidx.map(pick) : [img3d ?? img!],
      planes2d: img!,
    };
  }
}
