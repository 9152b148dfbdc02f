/**
 * A yield that lets Deno's event loop poll every pending operation.
 *
 * Long synchronous work (recording a training step) starves what completes
 * through the event loop: a GPU read-back, a message from a worker thread (a
 * gradient exchange). Awaiting `setImmediate` or a microtask does not make Deno
 * poll them, and `setTimeout(0)` sleeps milliseconds per yield. Awaiting an
 * operation that runs on Deno's thread pool does: the cheapest one that needs no
 * permission is a digest of one byte (tests/kernels/runtime/event_loop_test.ts; the
 * measurements: docs/runtime_notes.md).
 * @module
 */

const ONE_BYTE = new Uint8Array(1);

/** Resolves after Deno's event loop has polled its pending operations (tens of µs). */
export async function turnEventLoop(): Promise<void> {
  await crypto.subtle.digest("SHA-1", ONE_BYTE);
}
