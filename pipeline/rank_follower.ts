/**
 * The ranks other than 0 in a multi-rank run: they write nothing to the store.
 * For each node the leader announces a `NodePlan`; a follower runs the stage
 * with it only when the stage is data-parallel and the leader executes it,
 * with a scratch `outDir` outside the store, checkpoints that store nothing
 * and the leader's checkpoint as its resume state. Then it learns the node's
 * artifact (what downstream stages read as input).
 * @module
 */
import * as path from "node:path";
import type { KeyInputs } from "./stage_key.ts";
import type { Store } from "./store.ts";
import type { Progress, ResumedState, Stage, StageContext } from "./stage.ts";
import { fromLeader, type World } from "./world.ts";

/** What the leader tells the other ranks about one node, before and after it. */
export type NodeMessage =
  | { kind: "plan"; node: string; run: false }
  | { kind: "plan"; node: string; run: true; keyInputs: KeyInputs; seed: number }
  | { kind: "done"; node: string; key: string; artifact: string; executed: boolean }
  | { kind: "end" };

/** A follower's record of one node (as `NodeOutcome`). */
export interface FollowedNode {
  key: string;
  artifact: string;
  executed: boolean;
}

/** The leader's checkpoint (or null) on every rank: a header, then each file. */
export async function shareResumedState(
  world: World,
  state: ResumedState | null,
): Promise<ResumedState | null> {
  if (world.size === 1) return state;
  const header = await fromLeader(
    world,
    state ? { step: state.step, names: Object.keys(state.files) } : null,
  );
  if (!header) return null;
  const files: Record<string, Uint8Array> = {};
  for (const name of header.names) {
    const mine = world.rank === 0 ? state!.files[name] as Uint8Array<ArrayBuffer> : null;
    files[name] = await world.broadcast(mine, 0);
  }
  if (state) return state;
  const decoder = new TextDecoder();
  return {
    step: header.step,
    files,
    text(name: string) {
      if (!(name in files)) throw new Error(`checkpoint has no file "${name}"`);
      return decoder.decode(files[name]);
    },
  };
}

const silentProgress: Progress = { update() {}, increment() {}, stop() {} };

/**
 * Follows the leader's run until it announces the end: runs the data-parallel
 * stages it executes, records every node's artifact.
 */
export async function followLeader(
  world: World,
  store: Store,
  stageOf: (node: string) => Stage,
  signal: AbortSignal,
): Promise<Record<string, FollowedNode>> {
  const nodes: Record<string, FollowedNode> = {};
  for (;;) {
    const message = await fromLeader<NodeMessage>(world, { kind: "end" });
    if (message.kind === "end") return nodes;
    if (message.kind === "done") {
      nodes[message.node] = {
        key: message.key,
        artifact: message.artifact,
        executed: message.executed,
      };
      continue;
    }
    if (message.run) {
      await runAsFollower(
        world,
        store,
        stageOf(message.node),
        message.keyInputs,
        message.seed,
        signal,
      );
    }
  }
}

async function runAsFollower(
  world: World,
  store: Store,
  stage: Stage,
  keyInputs: KeyInputs,
  seed: number,
  signal: AbortSignal,
): Promise<void> {
  const inputs: Record<string, string> = {};
  for (const [input, id] of Object.entries(keyInputs.inputs)) inputs[input] = store.filesDir(id);
  // Scratch outputs outside the store: only the leader's become the artifact.
  const scratch = await Deno.makeTempDir({ prefix: `mimic3d-rank${world.rank}-` });
  const ctx: StageContext<unknown, string> = {
    config: keyInputs.config,
    inputs,
    outDir: path.join(scratch, "out"),
    seed,
    signal,
    log() {},
    progress: () => silentProgress,
    checkpoint() {
      if (signal.aborted) throw new Error(`rank ${world.rank} interrupted`);
      return Promise.resolve();
    },
    resume: () => shareResumedState(world, null),
    hashFile: async (file) => (await store.hashCache()).hash(file),
    world,
  };
  await Deno.mkdir(ctx.outDir);
  try {
    await stage.run(ctx);
  } finally {
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
}
