/**
 * The communicator's worker: every MPI collective of a rank runs here, one
 * after another in the order the main thread asked for them.
 *
 * Why a thread of its own: Deno answers a GPU read-back by blocking the main
 * thread until the GPU is idle (stages/pretrain/gpu_pacer.ts), and a
 * collective is several MPI calls, each continued by the event loop. On the
 * main thread a gradient exchange would advance only between those blocks and
 * between stretches of recording; here it runs while the main thread waits
 * for the GPU or records the next phase. Float32 buffers of the all-reduce
 * live in shared memory (changed in place); other data is copied.
 * @module
 */
import { parentPort } from "node:worker_threads";
import { MpiCollectives } from "./mpi_collectives.ts";
import { Mpi } from "./mpi_ffi.ts";

/** A collective asked of the worker. */
export type MpiRequest =
  | { id: number; op: "allReduceMean"; buffers: Float32Array[] }
  | { id: number; op: "broadcast"; bytes: Uint8Array | null; root: number }
  | { id: number; op: "allGather"; bytes: Uint8Array }
  | { id: number; op: "barrier" };

/** The worker's answer: the result (broadcast, all-gather) or the error's message. */
export interface MpiReply {
  id: number;
  result?: Uint8Array | Uint8Array[];
  error?: string;
}

async function run(collectives: MpiCollectives, request: MpiRequest): Promise<MpiReply> {
  const { id } = request;
  switch (request.op) {
    case "allReduceMean":
      await collectives.allReduceMean(request.buffers);
      return { id };
    case "broadcast":
      return { id, result: await collectives.broadcast(request.bytes, request.root) };
    case "allGather":
      return { id, result: await collectives.allGather(request.bytes) };
    case "barrier":
      await collectives.barrier();
      return { id };
  }
}

if (parentPort) {
  const port = parentPort;
  const collectives = new MpiCollectives(Mpi.attach());
  let tail: Promise<void> = Promise.resolve();
  port.on("message", (request: MpiRequest) => {
    tail = tail.then(async () => {
      let reply: MpiReply;
      try {
        reply = await run(collectives, request);
      } catch (error) {
        reply = { id: request.id, error: error instanceof Error ? error.message : String(error) };
      }
      const result = reply.result;
      const transfer = result === undefined
        ? []
        : (Array.isArray(result) ? result : [result]).map((r) => r.buffer as ArrayBuffer);
      port.postMessage(reply, transfer);
    });
  });
}
