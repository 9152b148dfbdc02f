/**
 * One rank of the pinning test: pins itself (re-executing in a mount
 * namespace) among fake "GPU" files in the directory given as argument, then
 * joins MPI and reports which files it can still read. Rank 0 prints JSON.
 */
import { pinToLocalGpu } from "../../../stages/distributed/gpu_pinning.ts";
import { openCommunicator } from "../../../stages/distributed/communicator.ts";

const devDir = Deno.args[0];
const outcome = await pinToLocalGpu({ devDir });
const comm = openCommunicator();
const seen = ["nvidia0", "nvidia1"].map((f) => Deno.readTextFileSync(`${devDir}/${f}`).trim());
const report = new TextEncoder().encode(
  JSON.stringify({ rank: comm.rank, outcome, seen }).padEnd(200),
);
const all = await comm.allGather(report);
if (comm.isLeader) {
  console.log(JSON.stringify(all.map((b) => JSON.parse(new TextDecoder().decode(b)))));
}
comm.close();
