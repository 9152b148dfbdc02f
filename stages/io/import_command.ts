/**
 * The `import-checkpoint` command: an official EG3D / Mimic3D training
 * snapshot (`.pkl`, read without executing anything) becomes an artifact of
 * the store holding our checkpoint `G_ema.safetensors` and an `import.json`
 * saying where it came from. Every tensor is loaded into our generator first
 * (strict: missing, unexpected or misshapen tensors are errors), so a stored
 * import always renders; on any error nothing is stored.
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import * as path from "node:path";
import { writeJsonAtomic } from "../../pipeline/atomic_fs.ts";
import { defaultStoreRoot } from "../../pipeline/paths.ts";
import { removeTree, Store } from "../../pipeline/store.ts";
import type { TriplaneGenerator } from "../model/generator.ts";
import { saveGenerator } from "./generator_checkpoint.ts";
import { buildImportedGenerator } from "./import_generator.ts";
import { PickleError } from "./pickle_vm.ts";
import { parseSnapshot, type Snapshot } from "./snapshot.ts";
import { snapshotToCheckpoint } from "./snapshot_checkpoint.ts";
import { TRAINED_OUTS } from "./trained_outs.ts";

// deno-lint-ignore no-explicit-any
type AnyCommand = Command<any, any, any>;

/** The checkpoint file inside an imported artifact (what `render` and `loadGenerator` look for). */
export const IMPORTED_CHECKPOINT = TRAINED_OUTS.gEma;

/** Options of an import. */
export interface ImportOptions {
  /** Override kind detection (it fixes the tri-plane axes). */
  kind?: "eg3d" | "mimic3d";
  /** The snapshot's network to import; default G_ema (the one to render and evaluate). */
  network?: string;
}

/** The snapshot file an import read. */
export interface ImportSource {
  /** The path given (errors name it); only its base name is stored. */
  file: string;
  bytes: number;
  sha256: string;
}

/** What `import.json` records. */
export interface ImportSummary {
  format: "mimic3d-ts/import@1";
  source: { file: string; bytes: number; sha256: string };
  network: string;
  className: string;
  kind: "eg3d" | "mimic3d";
  kindReason: string;
  parameters: number;
  tensors: number;
  checkpoint: string;
  /** The snapshot's generator options as we mapped them. */
  config: unknown;
  trainingSetKwargs: Record<string, unknown> | null;
  snapshotNetworks: string[];
}

/** An import's outcome: the artifact and its summary. */
export interface ImportResult {
  id: string;
  /** The artifact's files directory (holds G_ema.safetensors and import.json). */
  path: string;
  summary: ImportSummary;
}

/** A validated import, not yet stored: the loaded generator and what to record. */
export interface PreparedImport {
  generator: TriplaneGenerator;
  summary: ImportSummary;
  /** Provenance kept in the checkpoint's safetensors metadata. */
  metadata: Record<string, string>;
}

/** Reads and parses a snapshot file (never executing anything); errors name the file. */
export async function readSnapshotFile(
  file: string,
): Promise<{ snapshot: Snapshot; source: ImportSource }> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(file);
  } catch (err) {
    throw new PickleError(`${file}: cannot read (${(err as Error).message})`);
  }
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  const sha256 = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0"))
    .join("");
  const snapshot = parseSnapshot(bytes, file);
  return { snapshot, source: { file, bytes: bytes.length, sha256 } };
}

/**
 * Maps a snapshot's network to our config and loads every tensor into our
 * generator (strict). Throws naming the file and the problem; touches no store.
 */
export function prepareImport(
  snapshot: Snapshot,
  source: ImportSource,
  options: ImportOptions = {},
): PreparedImport {
  const network = options.network ?? "G_ema";
  const imported = snapshotToCheckpoint(snapshot, network, options.kind);
  let generator: TriplaneGenerator;
  try {
    // The CPU backend: importing needs no GPU, and float32 values survive float64 exactly.
    generator = buildImportedGenerator(imported, "cpu");
  } catch (err) {
    throw new Error(
      `${source.file}: ${network} does not load into our ${imported.kind} generator: ` +
        (err as Error).message,
    );
  }
  const fileName = path.basename(source.file);
  const summary: ImportSummary = {
    format: "mimic3d-ts/import@1",
    source: { file: fileName, bytes: source.bytes, sha256: source.sha256 },
    network,
    className: imported.className,
    kind: imported.kind,
    kindReason: imported.kindReason,
    parameters: snapshot.networks.get(network)!.parameterCount,
    tensors: imported.stateDict.size,
    checkpoint: IMPORTED_CHECKPOINT,
    config: imported.config,
    trainingSetKwargs: snapshot.trainingSetKwargs,
    snapshotNetworks: [...snapshot.networks.keys()],
  };
  const metadata = {
    source: fileName,
    sourceSha256: source.sha256,
    kind: imported.kind,
    kindReason: imported.kindReason,
    network,
  };
  return { generator, summary, metadata };
}

