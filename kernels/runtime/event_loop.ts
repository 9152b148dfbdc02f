/**
 * A yield that lets Deno's event loop poll every pending operation.
 *
 * Long synchronous work (recording a training step) starves what completes
 * through the event loop: a GPU read-back (Deno resolves a map after a 10 ms
 * timer), a message from a worker thread (a gradient exchange). Awaiting
 * `setImmediate` or a microtask does not make Deno poll them (measured on
 * the CPU adapter: a pending map resolved only at the 60th setImmediate,
 * whatever the work between them, and never across microtasks or a
 * MessageChannel), and `setTimeout(0)` sleeps ~2 ms per yield. Awaiting an
 * operation that runs on Deno's thread pool does (the map resolved at the
 * first or second yield once its timer had run; ~35–180 µs per yield): the
 * cheapest one that needs no permission is a digest of one byte.
 * @module
 */

const ONE_BYTE = new Uint8Array(1);

/** Resolves after Deno's event loop has polled its pending operations (tens of µs). */
export async function turnEventLoop(): Promise<void> {
  await crypto.subtle.digest("SHA-1", ONE_BYTE);
}
