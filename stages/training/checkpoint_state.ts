/**
 * Everything a resumed run needs to continue bit-identically, as checkpoint
 * files: every trained network and G_ema (state dicts), every optimiser
 * (per-parameter steps and moments), the random stream's counter, the step, the GPU statistics of
 * the unfinished log tick, and what was already written to the artifact
 * (log lines, sample grids). The data order needs nothing: it is a function of
 * (seed, step).
 * @module
 */
import {
  type Module,
  parseSafetensors,
  Rng,
  type RngState,
  type Tensor,
  Tensor as TensorClass,
} from "../../kernels/mod.ts";
import type { GanTrainer } from "./gan_trainer.ts";
import type { NetworkName } from "./phases.ts";
import { safetensorsBytes } from "./tensor_readback.ts";

/** The checkpoint format of a stage ("mimic3d-ts/pretrain-state@1"). */
const formatOf = (stage: string) => `mimic3d-ts/${stage}-state@1`;

/** The small JSON part of a checkpoint. */
interface TrainingStateJson {
  format: string;
  step: number;
  rng: RngState;
  adamSteps: Record<NetworkName, Record<string, number>>;
  metrics: Record<string, number[]>;
}

/** Artifact files produced so far, carried through checkpoints (name → bytes). */
export type CarriedFiles = Record<string, Uint8Array>;

/**
 * Serialises the trainer (reads every tensor back) plus the artifact files written so far;
 * `metrics`: the unfinished tick's statistics when not this process's own (all ranks').
 */
export async function saveTrainingState(
  trainer: GanTrainer,
  carried: CarriedFiles,
  metrics?: Record<string, number[]>,
): Promise<Record<string, Uint8Array | string>> {
  const files: Record<string, Uint8Array | string> = {};
  for (const [net, module] of Object.entries(trainer.networks)) {
    files[`${net}.safetensors`] = await safetensorsBytes(module.stateDict());
  }
  files["G_ema.safetensors"] = await safetensorsBytes(trainer.gEma.stateDict());
  const adamSteps: Record<NetworkName, Record<string, number>> = {};
  for (const net of Object.keys(trainer.networks)) {
    const state = trainer.optimizers[net].state();
    adamSteps[net] = state.steps;
    const moments = new Map<string, Tensor>();
    for (const [name, t] of state.m) moments.set(`m.${name}`, t);
    for (const [name, t] of state.v) moments.set(`v.${name}`, t);
    files[`${net}_adam.safetensors`] = await safetensorsBytes(moments);
  }
  const json: TrainingStateJson = {
    format: formatOf(trainer.stage),
    step: trainer.step,
    rng: trainer.rng.state(),
    adamSteps,
    metrics: metrics ?? await trainer.metrics.snapshot(),
  };
  files["state.json"] = JSON.stringify(json);
  for (const [name, bytes] of Object.entries(carried)) files[`artifact/${name}`] = bytes;
  return files;
}

/** Restores a trainer from checkpoint files; returns the carried artifact files. */
export function restoreTrainingState(
  trainer: GanTrainer,
  files: Record<string, Uint8Array>,
): CarriedFiles {
  const what = `${trainer.stage} checkpoint`;
  const need = (name: string) => {
    const bytes = files[name];
    if (!bytes) throw new Error(`${what} is missing '${name}'`);
    return bytes;
  };
  const json = JSON.parse(new TextDecoder().decode(need("state.json"))) as TrainingStateJson;
  const format = formatOf(trainer.stage);
  if (json.format !== format) {
    throw new Error(`${what} has format '${json.format}', expected '${format}'`);
  }
  for (const [net, module] of Object.entries(trainer.networks)) {
    loadModule(module, need(`${net}.safetensors`), `${what} ${net}`);
  }
  loadModule(trainer.gEma, need("G_ema.safetensors"), `${what} G_ema`);
  for (const net of Object.keys(trainer.networks)) {
    const moments = readTensors(need(`${net}_adam.safetensors`), `${net}_adam`);
    const prefixed = (p: string) =>
      new Map(
        [...moments].filter(([k]) => k.startsWith(p)).map(([k, t]) => [k.slice(p.length), t]),
      );
    trainer.optimizers[net].load({
      steps: json.adamSteps[net],
      m: prefixed("m."),
      v: prefixed("v."),
    });
    for (const t of moments.values()) t.dispose();
  }
  trainer.rng = Rng.fromState(json.rng);
  trainer.step = json.step;
  trainer.metrics.restore(json.metrics);
  const carried: CarriedFiles = {};
  for (const [name, bytes] of Object.entries(files)) {
    if (name.startsWith("artifact/")) carried[name.slice("artifact/".length)] = bytes;
  }
  return carried;
}

function readTensors(bytes: Uint8Array, source: string): Map<string, Tensor> {
  const file = parseSafetensors(bytes, source);
  const out = new Map<string, Tensor>();
  for (const [name, h] of file.tensors) out.set(name, TensorClass.fromData(h.data, h.shape));
  return out;
}

function loadModule(module: Module, bytes: Uint8Array, source: string): void {
  const state = readTensors(bytes, source);
  try {
    module.loadStateDict(state);
  } catch (e) {
    throw new Error(`${source}: ${(e as Error).message}`);
  } finally {
    for (const t of state.values()) t.dispose();
  }
}
