/**
 * pytorch-fid's InceptionV3 in its FID configuration: the port of TensorFlow's
 * 2015-12-05 Inception graph (`pt_inception-2015-12-05-6726825d.pth`) that
 * FID numbers are computed with. Input images in [0, 1] of any size are
 * resized to 299² (plain bilinear, align_corners=False), mapped to [−1, 1],
 * and run to the 2048-d pool3 features (mean over the final 8×8 map).
 *
 * Parameter names are those of torchvision's `Inception3` inside pytorch-fid
 * (`Conv2d_1a_3x3.conv.weight`, `Mixed_5b.branch1x1.bn.running_var`, …), so
 * the `.pth` state dict loads by plain copy; the unused 1008-way classifier
 * (`fc.*`) and BatchNorm's `num_batches_tracked` counters are not kept.
 */
import {
  add,
  avgPool2d,
  bilinearResize,
  concat,
  conv2d,
  type Device,
  maxPool2d,
  mean,
  Module,
  mul,
  relu,
  reshape,
  rsqrt,
  sub,
  Tensor,
  zeros,
} from "../../kernels/mod.ts";
import { readPth } from "../io/pth.ts";

/** BatchNorm epsilon of the TF graph (PyTorch's default would be 1e−5). */
const BN_EPS = 1e-3;

type Pair = [number, number];

/** Conv (no bias) → BatchNorm (eval statistics) → ReLU: torchvision's BasicConv2d. */
class BasicConv2d extends Module {
  readonly stride: Pair;
  readonly padding: Pair;
  private readonly weight: Tensor;
  private readonly gamma: Tensor;
  private readonly beta: Tensor;
  private readonly runningMean: Tensor;
  private readonly runningVar: Tensor;

  constructor(
    inChannels: number,
    outChannels: number,
    kernel: number | Pair,
    device: Device,
    { stride = 1, padding = 0 }: { stride?: number; padding?: number | Pair } = {},
  ) {
    super();
    const [kh, kw] = typeof kernel === "number" ? [kernel, kernel] : kernel;
    this.stride = [stride, stride];
    this.padding = typeof padding === "number" ? [padding, padding] : padding;
    const conv = this.child("conv", new TensorHolder());
    this.weight = conv.add("weight", zeros([outChannels, inChannels, kh, kw], device));
    const bn = this.child("bn", new TensorHolder());
    this.gamma = bn.add("weight", zeros([outChannels], device));
    this.beta = bn.add("bias", zeros([outChannels], device));
    this.runningMean = bn.add("running_mean", zeros([outChannels], device));
    this.runningVar = bn.add("running_var", zeros([outChannels], device));
  }

  forward(x: Tensor): Tensor {
    const y = conv2d(x, this.weight, { stride: this.stride, padding: this.padding });
    const c = this.gamma.shape[0];
    const scale = mul(this.gamma, rsqrt(add(this.runningVar, BN_EPS)));
    const shift = sub(this.beta, mul(this.runningMean, scale));
    return relu(add(mul(y, reshape(scale, [c, 1, 1])), reshape(shift, [c, 1, 1])));
  }
}

/**
 * A leaf module holding named tensors (PyTorch's Conv2d / BatchNorm2d sets).
 * The network is never trained, so everything is a buffer: no gradients flow
 * into (or are computed for) the weights.
 */
class TensorHolder extends Module {
  add(name: string, t: Tensor): Tensor {
    return this.buffer(name, t);
  }
}

/** The pooling branch of the FID blocks: 3×3 average over real pixels only (TF semantics). */
function fidAvgPool(x: Tensor): Tensor {
  return avgPool2d(x, { kernelSize: 3, stride: 1, padding: 1, countIncludePad: false });
}

