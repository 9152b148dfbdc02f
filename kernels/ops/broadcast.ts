/** Broadcasting rules (NumPy's) and the index layouts element-wise kernels iterate over. */
import { contiguousStrides } from "../tensor/tensor.ts";

/** The broadcast shape of several shapes; throws naming the shapes when incompatible. */
export function broadcastShapes(...shapes: (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i];
      if (out[o] === 1) out[o] = d;
      else if (d !== 1 && d !== out[o]) {
        throw new Error(
          `shapes ${shapes.map((x) => `[${x.join(", ")}]`).join(" and ")} do not broadcast`,
        );
      }
    }
  }
  return out;
}

/** Strides of a contiguous `shape` seen through the broadcast `outShape` (0 along broadcast axes). */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = contiguousStrides(shape);
  const offset = outShape.length - shape.length;
  return outShape.map((_, i) => {
    const j = i - offset;
    return j < 0 || shape[j] === 1 ? 0 : own[j];
  });
}

/**
 * Merges adjacent output axes wherever every operand's strides allow it, so
 * kernels iterate over as few axes as possible (same-shape operands → 1 axis).
 */
export function collapseAxes(
  outShape: readonly number[],
  strides: number[][],
): { shape: number[]; strides: number[][] } {
  const shape: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let i = 0; i < outShape.length; i++) {
    const d = outShape[i];
    if (d === 1) continue;
    const k = shape.length - 1;
    if (k >= 0 && strides.every((s, j) => st[j][k] === s[i] * d)) {
      shape[k] *= d;
      strides.forEach((s, j) => (st[j][k] = s[i]));
    } else {
      shape.push(d);
      strides.forEach((s, j) => st[j].push(s[i]));
    }
  }
  if (shape.length === 0) {
    shape.push(1);
    st.forEach((s) => s.push(0));
  }
  return { shape, strides: st };
}
