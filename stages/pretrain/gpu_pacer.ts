/**
 * Pacing of training steps (the training loop and the training benchmark): the
 * CPU records step N while the GPU runs step N − 1.
 *
 * Deno's WebGPU answers `onSubmittedWorkDone` and `mapAsync` by blocking the
 * main thread until the GPU has finished *everything* submitted so far
 * (measured: a read-back of the first of two submitted jobs resolves only when
 * both are done). So the wait for step N − 1 must happen while step N is
 * recorded but not yet submitted: then it ends when N − 1 does, and N is
 * submitted at once. Waiting after submitting N would serialise the two.
 * @module
 */
import { gpu } from "../../kernels/mod.ts";
import { submit } from "../../kernels/runtime/commands.ts";

/**
 * Call after recording a step: waits for the previous step, then submits this one. With
 * several ranks it does nothing: each phase's gradient exchange already holds the next
 * submit back (deferred writes), which keeps the CPU within a phase of the GPU, and a wait
 * here would drain the GPU at every step's end.
 */
export class GpuPacer {
  constructor(private readonly ranks: number) {}
  async stepRecorded(): Promise<void> {
    if (this.ranks > 1) return;
    await gpu().device.queue.onSubmittedWorkDone();
    submit();
  }
}
