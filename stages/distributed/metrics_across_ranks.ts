/**
 * Training statistics of all ranks as one: at a log tick (and in a
 * checkpoint) each rank's accumulators [sum of per-call means, calls, first
 * bad step] become [mean over ranks of the sums, calls, earliest bad step],
 * i.e. sums of global-batch means (local batches are equal), as the
 * original's training_stats averages over GPUs. Exact and rank-order
 * deterministic: float64 on the host, ranks added in order.
 * @module
 */
import type { MetricSnapshot } from "../training/training_metrics.ts";
import { type Communicator, ranksDisagreeing } from "./communicator.ts";

/** The ranks' snapshots combined (the same on every rank); the identity for one rank. */
export async function metricsAcrossRanks(
  comm: Communicator,
  snapshot: MetricSnapshot,
): Promise<MetricSnapshot> {
  if (comm.size === 1) return snapshot;
  const names = Object.keys(snapshot).sort();
  const differing = await ranksDisagreeing(comm, names.join("\n"));
  if (differing.length) {
    throw new Error(
      `training metrics: rank(s) ${differing.join(", ")} track other statistics than rank 0 ` +
        `(${names.join(", ")}); every rank must run the same phases`,
    );
  }
  const local = new Float64Array(names.length * 3);
  names.forEach((name, i) => local.set(snapshot[name].slice(0, 3), 3 * i));
  const ranks = (await comm.allGather(new Uint8Array(local.buffer)))
    .map((bytes) => new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8));
  const out: MetricSnapshot = {};
  names.forEach((name, i) => {
    let sum = 0;
    let bad = -1;
    for (const values of ranks) {
      sum += values[3 * i];
      const b = values[3 * i + 2];
      if (b >= 0 && (bad < 0 || b < bad)) bad = b;
    }
    out[name] = [sum / comm.size, ranks[0][3 * i + 1], bad];
  });
  return out;
}
