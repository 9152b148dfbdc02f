/**
 * Work that fills a per-user cache (a weights download): rank 0 does it first, then the other
 * ranks, which then find the cache filled instead of each downloading the same file at once.
 * Every rank reaches the one barrier even when rank 0 fails, so a failure cannot hang the others
 * (they try themselves, and fail with the same clear error if the cause is shared).
 * @module
 */
import type { World } from "../../pipeline/world.ts";

/** Runs `fn` on rank 0, then (after a barrier) on the other ranks; one process: just `fn`. */
export async function leaderFirst<T>(world: World, fn: () => Promise<T>): Promise<T> {
  if (world.size === 1) return fn();
  if (world.rank !== 0) {
    await world.barrier();
    return fn();
  }
  const outcome = await fn().then((value) => ({ value }), (error: unknown) => ({ error }));
  await world.barrier();
  if ("error" in outcome) throw outcome.error;
  return outcome.value;
}
