/**
 * Reprojection error on analytically rendered scenes: a sphere whose colour
 * is a function of the surface point (3-D consistent by construction)
 * reprojects with near-zero error, one whose colour follows the screen
 * (what view-dependent 2-D upsampling does) does not; occluded points are
 * skipped. Also: the dataset rig is recovered from look-at cameras.
 */
import { reprojectionError } from "../../stages/eval/consistency.ts";
import { datasetRig } from "../../stages/eval/dataset_rig.ts";
import type { RenderedView } from "../../stages/eval/sample_render.ts";
import { lookAtCameraLabel } from "../../stages/io/camera_label.ts";
import { assertEquals } from "../helpers/assert.ts";

const RADIUS = 0.4;

/** Ray-traces a sphere at the origin from `label` (rays exactly as `sampleRays` makes them). */
function renderSphere(label: number[], r: number, screenColour: boolean): RenderedView {
  const image = new Float32Array(3 * r * r), depth = new Float32Array(r * r).fill(3);
  const opacity = new Float32Array(r * r);
  const [fx, cx, fy, cy] = [label[16], label[18], label[20], label[21]];
  const o = [label[3], label[7], label[11]];
  for (let y = 0; y < r; y++) {
    for (let x = 0; x < r; x++) {
      const u = (x + 0.5) / r, v = (y + 0.5) / r;
      const cam = [(u - cx) / fx, (v - cy) / fy, 1];
      const d = [0, 1, 2].map((i) =>
        label[4 * i] * cam[0] + label[4 * i + 1] * cam[1] + label[4 * i + 2] * cam[2]
      );
      const n = Math.hypot(d[0], d[1], d[2]);
      for (let i = 0; i < 3; i++) d[i] /= n;
      const b = o[0] * d[0] + o[1] * d[1] + o[2] * d[2];
      const disc = b * b - (o[0] ** 2 + o[1] ** 2 + o[2] ** 2 - RADIUS ** 2);
      if (disc < 0) continue;
      const t = -b - Math.sqrt(disc);
      const p = [0, 1, 2].map((i) => o[i] + t * d[i]);
      depth[y * r + x] = t;
      opacity[y * r + x] = 1;
      for (let c = 0; c < 3; c++) {
        image[c * r * r + y * r + x] = screenColour
          ? Math.sin(9 * (c === 0 ? u : v) + c)
          : Math.sin(6 * p[c] + 3 * p[(c + 1) % 3]);
      }
    }
  }
  return { resolution: r, image, depthResolution: r, depth, opacity, label };
}

const camera = (yawDeg: number) =>
  lookAtCameraLabel({ yaw: (yawDeg * Math.PI) / 180, pitch: 0.1, radius: 2.7, focal: 4.2647 });

Deno.test("reprojection: ~0 for a surface-attached texture, large for a screen-attached one", () => {
  const a = renderSphere(camera(0), 64, false), b = renderSphere(camera(5), 64, false);
  const consistent = reprojectionError(a, b);
  const sa = renderSphere(camera(0), 64, true), sb = renderSphere(camera(5), 64, true);
  const inconsistent = reprojectionError(sa, sb);
  if (!(consistent.meanAbsError < 0.01)) throw new Error(`consistent: ${consistent.meanAbsError}`);
  if (!(inconsistent.meanAbsError > 5 * consistent.meanAbsError)) {
    throw new Error(`inconsistent ${inconsistent.meanAbsError} vs ${consistent.meanAbsError}`);
  }
  if (!(consistent.validFraction > 0.8 && consistent.validFraction <= 1)) {
    throw new Error(`valid fraction ${consistent.validFraction}`);
  }
  // A view from behind shares no visible point: everything is occluded or off-screen.
  const behind = reprojectionError(a, renderSphere(camera(180), 64, false));
  assertEquals(behind.pixels, 0);
});

Deno.test("dataset rig: pivot, radius and focal recovered from look-at cameras", () => {
  const labels = [-30, -5, 0, 12, 40].map((yaw, i) =>
    lookAtCameraLabel({
      yaw: (yaw * Math.PI) / 180,
      pitch: 0.05 * (i - 2),
      radius: 2.7,
      focal: 4.2647,
      target: [0, 0, 0.2],
    })
  );
  const rig = datasetRig(labels);
  assertEquals(rig, { radius: 2.7, focal: 4.2647, pivot: [0, 0, 0.2] });
});
