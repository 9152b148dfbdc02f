/**
 * Rank 0's training state on every rank, after construction or resume: every
 * network and G_ema (state dicts, buffers included), every optimiser's
 * moments and per-parameter step counts, the random stream, the step and the
 * unfinished log tick's statistics. Ranks build the same networks from the
 * same seed and read the same checkpoint, so this normally changes nothing:
 * it makes their agreement a fact rather than an assumption. A no-op for one
 * process.
 * @module
 */
import { Rng, type RngState, type Tensor } from "../../kernels/mod.ts";
import type { GanTrainer } from "./gan_trainer.ts";
import type { NetworkName } from "./phases.ts";

/** The trainer's tensors by unique name (networks, G_ema, Adam moments). */
export function trainerTensors(trainer: GanTrainer): Map<string, Tensor> {
  const tensors = new Map<string, Tensor>();
  const add = (prefix: string, entries: Iterable<[string, Tensor]>) => {
    for (const [name, t] of entries) tensors.set(`${prefix}.${name}`, t);
  };
  for (const [net, module] of Object.entries(trainer.networks)) add(net, module.stateDict());
  add("G_ema", trainer.gEma.stateDict());
  for (const net of Object.keys(trainer.networks)) {
    const state = trainer.optimizers[net].state();
    add(`${net}_adam.m`, state.m);
    add(`${net}_adam.v`, state.v);
  }
  return tensors;
}

/** Copies rank 0's training state into every other rank's trainer. */
export async function shareTrainerState(trainer: GanTrainer): Promise<void> {
  const shared = await trainer.ranks.fromLeader(trainerTensors(trainer), async () => {
    const adamSteps: Record<NetworkName, Record<string, number>> = {};
    for (const net of Object.keys(trainer.networks)) {
      adamSteps[net] = trainer.optimizers[net].state().steps;
    }
    return {
      step: trainer.step,
      rng: trainer.rng.state() as RngState,
      adamSteps,
      metrics: await trainer.metrics.snapshot(),
    };
  });
  if (!shared) return;
  trainer.step = shared.step;
  trainer.rng = Rng.fromState(shared.rng);
  for (const net of Object.keys(trainer.networks)) {
    trainer.optimizers[net].loadSteps(shared.adamSteps[net]);
  }
  trainer.metrics.restore(shared.metrics);
}
