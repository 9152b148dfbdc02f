import { assert, assertEquals } from "../helpers/assert.ts";
import { meanInRankOrder } from "../../stages/distributed/communicator.ts";
import { needs, OPEN_MPI } from "../helpers/requires.ts";
import { runAlone, runRanks } from "./mpi_run.ts";

const mpi = await needs(OPEN_MPI);

interface CollectivesReport {
  size: number;
  allRanksOk: boolean;
  exact: boolean;
  broadcastOk: boolean;
  gatherOk: boolean;
  orderOk: boolean;
  /** Messages to the rank's MPI worker that held a typed-array view (slow to post). */
  viewsPosted: number;
  digest: string;
}

Deno.test("meanInRankOrder: left fold in rank order, float32 rounding, then ÷ size", () => {
  const parts = [[1e8], [1], [-1e8]].map((v) => Float32Array.from(v));
  // float32: (1e8 + 1) rounds to 1e8, so the order shows: ((1e8 + 1) − 1e8) / 3 = 0.
  assertEquals(Array.from(meanInRankOrder(parts)), [0]);
  assertEquals(Array.from(meanInRankOrder([parts[0], parts[2], parts[1]])), [Math.fround(1 / 3)]);
});

Deno.test(mpi.wrap({
  name:
    "MPI collectives: exact rank-ordered all-reduce, broadcast, all-gather, call order; bit-identical reruns",
  async fn() {
    // 3 ranks: with 2 the sum commutes, 3 shows that the order is fixed.
    const first = await runRanks<CollectivesReport>(3, "collectives_rank.ts");
    assertEquals(first.size, 3);
    assert(first.allRanksOk && first.exact, "all-reduce equals the rank-ordered float32 mean");
    assert(first.broadcastOk && first.gatherOk, "broadcast from rank 2 and all-gather");
    assert(first.orderOk, "collectives run in call order even when the data comes late");
    assertEquals(first.viewsPosted, 0, "messages to the MPI worker carry buffers, not views");
    const second = await runRanks<CollectivesReport>(3, "collectives_rank.ts");
    assertEquals(second.digest, first.digest, "two runs give the same bits");
    const two = await runRanks<CollectivesReport>(2, "collectives_rank.ts");
    assert(two.allRanksOk && two.exact && two.broadcastOk && two.gatherOk, "2 ranks");
    const alone = await runAlone<CollectivesReport>("collectives_rank.ts");
    assertEquals(alone.size, 1, "without mpirun: a world of one");
    assert(alone.allRanksOk && alone.exact && alone.broadcastOk && alone.gatherOk, "world of one");
  },
}));
