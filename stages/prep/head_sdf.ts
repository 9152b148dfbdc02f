/**
 * The signed distance function of a procedural head — the one definition of
 * its geometry — written twice, line for line: in TypeScript (float64, for
 * exact geometry metrics and tests) and in WGSL (float32, for the renderer).
 * Both read the same packed float32 parameters (`packHeadParams`); a test
 * checks they agree.
 *
 * Shape: cranium ellipsoid ∪ jaw ellipsoid ∪ ears ∪ nose ∪ neck (smooth
 * unions), cut flat below the neck, minus eye sockets and a mouth groove
 * (smooth differences), plus two eyeballs (hard union, so they read as
 * separate parts). Mirrored features use |x|.
 *
 * Ellipsoids use the usual first-order distance bound (k0·(k0 − 1)/k1): exact
 * on the surface, a slight over/under-estimate away from it, so the ray
 * marcher steps by a fraction of the distance.
 * @module
 */
import type { HeadParams, PatternKind, Vec3 } from "./head_params.ts";

/** vec4 slots per packed head (WGSL reads `array<vec4<f32>>`). */
export const HEAD_PARAM_VEC4S = 24;
/** Floats per packed head. */
export const HEAD_PARAM_FLOATS = HEAD_PARAM_VEC4S * 4;

/** Slot (vec4 index) of each packed field; `.w` components noted. */
const SLOT = {
  craniumCenter: 0, // w unused
  craniumRadii: 1,
  jawCenter: 2, // w: jaw blend
  jawRadii: 3,
  noseCenter: 4, // w: nose blend
  noseRadii: 5,
  earBase: 6, // w: base radius
  earTip: 7, // w: tip radius
  eyeCenter: 8, // w: eye radius
  misc: 9, // x: socket radius, y: socket blend, z: ear blend, w: ears present (0/1)
  mouthCenter: 10, // w: mouth blend
  mouthRadii: 11,
  neckTop: 12, // w: neck blend
  neckBottom: 13, // w: cut plane y
  neckMisc: 14, // x: neck radius
  skin: 15, // w: pattern kind (0 plain, 1 stripes, 2 spots)
  patternColor: 16, // w: pattern amount
  patternAxis: 17, // w: pattern frequency
  hair: 18, // w: hair line y (hair absent: +10)
  hairWave: 19, // x: amount, y: frequency
  iris: 20,
  lips: 21,
  background: 22,
  light: 23,
} as const;

const PATTERN_CODE: Record<PatternKind, number> = { plain: 0, stripes: 1, spots: 2 };

/** Packs a head into `HEAD_PARAM_FLOATS` float32 values (the GPU and TS SDF input). */
export function packHeadParams(p: HeadParams): Float32Array {
  const out = new Float32Array(HEAD_PARAM_FLOATS);
  const put = (slot: number, xyz: readonly number[], w = 0) =>
    out.set([xyz[0], xyz[1], xyz[2], w], slot * 4);
  put(SLOT.craniumCenter, p.cranium.center);
  put(SLOT.craniumRadii, p.cranium.radii);
  put(SLOT.jawCenter, p.jaw.center, p.jaw.blend);
  put(SLOT.jawRadii, p.jaw.radii);
  put(SLOT.noseCenter, p.nose.center, p.nose.blend);
  put(SLOT.noseRadii, p.nose.radii);
  put(SLOT.earBase, p.ears.base, p.ears.baseRadius);
  put(SLOT.earTip, p.ears.tip, p.ears.tipRadius);
  put(SLOT.eyeCenter, p.eyes.center, p.eyes.radius);
  put(
    SLOT.misc,
    [p.eyes.socketRadius, p.eyes.socketBlend, p.ears.blend],
    p.ears.kind === "none" ? 0 : 1,
  );
  put(SLOT.mouthCenter, p.mouth.center, p.mouth.blend);
  put(SLOT.mouthRadii, p.mouth.radii);
  put(SLOT.neckTop, p.neck.top, p.neck.blend);
  put(SLOT.neckBottom, p.neck.bottom, p.neck.cutY);
  put(SLOT.neckMisc, [p.neck.radius, 0, 0]);
  put(SLOT.skin, p.skin.color, PATTERN_CODE[p.skin.pattern]);
  put(SLOT.patternColor, p.skin.patternColor, p.skin.patternAmount);
  put(SLOT.patternAxis, p.skin.patternAxis, p.skin.patternFrequency);
  put(SLOT.hair, p.hair.color, p.hair.present ? p.hair.line : 10);
  put(SLOT.hairWave, [p.hair.waveAmount, p.hair.waveFrequency, 0]);
  put(SLOT.iris, p.iris);
  put(SLOT.lips, p.lips);
  put(SLOT.background, p.background);
  put(SLOT.light, p.light);
  return out;
}

