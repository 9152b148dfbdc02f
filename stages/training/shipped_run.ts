/**
 * A shipped run: the finished networks of a training stage (pretrain or
 * imitate), trained elsewhere — on a GPU, by this project's own pipeline —
 * and shipped as one compressed file, so that a machine without a GPU can
 * show a trained model. A stage whose config names a shipped run takes its
 * networks instead of training, after checking that the run was trained with
 * exactly this stage's config, on this dataset spec and, for the 3-D stage,
 * from these pretrained networks; anything else is an error that says what
 * differs. The artifact is the run's, and says so in its metrics.
 *
 * File: a zip holding `run.json` (what was trained, from what, where and how
 * long), one safetensors file per network with the tensors rounded to fp16
 * (metadata as in the stage's artifact), the run's `log.jsonl` and its sample
 * grids. fp16 halves the file; the adopted networks are those fp16 values.
 * @module
 */
import type { z } from "zod";
import { join } from "node:path";
import { type Module, parseSafetensors, serializeSafetensors, Tensor } from "../../kernels/mod.ts";
import { canonicalJson, sha256Hex } from "../../pipeline/canonical_json.ts";
import { ZipReader } from "../io/zip_reader.ts";
import { ZipWriter } from "../io/zip_writer.ts";
import type { CarriedFiles } from "./checkpoint_state.ts";
import type { GanTrainer } from "./gan_trainer.ts";
import { stepsForKimg } from "./steps.ts";
import { NETWORK_FILE_SUFFIX, networkFile, TRAINED_OUTS } from "../io/trained_outs.ts";
import { PREP_OUTS } from "../prep/outs.ts";

const FORMAT = "mimic3d-ts/shipped-run@1";

/** Where and how a shipped run was trained (what a reader needs to trust or redo it). */
export interface ShippedRunOrigin {
  /** The command that trained it, as run. */
  command: string;
  /** The adapter, e.g. "NVIDIA H100 80GB HBM3". */
  device: string;
  /** Wall-clock seconds of the stage's training. */
  seconds: number;
  /** The commit of this repository that trained it. */
  commit: string;
  /** The store artifact id of the run. */
  artifact: string;
}

/** `run.json` of a shipped run. */
export interface ShippedRunInfo {
  format: string;
  /** "pretrain" or "imitate". */
  stage: string;
  /** The stage's config, without `shippedRun`. */
  config: Record<string, unknown>;
  /** The dataset spec it was trained on (the prep artifact's `stats.json` source). */
  dataset: unknown;
  /** sha256 of each network file of the pretrain artifact it started from (imitate). */
  pretrained: Record<string, string> | null;
  steps: number;
  kimg: number;
  /** Network files, e.g. ["G", "G_ema", "D"]. */
  networks: string[];
  origin: ShippedRunOrigin;
}

/** A shipped run, read. */
export interface ShippedRun {
  path: string;
  info: ShippedRunInfo;
  /** Network name → its safetensors bytes (fp16 entries). */
  networks: Map<string, Uint8Array>;
  /** `log.jsonl` and `samples/*.png` of the run. */
  files: CarriedFiles;
}

/** What a stage checks a shipped run against. */
export interface ShippedRunExpectation {
  stage: string;
  config: Record<string, unknown>;
  dataset: unknown;
  pretrained: Record<string, string> | null;
  steps: number;
}

/** The pretrain artifact's network files whose hashes identify the 3-D stage's start. */
export const PRETRAINED_NETWORK_FILES = [TRAINED_OUTS.G, TRAINED_OUTS.gEma, TRAINED_OUTS.D];

/** A stage config without its `shippedRun` field (what a shipped run was trained with). */
export function withoutShippedRun<C extends { shippedRun?: unknown }>(
  config: C,
): Record<string, unknown> {
  const { shippedRun: _, ...rest } = config;
  return rest;
}

/** sha256 of each of `names` in `dir`. */
export async function fileHashes(dir: string, names: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of names) {
    out[name] = sha256Hex(await Deno.readFile(join(dir, name)));
  }
  return out;
}

