/**
 * PyTorch's `interpolate(x, size, mode='bilinear', align_corners=False,
 * antialias=True)`, the resize EG3D uses for the SR input, for the raw image
 * fed to the dual discriminator and for downsampling real images
 * (`filtered_resizing(..., 'antialiased')`).
 *
 * The resize is separable and linear, so each axis is a small [out, in]
 * matrix built on the host and applied with `matmul`: y = A_h · x · A_wᵀ.
 * Gradients (of any order) come from matmul's own rules.
 */
import { type Device, Tensor } from "../tensor/tensor.ts";
import { matmul } from "../ops/matmul.ts";

/**
 * The [outSize, inSize] weights of one axis, as ATen's
 * `_compute_weights_aa` with the triangle filter: output pixel i has centre
 * c = s·(i + ½) (s = in/out); the filter support is s when downsampling
 * (triangle stretched by s) and 1 when upsampling (plain bilinear); taps are
 * input pixels ⌊c − support + ½⌋ … ⌊c + support + ½⌋ − 1 clipped to the
 * image, and the weights are renormalised to sum 1, which also handles the
 * borders.
 */
export function antialiasedResizeMatrix(inSize: number, outSize: number): Float64Array {
  const scale = inSize / outSize;
  const support = scale >= 1 ? scale : 1;
  const invScale = scale >= 1 ? 1 / scale : 1;
  const m = new Float64Array(outSize * inSize);
  for (let i = 0; i < outSize; i++) {
    const center = scale * (i + 0.5);
    // ATen truncates toward zero (static_cast<int64_t>) before clipping at 0.
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    let total = 0;
    for (let j = lo; j < hi; j++) {
      const w = Math.max(0, 1 - Math.abs((j - center + 0.5) * invScale));
      m[i * inSize + j] = w;
      total += w;
    }
    if (total !== 0) { for (let j = lo; j < hi; j++) m[i * inSize + j] /= total; }
  }
  return m;
}

/**
 * The [outSize, inSize] weights of plain bilinear resizing (antialias=False,
 * align_corners=False): source position max((i + ½)·s − ½, 0), two taps.
 * Equal to the antialiased weights when upsampling.
 */
export function bilinearResizeMatrix(inSize: number, outSize: number): Float64Array {
  const scale = inSize / outSize;
  const m = new Float64Array(outSize * inSize);
  for (let i = 0; i < outSize; i++) {
    const src = Math.max((i + 0.5) * scale - 0.5, 0);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    const t = src - i0;
    m[i * inSize + i0] += 1 - t;
    m[i * inSize + i1] += t;
  }
  return m;
}

const matrixCache = new Map<string, Tensor>();

function resizeMatrix(inSize: number, outSize: number, antialias: boolean, device: Device): Tensor {
  const key = `${device}:${inSize}:${outSize}:${antialias}`;
  const hit = matrixCache.get(key);
  if (hit && !hit.isDisposed) return hit;
  const values = antialias
    ? antialiasedResizeMatrix(inSize, outSize)
    : bilinearResizeMatrix(inSize, outSize);
  const t = Tensor.fromData(values, [outSize, inSize], device).keep();
  matrixCache.set(key, t);
  return t;
}

/**
 * Bilinear resize with antialiasing of x [..., H, W] to `size` (one number
 * for a square output, or [outH, outW]). Upsampling equals plain bilinear
 * (align_corners=False); downsampling averages with a triangle filter
 * widened by the scale factor.
 */
export function antialiasedResize(x: Tensor, size: number | [number, number]): Tensor {
  return bilinearResize(x, size, { antialias: true });
}

/** `interpolate(x, size, mode='bilinear', align_corners=False, antialias)` of x [..., H, W]. */
export function bilinearResize(
  x: Tensor,
  size: number | [number, number],
  { antialias = true }: { antialias?: boolean } = {},
): Tensor {
  if (x.rank < 2) throw new Error(`bilinearResize: needs [..., H, W], got [${x.shape}]`);
  const [outH, outW] = typeof size === "number" ? [size, size] : size;
  const h = x.shape[x.rank - 2];
  const w = x.shape[x.rank - 1];
  let y = x;
  if (outW !== w) y = matmul(y, resizeMatrix(w, outW, antialias, x.device), { transB: true });
  if (outH !== h) y = matmul(resizeMatrix(h, outH, antialias, x.device), y);
  return y;
}