// ---------------------------------------------------------------- TypeScript

/** Signed distance (world units, negative inside) from point (x, y, z) to the head. */
export function headSdf(params: HeadParams, x: number, y: number, z: number): number {
  return packedHeadSdf(packHeadParams(params), x, y, z);
}

/** A fast evaluator for one head: packs once, then evaluates many points. */
export function makeHeadSdf(params: HeadParams): (x: number, y: number, z: number) => number {
  const packed = packHeadParams(params);
  return (x, y, z) => packedHeadSdf(packed, x, y, z);
}

/** The head SDF from packed parameters (mirror of WGSL `head_sdf`). */
export function packedHeadSdf(h: Float32Array, x: number, y: number, z: number): number {
  const v = (slot: number): Vec3 => [h[slot * 4], h[slot * 4 + 1], h[slot * 4 + 2]];
  const w = (slot: number) => h[slot * 4 + 3];
  const p: Vec3 = [x, y, z];
  const q: Vec3 = [Math.abs(x), y, z];

  let d = sdEllipsoid(sub(p, v(SLOT.craniumCenter)), v(SLOT.craniumRadii));
  d = smoothMin(d, sdEllipsoid(sub(p, v(SLOT.jawCenter)), v(SLOT.jawRadii)), w(SLOT.jawCenter));
  if (w(SLOT.misc) > 0.5) {
    const ear = sdTaperedCapsule(
      q,
      v(SLOT.earBase),
      v(SLOT.earTip),
      w(SLOT.earBase),
      w(SLOT.earTip),
    );
    d = smoothMin(d, ear, h[SLOT.misc * 4 + 2]);
  }
  d = smoothMin(d, sdEllipsoid(sub(p, v(SLOT.noseCenter)), v(SLOT.noseRadii)), w(SLOT.noseCenter));
  const neckRadius = h[SLOT.neckMisc * 4];
  const neck = sdTaperedCapsule(p, v(SLOT.neckTop), v(SLOT.neckBottom), neckRadius, neckRadius);
  d = smoothMin(d, neck, w(SLOT.neckTop));
  d = Math.max(d, w(SLOT.neckBottom) - y);
  const socket = length(sub(q, v(SLOT.eyeCenter))) - h[SLOT.misc * 4];
  d = smoothMax(d, -socket, h[SLOT.misc * 4 + 1]);
  d = smoothMax(
    d,
    -sdEllipsoid(sub(p, v(SLOT.mouthCenter)), v(SLOT.mouthRadii)),
    w(SLOT.mouthCenter),
  );
  const eye = length(sub(q, v(SLOT.eyeCenter))) - w(SLOT.eyeCenter);
  return Math.min(d, eye);
}

function sdEllipsoid(p: Vec3, r: Vec3): number {
  const k0 = Math.hypot(p[0] / r[0], p[1] / r[1], p[2] / r[2]);
  const k1 = Math.hypot(p[0] / (r[0] * r[0]), p[1] / (r[1] * r[1]), p[2] / (r[2] * r[2]));
  return k1 > 0 ? (k0 * (k0 - 1)) / k1 : -Math.min(r[0], r[1], r[2]);
}

/** Capsule from a to b whose radius goes linearly from ra to rb. */
function sdTaperedCapsule(p: Vec3, a: Vec3, b: Vec3, ra: number, rb: number): number {
  const pa = sub(p, a);
  const ba = sub(b, a);
  const t = Math.min(1, Math.max(0, dot(pa, ba) / dot(ba, ba)));
  return length(sub(pa, scale(ba, t))) - (ra + (rb - ra) * t);
}

/** Polynomial smooth minimum with blend radius k (k = 0: plain min). */
function smoothMin(a: number, b: number, k: number): number {
  if (k <= 0) return Math.min(a, b);
  const m = Math.max(k - Math.abs(a - b), 0) / k;
  return Math.min(a, b) - m * m * k * 0.25;
}

function smoothMax(a: number, b: number, k: number): number {
  return -smoothMin(-a, -b, k);
}

