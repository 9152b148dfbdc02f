/**
 * Eval-time samples per ray: a total S split between the renderer's two
 * passes as the trained models do (EG3D and Mimic3D: 48 stratified + 48
 * importance = 96). Keeping the 1 : 1 split makes S the only thing that
 * changes between points of a sweep (20 = 10 + 10, 50 = 25 + 25); an odd
 * S gives the extra sample to the stratified pass, which places the others.
 * @module
 */
import { TriplaneGenerator } from "../model/generator.ts";
import type { RenderOptions } from "../model/renderer.ts";

/** The fused renderer's importance pass needs at least 4 stratified samples. */
export const MIN_SAMPLES_PER_RAY = 8;

/** The rendering options a total of `samples` per ray sets. */
export type SampleSplit = Pick<RenderOptions, "depthResolution" | "depthResolutionImportance">;

/** S → ⌈S/2⌉ stratified + ⌊S/2⌋ importance samples. */
export function splitSamplesPerRay(samples: number): SampleSplit {
  if (!Number.isInteger(samples) || samples < MIN_SAMPLES_PER_RAY) {
    throw new Error(
      `samples per ray must be an integer ≥ ${MIN_SAMPLES_PER_RAY} (half of them stratified, ` +
        `and importance sampling needs 4 of those), got ${samples}`,
    );
  }
  const depthResolution = Math.ceil(samples / 2);
  return { depthResolution, depthResolutionImportance: samples - depthResolution };
}

/**
 * `g` with `samples` per ray: its weights copied into a generator built with that split
 * (the renderer's options are fixed at construction); `g`'s tensors are released.
 */
export function withSamplesPerRay(g: TriplaneGenerator, samples: number): TriplaneGenerator {
  const rendering = { ...g.config.rendering, ...splitSamplesPerRay(samples) };
  const rebuilt = new TriplaneGenerator({ ...g.config, rendering });
  const state = g.stateDict();
  rebuilt.loadStateDict(state);
  for (const t of state.values()) t.dispose();
  return rebuilt;
}
