/**
 * The stage-definition API: what a stage declares (name, code sources, config schema, inputs,
 * outs) and the context it runs with. A stage knows nothing of the experiment it is wired into.
 * @module
 */
import type { z } from "zod";
import { validateOuts } from "./declared_outs.ts";
import type { World } from "./world.ts";

/** A source file that makes up a stage's code version: a path, a `file:` URL string or a URL. */
export type SourceRef = string | URL;

/**
 * A file outside the store: a path (hashed when the key is computed), or a file known by a pinned
 * content hash without reading it (`name` labels it in `status`; `sha256` is its full hash or a
 * published prefix of it).
 */
export type ExternalFile = string | { name: string; sha256: string };

/** Saved mid-stage state: a step counter and named byte blobs (tensors, optimizer state, RNG). */
export interface CheckpointState {
  /** Progress marker, e.g. the training step or kimg reached. */
  step: number;
  /** Named files; strings are stored as UTF-8. */
  files: Record<string, Uint8Array | string>;
}

/** A checkpoint as read back by `ctx.resume()`: files always come back as bytes. */
export interface ResumedState {
  /** The step passed to the `checkpoint` call that saved this state. */
  step: number;
  /** Named files as bytes. */
  files: Record<string, Uint8Array>;
  /** Decodes one file as UTF-8 text. */
  text(name: string): string;
}

/** A progress reporter for one long loop; a bar on a TTY, plain lines otherwise. */
export interface Progress {
  /** Sets the number of completed steps. */
  update(done: number): void;
  /** Adds `n` (default 1) completed steps. */
  increment(n?: number): void;
  /** Ends the bar (also done automatically when the stage returns). */
  stop(): void;
}

/** What a running stage sees. */
export interface StageContext<Config, InputName extends string> {
  /** The stage's config subset, parsed by its schema (defaults applied, unknown keys dropped). */
  readonly config: Config;
  /** Input artifacts by the stage's own input names: read-only directories. */
  readonly inputs: Readonly<Record<InputName, string>>;
  /** An empty directory to write outputs into; stored as the artifact when `run` returns. */
  readonly outDir: string;
  /** The experiment seed (part of the cache key), or 0 for unseeded stages. */
  readonly seed: number;
  /** Aborted on Ctrl-C: long loops should check it (`checkpoint` throws once it is aborted). */
  readonly signal: AbortSignal;
  /** Writes a message to the console and a structured record to the run's JSONL log. */
  log(message: string, fields?: Record<string, unknown>): void;
  /** Starts a progress bar over `total` steps (steps, rate, ETA). */
  progress(total: number, unit?: string): Progress;
  /** Atomically saves state into the store; the previous checkpoint stays usable until it lands. */
  checkpoint(state: CheckpointState): Promise<void>;
  /** The last checkpoint saved for this exact stage key, or null when starting fresh. */
  resume(): Promise<ResumedState | null>;
  /** Content hash (sha256 hex) of a file, cached by its stat and edge blocks (`file_hash.ts`). */
  hashFile(path: string): Promise<string>;
  /**
   * The ranks running this stage together: several only for a `dataParallel` stage of a run
   * started on several ranks, else the world of one. Only rank 0's `outDir`, `checkpoint` and
   * `log` reach the store; on the other ranks `outDir` is a scratch directory, `checkpoint`
   * stores nothing, `log` and `progress` print nothing, and `resume` returns rank 0's state.
   */
  readonly world: World;
}

/**
 * Everything a stage declares: deps (inputs) + params (config) + code (sources) + products
 * (outs), in one place.
 */
export interface StageSpec<
  Schema extends z.ZodType,
  InputName extends string,
  Outs extends Record<string, string> = Record<string, string>,