/** The dataset spec a prep artifact was made from (its `stats.json` source). */
export async function datasetSpecOf(prepDir: string): Promise<unknown> {
  const stats = JSON.parse(await Deno.readTextFile(join(prepDir, PREP_OUTS.stats)));
  return stats.source;
}

/**
 * Writes the artifact directory of a finished training stage as a shipped run
 * at `outPath` (atomically: nothing appears on failure).
 */
export async function writeShippedRun(
  artifactDir: string,
  outPath: string,
  info: Omit<ShippedRunInfo, "format" | "networks" | "steps" | "kimg">,
): Promise<ShippedRunInfo> {
  const metrics = JSON.parse(await Deno.readTextFile(join(artifactDir, TRAINED_OUTS.metrics)));
  const networks: string[] = [];
  for await (const e of Deno.readDir(artifactDir)) {
    if (e.isFile && e.name.endsWith(NETWORK_FILE_SUFFIX)) {
      networks.push(e.name.slice(0, -NETWORK_FILE_SUFFIX.length));
    }
  }
  networks.sort();
  const full: ShippedRunInfo = {
    format: FORMAT,
    ...info,
    steps: metrics.steps,
    kimg: metrics.kimg,
    networks,
  };
  const zip = await ZipWriter.create(outPath);
  try {
    await zip.add("run.json", new TextEncoder().encode(JSON.stringify(full, null, 2) + "\n"));
    for (const net of networks) {
      const file = parseSafetensors(await Deno.readFile(join(artifactDir, networkFile(net))));
      const entries = new Map(
        [...file.tensors].map(([name, t]) => [name, { ...t, dtype: "F16" as const }]),
      );
      await zip.add(networkFile(net), serializeSafetensors(entries, file.metadata));
    }
    await zip.add(TRAINED_OUTS.log, await Deno.readFile(join(artifactDir, TRAINED_OUTS.log)));
    for await (const e of Deno.readDir(join(artifactDir, TRAINED_OUTS.samples))) {
      const bytes = await Deno.readFile(join(artifactDir, TRAINED_OUTS.samples, e.name));
      await zip.add(`${TRAINED_OUTS.samples}${e.name}`, bytes, "store");
    }
    await zip.finish();
  } catch (err) {
    await zip.abort();
    throw err;
  }
  return full;
}

/** Reads a shipped run; a file that is not one fails with its path in the message. */
export async function readShippedRun(path: string): Promise<ShippedRun> {
  let zip: ZipReader;
  try {
    zip = await ZipReader.open(path);
  } catch (e) {
    throw new Error(`shipped run ${path}: cannot read (${(e as Error).message})`);
  }
  try {
    const info = JSON.parse(await zip.readText("run.json")) as ShippedRunInfo;
    if (info.format !== FORMAT) {
      throw new Error(`format '${info.format}', expected '${FORMAT}'`);
    }
    const networks = new Map<string, Uint8Array>();
    for (const net of info.networks) networks.set(net, await zip.read(networkFile(net)));
    const files: CarriedFiles = { [TRAINED_OUTS.log]: await zip.read(TRAINED_OUTS.log) };
    for (const name of zip.names.filter((n) => n.startsWith(TRAINED_OUTS.samples))) {
      files[name] = await zip.read(name);
    }
    return { path, info, networks, files };
  } catch (e) {
    throw new Error(`shipped run ${path}: ${(e as Error).message}`);
  } finally {
    zip.close();
  }
}

/**
 * Throws, naming the first difference, unless `run` is what the stage would train;
 * `shippedConfig`: the run's config as the stage compares it (default: as recorded).
 */