/**
 * Stores a prepared import as one artifact (`G_ema.safetensors` + `import.json`,
 * staged, then committed atomically; a failure leaves nothing). Same file and
 * options → same artifact id. Recorded like a run so `gc` keeps it.
 */
export async function storeImport(
  store: Store,
  prepared: PreparedImport,
  sourcePath: string,
): Promise<ImportResult> {
  const staging = await store.makeStagingDir("import-checkpoint");
  let id: string;
  try {
    await saveGenerator(
      path.join(staging.outDir, IMPORTED_CHECKPOINT),
      prepared.generator,
      prepared.metadata,
    );
    await Deno.writeTextFile(
      path.join(staging.outDir, "import.json"),
      JSON.stringify(prepared.summary, null, 2) + "\n",
    );
    id = await store.commit(staging.dir);
  } catch (err) {
    await removeTree(staging.dir);
    throw err;
  }
  const stamp = new Date().toISOString().replace(/[-:.]/g, "");
  const runId = `import-checkpoint-${stamp}-${id.slice(0, 8)}`;
  await writeJsonAtomic(store.at("runs", `${runId}.json`), {
    runId,
    experiment: null,
    source: { ...prepared.summary.source, path: path.resolve(sourcePath) },
    outcome: "done",
    nodes: { "import-checkpoint": { key: null, artifact: id } },
  });
  await store.flush();
  return { id, path: store.filesDir(id), summary: prepared.summary };
}

/** Reads, validates and stores a snapshot (the three steps above). Nothing is stored on error. */
export async function importCheckpoint(
  store: Store,
  file: string,
  options: ImportOptions = {},
): Promise<ImportResult> {
  const { snapshot, source } = await readSnapshotFile(file);
  return await storeImport(store, prepareImport(snapshot, source, options), file);
}

/** Human-readable lines about an import. */
export function formatImport(result: ImportResult): string {
  const s = result.summary;
  return [
    `artifact ${result.id}`,
    `  path ${result.path}`,
    `imported ${s.source.file} (sha256 ${s.source.sha256.slice(0, 16)}…): ${s.network} ` +
    `${s.className}, ${s.parameters.toLocaleString("en-US")} parameters, ${s.tensors} tensors`,
    `kind ${s.kind} (${s.kindReason})`,
    `render it: render ${result.id.slice(0, 12)} --turntable 60`,
  ].join("\n");
}

/** Adds `import-checkpoint <file.pkl>` to a commander program. */
export function registerImportCommands(program: AnyCommand): void {
  program.command("import-checkpoint")
    .description(
      "import an official EG3D/Mimic3D snapshot (.pkl, never executed) into the store " +
        "as our checkpoint",
    )
    .argument("<file>", "network-snapshot-*.pkl")
    .option("--kind <eg3d|mimic3d>", "override kind detection (it fixes the tri-plane axes)")
    .option("--network <name>", "the snapshot's network to import", "G_ema")
    .action(async (file, opts, command) => {
      if (opts.kind !== undefined && opts.kind !== "eg3d" && opts.kind !== "mimic3d") {
        throw new Error(`--kind must be eg3d or mimic3d, got "${opts.kind}"`);
      }
      const { snapshot, source } = await readSnapshotFile(file);
      const prepared = prepareImport(snapshot, source, {
        kind: opts.kind as ImportOptions["kind"],
        network: opts.network,
      });
      // The store is opened only once the import is known to be good.
      const { store: root } = command.optsWithGlobals() as { store?: string };
      const store = await Store.open(root ?? defaultStoreRoot());
      console.log(formatImport(await storeImport(store, prepared, file)));
    });
}