const sub = (a: Vec3, b: Vec3): Vec3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const scale = (a: Vec3, s: number): Vec3 => [a[0] * s, a[1] * s, a[2] * s];
const dot = (a: Vec3, b: Vec3) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const length = (a: Vec3) => Math.hypot(a[0], a[1], a[2]);

// ---------------------------------------------------------------- WGSL

/**
 * WGSL of the same SDF, plus the material lookup used for shading. Expects a
 * storage binding `heads: array<vec4<f32>>` holding packed heads; `base` is
 * the head's first vec4 index.
 */
export const HEAD_SDF_WGSL = /* wgsl */ `
const HEAD_VEC4S: u32 = ${HEAD_PARAM_VEC4S}u;

fn hv(base: u32, slot: u32) -> vec3<f32> { return heads[base + slot].xyz; }
fn hw(base: u32, slot: u32) -> f32 { return heads[base + slot].w; }

fn sd_ellipsoid(p: vec3<f32>, r: vec3<f32>) -> f32 {
  let k0 = length(p / r);
  let k1 = length(p / (r * r));
  if (k1 > 0.0) { return k0 * (k0 - 1.0) / k1; }
  return -min(r.x, min(r.y, r.z));
}

fn sd_tapered_capsule(p: vec3<f32>, a: vec3<f32>, b: vec3<f32>, ra: f32, rb: f32) -> f32 {
  let pa = p - a;
  let ba = b - a;
  let t = clamp(dot(pa, ba) / dot(ba, ba), 0.0, 1.0);
  return length(pa - ba * t) - (ra + (rb - ra) * t);
}

fn smooth_min(a: f32, b: f32, k: f32) -> f32 {
  if (k <= 0.0) { return min(a, b); }
  let m = max(k - abs(a - b), 0.0) / k;
  return min(a, b) - m * m * k * 0.25;
}

fn smooth_max(a: f32, b: f32, k: f32) -> f32 { return -smooth_min(-a, -b, k); }

// Distances of the parts the shader colours differently.
struct HeadParts {
  body: f32,   // everything but the eyeballs
  eye: f32,    // the two eyeballs
  mouth: f32,  // the mouth groove's cutting ellipsoid (for lip colour)
};

fn head_parts(base: u32, p: vec3<f32>) -> HeadParts {
  let q = vec3<f32>(abs(p.x), p.y, p.z);
  let misc = heads[base + ${SLOT.misc}u];
  var d = sd_ellipsoid(p - hv(base, ${SLOT.craniumCenter}u), hv(base, ${SLOT.craniumRadii}u));
  d = smooth_min(d, sd_ellipsoid(p - hv(base, ${SLOT.jawCenter}u), hv(base, ${SLOT.jawRadii}u)), hw(base, ${SLOT.jawCenter}u));
  if (misc.w > 0.5) {
    let ear = sd_tapered_capsule(q, hv(base, ${SLOT.earBase}u), hv(base, ${SLOT.earTip}u), hw(base, ${SLOT.earBase}u), hw(base, ${SLOT.earTip}u));
    d = smooth_min(d, ear, misc.z);
  }
  d = smooth_min(d, sd_ellipsoid(p - hv(base, ${SLOT.noseCenter}u), hv(base, ${SLOT.noseRadii}u)), hw(base, ${SLOT.noseCenter}u));
  let neck_radius = heads[base + ${SLOT.neckMisc}u].x;
  let neck = sd_tapered_capsule(p, hv(base, ${SLOT.neckTop}u), hv(base, ${SLOT.neckBottom}u), neck_radius, neck_radius);
  d = smooth_min(d, neck, hw(base, ${SLOT.neckTop}u));
  d = max(d, hw(base, ${SLOT.neckBottom}u) - p.y);
  let socket = length(q - hv(base, ${SLOT.eyeCenter}u)) - misc.x;
  d = smooth_max(d, -socket, misc.y);
  let mouth = sd_ellipsoid(p - hv(base, ${SLOT.mouthCenter}u), hv(base, ${SLOT.mouthRadii}u));
  d = smooth_max(d, -mouth, hw(base, ${SLOT.mouthCenter}u));
  let eye = length(q - hv(base, ${SLOT.eyeCenter}u)) - hw(base, ${SLOT.eyeCenter}u);
  return HeadParts(d, eye, mouth);
}

fn head_sdf(base: u32, p: vec3<f32>) -> f32 {
  let parts = head_parts(base, p);
  return min(parts.body, parts.eye);
}
`;

/** Slot indices for the shading code (colours, pattern, light). */
export const HEAD_SLOTS = SLOT;
