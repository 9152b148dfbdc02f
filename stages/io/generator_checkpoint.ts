/**
 * Our generator checkpoint: one safetensors file holding every tensor of a
 * `TriplaneGenerator` under its original state-dict name, with the generator
 * config (JSON) in the metadata, so a file alone rebuilds the network.
 * Training stages write one per network (`G.safetensors`, `G_ema.safetensors`),
 * importers write `G_ema.safetensors`; `render`, `eval` and `serve` read it.
 */
import { join } from "node:path";
import { type Device, readSafetensors, saveSafetensors, Tensor } from "../../kernels/mod.ts";
import { type GeneratorConfig, TriplaneGenerator } from "../model/generator.ts";
import { TRAINED_OUTS } from "./trained_outs.ts";

/** Metadata key marking our format. */
export const GENERATOR_FORMAT = "mimic3d-ts/generator@1";

/** Writes `g` (atomically) with its config; `extra` metadata is kept (e.g. provenance). */
export async function saveGenerator(
  path: string,
  g: TriplaneGenerator,
  extra: Record<string, string> = {},
): Promise<void> {
  const { device: _device, ...config } = g.config;
  await saveSafetensors(path, g.stateDict(), {
    ...extra,
    format: GENERATOR_FORMAT,
    config: JSON.stringify(config),
  });
}

/**
 * Reads a generator checkpoint: a `.safetensors` file, or an artifact
 * directory holding `G_ema.safetensors` (the one to render and evaluate).
 */
export async function loadGenerator(
  pathOrDir: string,
  device: Device = "gpu",
): Promise<{ generator: TriplaneGenerator; metadata: Record<string, string>; path: string }> {
  let path = pathOrDir;
  const stat = await Deno.stat(pathOrDir).catch(() => null);
  if (!stat) throw new Error(`${pathOrDir}: no such checkpoint file or artifact directory`);
  if (stat.isDirectory) {
    const candidates = [
      join(pathOrDir, TRAINED_OUTS.gEma),
      join(pathOrDir, "out", TRAINED_OUTS.gEma),
    ];
    const found = [];
    for (const c of candidates) if (await Deno.stat(c).catch(() => null)) found.push(c);
    if (!found.length) throw new Error(`${pathOrDir}: no ${TRAINED_OUTS.gEma} in this directory`);
    path = found[0];
  }
  const file = await readSafetensors(path);
  if (file.metadata.format !== GENERATOR_FORMAT) {
    throw new Error(
      `${path}: not a generator checkpoint (format '${file.metadata.format ?? "none"}'; ` +
        `official .pkl snapshots must be imported first: import-checkpoint <file.pkl>)`,
    );
  }
  let config: GeneratorConfig;
  try {
    config = { ...JSON.parse(file.metadata.config), device };
  } catch (e) {
    throw new Error(`${path}: malformed generator config in metadata (${(e as Error).message})`);
  }
  const generator = new TriplaneGenerator(config);
  const state = new Map<string, Tensor>();
  for (const [name, t] of file.tensors) state.set(name, Tensor.fromData(t.data, t.shape, device));
  try {
    generator.loadStateDict(state);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  } finally {
    for (const t of state.values()) t.dispose();
  }
  return { generator, metadata: file.metadata, path };
}
