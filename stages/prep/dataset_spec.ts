/**
 * What the prep stage is asked for: the embedded procedural dataset (size,
 * resolution, seed) or a user's dataset zip.
 * @module
 */
import { z } from "zod";
import { isPowerOfTwo } from "../io/dataset_writer.ts";

const powerOfTwo = z.number().int().refine(isPowerOfTwo, "must be a power of two");

/** The procedural default dataset. */
export const proceduralSpecSchema = z.strictObject({
  kind: z.literal("procedural"),
  count: z.number().int().positive().default(2000),
  resolution: powerOfTwo.check(z.gte(8), z.lte(1024)).default(64),
  seed: z.number().int().nonnegative().default(0),
  /** Colour rays per pixel side (antialiasing). */
  supersample: z.number().int().min(1).max(4).default(2),
});

/** A user's EG3D/StyleGAN dataset zip (PNG images + dataset.json camera labels). */
export const zipSpecSchema = z.strictObject({
  kind: z.literal("zip"),
  path: z.string().min(1),
});

/** Either dataset source. */
export const datasetSpecSchema = z.discriminatedUnion("kind", [
  proceduralSpecSchema,
  zipSpecSchema,
]);

/** A parsed dataset spec. */
export type DatasetSpec = z.output<typeof datasetSpecSchema>;

/**
 * The dataset section of an experiment config, flat so that every knob can be
 * set from the command line (`--set data.count=500`, `--set data.zip=ffhq.zip`).
 * `zip` empty means the procedural set.
 */
export const datasetConfigSchema = z.strictObject({
  /** A user's dataset zip; when set, the procedural fields are ignored. */
  zip: z.string().default(""),
  count: proceduralSpecSchema.shape.count,
  resolution: proceduralSpecSchema.shape.resolution,
  seed: proceduralSpecSchema.shape.seed,
  supersample: proceduralSpecSchema.shape.supersample,
});

/**
 * The prep stage's schema: the flat config turned into the spec it describes,
 * so that only what matters enters the cache key (a zip's path, not the unused
 * procedural knobs; the zip's bytes enter through the stage's external files).
 */
export const datasetStageSchema = datasetConfigSchema.transform((c): DatasetSpec =>
  c.zip !== "" ? { kind: "zip", path: c.zip } : {
    kind: "procedural",
    count: c.count,
    resolution: c.resolution,
    seed: c.seed,
    supersample: c.supersample,
  }
);