/** FIDInceptionA (Mixed_5b/5c/5d): 1×1, 5×5, double 3×3 and pool branches. */
class InceptionA extends Module {
  private readonly b1: BasicConv2d;
  private readonly b5: BasicConv2d[];
  private readonly b3: BasicConv2d[];
  private readonly pool: BasicConv2d;
  constructor(cin: number, poolFeatures: number, d: Device) {
    super();
    this.b1 = this.child("branch1x1", new BasicConv2d(cin, 64, 1, d));
    this.b5 = [
      this.child("branch5x5_1", new BasicConv2d(cin, 48, 1, d)),
      this.child("branch5x5_2", new BasicConv2d(48, 64, 5, d, { padding: 2 })),
    ];
    this.b3 = [
      this.child("branch3x3dbl_1", new BasicConv2d(cin, 64, 1, d)),
      this.child("branch3x3dbl_2", new BasicConv2d(64, 96, 3, d, { padding: 1 })),
      this.child("branch3x3dbl_3", new BasicConv2d(96, 96, 3, d, { padding: 1 })),
    ];
    this.pool = this.child("branch_pool", new BasicConv2d(cin, poolFeatures, 1, d));
  }
  forward(x: Tensor): Tensor {
    return concat([
      this.b1.forward(x),
      chain(this.b5, x),
      chain(this.b3, x),
      this.pool.forward(fidAvgPool(x)),
    ], 1);
  }
}

/** torchvision InceptionB (Mixed_6a): grid reduction 35² → 17². */
class InceptionB extends Module {
  private readonly b3: BasicConv2d;
  private readonly b3dbl: BasicConv2d[];
  constructor(cin: number, d: Device) {
    super();
    this.b3 = this.child("branch3x3", new BasicConv2d(cin, 384, 3, d, { stride: 2 }));
    this.b3dbl = [
      this.child("branch3x3dbl_1", new BasicConv2d(cin, 64, 1, d)),
      this.child("branch3x3dbl_2", new BasicConv2d(64, 96, 3, d, { padding: 1 })),
      this.child("branch3x3dbl_3", new BasicConv2d(96, 96, 3, d, { stride: 2 })),
    ];
  }
  forward(x: Tensor): Tensor {
    return concat([
      this.b3.forward(x),
      chain(this.b3dbl, x),
      maxPool2d(x, { kernelSize: 3, stride: 2 }),
    ], 1);
  }
}

/** FIDInceptionC (Mixed_6b…6e): factorised 7×7 branches. */
class InceptionC extends Module {
  private readonly b1: BasicConv2d;
  private readonly b7: BasicConv2d[];
  private readonly b7dbl: BasicConv2d[];
  private readonly pool: BasicConv2d;
  constructor(cin: number, c7: number, d: Device) {
    super();
    const row = { padding: [0, 3] as Pair };
    const col = { padding: [3, 0] as Pair };
    this.b1 = this.child("branch1x1", new BasicConv2d(cin, 192, 1, d));
    this.b7 = [
      this.child("branch7x7_1", new BasicConv2d(cin, c7, 1, d)),
      this.child("branch7x7_2", new BasicConv2d(c7, c7, [1, 7], d, row)),
      this.child("branch7x7_3", new BasicConv2d(c7, 192, [7, 1], d, col)),
    ];
    this.b7dbl = [
      this.child("branch7x7dbl_1", new BasicConv2d(cin, c7, 1, d)),
      this.child("branch7x7dbl_2", new BasicConv2d(c7, c7, [7, 1], d, col)),
      this.child("branch7x7dbl_3", new BasicConv2d(c7, c7, [1, 7], d, row)),
      this.child("branch7x7dbl_4", new BasicConv2d(c7, c7, [7, 1], d, col)),
      this.child("branch7x7dbl_5", new BasicConv2d(c7, 192, [1, 7], d, row)),
    ];
    this.pool = this.child("branch_pool", new BasicConv2d(cin, 192, 1, d));
  }
  forward(x: Tensor): Tensor {
    return concat([
      this.b1.forward(x),
      chain(this.b7, x),
      chain(this.b7dbl, x),
      this.pool.forward(fidAvgPool(x)),
    ], 1);
  }
}

