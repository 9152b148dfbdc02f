/**
 * StyleGAN2's ResNet discriminator as EG3D and Mimic3D use it:
 * blocks from the image resolution down to 8, an epilogue at 4×4 with
 * minibatch std, and camera conditioning by projection onto a mapped label.
 *
 * - `DualDiscriminator` (EG3D): sees [SR image, raw image resized to the SR
 *   size] = 6 channels, conditioned on the 25-d camera label.
 * - `SingleDiscriminator` (Mimic3D's patch D): one image, no conditioning.
 */
import {
  add,
  antialiasedResize,
  concat,
  Conv2dLayer,
  type Device,
  FullyConnected,
  minibatchStd,
  Module,
  mul,
  reshape,
  Rng,
  scope,
  setupFilter,
  sum,
  type Tensor,
  Tensor as TensorClass,
} from "../../kernels/mod.ts";
import { MappingNetwork } from "./mapping.ts";

/** Configuration (names as the original constructors). */
export interface DiscriminatorConfig {
  cDim: number;
  imgResolution: number;
  /** Channels of one input image (3); the dual D doubles it. */
  imgChannels: number;
  channelBase?: number;
  channelMax?: number;
  convClamp?: number | null;
  cmapDim?: number | null;
  mbstdGroupSize?: number;
  mbstdNumChannels?: number;
  mappingLayers?: number;
  device?: Device;
}

/** One resnet block: fromrgb (first block only), conv0, conv1 (down 2), skip (1×1 down, √0.5). */
class DiscriminatorBlock extends Module {
  readonly fromrgb: Conv2dLayer | null;
  readonly conv0: Conv2dLayer;
  readonly conv1: Conv2dLayer;
  readonly skip: Conv2dLayer;

  constructor(
    { inChannels, tmpChannels: tmp, outChannels: out, imgChannels, convClamp: clamp, device }: {
      /** Channels from the previous block; 0 for the first, which reads the image (fromrgb). */
      inChannels: number;
      tmpChannels: number;
      outChannels: number;
      imgChannels: number;
      convClamp: number | null;
      device: Device;
    },
    rng: Rng,
  ) {
    super();
    this.buffer("resample_filter", TensorClass.fromData(setupFilter().taps, [4, 4], device));
    const conv = (i: number, o: number, k: number, extra: object = {}) =>
      new Conv2dLayer(i, o, k, rng, { activation: "lrelu", convClamp: clamp, device, ...extra });
    this.fromrgb = inChannels === 0 ? this.child("fromrgb", conv(imgChannels, tmp, 1)) : null;
    this.conv0 = this.child("conv0", conv(tmp, tmp, 3));
    this.conv1 = this.child("conv1", conv(tmp, out, 3, { down: 2 }));
    this.skip = this.child(
      "skip",
      new Conv2dLayer(tmp, out, 1, rng, { bias: false, down: 2, convClamp: null, device }),
    );
  }

  forward(x: Tensor | null, img: Tensor): Tensor {
    return scope(() => {
      if (this.fromrgb) {
        const y = this.fromrgb.forward(img);
        x = x ? add(x, y) : y;
      }
      if (!x) throw new Error("discriminator block: no input features");
      const y = this.skip.forward(x, Math.SQRT1_2);
      const h = this.conv1.forward(this.conv0.forward(x), Math.SQRT1_2);
      return add(y, h);
    });
  }
}

/** 4×4 epilogue: minibatch std, 3×3 conv, FC, output FC, projection onto cmap. */
class DiscriminatorEpilogue extends Module {
  readonly conv: Conv2dLayer;
  readonly fc: FullyConnected;
  readonly out: FullyConnected;

  readonly cmapDim: number;
  readonly mbstdGroupSize: number;
  readonly mbstdNumChannels: number;

  constructor(
    options: {
      channels: number;
      /** Label embedding size; 0: unconditional (one logit). */
      cmapDim: number;
      mbstdGroupSize: number;
      mbstdNumChannels: number;
      convClamp: number | null;
      device: Device;
    },
    rng: Rng,
  ) {
    super();
    const { channels, cmapDim, mbstdNumChannels, convClamp: clamp, device } = options;
    this.cmapDim = cmapDim;
    this.mbstdGroupSize = options.mbstdGroupSize;
    this.mbstdNumChannels = mbstdNumChannels;
    this.conv = this.child(
      "conv",
      new Conv2dLayer(channels + mbstdNumChannels, channels, 3, rng, {
        activation: "lrelu",
        convClamp: clamp,
        device,
      }),
    );
    this.fc = this.child(
      "fc",
      new FullyConnected(channels * 16, channels, rng, { activation: "lrelu", device }),
    );
    this.out = this.child(
      "out",
      new FullyConnected(channels, cmapDim === 0 ? 1 : cmapDim, rng, { device }),
    );
  }

