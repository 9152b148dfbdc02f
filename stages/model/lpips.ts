/**
 * LPIPS-VGG v0.1 as Mimic3D uses it for the imitation loss (its vendored
 * `third_parties/lpips`): inputs in [−1, 1] → scaling layer → VGG16
 * `features[0:30]` tapped after relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 →
 * per tap unit-normalise over channels (Mimic3D's variant: ε also inside the
 * square root), squared difference, a non-negative 1×1 head without bias,
 * spatial mean → sum over taps.
 *
 * Differentiable w.r.t. both inputs (the imitation loss back-propagates into
 * the 3D branch's patch). The network is frozen: all its tensors are buffers,
 * so no weight gradients are ever computed.
 *
 * State-dict names are the original module's: `scaling_layer.shift/scale`,
 * `net.slice{s}.{i}.weight/bias` (i = torchvision's `features.{i}` index) and
 * `lin{l}.model.1.weight`. `lpipsStateDict` assembles them from a torchvision
 * VGG16 state dict plus LPIPS's `vgg.pth` heads.
 */
import {
  add,
  concat,
  conv2d,
  type Device,
  div,
  maxPool2d,
  mean,
  Module,
  relu,
  reshape,
  slice,
  sqrt,
  square,
  sub,
  sum,
  Tensor,
  zeros,
} from "../../kernels/mod.ts";

/** The five taps, in order. */
export const LPIPS_TAPS = ["relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"] as const;

/** VGG16 `features` conv layers per slice: [torchvision index, in, out]; a 2×2 max pool opens slices 2–5. */
const VGG_SLICES: [number, number, number][][] = [
  [[0, 3, 64], [2, 64, 64]],
  [[5, 64, 128], [7, 128, 128]],
  [[10, 128, 256], [12, 256, 256], [14, 256, 256]],
  [[17, 256, 512], [19, 512, 512], [21, 512, 512]],
  [[24, 512, 512], [26, 512, 512], [28, 512, 512]],
];

/** LPIPS's ScalingLayer constants (ImageNet statistics mapped to [−1, 1] inputs). */
const SHIFT = [-0.030, -0.088, -0.188];
const SCALE = [0.458, 0.448, 0.450];

/** ε of `normalize_tensor`, used inside and outside the square root (Mimic3D's copy). */
const NORM_EPS = 1e-10;

/** A leaf module of frozen named tensors. */
class Frozen extends Module {
  add(name: string, t: Tensor): Tensor {
    return this.buffer(name, t);
  }
}

/** What `LpipsVgg.forward` returns. */
export interface LpipsResult {
  /** LPIPS distance per sample, [N]. */
  distance: Tensor;
  /** Per-tap distances d_l, each [N], by tap name. */
  perLayer: Map<string, Tensor>;
  /** Raw VGG features of `in0` per tap (before normalisation), for inspection. */
  features0: Map<string, Tensor>;
}

/** LPIPS(net='vgg', version='0.1') with Mimic3D's normalisation. */
export class LpipsVgg extends Module {
  private readonly shift: Tensor;
  private readonly scale: Tensor;
  private readonly convs: { weight: Tensor; bias: Tensor }[][];
  private readonly heads: Tensor[];

  constructor(device: Device = "gpu") {
    super();
    const scaling = this.child("scaling_layer", new Frozen());
    this.shift = scaling.add("shift", Tensor.fromData(SHIFT, [1, 3, 1, 1], device));
    this.scale = scaling.add("scale", Tensor.fromData(SCALE, [1, 3, 1, 1], device));
    const net = this.child("net", new Frozen());
    this.convs = VGG_SLICES.map((layers, s) =>
      layers.map(([i, cin, cout]) => ({
        weight: net.add(`slice${s + 1}.${i}.weight`, zeros([cout, cin, 3, 3], device)),
        bias: net.add(`slice${s + 1}.${i}.bias`, zeros([cout], device)),
      }))
    );
    this.heads = VGG_SLICES.map((layers, l) => {
      const channels = layers[layers.length - 1][2];
      return this.child(`lin${l}`, new Frozen()).add(
        "model.1.weight",
        zeros([1, channels, 1, 1], device),
      );
    });
  }

  /** VGG16 features at the five taps for x [N, 3, H, W] (already scaled). */
  private vggTaps(x: Tensor): Tensor[] {
    const taps: Tensor[] = [];
    let h = x;
    this.convs.forEach((layers, s) => {
      if (s > 0) h = maxPool2d(h, { kernelSize: 2, stride: 2 });
      for (const { weight, bias } of layers) {
        h = relu(add(conv2d(h, weight, { padding: 1 }), reshape(bias, [bias.shape[0], 1, 1])));
      }
      taps.push(h);
    });
    return taps;
  }

  /** LPIPS between in0 and in1 [N, 3, H, W], both in [−1, 1]. */
  forward(in0: Tensor, in1: Tensor): LpipsResult {
    if (in0.rank !== 4 || in0.shape[1] !== 3 || in0.shape.join() !== in1.shape.join()) {
      throw new Error(
        `LPIPS: expects two images [N, 3, H, W] of one shape, got [${in0.shape}] and [${in1.shape}]`,
      );
    }
    const n = in0.shape[0];
    const scaled = div(sub(concat([in0, in1], 0), this.shift), this.scale);
    const perLayer = new Map<string, Tensor>();
    const features0 = new Map<string, Tensor>();
    let distance: Tensor | null = null;
    this.vggTaps(scaled).forEach((f, l) => {
      const unit = div(
        f,
        add(sqrt(add(sum(square(f), 1, { keepDims: true }), NORM_EPS)), NORM_EPS),
      );
      const diff = square(sub(slice(unit, [[0, n]]), slice(unit, [[n, 2 * n]])));
      const d = reshape(mean(conv2d(diff, this.heads[l]), [1, 2, 3]), [n]);
      perLayer.set(LPIPS_TAPS[l], d);
      features0.set(LPIPS_TAPS[l], slice(f, [[0, n]]));
      distance = distance ? add(distance, d) : d;
    });
    return { distance: distance!, perLayer, features0 };
  }
}

/**
 * The LPIPS state dict from its two published parts: torchvision's VGG16
 * (`features.{i}.weight/bias`, other entries ignored) and LPIPS's `vgg.pth`
 * (`lin{l}.model.1.weight`). Tensors are passed through unconverted.
 */
export function lpipsStateDict<T>(vgg16: Map<string, T>, heads: Map<string, T>): Map<string, T> {
  const out = new Map<string, T>();
  VGG_SLICES.forEach((layers, s) => {
    for (const [i] of layers) {
      for (const leaf of ["weight", "bias"]) {
        const t = vgg16.get(`features.${i}.${leaf}`);
        if (!t) {
          throw new Error(
            `VGG16 state dict has no 'features.${i}.${leaf}' (a torchvision vgg16 checkpoint?)`,
          );
        }
        out.set(`net.slice${s + 1}.${i}.${leaf}`, t);
      }
    }
  });
  for (let l = 0; l < VGG_SLICES.length; l++) {
    const name = `lin${l}.model.1.weight`;
    const t = heads.get(name);
    if (!t) throw new Error(`LPIPS heads have no '${name}' (the LPIPS v0.1 vgg.pth?)`);
    out.set(name, t);
  }
  return out;
}
