/**
 * Starting the 3-D stage from the 2-D stage's artifact: the generator is
 * rebuilt with Mimic3D's `retidx [−3, −1]` (the last 3-D-aware block gains the
 * two detail blocks `b3d{R}.block2`, `block3`), G / G_ema / D get the
 * pretrained tensors, and the patch discriminator is new. As the original's
 * `copy_params_and_buffers(require_all=False)`, tensors the pretrain
 * artifact lacks keep their fresh initialisation (from the seeded Rng, G_ema's
 * equal to G's) — but only the detail blocks may be missing: any other
 * missing or unexpected tensor is an error.
 * @module
 */
import { join } from "node:path";
import {
  type Module,
  readSafetensors,
  Rng,
  type SafetensorsFile,
  Tensor,
} from "../../kernels/mod.ts";
import { GENERATOR_FORMAT } from "../io/generator_checkpoint.ts";
import { type GeneratorConfig, TriplaneGenerator } from "../model/generator.ts";
import {
  type DiscriminatorConfig,
  DualDiscriminator,
  SingleDiscriminator,
} from "../model/discriminator.ts";
import { DISCRIMINATOR_FORMAT } from "../training/training_loop.ts";
import { TRAINED_OUTS } from "../io/trained_outs.ts";

/** Mimic3D's rendered planes in the 3-D stage: coarse (third from last) and detail (last). */
export const DETAIL_RETIDX = [-3, -1];

/** The networks the 3-D stage starts from. */
export interface PretrainedNetworks {
  G: TriplaneGenerator;
  gEma: TriplaneGenerator;
  D: DualDiscriminator;
  /** Mimic3D's patch discriminator (new: c_dim 0, on patches of the neural rendering resolution). */
  dPatch: SingleDiscriminator;
  /** State-dict entries of G the pretrain artifact lacked (the detail blocks), freshly initialised. */
  freshTensors: string[];
}

/**
 * Fresh 3-D-stage networks from `Rng(seed)` in construction order (G, D,
 * D_patch; G_ema equal to G): the generator of `config` with detail planes,
 * the dual D of `dConfig`, and the patch D — the main D's widths,
 * unconditional, on patches of the neural rendering resolution.
 */
export function initImitateNetworks(
  config: GeneratorConfig,
  dConfig: DiscriminatorConfig,
  seed: number,
): Omit<PretrainedNetworks, "freshTensors"> {
  const g3d: GeneratorConfig = { ...config, retidx: DETAIL_RETIDX };
  const init = new Rng(seed);
  const G = new TriplaneGenerator(g3d, init);
  const D = new DualDiscriminator(dConfig, init);
  const dPatch = new SingleDiscriminator({
    ...dConfig,
    cDim: 0,
    imgResolution: g3d.neuralRenderingResolution,
  }, init);
  const gEma = new TriplaneGenerator(g3d, new Rng(seed));
  gEma.loadStateDict(G.stateDict());
  return { G, gEma, D, dPatch };
}

/** The state-dict prefixes of the detail blocks of a generator config. */
export function detailBlockPrefixes(config: GeneratorConfig): string[] {
  const res = config.aware3dRes ?? [];
  const last = res[res.length - 1];
  return [`backbone.synthesis.b3d${last}.block2.`, `backbone.synthesis.b3d${last}.block3.`];
}

async function readNetworkFile(dir: string, name: string, format: string) {
  const path = join(dir, name);
  const file = await readSafetensors(path);
  if (file.metadata.format !== format) {
    throw new Error(`${path}: format '${file.metadata.format ?? "none"}', expected '${format}'`);
  }
  return { path, file, config: JSON.parse(file.metadata.config) };
}

/** Copies `file`'s tensors into `module`; returns the module's entries the file lacked. */
function loadPartial(module: Module, file: SafetensorsFile, path: string): string[] {
  const mine = module.stateDict();
  const unexpected = [...file.tensors.keys()].filter((k) => !mine.has(k));
  if (unexpected.length) {
    throw new Error(`${path}: tensors the 3-D stage's network lacks: ${unexpected.join(", ")}`);
  }
  const state = new Map<string, Tensor>();
  for (const [name, t] of file.tensors) state.set(name, Tensor.fromData(t.data, t.shape));
  try {
    module.loadStateDict(state, { strict: false });
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  } finally {
    for (const t of state.values()) t.dispose();
  }
  return [...mine.keys()].filter((k) => !file.tensors.has(k));
}

/**
 * Builds the 3-D stage's networks from a pretrain artifact directory
 * (its G, G_ema and D); fresh tensors come
 * from `Rng(seed)` in construction order (G, D, D_patch).
 */
export async function loadPretrained(dir: string, seed: number): Promise<PretrainedNetworks> {
  const g = await readNetworkFile(dir, TRAINED_OUTS.G, GENERATOR_FORMAT);
  const gEmaFile = await readNetworkFile(dir, TRAINED_OUTS.gEma, GENERATOR_FORMAT);
  const d = await readNetworkFile(dir, TRAINED_OUTS.D, DISCRIMINATOR_FORMAT);
  const pretrainConfig = g.config as GeneratorConfig;
  if (pretrainConfig.kind !== "mimic3d" || !pretrainConfig.aware3dRes?.length) {
    throw new Error(
      `${g.path}: the 3-D stage needs Mimic3D's 2-D stage (kind mimic3d with 3-D-aware blocks; ` +
        `pretrain.aware3d=true), this generator is ${pretrainConfig.kind}`,
    );
  }
  const { G, gEma, D, dPatch } = initImitateNetworks(
    pretrainConfig,
    d.config as DiscriminatorConfig,
    seed,
  );
  const freshTensors = loadPartial(G, g.file, g.path);
  const prefixes = detailBlockPrefixes(G.config);
  const notDetail = freshTensors.filter((k) => !prefixes.some((p) => k.startsWith(p)));
  if (notDetail.length) {
    throw new Error(
      `${g.path}: the pretrained generator lacks tensors besides the detail blocks: ` +
        notDetail.join(", "),
    );
  }
  const freshEma = loadPartial(gEma, gEmaFile.file, gEmaFile.path);
  if (freshEma.join() !== freshTensors.join()) {
    throw new Error(`${gEmaFile.path}: G_ema's tensors differ from G's`);
  }
  const dMissing = loadPartial(D, d.file, d.path);
  if (dMissing.length) throw new Error(`${d.path}: D lacks ${dMissing.join(", ")}`);
  return { G, gEma, D, dPatch, freshTensors };
}
