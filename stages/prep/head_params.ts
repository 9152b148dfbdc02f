/**
 * The parameters of one procedural head, and how they are drawn from a seed.
 *
 * World frame as FFHQ's: the head faces +z, +y is up, +x is the head's left
 * (image right in a frontal view). Units: the EG3D tri-plane box is
 * [−0.5, 0.5]³; a frontal FFHQ camera (radius 2.7, focal 4.2647) sees about
 * ±0.32 at the origin, so a head is about 0.5 tall.
 * @module
 */
import type { SeededRng } from "./seeded_rng.ts";

/** A point or extent in world units. */
export type Vec3 = [number, number, number];
/** A linear RGB colour in [0, 1]. */
export type Rgb = [number, number, number];

/** Ear shapes: human-like on the sides, pointed animal ears on top, or none. */
export type EarKind = "side" | "top" | "none";
/** Skin patterns blended over the base colour. */
export type PatternKind = "plain" | "stripes" | "spots";

/**
 * Everything that defines a head: its shape (an SDF of smoothly blended
 * primitives, see `head_sdf.ts`), its colours and the lighting it is shown in.
 * Mirrored features (ears, eyes) are given for the +x side.
 */
export interface HeadParams {
  cranium: { center: Vec3; radii: Vec3 };
  jaw: { center: Vec3; radii: Vec3; blend: number };
  nose: { center: Vec3; radii: Vec3; blend: number };
  ears: {
    kind: EarKind;
    base: Vec3;
    tip: Vec3;
    baseRadius: number;
    tipRadius: number;
    blend: number;
  };
  eyes: { center: Vec3; radius: number; socketRadius: number; socketBlend: number };
  mouth: { center: Vec3; radii: Vec3; blend: number };
  neck: { top: Vec3; bottom: Vec3; radius: number; blend: number; cutY: number };
  skin: {
    color: Rgb;
    pattern: PatternKind;
    patternColor: Rgb;
    patternAmount: number;
    patternAxis: Vec3;
    patternFrequency: number;
  };
  hair: { color: Rgb; line: number; waveAmount: number; waveFrequency: number; present: boolean };
  iris: Rgb;
  lips: Rgb;
  background: Rgb;
  /** Unit vector towards the key light (world frame). */
  light: Vec3;
}

const HUMAN_SKIN: Rgb[] = [
  [0.80, 0.56, 0.44],
  [0.70, 0.46, 0.33],
  [0.55, 0.34, 0.22],
  [0.36, 0.21, 0.13],
  [0.88, 0.66, 0.55],
  [0.62, 0.42, 0.30],
  [0.25, 0.14, 0.09],
]; // deno-fmt-ignore
const CREATURE_SKIN: Rgb[] = [
  [0.30, 0.55, 0.25], [0.25, 0.40, 0.70], [0.55, 0.30, 0.65], [0.85, 0.50, 0.15],
  [0.70, 0.70, 0.72], [0.85, 0.75, 0.45], [0.60, 0.20, 0.20], [0.20, 0.55, 0.55],
]; // deno-fmt-ignore
const HAIR: Rgb[] = [
  [0.03, 0.02, 0.02], [0.15, 0.08, 0.04], [0.35, 0.20, 0.08], [0.75, 0.58, 0.30],
  [0.55, 0.18, 0.06], [0.60, 0.60, 0.62], [0.15, 0.25, 0.60], [0.55, 0.15, 0.45],
]; // deno-fmt-ignore
const IRIS: Rgb[] = [
  [0.10, 0.06, 0.03], [0.25, 0.15, 0.06], [0.10, 0.30, 0.55], [0.15, 0.40, 0.20], [0.55, 0.45, 0.10],
]; // deno-fmt-ignore

