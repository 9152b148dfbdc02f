/**
 * `leaderFirst` over two in-process ranks sharing a barrier: rank 1 starts only after rank 0 is
 * done, also when rank 0 fails (then rank 0 rethrows and rank 1 still runs: nobody hangs).
 */
import { leaderFirst } from "../../stages/distributed/leader_first.ts";
import type { World } from "../../pipeline/world.ts";
import { assertEquals, assertThrows } from "../helpers/assert.ts";

/** Two ranks of one process: the barrier resolves when both have reached it. */
function twoRanks(): [World, World] {
  let waiting: (() => void) | null = null;
  const barrier = () =>
    new Promise<void>((resolve) => {
      if (waiting) {
        waiting();
        waiting = null;
        resolve();
      } else waiting = resolve;
    });
  const rank = (r: number): World => ({
    rank: r,
    size: 2,
    broadcast: () => Promise.reject(new Error("unused")),
    barrier,
  });
  return [rank(0), rank(1)];
}

const tick = () => new Promise((r) => setTimeout(r, 10));

Deno.test("leaderFirst: rank 0 finishes before rank 1 starts, also when it fails", async () => {
  for (const fails of [false, true]) {
    const [r0, r1] = twoRanks();
    const events: string[] = [];
    const work = (name: string, fail = false) => async () => {
      events.push(`${name} start`);
      await tick();
      events.push(`${name} end`);
      if (fail) throw new Error(`${name} failed`);
      return name;
    };
    // Rank 1 is started first: it must still wait for rank 0.
    const second = leaderFirst(r1, work("rank1"));
    const first = leaderFirst(r0, work("rank0", fails));
    if (fails) await assertThrows(() => first, "rank0 failed");
    else assertEquals(await first, "rank0");
    assertEquals(await second, "rank1");
    assertEquals(events, ["rank0 start", "rank0 end", "rank1 start", "rank1 end"]);
  }
  const one: World = {
    rank: 0,
    size: 1,
    broadcast: () => Promise.reject(),
    barrier: () => Promise.reject(),
  };
  assertEquals(await leaderFirst(one, () => Promise.resolve(7)), 7, "a world of one: no barrier");
});
