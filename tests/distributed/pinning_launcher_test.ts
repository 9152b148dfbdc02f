import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  localRankFromEnv,
  nvidiaDeviceNodes,
  pinnedCommand,
  planPinning,
} from "../../stages/distributed/gpu_pinning.ts";
import { mpirunCommand, planLaunch } from "../../stages/distributed/launcher.ts";
import { needs, OPEN_MPI, UNSHARE } from "../helpers/requires.ts";
import { denoCommand, rankProgram, runForJson, runRanks } from "./mpi_run.ts";

const mpi = await needs(OPEN_MPI);
/** Ranks pinned to their own GPU: each re-executes itself under `unshare --mount`. */
const pinning = await needs(OPEN_MPI, UNSHARE);

/** A fake /dev with "GPU" device nodes nvidia0 … (files holding their own name). */
function fakeDevDir(count: number, directoryAt?: number): string {
  const dir = Deno.makeTempDirSync({ prefix: "fake-dev-" });
  for (let k = 0; k < count; k++) {
    // A directory cannot be covered by a bind-mounted /dev/null: makes the probe fail.
    if (k === directoryAt) Deno.mkdirSync(`${dir}/nvidia${k}`);
    else Deno.writeTextFileSync(`${dir}/nvidia${k}`, `gpu${k}\n`);
  }
  Deno.writeTextFileSync(`${dir}/nvidiactl`, "control\n");
  return dir;
}

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("pinning plan: which GPU a rank keeps and which nodes it hides", async () => {
  const dir = fakeDevDir(3);
  const nodes = nvidiaDeviceNodes(dir);
  assertEquals(nodes, [0, 1, 2].map((k) => `${dir}/nvidia${k}`), "nvidiactl is not a GPU");
  assertEquals(localRankFromEnv(env({ SLURM_LOCALID: "2" })), 2);
  assertEquals(planPinning(nodes, env({ OMPI_COMM_WORLD_LOCAL_RANK: "1" })), {
    kind: "pin",
    gpu: 1,
    node: nodes[1],
    hide: [nodes[0], nodes[2]],
  });
  assertEquals(planPinning(nodes, env({})).kind, "not-needed", "one process, no launcher");
  assertEquals(planPinning(nodes.slice(0, 1), env({ SLURM_LOCALID: "0" })).kind, "not-needed");
  assertEquals(planPinning(nodes, env({ MIMIC3D_PINNED_GPU: "2" })).kind, "pinned");
  await assertThrows(
    () => planPinning(nodes, env({ OMPI_COMM_WORLD_LOCAL_RANK: "3" })),
    "only 3 are visible",
  );
  const cmd = pinnedCommand([nodes[0]], ["deno", "run", "it's.ts"]);
  assertEquals(cmd.slice(0, 6), ["unshare", "--mount", "--propagation", "private", "--", "sh"]);
  assertEquals(cmd.slice(-3), ["deno", "run", "it's.ts"]);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("launcher plan: mpirun argv, GPU count check, fallback to one GPU with a reason", async () => {
  const command = ["deno", "run", "-A", "train.ts"];
  assertEquals(mpirunCommand(2, command, { asRoot: true, cores: 1 }), [
    "mpirun",
    "-np",
    "2",
    "--bind-to",
    "none",
    "--allow-run-as-root",
    "--oversubscribe",
    ...command,
  ]);
  assertEquals(await planLaunch({ gpus: 1, command }), { kind: "single", command });
  const two = fakeDevDir(2);
  await assertThrows(() => planLaunch({ gpus: 4, command, devDir: two }), "has 2 GPU(s)");
  const noMpi = await planLaunch({
    gpus: 2,
    command,
    devDir: fakeDevDir(0),
    mpirun: "no-such-mpirun",
  });
  assert(noMpi.kind === "single" && noMpi.warning?.includes("not found"), JSON.stringify(noMpi));
  const unpinnable = await planLaunch({ gpus: 2, command, devDir: fakeDevDir(2, 1) });
  assert(
    unpinnable.kind === "single" && unpinnable.warning?.includes("its own GPU"),
    JSON.stringify(unpinnable),
  );
});

Deno.test(pinning.wrap({
  name: "launcher plan: as root, with mpirun and unshare, 2 GPUs → one rank per GPU under mpirun",
  ignore: Deno.uid() !== 0, // the mount-namespace trick needs root
  async fn() {
    const plan = await planLaunch({ gpus: 2, command: ["deno"], devDir: fakeDevDir(2) });
    assertEquals(plan.kind, "mpirun", JSON.stringify(plan));
  },
}));

interface PinReport {
  rank: number;
  outcome: { kind: string; gpu?: number };
  seen: string[];
}

Deno.test(pinning.wrap({
  name: "pinning under mpirun: each rank re-executes in a namespace that sees only its own GPU",
  ignore: Deno.uid() !== 0, // the mount-namespace trick needs root
  async fn() {
    const dir = fakeDevDir(2);
    const reports = await runRanks<PinReport[]>(2, "pinning_rank.ts", [dir]);
    assertEquals(reports.map((r) => [r.rank, r.outcome.kind, r.outcome.gpu, r.seen]), [
      [0, "pinned", 0, ["gpu0", ""]],
      [1, "pinned", 1, ["", "gpu1"]],
    ]);
    assertEquals(
      Deno.readTextFileSync(`${dir}/nvidia1`),
      "gpu1\n",
      "the host's nodes are untouched",
    );
    Deno.removeSync(dir, { recursive: true });
  },
}));

Deno.test(mpi.wrap({
  name: "launcher: `launcher.ts --gpus 2 -- <rank command>` runs two ranks",
  async fn() {
    const launcher = new URL("../../stages/distributed/launcher.ts", import.meta.url).pathname;
    const report = await runForJson<{ size: number; allRanksOk: boolean }>(
      denoCommand(launcher, [
        "--gpus",
        "2",
        "--",
        ...denoCommand(rankProgram("collectives_rank.ts")),
      ]),
    );
    assertEquals([report.size, report.allRanksOk], [2, true]);
  },
}));
