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
import { gpu, submit } from "../../kernels/mod.ts";

/**
 * Call after recording a step. One rank: waits for the previous step, then submits this one.
 * Several ranks: nothing — each phase's gradient exchange submits the recorded work bucket by
 * bucket (gradient_sync.ts), and the trainer records a phase's forward only once the work
 * before it was handed to the GPU (trainer.ts), so the CPU stays at most a phase ahead.
 */
export class GpuPacer {
  constructor(private readonly ranks: number) {}
  async stepRecorded(): Promise<void> {
    if (this.ranks > 1) return;
    await gpu().device.queue.onSubmittedWorkDone();
    submit();
  }
}