  forward(x: Tensor, cmap: Tensor | null): Tensor {
    return scope(() => {
      let h = this.mbstdNumChannels > 0
        ? minibatchStd(x, this.mbstdGroupSize, this.mbstdNumChannels)
        : x;
      h = this.conv.forward(h);
      h = this.fc.forward(reshape(h, [h.shape[0], -1]));
      h = this.out.forward(h);
      if (this.cmapDim > 0) {
        if (!cmap) throw new Error("discriminator: conditioning label missing");
        h = mul(sum(mul(h, cmap), 1, { keepDims: true }), 1 / Math.sqrt(this.cmapDim));
      }
      return h;
    });
  }
}

/** The shared trunk: blocks b{res} for res = R … 8, optional label mapping, epilogue b4. */
class DiscriminatorTrunk extends Module {
  readonly blocks: [number, DiscriminatorBlock][] = [];
  readonly mapping: MappingNetwork | null;
  readonly epilogue: DiscriminatorEpilogue;

  constructor(readonly config: DiscriminatorConfig, inputChannels: number, rng: Rng) {
    super();
    const device = config.device ?? "gpu";
    const base = config.channelBase ?? 32768;
    const cmax = config.channelMax ?? 512;
    const ch = (res: number) => Math.min(Math.floor(base / res), cmax);
    const clamp = config.convClamp === undefined ? 256 : config.convClamp;
    for (let res = config.imgResolution; res > 4; res /= 2) {
      const inCh = res < config.imgResolution ? ch(res) : 0;
      this.blocks.push([
        res,
        this.child(
          `b${res}`,
          new DiscriminatorBlock({
            inChannels: inCh,
            tmpChannels: ch(res),
            outChannels: ch(res / 2),
            imgChannels: inputChannels,
            convClamp: clamp,
            device,
          }, rng),
        ),
      ]);
    }
    const cmapDim = config.cDim === 0 ? 0 : config.cmapDim ?? ch(4);
    this.mapping = config.cDim > 0
      ? this.child(
        "mapping",
        new MappingNetwork({
          zDim: 0,
          cDim: config.cDim,
          wDim: cmapDim,
          numWs: null,
          numLayers: config.mappingLayers ?? 8,
          device,
        }, rng),
      )
      : null;
    this.epilogue = this.child(
      "b4",
      new DiscriminatorEpilogue({
        channels: ch(4),
        cmapDim,
        mbstdGroupSize: config.mbstdGroupSize ?? 4,
        mbstdNumChannels: config.mbstdNumChannels ?? 1,
        convClamp: clamp,
        device,
      }, rng),
    );
  }

  /** img [N, C, R, R] (and label c for the conditioned D) → logits [N, 1]; `cmap` is returned too. */
  run(img: Tensor, c: Tensor | null): { logits: Tensor; cmap: Tensor | null } {
    let x: Tensor | null = null;
    for (const [, block] of this.blocks) x = block.forward(x, img);
    const cmap = this.mapping ? this.mapping.forward(null, c) : null;
    return { logits: this.epilogue.forward(x!, cmap), cmap };
  }
}

/** EG3D's camera-conditioned dual discriminator on [image, resized image_raw]. */
export class DualDiscriminator extends DiscriminatorTrunk {
  constructor(config: DiscriminatorConfig, rng: Rng = new Rng(0)) {
    super(config, config.imgChannels * 2, rng);
    // The filter of EG3D's raw-image resize (kept for state-dict fidelity; the resize is bilinear).
    this.buffer(
      "resample_filter",
      TensorClass.fromData(setupFilter().taps, [4, 4], config.device ?? "gpu"),
    );
  }

  /** Logits [N, 1]; also the 6-channel D input and cmap (for checks). */
  forward(
    image: Tensor,
    imageRaw: Tensor,
    c: Tensor,
  ): { logits: Tensor; dInput: Tensor; cmap: Tensor | null } {
    const size = image.shape[3];
    // Mimic3D skips the resize when the raw image already has the image's size.
    const raw = imageRaw.shape[3] === size ? imageRaw : antialiasedResize(imageRaw, size);
    const dInput = concat([image, raw], 1);
    return { ...this.run(dInput, c), dInput };
  }
}

/** Mimic3D's unconditional single-image (patch) discriminator. */
export class SingleDiscriminator extends DiscriminatorTrunk {
  constructor(config: DiscriminatorConfig, rng: Rng = new Rng(0)) {
    super({ ...config, cDim: 0 }, config.imgChannels, rng);
  }

  forward(image: Tensor): Tensor {
    return this.run(image, null).logits;
  }
}
