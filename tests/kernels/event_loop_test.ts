import { ok as assert } from "node:assert";
import { setImmediate } from "node:timers";
import { gpu, initGpu } from "../../kernels/mod.ts";
import { turnEventLoop } from "../../kernels/runtime/event_loop.ts";

/** Yields (after ~1 ms of synchronous work each) until a read-back's map resolves. */
async function yieldsUntilMapped(yieldOnce: () => Promise<unknown>): Promise<number> {
  const buffer = gpu().device.createBuffer({ size: 16, usage: 0x01 | 0x08 }); // MAP_READ | COPY_DST
  let mapped = false;
  buffer.mapAsync(0x01).then(() => (mapped = true));
  let yields = 0;
  const start = performance.now();
  while (!mapped && yields < 200) {
    while (performance.now() - start < yields + 1); // the recording of a training step
    await yieldOnce();
    yields++;
  }
  while (!mapped) await turnEventLoop();
  buffer.unmap();
  buffer.destroy();
  return yields;
}

Deno.test("turnEventLoop lets a read-back complete while the caller keeps working", async () => {
  await initGpu();
  // Deno resolves a map after a 10 ms timer that only a poll of its operations notices:
  // measured 11–15 yields with turnEventLoop, ~60 with setImmediate (which does not poll).
  const polled = await yieldsUntilMapped(turnEventLoop);
  const immediate = await yieldsUntilMapped(() => new Promise((r) => setImmediate(r)));
  assert(polled <= 40, `the map resolved after ${polled} yields`);
  assert(polled < immediate, `turnEventLoop (${polled}) vs setImmediate (${immediate})`);
});