/** torchvision InceptionD (Mixed_7a): grid reduction 17² → 8². */
class InceptionD extends Module {
  private readonly b3: BasicConv2d[];
  private readonly b7x3: BasicConv2d[];
  constructor(cin: number, d: Device) {
    super();
    this.b3 = [
      this.child("branch3x3_1", new BasicConv2d(cin, 192, 1, d)),
      this.child("branch3x3_2", new BasicConv2d(192, 320, 3, d, { stride: 2 })),
    ];
    this.b7x3 = [
      this.child("branch7x7x3_1", new BasicConv2d(cin, 192, 1, d)),
      this.child("branch7x7x3_2", new BasicConv2d(192, 192, [1, 7], d, { padding: [0, 3] })),
      this.child("branch7x7x3_3", new BasicConv2d(192, 192, [7, 1], d, { padding: [3, 0] })),
      this.child("branch7x7x3_4", new BasicConv2d(192, 192, 3, d, { stride: 2 })),
    ];
  }
  forward(x: Tensor): Tensor {
    return concat([
      chain(this.b3, x),
      chain(this.b7x3, x),
      maxPool2d(x, { kernelSize: 3, stride: 2 }),
    ], 1);
  }
}

/**
 * FIDInceptionE_1 (Mixed_7b, average pool over real pixels) and
 * FIDInceptionE_2 (Mixed_7c, max pool: a quirk of the TF graph FID keeps).
 */
class InceptionE extends Module {
  private readonly b1: BasicConv2d;
  private readonly b3: BasicConv2d;
  private readonly b3a: BasicConv2d;
  private readonly b3b: BasicConv2d;
  private readonly dbl: BasicConv2d[];
  private readonly dblA: BasicConv2d;
  private readonly dblB: BasicConv2d;
  private readonly pool: BasicConv2d;
  constructor(cin: number, private readonly poolKind: "avg" | "max", d: Device) {
    super();
    const row = { padding: [0, 1] as Pair };
    const col = { padding: [1, 0] as Pair };
    this.b1 = this.child("branch1x1", new BasicConv2d(cin, 320, 1, d));
    this.b3 = this.child("branch3x3_1", new BasicConv2d(cin, 384, 1, d));
    this.b3a = this.child("branch3x3_2a", new BasicConv2d(384, 384, [1, 3], d, row));
    this.b3b = this.child("branch3x3_2b", new BasicConv2d(384, 384, [3, 1], d, col));
    this.dbl = [
      this.child("branch3x3dbl_1", new BasicConv2d(cin, 448, 1, d)),
      this.child("branch3x3dbl_2", new BasicConv2d(448, 384, 3, d, { padding: 1 })),
    ];
    this.dblA = this.child("branch3x3dbl_3a", new BasicConv2d(384, 384, [1, 3], d, row));
    this.dblB = this.child("branch3x3dbl_3b", new BasicConv2d(384, 384, [3, 1], d, col));
    this.pool = this.child("branch_pool", new BasicConv2d(cin, 192, 1, d));
  }
  forward(x: Tensor): Tensor {
    const b3 = this.b3.forward(x);
    const dbl = chain(this.dbl, x);
    const pooled = this.poolKind === "avg"
      ? fidAvgPool(x)
      : maxPool2d(x, { kernelSize: 3, stride: 1, padding: 1 });
    return concat([
      this.b1.forward(x),
      concat([this.b3a.forward(b3), this.b3b.forward(b3)], 1),
      concat([this.dblA.forward(dbl), this.dblB.forward(dbl)], 1),
      this.pool.forward(pooled),
    ], 1);
  }
}

function chain(layers: BasicConv2d[], x: Tensor): Tensor {
  return layers.reduce((h, l) => l.forward(h), x);
}

/** A network stage: a block with weights (registered by name) or a weightless pooling. */
type Stage = (Module & { forward(x: Tensor): Tensor }) | ((x: Tensor) => Tensor);

/** Options of `FidInceptionV3.forward`. */
export interface InceptionForwardOptions {
  /** Called with "net_input" (the 299² input in [−1, 1]) and each block's output. */
  capture?: (name: string, t: Tensor) => void;
}

