/**
 * The camera rig of a dataset, recovered from its labels: the point every
 * camera looks at (least-squares nearest point to all optical axes: the
 * procedural set's origin, FFHQ's pivot), the mean distance to it and the
 * mean focal length — so sample grids and turntables orbit the subject the
 * way the training cameras did, whatever the dataset.
 * @module
 */
import type { CameraRig } from "../render/cameras.ts";

/** The rig the labels were taken with. */
export function datasetRig(labels: readonly (readonly number[])[]): CameraRig {
  if (labels.length === 0) throw new Error("no camera labels to recover a rig from");
  // Σ (I − d·dᵀ)·p = Σ (I − d·dᵀ)·o over cameras (origin o, viewing direction d).
  const a = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  const b = [0, 0, 0];
  for (const l of labels) {
    const o = [l[3], l[7], l[11]];
    const d = [l[2], l[6], l[10]];
    const n = Math.hypot(d[0], d[1], d[2]) || 1;
    for (let i = 0; i < 3; i++) d[i] /= n;
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        const m = (i === j ? 1 : 0) - d[i] * d[j];
        a[3 * i + j] += m;
        b[i] += m * o[j];
      }
    }
  }
  const pivot = solve3(a, b) ?? [0, 0, 0];
  let radius = 0, focal = 0;
  for (const l of labels) {
    radius += Math.hypot(l[3] - pivot[0], l[7] - pivot[1], l[11] - pivot[2]);
    focal += l[16];
  }
  const round = (v: number) => Math.round(v * 1e6) / 1e6 + 0; // stable in JSON and the key
  return {
    radius: round(radius / labels.length),
    focal: round(focal / labels.length),
    pivot: [round(pivot[0]), round(pivot[1]), round(pivot[2])],
  };
}

/** Solves a 3×3 system by Cramer's rule; null when (nearly) singular (all axes parallel). */
function solve3(a: number[], b: number[]): [number, number, number] | null {
  const det = (m: number[]) =>
    m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
    m[2] * (m[3] * m[7] - m[4] * m[6]);
  const d = det(a);
  if (Math.abs(d) < 1e-9) return null;
  const column = (k: number) => a.map((v, i) => (i % 3 === k ? b[Math.floor(i / 3)] : v));
  return [det(column(0)) / d, det(column(1)) / d, det(column(2)) / d];
}
