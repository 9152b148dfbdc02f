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
import { requestsSubmitted, submit } from "../../kernels/runtime/commands.ts";

/**
 * Call after recording a step. One rank: waits for the previous step, then submits this one.
 * Several ranks: each phase's gradient exchange submits the recorded work bucket by bucket
 * (gradient_sync.ts) and nothing here may wait for the GPU (it would drain it at every
 * step's end); this waits until the previous step's work has been handed to the GPU, so the
 * CPU records at most a step ahead of it.
 */
export class GpuPacer {
  private previous: Promise<void> = Promise.resolve();
  constructor(private readonly ranks: number) {}
  async stepRecorded(): Promise<void> {
    if (this.ranks > 1) {
      const handed = requestsSubmitted();
      await this.previous;
      this.previous = handed;
      return;
    }
    await gpu().device.queue.onSubmittedWorkDone();
    submit();
  }
}