/** pytorch-fid `InceptionV3(output_blocks=[3], resize_input, normalize_input, use_fid_inception)`. */
export class FidInceptionV3 extends Module {
  private readonly layers: [string, (x: Tensor) => Tensor][];

  constructor(device: Device = "gpu") {
    super();
    const d = device;
    const maxPool = (x: Tensor) => maxPool2d(x, { kernelSize: 3, stride: 2 });
    const stages: [string, Stage][] = [
      ["Conv2d_1a_3x3", new BasicConv2d(3, 32, 3, d, { stride: 2 })],
      ["Conv2d_2a_3x3", new BasicConv2d(32, 32, 3, d)],
      ["Conv2d_2b_3x3", new BasicConv2d(32, 64, 3, d, { padding: 1 })],
      ["maxpool1", maxPool],
      ["Conv2d_3b_1x1", new BasicConv2d(64, 80, 1, d)],
      ["Conv2d_4a_3x3", new BasicConv2d(80, 192, 3, d)],
      ["maxpool2", maxPool],
      ["Mixed_5b", new InceptionA(192, 32, d)],
      ["Mixed_5c", new InceptionA(256, 64, d)],
      ["Mixed_5d", new InceptionA(288, 64, d)],
      ["Mixed_6a", new InceptionB(288, d)],
      ["Mixed_6b", new InceptionC(768, 128, d)],
      ["Mixed_6c", new InceptionC(768, 160, d)],
      ["Mixed_6d", new InceptionC(768, 160, d)],
      ["Mixed_6e", new InceptionC(768, 192, d)],
      ["Mixed_7a", new InceptionD(768, d)],
      ["Mixed_7b", new InceptionE(1280, "avg", d)],
      ["Mixed_7c", new InceptionE(2048, "max", d)],
    ];
    this.layers = stages.map(([name, stage]): [string, (x: Tensor) => Tensor] => {
      if (typeof stage === "function") return [name, stage];
      const block = this.child(name, stage);
      return [name, (x: Tensor) => block.forward(x)];
    });
  }

  /** Images [N, 3, H, W] in [0, 1] → pool3 features [N, 2048]. */
  forward(images: Tensor, { capture }: InceptionForwardOptions = {}): Tensor {
    if (images.rank !== 4 || images.shape[1] !== 3) {
      throw new Error(
        `FID Inception: expects images [N, 3, H, W] in [0, 1], got [${images.shape}]`,
      );
    }
    let x = sub(mul(bilinearResize(images, 299, { antialias: false }), 2), 1);
    capture?.("net_input", x);
    for (const [name, layer] of this.layers) {
      x = layer(x);
      capture?.(name, x);
    }
    return mean(x, [2, 3]);
  }
}

/**
 * Picks the entries of an original pytorch-fid / torchvision state dict that
 * this module holds: drops the classifier (`fc.*`) and BatchNorm's
 * `num_batches_tracked` counters, which FID features never use.
 */
export function inceptionStateDict<T>(original: Map<string, T>): Map<string, T> {
  const out = new Map<string, T>();
  for (const [k, v] of original) {
    if (k.startsWith("fc.") || k.endsWith(".num_batches_tracked")) continue;
    out.set(k, v);
  }
  return out;
}

/**
 * Builds the FID network from pytorch-fid's weight file
 * (`pt_inception-2015-12-05-6726825d.pth`: a user's path, or the pinned copy
 * `stages/weights/` downloads). Every convolution and BatchNorm entry must be present.
 */
export async function loadInceptionWeights(
  path: string,
  device: Device = "gpu",
): Promise<FidInceptionV3> {
  const state = inceptionStateDict(await readPth(path));
  const net = new FidInceptionV3(device);
  const tensors = new Map(
    [...state].map(([k, t]) => [k, Tensor.fromData(t.data, t.shape, device)]),
  );
  try {
    net.loadStateDict(tensors);
  } catch (e) {
    throw new Error(`${path}: not pytorch-fid's FID Inception weights: ${(e as Error).message}`);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  return net;
}
