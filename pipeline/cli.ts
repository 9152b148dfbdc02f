/**
 * The pipeline's CLI commands (run, status, sweep, table, ls, show, gc, verify, export, import),
 * registered on the project's commander program.
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { Option } from "@commander-js/extra-typings";
import * as path from "node:path";
import { defaultStoreRoot } from "./paths.ts";
import { Store } from "./store.ts";
import { loadDefault, loadExperiment } from "./load_module.ts";
import { runExperiment } from "./runner.ts";
import { breakLock, describeLock, releaseHeldLocksSync } from "./key_lock.ts";
import { experimentStatus, formatStatus } from "./status.ts";
import { gridPoints, parseSweepAxes, runSweep } from "./sweep.ts";
import { type JobFileOptions, kubernetesJob, slurmArray } from "./job_files.ts";
import { collectTable, renderTable, type Table, type TableFormat } from "./tables.ts";
import { collectGarbage, exportArtifact, importArtifact, verifyStore } from "./maintenance.ts";
import { writeFileAtomic } from "./atomic_fs.ts";
import type { RankEntry, World } from "./world.ts";

const collect = (value: string, previous: string[]) => [...previous, value];

// deno-lint-ignore no-explicit-any
type AnyCommand = Command<any, any, any>;

function storeOf(command: AnyCommand): Promise<Store> {
  const { store } = command.optsWithGlobals() as { store?: string };
  return Store.open(store ?? defaultStoreRoot());
}

/**
 * Runs `work` with Ctrl-C and SIGTERM (what Slurm and Kubernetes send on timeout or preemption)
 * wired to an AbortSignal: the run finishes its current step, checkpoints and releases its
 * locks. A second signal exits at once (the store is consistent at every instant), removing
 * this process's locks first.
 */
export async function withInterrupt<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const handlers = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const code = signal === "SIGINT" ? 130 : 143;
    const handler = () => {
      if (controller.signal.aborted) {
        releaseHeldLocksSync();
        Deno.exit(code);
      }
      console.error(
        `${signal === "SIGINT" ? "interrupt" : "terminated (SIGTERM)"}: finishing the current ` +
          `step (${signal === "SIGINT" ? "Ctrl-C" : "a second signal"} again to quit now)`,
      );
      controller.abort();
    };
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  try {
    return await work(controller.signal);
  } finally {
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
  }
}

function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** The arguments the program was parsed from, without `--gpus N` / `--gpus=N`. */
function argsWithoutGpus(command: AnyCommand): string[] {
  let root = command;
  while (root.parent) root = root.parent;
  // commander keeps them as `rawArgs` (parseAsync with from: "user"); its typings omit it.
  const raw = (root as unknown as { rawArgs?: string[] }).rawArgs ?? [];
  const out: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === "--gpus") i++;
    else if (!raw[i].startsWith("--gpus=")) out.push(raw[i]);
  }
  return out;
}

/**
 * This process's world for `--gpus N`: the ranks' exit code when this process started them
 * (it then runs nothing itself), else the world it runs in.
 */
async function enterRanks(
  gpus: number,
  command: AnyCommand,
  ranks: RankEntry | undefined,
): Promise<{ exitCode: number } | { world: World | undefined }> {
  if (!ranks) {
    if (gpus > 1) throw new Error("--gpus needs the full CLI (deno run -A mod.ts run …)");
    return { world: undefined };
  }
  return await ranks.enter(gpus, argsWithoutGpus(command));
}

/** What the application adds to the pipeline commands. */
export interface PipelineCommandOptions {
  /** Starts/joins ranks for `run --gpus N` (without it, `--gpus` above 1 is an error). */
  ranks?: RankEntry;
}

