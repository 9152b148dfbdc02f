import { assertEquals } from "../helpers/assert.ts";
import {
  cameraYawPitch,
  flipCameraLabel,
  lookAtCameraLabel,
} from "../../stages/io/camera_label.ts";

const close = (a: readonly number[], b: readonly number[], tol = 1e-12) =>
  assertEquals(a.every((v, i) => Math.abs(v - b[i]) <= tol), true, `${a} != ${b}`);

Deno.test("camera label: frontal camera matches the fixtures' convention", () => {
  const c = lookAtCameraLabel({ yaw: 0, pitch: 0 });
  // +x right = world +x, camera y down = world −y, forward = −z, at (0, 0, 2.7).
  close(c.slice(0, 16), [1, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1, 2.7, 0, 0, 0, 1]);
  close(c.slice(16), [4.2647, 0, 0.5, 0, 4.2647, 0.5, 0, 0, 1]);
  const { yaw, pitch } = cameraYawPitch(lookAtCameraLabel({ yaw: 0.3, pitch: -0.15 }));
  close([yaw, pitch], [0.3, -0.15]);
});

Deno.test("x-flip label: EG3D flip_yaw on a hand-written matrix", () => {
  // Arbitrary entries, so every sign is visible.
  const pose = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 1];
  const intrinsics = [4.2647, 0, 0.5, 0, 4.2647, 0.5, 0, 0, 1];
  const flipped = flipCameraLabel([...pose, ...intrinsics]);
  // F·P·F with F = diag(−1, 1, 1, 1): (0,1), (0,2), (0,3), (1,0), (2,0) change sign.
  assertEquals(flipped, [1, -2, -3, -4, -5, 6, 7, 8, -9, 10, 11, 12, 0, 0, 0, 1, ...intrinsics]);
});

Deno.test("x-flip label: a yawed camera becomes the mirrored camera (hand-computed)", () => {
  const yaw = 0.3, pitch = 0.1, r = 2.7;
  const [sy, cy, sp, cp] = [Math.sin(yaw), Math.cos(yaw), Math.sin(pitch), Math.cos(pitch)];
  // Camera at r·(sin y cos p, sin p, cos y cos p); right = (cos y, 0, −sin y);
  // forward = −position/r; down = forward × right.
  const forward = [-sy * cp, -sp, -cy * cp];
  const right = [cy, 0, -sy];
  const down = [
    forward[1] * right[2] - forward[2] * right[1],
    forward[2] * right[0] - forward[0] * right[2],
    forward[0] * right[1] - forward[1] * right[0],
  ];
  const position = [r * sy * cp, r * sp, r * cy * cp];
  const expectedPose = (s: number) => [
    right[0],
    s * down[0],
    s * forward[0],
    s * position[0],
    s * right[1],
    down[1],
    forward[1],
    position[1],
    s * right[2],
    down[2],
    forward[2],
    position[2],
    0,
    0,
    0,
    1,
  ]; // deno-fmt-ignore
  const label = lookAtCameraLabel({ yaw, pitch });
  close(label.slice(0, 16), expectedPose(1));
  close(flipCameraLabel(label).slice(0, 16), expectedPose(-1));
  // The flipped camera is exactly the camera at −yaw.
  close(flipCameraLabel(label), lookAtCameraLabel({ yaw: -yaw, pitch }));
  // Flipping twice is the identity.
  close(flipCameraLabel(flipCameraLabel(label)), label);
});

Deno.test("x-flip label: a mirrored point projects to the mirrored pixel", () => {
  const project = (c: readonly number[], p: readonly number[]) => {
    // world → camera with the inverse of the rigid cam2world: R^T (p − t).
    const d = [p[0] - c[3], p[1] - c[7], p[2] - c[11]];
    const x = c[0] * d[0] + c[4] * d[1] + c[8] * d[2];
    const y = c[1] * d[0] + c[5] * d[1] + c[9] * d[2];
    const z = c[2] * d[0] + c[6] * d[1] + c[10] * d[2];
    return [c[16] * x / z + c[17] * y / z + c[18], c[20] * y / z + c[21]];
  };
  const label = lookAtCameraLabel({ yaw: 0.4, pitch: -0.2 });
  label[18] = 0.47; // off-centre principal point: cx → 1 − cx keeps the mirror exact
  for (const point of [[0.1, 0.2, 0.05], [-0.2, -0.1, 0.3], [0.05, 0, -0.2]]) {
    const [u, v] = project(label, point);
    const [uf, vf] = project(flipCameraLabel(label), [-point[0], point[1], point[2]]);
    close([uf, vf], [1 - u, v], 1e-12);
  }
});