> {
  /** Stable stage name; part of the cache key. */
  name: string;
  /**
   * The stage's entry module(s), normally `[import.meta.url]`: the code version is their static
   * import closure (every local module and locked npm package they reach,
   * `import_closure.ts`), so editing any module the stage runs invalidates its cached outputs.
   */
  sources: readonly SourceRef[];
  /** Extra version salt, bumped by hand to invalidate outputs without a source edit. */
  version?: string;
  /** Schema of the config subset the stage reads; only the parsed subset enters the key. */
  config: Schema;
  /** Names of the input artifacts the stage consumes; the experiment wires them to other stages. */
  inputs?: readonly InputName[];
  /**
   * The files the stage writes into `ctx.outDir`, by name: `"metrics.json"` (a file),
   * `"samples/"` (a directory, any contents) or `"mesh_*.ply"` (any number of files). The
   * artifact is stored only when the stage wrote exactly these (`declared_outs.ts`); code that
   * reads the artifact names its files through this record, never by string literals.
   */
  outs: Outs;
  /** Outs the stage may leave out (e.g. files only some configs produce). */
  optionalOuts?: readonly (keyof Outs & string)[];
  /** Whether the experiment seed enters the key and `ctx.seed` (default true). */
  seeded?: boolean;
  /**
   * Runs on every rank of a multi-rank run, cooperating through `ctx.world` (default false:
   * only rank 0 runs it, the others wait for its artifact). The world size then enters the key,
   * since N ranks compute a result close to, not bit-equal to, one process's.
   */
  dataParallel?: boolean;
  /**
   * Files outside the store the stage reads (e.g. a user's dataset zip), derived from its config;
   * their content hashes enter the key, so the same bytes at another path still hit the cache.
   * A file fetched at run time (downloaded on first use) is given by its pinned hash instead.
   */
  externalFiles?: (config: z.output<Schema>) => ExternalFile[];
  /**
   * The part of the parsed config that enters the key (default: all of it). Lets a stage leave
   * out values that do not change its output, such as where a file is kept (its bytes enter
   * through `externalFiles`). The stage still runs with the whole parsed config.
   */
  keyConfig?: (config: z.output<Schema>) => unknown;
  /** Produces the outputs in `ctx.outDir`. Must be deterministic for the same key. */
  run(ctx: StageContext<z.output<Schema>, InputName>): Promise<void>;
}

/** A defined stage (the spec with defaults filled in). */
export interface Stage<
  Schema extends z.ZodType = z.ZodType,
  InputName extends string = string,
  Outs extends Record<string, string> = Record<string, string>,
> extends StageSpec<Schema, InputName, Outs> {
  readonly inputs: readonly InputName[];
  readonly seeded: boolean;
  readonly dataParallel: boolean;
}

/**
 * Defines a stage.
 *
 * ```ts
 * export const train = defineStage({
 *   name: "train",
 *   sources: [import.meta.url],
 *   config: z.object({ steps: z.number().int(), lr: z.number() }),
 *   inputs: ["data"],
 *   outs: { weights: "weights.safetensors", metrics: "metrics.json" },
 *   async run(ctx) { ... ctx.inputs.data ... join(ctx.outDir, train.outs.metrics) ... },
 * });
 * ```
 */
export function defineStage<
  Schema extends z.ZodType,
  const InputName extends string = never,
  const Outs extends Record<string, string> = Record<string, string>,
>(
  spec: StageSpec<Schema, InputName, Outs>,
): Stage<Schema, InputName, Outs> {
  if (!/^[A-Za-z0-9_.-]+$/.test(spec.name)) {
    throw new Error(`stage name "${spec.name}" must use only letters, digits, '_', '.', '-'`);
  }
  if (spec.sources.length === 0) {
    throw new Error(`stage "${spec.name}" lists no sources; pass [import.meta.url] at least`);
  }
  validateOuts(spec.name, spec);
  return {
    ...spec,
    inputs: spec.inputs ?? [],
    seeded: spec.seeded ?? true,
    dataParallel: spec.dataParallel ?? false,
  };
}
