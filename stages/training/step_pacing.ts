/**
 * Pacing of one process's training steps: the CPU records step N while the GPU runs step N − 1.
 *
 * Deno's WebGPU answers `onSubmittedWorkDone` and `mapAsync` only once the GPU has finished
 * everything submitted so far (docs/runtime_notes.md). So the wait for step N − 1 happens while
 * step N is recorded but not yet submitted: it ends when N − 1 does, and N is submitted at once.
 * Waiting after submitting N would serialise the two.
 * @module
 */
import { gpu, submit } from "../../kernels/mod.ts";

/** Call after recording a step: waits for the previous step, then submits this one. */
export async function submitAfterPreviousStep(): Promise<void> {
  await gpu().device.queue.onSubmittedWorkDone();
  submit();
}
