/**
 * The files of a trained-model artifact (`pretrain`, and `imitate` with more): what the stages
 * declare, and the names every reader of the artifact uses (`loadGenerator`, eval, render,
 * serve, `ship-run`, the next stage).
 * @module
 */

/** A training stage's outs. */
export const TRAINED_OUTS = {
  /** The trained generator (generator format, `loadGenerator`). */
  G: "G.safetensors",
  /** Its moving average: the network to render and evaluate. */
  gEma: "G_ema.safetensors",
  /** The discriminator (discriminator format). */
  D: "D.safetensors",
  /** Losses per log tick, one JSON record per line. */
  log: "log.jsonl",
  /** Sample grids, `<kimg>.png`. */
  samples: "samples/",
  /** Steps, kimg, parameter counts, final losses and the stage's own measurements. */
  metrics: "metrics.json",
} as const;

/** How a network's weight file is named: `<network>.safetensors` (`G`, `D`, `D_patch`…). */
export const NETWORK_FILE_SUFFIX = ".safetensors";

/** The file holding network `name`'s weights. */
export function networkFile(name: string): string {
  return `${name}${NETWORK_FILE_SUFFIX}`;
}
