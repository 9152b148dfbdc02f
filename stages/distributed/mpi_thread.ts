/**
 * The communicator's worker: every MPI collective of a rank runs here, one
 * after another in the order the main thread asked for them.
 *
 * Why a thread of its own: Deno answers a GPU read-back by blocking the main
 * thread until the GPU is idle (stages/training/step_pacing.ts), and a
 * collective is several MPI calls, each continued by the event loop. On the
 * main thread a gradient exchange would advance only between those blocks and
 * between stretches of recording; here it runs while the main thread waits
 * for the GPU or records the next phase. Float32 buffers of the all-reduce
 * live in shared memory (changed in place); other data is copied.
 *
 * Messages carry buffers, never typed-array views: Deno's node:worker_threads
 * copies a view element by element, while a SharedArrayBuffer or a transferred
 * ArrayBuffer crosses at once (times: docs/runtime_notes.md).
 * @module
 */
import { parentPort } from "node:worker_threads";
import { MpiCollectives } from "./mpi_collectives.ts";
import { Mpi } from "./mpi_ffi.ts";

/** Float32 values in shared memory, as they cross to the worker (`length` elements). */
export interface SharedFloatsOnWire {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  length: number;
}

/** A collective asked of the worker. Bytes travel as whole, transferred ArrayBuffers. */
export type MpiRequest =
  | { id: number; op: "allReduceMean"; buffers: SharedFloatsOnWire[] }
  | { id: number; op: "broadcast"; bytes: ArrayBuffer | null; root: number }
  | { id: number; op: "allGather"; bytes: ArrayBuffer }
  | { id: number; op: "barrier" };

/** The worker's answer: the result (broadcast, all-gather; transferred) or the error's message. */
export interface MpiReply {
  id: number;
  result?: ArrayBuffer | ArrayBuffer[];
  error?: string;
}

/** A float32 view over shared memory, as a message can carry it. */
export function floatsToWire(values: Float32Array): SharedFloatsOnWire {
  if (!(values.buffer instanceof SharedArrayBuffer)) {
    throw new Error("floatsToWire: the values are not in shared memory");
  }
  return { buffer: values.buffer, byteOffset: values.byteOffset, length: values.length };
}

/** The view again, on the other side. */
function floatsFromWire(w: SharedFloatsOnWire): Float32Array {
  return new Float32Array(w.buffer, w.byteOffset, w.length);
}

/** The bytes of a view as a buffer of their own (a copy unless the view is the whole buffer). */
function bytesToWire(bytes: Uint8Array): ArrayBuffer {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength &&
    bytes.buffer instanceof ArrayBuffer;
  return whole ? bytes.buffer as ArrayBuffer : bytes.slice().buffer;
}

async function run(collectives: MpiCollectives, request: MpiRequest): Promise<MpiReply> {
  const { id } = request;
  switch (request.op) {
    case "allReduceMean":
      await collectives.allReduceMean(request.buffers.map(floatsFromWire));
      return { id };
    case "broadcast": {
      const bytes = request.bytes && new Uint8Array(request.bytes);
      return { id, result: bytesToWire(await collectives.broadcast(bytes, request.root)) };
    }
    case "allGather": {
      const all = await collectives.allGather(new Uint8Array(request.bytes));
      return { id, result: all.map(bytesToWire) };
    }
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
      const transfer = result === undefined ? [] : Array.isArray(result) ? result : [result];
      port.postMessage(reply, transfer);
    });
  });
}