/** Draws one head's parameters from `rng` (a fixed number of draws in a fixed order). */
export function sampleHeadParams(rng: SeededRng): HeadParams {
  const r = (lo: number, hi: number) => round(rng.range(lo, hi));

  const cranium = { center: [0, r(0.03, 0.06), r(-0.03, -0.01)] as Vec3, radii: [r(0.145, 0.18), r(0.17, 0.205), r(0.17, 0.2)] as Vec3 };
  const [crx, cry, crz] = cranium.radii;
  const [, ccy, ccz] = cranium.center;
  // z of the cranium's front surface above (x, y): features are placed on it.
  const frontZ = (x: number, y: number) =>
    ccz + crz * Math.sqrt(Math.max(0.05, 1 - (x / crx) ** 2 - ((y - ccy) / cry) ** 2));

  const jawY = r(-0.11, -0.07);
  const jaw = {
    center: [0, jawY, r(0.0, 0.04)] as Vec3,
    radii: [round(crx * rng.range(0.7, 0.92)), r(0.1, 0.14), r(0.12, 0.155)] as Vec3,
    blend: r(0.07, 0.12),
  };

  const eyeY = r(0.02, 0.05);
  const eyeX = r(0.055, 0.075);
  const eyeRadius = r(0.017, 0.025);
  const eyes = {
    center: [eyeX, eyeY, round(frontZ(eyeX, eyeY) - eyeRadius * rng.range(0.6, 0.9))] as Vec3,
    radius: eyeRadius,
    socketRadius: round(eyeRadius * rng.range(1.25, 1.5)),
    socketBlend: r(0.01, 0.025),
  };

  const noseY = r(-0.045, -0.015);
  const noseRadii: Vec3 = [r(0.022, 0.04), r(0.04, 0.07), r(0.028, 0.05)];
  const nose = {
    center: [0, noseY, round(frontZ(0, noseY) + noseRadii[2] * rng.range(-0.1, 0.5))] as Vec3,
    radii: noseRadii,
    blend: r(0.02, 0.04),
  };

  const mouthY = r(-0.125, -0.095);
  const mouthFront = ellipsoidFrontZ(jaw.center, jaw.radii, 0, mouthY);
  const mouth = {
    center: [0, mouthY, round(mouthFront)] as Vec3,
    radii: [r(0.035, 0.06), r(0.006, 0.013), r(0.02, 0.03)] as Vec3,
    blend: r(0.008, 0.016),
  };

  const earKind: EarKind = rng.pick<EarKind>(["side", "side", "top", "none"]);
  const ears = earKind === "top"
    ? {
      kind: earKind,
      base: [r(0.07, 0.11), r(0.14, 0.17), r(-0.05, -0.01)] as Vec3,
      tip: [r(0.12, 0.17), r(0.23, 0.27), r(-0.06, -0.02)] as Vec3,
      baseRadius: r(0.04, 0.055),
      tipRadius: r(0.006, 0.015),
      blend: r(0.02, 0.035),
    }
    : {
      kind: earKind,
      base: [round(crx * 0.85), r(-0.01, 0.02), r(-0.04, -0.01)] as Vec3,
      tip: [round(crx + rng.range(0.015, 0.035)), r(0.0, 0.04), r(-0.06, -0.03)] as Vec3,
      baseRadius: r(0.025, 0.035),
      tipRadius: r(0.018, 0.03),
      blend: r(0.015, 0.03),
    };

  const neck = {
    top: [0, r(-0.12, -0.08), r(-0.05, -0.02)] as Vec3,
    bottom: [0, -0.4, r(-0.08, -0.04)] as Vec3,
    radius: r(0.085, 0.11),
    blend: r(0.04, 0.07),
    cutY: -0.42,
  };

  const creature = rng.uniform() < 0.35;
  const skinColor = jitter(rng, creature ? rng.pick(CREATURE_SKIN) : rng.pick(HUMAN_SKIN), 0.05);
  const pattern = rng.pick<PatternKind>(["plain", "plain", "stripes", "spots"]);
  const patternAxis = normalize([rng.normal(), rng.normal() * 1.5, rng.normal() * 0.5]);
  const skin = {
    color: skinColor,
    pattern,
    patternColor: jitter(rng, rng.pick([...HAIR, ...CREATURE_SKIN]), 0.05),
    patternAmount: r(0.45, 0.85),
    patternAxis,
    patternFrequency: r(25, 60),
  };
  const hair = {
    present: rng.uniform() < 0.75,
    color: jitter(rng, rng.pick(HAIR), 0.03),
    line: r(0.05, 0.13),
    waveAmount: r(0.0, 0.04),
    waveFrequency: r(3, 9),
  };
  const azimuth = rng.range(-0.9, 0.9);
  const elevation = rng.range(0.25, 0.85);
  return {
    cranium,
    jaw,
    nose,
    ears,
    eyes,
    mouth,
    neck,
    skin,
    hair,
    iris: jitter(rng, rng.pick(IRIS), 0.03),
    lips: jitter(rng, mixRgb(skinColor, [0.6, 0.15, 0.15], 0.45), 0.03),
    background: jitter(rng, [rng.range(0.2, 0.9), rng.range(0.2, 0.9), rng.range(0.2, 0.9)], 0),
    light: [
      round(Math.sin(azimuth) * Math.cos(elevation)),
      round(Math.sin(elevation)),
      round(Math.cos(azimuth) * Math.cos(elevation)),
    ],
  };
}

function ellipsoidFrontZ(center: Vec3, radii: Vec3, x: number, y: number): number {
  const s = 1 - ((x - center[0]) / radii[0]) ** 2 - ((y - center[1]) / radii[1]) ** 2;
  return center[2] + radii[2] * Math.sqrt(Math.max(0.05, s));
}

function jitter(rng: SeededRng, color: Rgb, amount: number): Rgb {
  return color.map((c) => round(Math.min(1, Math.max(0, c + amount * rng.normal())))) as Rgb;
}

function mixRgb(a: Rgb, b: Rgb, t: number): Rgb {
  return a.map((v, i) => v + (b[i] - v) * t) as Rgb;
}

function normalize(v: Vec3): Vec3 {
  const n = Math.hypot(...v) || 1;
  return v.map((x) => round(x / n)) as Vec3;
}

/** Rounded to float32 so the JSON record, the TS SDF and the GPU see the same numbers. */
function round(x: number): number {
  return Math.fround(x);
}