/** Adds the pipeline commands and the global `--store` option to a commander program. */
export function registerPipelineCommands(
  program: AnyCommand,
  options: PipelineCommandOptions = {},
): void {
  program.option("--store <dir>", "artifact store directory (default $MIMIC3D_STORE or .mimic3d)");

  program.command("run")
    .description("run an experiment's DAG, reusing cached stages")
    .argument("<experiment>", "path to an experiment module, or the name of one in experiments/")
    .option("--set <key=value>", "override a config key (repeatable)", collect, [] as string[])
    .option("--preset <name>", "start from one of the experiment's presets")
    .option("--until <stage>", "run only this stage and what it depends on")
    .option(
      "--force <stage>",
      "recompute this stage even if cached (repeatable)",
      collect,
      [] as string[],
    )
    .option(
      "--gpus <n>",
      "data-parallel ranks on this host, one per GPU (starts them under mpirun)",
      (v) => parsePositiveInt(v, "--gpus"),
      1,
    )
    .option("--quiet", "print nothing but errors")
    .action(async (experimentRef, opts, command) => {
      const entered = await enterRanks(opts.gpus, command, options.ranks);
      if ("exitCode" in entered) {
        if (entered.exitCode !== 0) {
          throw new Error(`the ${opts.gpus} ranks failed (exit code ${entered.exitCode})`);
        }
        return;
      }
      const { world } = entered;
      const experiment = await loadExperiment(experimentRef);
      const store = await storeOf(command);
      const result = await withInterrupt((signal) =>
        runExperiment(experiment, store, { ...opts, sets: opts.set, signal, world })
      );
      if (!opts.quiet && (world?.rank ?? 0) === 0) {
        console.log(
          `run ${result.runId}: ${result.executed.length} of ${
            Object.keys(result.nodes).length
          } stages executed`,
        );
      }
    });

  program.command("status")
    .description("show each stage as cached/stale/missing/running/failed, and why it is stale")
    .argument("<experiment>", "path to an experiment module, or the name of one in experiments/")
    .option(
      "--set <key=value>",
      "config override to evaluate against (repeatable)",
      collect,
      [] as string[],
    )
    .option("--preset <name>", "start from one of the experiment's presets")
    .option("--json", "print machine-readable JSON")
    .option(
      "--gpus <n>",
      "evaluate keys as a run with --gpus N would",
      (v) => parsePositiveInt(v, "--gpus"),
      1,
    )
    .action(async (experimentRef, opts, command) => {
      const experiment = await loadExperiment(experimentRef);
      const rows = await experimentStatus(experiment, await storeOf(command), {
        ...opts,
        sets: opts.set,
        worldSize: opts.gpus,
      });
      console.log(opts.json ? JSON.stringify(rows, null, 2) : formatStatus(experiment, rows));
    });

  program.command("sweep")
    .description("run (or emit scheduler jobs for) a grid of config points")
    .argument("<experiment>", "path to an experiment module, or the name of one in experiments/")
    .option(
      "--set <key=v1,v2,...>",
      "a swept key and its values (repeatable; grid over all)",
      collect,
      [] as string[],
    )
    .option(
      "--fixed <key=value>",
      "a config override applied to every point (repeatable)",
      collect,
      [] as string[],
    )
    .option("--preset <name>", "start from one of the experiment's presets")
    .option(
      "--jobs <n>",
      "points run in parallel processes",
      (v) => parsePositiveInt(v, "--jobs"),
      1,
    )
    .addOption(
      new Option("--emit <scheduler>", "write job files instead of running").choices(
        ["slurm", "k8s"] as const,
      ),
    )
    .option("--out <dir>", "where --emit writes its file", ".")
    .option("--launcher <command>", "command starting this CLI inside a job", "deno run -A mod.ts")
    .option("--image <image>", "container image for --emit k8s", "mimic3d:latest")
    .option(
      "--volume-claim <name>",
      "PersistentVolumeClaim holding the store for --emit k8s",
      "mimic3d-store",
    )
    .option("--quiet", "print nothing but errors")
    .action(async (experimentRef, opts, command) => {
      const experiment = await loadExperiment(experimentRef);
      if (opts.set.length === 0) throw new Error("sweep needs at least one --set key=v1,v2");
      const points = gridPoints(parseSweepAxes(experiment.config, opts.set));
      if (opts.emit) {
        const { store } = command.optsWithGlobals() as { store?: string };
        const jobOptions: JobFileOptions = {
          experiment: experimentRef,
          store: store ?? defaultStoreRoot(),
          launcher: opts.launcher,
          parallelism: opts.jobs,
          sets: opts.fixed,
          preset: opts.preset,
          image: opts.image,
          volumeClaim: opts.volumeClaim,
        };
        const text = opts.emit === "slurm"
          ? slurmArray(points, jobOptions)
          : kubernetesJob(points, jobOptions);
        const base = `mimic3d-${path.basename(experimentRef, ".ts").toLowerCase()}-sweep`;
        const file = path.join(opts.out, `${base}.${opts.emit === "slurm" ? "sbatch" : "yaml"}`);
        await Deno.mkdir(opts.out, { recursive: true });
        await writeFileAtomic(file, text);
        console.log(`wrote ${file} (${points.length} points)`);
        return;
      }
      const store = await storeOf(command);
      const outcomes = await runSweep(experiment, store, points, {
        jobs: opts.jobs,
        experimentRef,
        preset: opts.preset,
        sets: opts.fixed,
        quiet: opts.quiet,
      });
      if (!opts.quiet) console.log(`sweep: ${outcomes.length} points done`);
    });

  program.command("table")
    .description("render a results table (measured metrics beside reference numbers)")
    .argument("<table-def>", "path to a table module, or the name of one in experiments/")
    .addOption(
      new Option("--format <format>", "output format").choices(
        ["md", "csv", "tex", "html"] as const,
      ).default("md" as const),
    )
    .option("--out <file>", "write to a file instead of stdout")
    .action(async (tableRef, opts, command) => {
      const table = await loadDefault<Table>(
        tableRef,
        "defineTable(...)",
        (v) => (v as Table | undefined)?.kind === "mimic3d-table",
      );
      const data = await collectTable(table, await storeOf(command));
      const text = renderTable(data, opts.format as TableFormat);
      if (opts.out) await writeFileAtomic(opts.out, text);
      else await Deno.stdout.write(new TextEncoder().encode(text));
      if (data.missing.length) console.error(`note: not computed yet: ${data.missing.join("; ")}`);
    });

  program.command("ls")
    .description("list cached artifacts (artifact id, stage, size, date)")
    .action(async (_opts, command) => {
      const store = await storeOf(command);
      const records = await store.listKeyRecords();
      const byArtifact = new Map(records.map((r) => [r.artifact, r]));
      for (const id of await store.listObjects()) {
        const record = byArtifact.get(id);
        const manifest = await store.manifest(id).catch(() => null);
        const size = manifest ? formatBytes(manifest.files.reduce((s, f) => s + f.size, 0)) : "?";
        const what = record
          ? `${record.stage}  ${record.createdAt}`
          : "(no cache key: checkpoint or import)";
        console.log(`${id.slice(0, 12)}  ${size.padStart(10)}  ${what}`);
      }
    });

  program.command("show")
    .description("show an artifact's files and the stage keys that produced it")
    .argument("<artifact>", "artifact id or unique prefix")
    .action(async (ref, _opts, command) => {
      const store = await storeOf(command);
      const id = await store.resolveId(ref);
      const manifest = await store.check(id, "cached");
      await store.flush();
      console.log(`artifact ${id}\n  path ${store.filesDir(id)}`);
      for (const file of manifest.files) {
        console.log(
          `  ${file.path}  ${formatBytes(file.size)}  sha256:${file.sha256.slice(0, 16)}`,
        );
      }
      for (const record of (await store.listKeyRecords()).filter((r) => r.artifact === id)) {
        console.log(
          `produced by ${record.stage} (key ${record.key.slice(0, 12)}, run ${record.runId})`,
        );
        console.log(`  ${JSON.stringify(record.keyInputs)}`);
      }
    });

  program.command("unlock")
    .description(
      "show the store's stage locks (owner, lease, live/stale/unreadable); --break removes one",
    )
    .option("--break <key>", "remove the lock of this key (or unique key prefix), even a live one")
    .action(async (opts, command) => {
      const store = await storeOf(command);
      const names = [...Deno.readDirSync(store.at("locks"))]
        .filter((e) => e.name.endsWith(".lock")).map((e) => e.name.slice(0, -".lock".length));
      if (opts.break !== undefined) {
        const matches = names.filter((k) => k.startsWith(opts.break!));
        if (matches.length !== 1) {
          throw new Error(
            `unlock --break ${opts.break}: ${matches.length ? "ambiguous" : "no lock"} ` +
              `(locks: ${names.map((k) => k.slice(0, 12)).join(", ") || "none"})`,
          );
        }
        await breakLock(store.at("locks", `${matches[0]}.lock`));
        console.log(`removed the lock of ${matches[0]}`);
        return;
      }
      if (names.length === 0) console.log("no locks");
      for (const key of names) {
        const lock = await describeLock(store.at("locks", `${key}.lock`));
        if (!lock) continue;
        const who = lock.owner ? `pid ${lock.owner.pid} on ${lock.owner.host}` : "(unreadable)";
        console.log(
          `${key.slice(0, 12)}  ${lock.state.padEnd(10)}  ${who}, lease renewed ${
            Math.round(lock.leaseAgeMs / 1000)
          } s ago`,
        );
      }
    });

  program.command("gc")
    .description("remove objects unreachable from any recorded run")
    .option("--dry-run", "only list what would be removed")
    .option(
      "--grace <seconds>",
      "keep objects younger than this",
      (v) => parsePositiveInt(v, "--grace", true),
      600,
    )
    .action(async (opts, command) => {
      const report = await collectGarbage(await storeOf(command), {
        dryRun: opts.dryRun,
        graceSeconds: opts.grace,
      });
      const verb = opts.dryRun ? "would remove" : "removed";
      for (const id of report.objects) console.log(`${verb} ${id}`);
      console.log(
        `${verb} ${report.objects.length} objects (${
          formatBytes(report.bytes)
        }), ${report.keyRecords} cache keys, ${report.stagingDirs.length} staging dirs`,
      );
    });

  program.command("verify")
    .description("rehash every artifact against its manifest")
    .option(
      "--repair",
      "remove corrupted artifacts and damaged cache keys so the next run recomputes them",
    )
    .action(async (opts, command) => {
      const report = await verifyStore(await storeOf(command), opts);
      for (const bad of report.corrupted) console.log(`corrupted ${bad.id}: ${bad.problem}`);
      for (const key of report.danglingKeys) {
        console.log(`cache key ${key.slice(0, 12)} points at a missing artifact`);
      }
      for (const name of report.damagedKeys) {
        console.log(`cache key file keys/${name} is damaged (cannot be read)`);
      }
      const problems = report.corrupted.length + report.danglingKeys.length +
        report.damagedKeys.length;
      console.log(
        `checked ${report.checked} artifacts: ${
          problems === 0
            ? "all intact"
            : `${problems} problems${report.repaired ? " (repaired: rerun to recompute)" : ""}`
        }`,
      );
      if (problems > 0 && !report.repaired) {
        throw new Error(
          `${problems} problems in the store; run \`verify --repair\` then rerun to recompute what they held`,
        );
      }
    });

  program.command("export")
    .description("copy an artifact (files, manifest, cache keys) to a directory")
    .argument("<artifact>", "artifact id or unique prefix")
    .argument("<dir>", "an empty or new directory")
    .action(async (ref, dir, _opts, command) => {
      const store = await storeOf(command);
      const id = await store.resolveId(ref);
      await exportArtifact(store, id, dir);
      console.log(`exported ${id} to ${dir}`);
    });

  program.command("import")
    .description("add an exported artifact (checked against its manifest) to the store")
    .argument("<dir>", "a directory written by export")
    .action(async (dir, _opts, command) => {
      const { id, keys } = await importArtifact(await storeOf(command), dir);
      console.log(`imported ${id} (${keys} cache keys)`);
    });
}

function parsePositiveInt(text: string, flag: string, allowZero = false): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new Error(
      `${flag} expects a ${allowZero ? "non-negative" : "positive"} integer, got "${text}"`,
    );
  }
  return value;
}
