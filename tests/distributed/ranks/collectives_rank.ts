/**
 * One rank of the collectives test (run under mpirun): all-reduce of data
 * whose rounding depends on the sum order, broadcast from a non-zero root,
 * all-gather, and the call order of collectives whose data arrives late. Rank 0 prints one
 * JSON line with what the test checks.
 */
import { createHash } from "node:crypto";
import { Worker } from "node:worker_threads";
import { meanInRankOrder, openCommunicator } from "../../../stages/distributed/communicator.ts";

// Messages to the MPI worker must carry buffers, never typed-array views: Deno's
// node:worker_threads copies a view element by element (a 32 MiB bucket took ~1 s).
function holdsView(value: unknown): boolean {
  if (ArrayBuffer.isView(value)) return true;
  if (value === null || typeof value !== "object") return false;
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) return false;
  return Object.values(value).some(holdsView);
}
let viewsPosted = 0;
const post = Worker.prototype.postMessage;
Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker["postMessage"]>) {
  if (holdsView(args[0])) viewsPosted++;
  return post.apply(this, args);
};

const comm = openCommunicator();

/** Rank r's data: magnitudes spread over 2⁻¹⁰…2¹⁰ so float32 sums round differently by order. */
function rankData(rank: number, n: number): Float32Array<ArrayBuffer> {
  const out = new Float32Array(n);
  let s = 12345 + rank * 7919;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const u = s / 2 ** 32;
    out[i] = (u - 0.5) * 2 ** (((s >>> 8) % 21) - 10);
  }
  return out;
}

const sizes = [1, 1003, 70_001]; // uneven shards, and a bucket larger than Open MPI's eager limit
const buffers = sizes.map((n) => rankData(comm.rank, n));
await comm.allReduceMean(buffers);
const exact = sizes.every((n, k) => {
  const expected = meanInRankOrder(Array.from({ length: comm.size }, (_, r) => rankData(r, n)));
  return expected.every((v, i) => Object.is(v, buffers[k][i]));
});
const digest = createHash("sha256");
for (const b of buffers) digest.update(new Uint8Array(b.buffer));

const root = comm.size - 1;
const payload = Uint8Array.from({ length: 5000 }, (_, i) => (i * 31 + root) & 255);
const received = await comm.broadcast(comm.rank === root ? payload : null, root);
const broadcastOk = received.length === payload.length &&
  received.every((b, i) => b === payload[i]);

const gathered = await comm.allGather(new Uint8Array([comm.rank, 42]));
const gatherOk = gathered.every((g, r) => g[0] === r && g[1] === 42);
await comm.barrier();

// Collectives run in call order, not in the order their data arrives: an all-reduce whose
// buffers come late on rank 0 (a GPU read-back) and at once elsewhere, then an all-gather
// called 50 ms later. Run by data arrival, rank 0 would start the all-gather while the
// others are in the all-reduce.
const late = rankData(comm.rank, 4099);
const lateReduce = comm.allReduceMean(
  new Promise((resolve) => setTimeout(() => resolve([late]), comm.rank === 0 ? 300 : 0)),
);
await new Promise((resolve) => setTimeout(resolve, 50));
const afterLate = comm.allGather(new Uint8Array([comm.rank, 7]));
await lateReduce;
const lateExact = meanInRankOrder(Array.from({ length: comm.size }, (_, r) => rankData(r, 4099)))
  .every((v, i) => Object.is(v, late[i]));
const orderOk = lateExact && (await afterLate).every((g, r) => g[0] === r && g[1] === 7);

const agree = await comm.allGather(
  new Uint8Array([exact && broadcastOk && gatherOk && orderOk ? 1 : 0]),
);
if (comm.isLeader) {
  console.log(JSON.stringify({
    size: comm.size,
    allRanksOk: agree.every((a) => a[0] === 1),
    exact,
    broadcastOk,
    gatherOk,
    orderOk,
    viewsPosted,
    digest: digest.digest("hex"),
  }));
}
// No close(): a rank ends when its program does (the communicator's worker does not keep the
// process alive, and MPI is finalised at exit) — runRanks fails if it hangs instead.
