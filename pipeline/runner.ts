/**
 * The runner: executes an experiment's DAG in topological order, reusing cached artifacts by
 * key, taking one lock per key, checkpointing, logging (JSONL + console), storing a stage's
 * output only when it holds exactly the declared outs, and recording refs and the run, so that
 * `status`, `gc` and `table` can see what happened.
 * @module
 */
import { ancestorsOf, type Experiment } from "./experiment.ts";
import { resolveConfig } from "./config_overrides.ts";
import { experimentSeed, type KeyInputs, keyInputsFor, keyOf, nodeConfig } from "./stage_key.ts";
import { CorruptArtifactError, removeTree, type Store } from "./store.ts";
import { acquireLock, LEASE_MS } from "./key_lock.ts";
import { CheckpointSlot } from "./checkpoints.ts";
import { newRunId, RunLog } from "./run_log.ts";
import { startProgress } from "./progress_bar.ts";
import { writeRef } from "./node_refs.ts";
import { writeJsonAtomic } from "./atomic_fs.ts";
import { checkDeclaredOuts } from "./declared_outs.ts";
import type { Progress, Stage, StageContext } from "./stage.ts";
import { fromLeader, SINGLE_WORLD, type World } from "./world.ts";
import { followLeader, type NodeMessage, shareResumedState } from "./rank_follower.ts";

/** Options of one run. */
export interface RunOptions {
  /** Name of a preset of the experiment, applied before `sets`. */
  preset?: string;
  /** `key=value` config overrides. */
  sets?: readonly string[];
  /** Typed config overrides by dotted key (used by sweeps). */
  values?: Record<string, unknown>;
  /** Run only this node and what it depends on. */
  until?: string;
  /** Recompute these nodes even when cached (e.g. to replace a corrupted artifact). */
  force?: readonly string[];
  /** Print nothing on the console (the JSONL log is still written). */
  quiet?: boolean;
  /** Cancels the run (Ctrl-C): the current stage is told through `ctx.signal`. */
  signal?: AbortSignal;
  /**
   * The ranks running this command together (default: one process). Rank 0 leads: it alone
   * takes locks, decides what is cached and writes to the store; the others follow it and run
   * the `dataParallel` stages with it.
   */
  world?: World;
}

/** What happened to one node in a run. */
export interface NodeOutcome {
  key: string;
  artifact: string;
  /** True when the stage ran; false when its cached artifact was reused. */
  executed: boolean;
  /** Step the stage resumed from, when it resumed from a checkpoint. */
  resumedFrom?: number;
}

/** The result of a run. */
export interface RunResult {
  runId: string;
  config: Record<string, unknown>;
  nodes: Record<string, NodeOutcome>;
  /** Names of nodes whose stage actually ran, in order. */
  executed: string[];
  logFile: string;
}

