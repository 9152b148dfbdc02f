/**
 * `run --gpus N` for the pipeline CLI: outside a group, starts N ranks of
 * this same command (without `--gpus`) under mpirun and waits; inside one (or
 * for one GPU), pins this rank to its GPU and joins the group. The order
 * matters: pinning may re-execute the process, so it comes before MPI and
 * WebGPU start.
 * @module
 */
import type { RankEntry } from "../../pipeline/world.ts";
import { openCommunicator } from "./communicator.ts";
import { nvidiaDeviceNodes, pinToLocalGpu } from "./gpu_pinning.ts";
import { launch, selfCommand } from "./launcher.ts";
import { launchedByMpi } from "./mpi_ffi.ts";

/** Open MPI ranks on this host (or the world of one). */
export const mpiRankEntry: RankEntry = {
  async enter(ranks, argsWithoutRanks) {
    if (ranks > 1 && !launchedByMpi()) {
      // Ranks sharing one adapter (CPU in CI) share the cores: waiting ranks should yield them
      // instead of busy-polling (docs/runtime_notes.md).
      const env: Record<string, string> = nvidiaDeviceNodes().length === 0
        ? { OMPI_MCA_mpi_yield_when_idle: "1" }
        : {};
      const command = selfCommand(argsWithoutRanks);
      return { exitCode: await launch({ gpus: ranks, command, env }) };
    }
    await pinToLocalGpu();
    return { world: openCommunicator() };
  },
};
