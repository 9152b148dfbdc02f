/**
 * In-place assignment: copies values into an existing tensor so that its
 * identity (held by modules and optimizer state) survives loads and updates.
 * Not differentiable: use it for parameter updates and loading only.
 */
import { Tensor } from "../tensor/tensor.ts";
import { copyBuffer } from "../runtime/commands.ts";

/** dst ← src (same number of elements). A CPU source may fill a GPU destination. */
export function assign(dst: Tensor, src: Tensor): void {
  dst.assertLive();
  src.assertLive();
  if (dst.size !== src.size) throw new Error(`assign: [${src.shape}] into [${dst.shape}]`);
  if (dst.device === "cpu") {
    if (src.device !== "cpu") {
      throw new Error("assign: GPU values into a CPU tensor need an async read");
    }
    dst.cpuData.set(src.cpuData.subarray(0, src.size));
    return;
  }
  if (src.device === "cpu") {
    const tmp = Tensor.fromData(src.cpuData.subarray(0, src.size), src.shape, "gpu", dst.dtype);
    copyBuffer(tmp.buffer, 0, dst.buffer, 0, dst.size * 4);
    tmp.dispose();
    return;
  }
  if (src.storage !== dst.storage && dst.size) {
    copyBuffer(src.buffer, 0, dst.buffer, 0, dst.size * 4);
  }
}