/** Raised when a stage's own code fails; the message names the stage. */
export class StageFailedError extends Error {
  constructor(readonly node: string, cause: unknown) {
    super(`stage "${node}" failed: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = "StageFailedError";
  }
}

/** Raised when a run is cancelled (Ctrl-C). */
export class RunInterruptedError extends Error {
  constructor(node: string) {
    super(`interrupted during stage "${node}"; completed stages are cached, rerun to continue`);
    this.name = "RunInterruptedError";
  }
}

/** Resolves the experiment's config for a run (preset + overrides), with one-line errors. */
export function configFor(experiment: Experiment, options: RunOptions): Record<string, unknown> {
  let preset: Record<string, unknown> | undefined;
  if (options.preset !== undefined) {
    preset = experiment.presets?.[options.preset];
    if (!preset) {
      const known = Object.keys(experiment.presets ?? {}).join(", ") || "none";
      throw new Error(
        `experiment "${experiment.name}" has no preset "${options.preset}" (presets: ${known})`,
      );
    }
  }
  return resolveConfig(experiment.config, { preset, sets: options.sets, values: options.values });
}

/** Runs an experiment against a store. */
export async function runExperiment(
  experiment: Experiment,
  store: Store,
  options: RunOptions = {},
): Promise<RunResult> {
  const config = configFor(experiment, options);
  for (const name of options.force ?? []) ancestorsOf(experiment, name); // validates names
  const nodes = options.until ? ancestorsOf(experiment, options.until) : [...experiment.order];
  const seed = experimentSeed(config);
  const world = options.world ?? SINGLE_WORLD;
  if (world.rank !== 0) return await followRun(experiment, store, config, world, options.signal);
  // Followers learn the run id, then one plan and one outcome per node, then the end.
  const runId = await fromLeader(world, newRunId());
  const log = await RunLog.open(store, runId);
  const say = (text: string) => options.quiet || console.error(text);
  const signal = options.signal ?? new AbortController().signal;
  const runFile = store.at("runs", `${runId}.json`);
  const record = {
    runId,
    experiment: experiment.name,
    config,
    startedAt: new Date().toISOString(),
    outcome: "running" as string,
    nodes: {} as Record<string, { key: string; artifact: string }>,
  };
  const result: RunResult = { runId, config, nodes: {}, executed: [], logFile: log.file };
  const artifacts: Record<string, string> = {};
  const hashCache = await store.hashCache();
  log.event("run_start", { experiment: experiment.name, nodes, config, pid: Deno.pid });
  try {
    for (const name of nodes) {
      const dagNode = experiment.dag[name];
      const parsed = nodeConfig(name, dagNode, config);
      const keyInputs = await keyInputsFor(
        dagNode,
        parsed,
        artifacts,
        seed,
        hashCache,
        world.size,
      );
      const key = keyOf(keyInputs);
      const configPath = typeof dagNode.config === "string" ? dagNode.config : null;
      const refBase = { node: name, key, keyInputs, configPath, runId };
      const forced = options.force?.includes(name) ?? false;
      let outcome: NodeOutcome;
      const parallel = dagNode.stage.dataParallel && world.size > 1;
      const announce = async (run: boolean) => {
        const plan: NodeMessage = run
          ? { kind: "plan", node: name, run, keyInputs, seed }
          : { kind: "plan", node: name, run };
        await fromLeader(world, plan);
      };
      try {
        const cached = !forced && await reuseCached(store, name, key);
        if (cached) await announce(false);
        outcome = cached ||
          await executeNode(store, {
            name,
            stage: dagNode.stage,
            quiet: options.quiet ?? false,
            key,
            keyInputs,
            forced,
            seed,
            log,
            say,
            signal,
            runId,
            world: parallel ? world : SINGLE_WORLD,
            announce,
          });
      } catch (err) {
        const interrupted = err instanceof RunInterruptedError;
        await writeRef(store, experiment.name, {
          ...refBase,
          artifact: null,
          outcome: interrupted ? "interrupted" : "failed",
          error: (err as Error).message,
          at: new Date().toISOString(),
        });
        throw err;
      }
      await fromLeader<NodeMessage>(world, {
        kind: "done",
        node: name,
        key,
        artifact: outcome.artifact,
        executed: outcome.executed,
      });
      artifacts[name] = outcome.artifact;
      result.nodes[name] = outcome;
      if (outcome.executed) result.executed.push(name);
      else {
        say(`[${name}] cached ${outcome.artifact.slice(0, 12)}`);
        log.event("stage_cached", { node: name, key, artifact: outcome.artifact });
      }
      record.nodes[name] = { key, artifact: outcome.artifact };
      await writeRef(store, experiment.name, {
        ...refBase,
        artifact: outcome.artifact,
        outcome: "done",
        at: new Date().toISOString(),
      });
      await writeJsonAtomic(runFile, record);
    }
    await fromLeader<NodeMessage>(world, { kind: "end" });
    record.outcome = "done";
    log.event("run_done", { executed: result.executed });
    return result;
  } catch (err) {
    record.outcome = err instanceof RunInterruptedError ? "interrupted" : "failed";
    log.event("run_failed", { error: (err as Error).message });
    throw err;
  } finally {
    await writeJsonAtomic(runFile, record);
    log.close();
    await store.flush();
  }
}

/** A cached artifact for `key`, checked (sizes + cached hashes); null on a cache miss. */
async function reuseCached(store: Store, name: string, key: string): Promise<NodeOutcome | null> {
  const cached = await store.readKeyRecord(key);
  if (!cached || !(await store.hasObject(cached.artifact))) return null;
  await checkArtifact(store, cached.artifact, name);
  return { key, artifact: cached.artifact, executed: false };
}

async function checkArtifact(store: Store, id: string, producer: string): Promise<void> {
  try {
    await store.check(id, "cached");
  } catch (err) {
    if (err instanceof CorruptArtifactError) {
      throw new Error(
        `output of stage "${producer}": ${err.message}; recompute it with --force ${producer}`,
      );
    }
    throw err;
  }
}

interface Execution {
  name: string;
  stage: Stage;
  quiet: boolean;
  key: string;
  keyInputs: KeyInputs;
  forced: boolean;
  seed: number;
  log: RunLog;
  say: (text: string) => void;
  signal: AbortSignal;
  runId: string;
  /** The ranks that run the stage: the run's world for a data-parallel stage, else one. */
  world: World;
  /** Tells the other ranks whether they run this stage (called once, before it starts). */
  announce(run: boolean): Promise<void>;
}

/** Runs one stage under its key's lock and stores its output. */
async function executeNode(store: Store, ex: Execution): Promise<NodeOutcome> {
  const { name, key, log, say } = ex;
  const lock = await acquireLock(store.at("locks", `${key}.lock`), {
    signal: ex.signal,
    onWait: (owner) => {
      say(
        owner
          ? `[${name}] waiting: pid ${owner.pid} on ${owner.host} is computing it`
          : `[${name}] waiting: its lock file cannot be read (empty or damaged); it is broken ` +
            `once untouched for ${LEASE_MS / 60_000} min (or: unlock --break ${key.slice(0, 12)})`,
      );
      log.event("lock_wait", { node: name, key, owner });
    },
    onStaleBroken: (owner) => {
      say(
        owner
          ? `[${name}] recovered a stale lock left by pid ${owner.pid} on ${owner.host}`
          : `[${name}] removed an unreadable (empty or damaged) lock file`,
      );
      log.event("lock_recovered", { node: name, key, owner });
    },
  });
  try {
    // Another process may have produced it while we waited for the lock.
    if (!ex.forced) {
      const reused = await reuseCached(store, name, key);
      if (reused) {
        await ex.announce(false);
        return reused;
      }
    }
    await ex.announce(ex.world.size > 1);
    return await executeLocked(store, ex);
  } finally {
    await lock.release();
  }
}

async function executeLocked(store: Store, ex: Execution): Promise<NodeOutcome> {
  const { name, key, keyInputs, log, say } = ex;
  const inputs: Record<string, string> = {};
  for (const [input, id] of Object.entries(keyInputs.inputs)) {
    await checkArtifact(store, id, `${name}'s input ${input}`);
    inputs[input] = store.filesDir(id);
  }
  const { stage } = ex;
  const slot = new CheckpointSlot(store, key);
  const staging = await store.makeStagingDir("stage");
  const progressBars: Progress[] = [];
  let resumedFrom: number | undefined;
  const started = performance.now();
  const ctx: StageContext<unknown, string> = {
    config: keyInputs.config,
    inputs,
    outDir: staging.outDir,
    seed: ex.seed,
    signal: ex.signal,
    log(message, fields = {}) {
      say(`[${name}] ${message}`);
      log.event("stage_log", { node: name, message, ...fields });
    },
    progress(total, unit = "steps") {
      const bar = startProgress(`[${name}]`, total, unit, {
        interactive: !ex.quiet && Deno.stderr.isTerminal(),
        line: say,
        record: (fields) => log.event("progress", { node: name, ...fields }),
      });
      progressBars.push(bar);
      return bar;
    },
    async checkpoint(state) {
      await slot.save(state);
      log.event("checkpoint", { node: name, key, step: state.step });
      if (ex.signal.aborted) throw new RunInterruptedError(name);
    },
    async resume() {
      // The leader loads the checkpoint; the other ranks of a data-parallel stage get its bytes.
      const state = await shareResumedState(
        ex.world,
        await slot.load((message) => ctx.log(message)),
      );
      if (state) {
        resumedFrom = state.step;
        say(`[${name}] resuming from checkpoint at step ${state.step}`);
        log.event("stage_resume", { node: name, key, step: state.step });
      }
      return state;
    },
    hashFile: async (file) => (await store.hashCache()).hash(file),
    world: ex.world,
  };
  say(`[${name}] running`);
  log.event("stage_start", { node: name, key, keyInputs });
  try {
    await stage.run(ctx);
    if (ex.signal.aborted) throw new RunInterruptedError(name);
    await checkDeclaredOuts(staging.outDir, stage.name, stage);
  } catch (err) {
    progressBars.forEach((bar) => bar.stop());
    await removeTree(staging.dir);
    const wrapped = err instanceof RunInterruptedError || ex.signal.aborted
      ? (err instanceof RunInterruptedError ? err : new RunInterruptedError(name))
      : new StageFailedError(name, err);
    log.event("stage_failed", { node: name, key, error: wrapped.message });
    throw wrapped;
  }
  progressBars.forEach((bar) => bar.stop());
  let artifact: string;
  try {
    artifact = await store.commit(staging.dir);
  } catch (err) {
    // A full disk, say: the outputs are lost with the staging dir; the stage's checkpoint stays.
    await removeTree(staging.dir).catch(() => {});
    const wrapped = new StageFailedError(name, err);
    log.event("stage_failed", { node: name, key, error: wrapped.message });
    throw wrapped;
  }
  await store.writeKeyRecord({
    key,
    artifact,
    stage: stage.name,
    keyInputs,
    createdAt: new Date().toISOString(),
    runId: ex.runId,
  });
  await slot.clear();
  const seconds = (performance.now() - started) / 1000;
  say(`[${name}] done in ${seconds.toFixed(2)}s → ${artifact.slice(0, 12)}`);
  log.event("stage_done", { node: name, key, artifact, seconds, resumedFrom });
  return { key, artifact, executed: true, resumedFrom };
}

/** A rank other than 0: follows the leader's decisions, writes nothing to the store. */
async function followRun(
  experiment: Experiment,
  store: Store,
  config: Record<string, unknown>,
  world: World,
  signal = new AbortController().signal,
): Promise<RunResult> {
  const runId = await fromLeader(world, "");
  const nodes = await followLeader(world, store, (node) => experiment.dag[node].stage, signal);
  return {
    runId,
    config,
    nodes,
    executed: Object.keys(nodes).filter((n) => nodes[n].executed),
    logFile: "",
  };
}