export function checkShippedRun(
  run: ShippedRun,
  want: ShippedRunExpectation,
  shippedConfig: Record<string, unknown> = run.info.config,
): void {
  const { info } = run;
  const differs = (what: string, shipped: unknown, here: unknown) => {
    throw new Error(
      `shipped run ${run.path} cannot stand for this ${want.stage} stage: ${what} differs ` +
        `(shipped ${canonical(shipped)}, this stage ${canonical(here)}); set ` +
        `${want.stage}.shippedRun=null to train instead`,
    );
  };
  if (info.stage !== want.stage) differs("the stage", info.stage, want.stage);
  for (const key of new Set([...Object.keys(shippedConfig), ...Object.keys(want.config)])) {
    if (canonical(shippedConfig[key]) !== canonical(want.config[key])) {
      differs(`config '${key}'`, shippedConfig[key], want.config[key]);
    }
  }
  if (canonical(info.dataset) !== canonical(want.dataset)) {
    differs("the dataset", info.dataset, want.dataset);
  }
  if (canonical(info.pretrained) !== canonical(want.pretrained)) {
    differs("the pretrained networks it started from", info.pretrained, want.pretrained);
  }
  if (info.steps !== want.steps) differs("the number of steps", info.steps, want.steps);
}

/**
 * Puts a shipped run's networks into `trainer` and marks it finished
 * (`steps`); returns the run's log and sample grids as the artifact's files.
 */
export function adoptShippedRun(trainer: GanTrainer, run: ShippedRun): CarriedFiles {
  const modules: [string, Module][] = [
    ...Object.entries(trainer.networks),
    ["G_ema", trainer.gEma],
  ];
  for (const [net, module] of modules) {
    const bytes = run.networks.get(net);
    if (!bytes) throw new Error(`shipped run ${run.path} has no ${net}`);
    const file = parseSafetensors(bytes, `${run.path} ${net}`);
    const state = new Map<string, Tensor>();
    for (const [name, t] of file.tensors) state.set(name, Tensor.fromData(t.data, t.shape));
    try {
      module.loadStateDict(state);
    } catch (e) {
      throw new Error(`shipped run ${run.path} ${net}: ${(e as Error).message}`);
    } finally {
      for (const t of state.values()) t.dispose();
    }
  }
  trainer.step = run.info.steps;
  return { ...run.files };
}

/** Canonical JSON, or "absent" for a key one side lacks. */
function canonical(value: unknown): string {
  return value === undefined ? "absent" : canonicalJson(value);
}

/** What `shippedRunFor` needs of a stage: its name, schema and key view of the config. */
export interface ShippingStage {
  name: string;
  config: z.ZodType;
  keyConfig?: (config: never) => unknown;
}

/**
 * Reads the shipped run named by a stage's config and checks it against the
 * stage: its training config (both sides parsed by today's schema and seen as
 * the key sees them, so settings added since take their defaults and where
 * files are kept does not count; `output` aside), the dataset spec of `prepDir`, and (3-D stage) the
 * hashes of the pretrained networks it must have started from.
 */
export async function shippedRunFor(
  stage: ShippingStage,
  config: { shippedRun: string | null; kimg: number; batch: number },
  prepDir: string,
  pretrainedDir: string | null,
): Promise<ShippedRun> {
  const run = await readShippedRun(config.shippedRun!);
  // `output` (what is logged and drawn, how often) shapes no weight: a shipped run brings its own
  // log and samples, and the stage measures the rest with today's settings.
  const keyView = (c: unknown) => {
    const view = stage.keyConfig ? stage.keyConfig(c as never) : c;
    const { output: _, ...trained } = withoutShippedRun(view as { shippedRun?: unknown });
    return trained;
  };
  let shippedConfig: unknown;
  try {
    shippedConfig = stage.config.parse(run.info.config);
  } catch (e) {
    throw new Error(
      `shipped run ${run.path}: its ${stage.name} config is not valid today ` +
        `(${(e as Error).message.split("\n")[0]}); set ${stage.name}.shippedRun=null to train`,
    );
  }
  checkShippedRun(run, {
    stage: stage.name,
    config: keyView(config),
    dataset: await datasetSpecOf(prepDir),
    pretrained: pretrainedDir ? await fileHashes(pretrainedDir, PRETRAINED_NETWORK_FILES) : null,
    steps: stepsForKimg(config.kimg, config.batch),
  }, keyView(shippedConfig));
  return run;
}
