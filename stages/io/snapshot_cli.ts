/**
 * The `show-snapshot` command: what an EG3D / Mimic3D `.pkl` holds, read
 * without executing anything — networks, classes, kwargs, parameter counts, kind.
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { detectKind, readSnapshot, type Snapshot } from "./snapshot.ts";
import { snapshotToCheckpoint } from "./snapshot_checkpoint.ts";

/** Adds `show-snapshot <file.pkl>` to a commander program. */
export function registerSnapshotCommands(program: Command): void {
  program
    .command("show-snapshot")
    .description(
      "list the networks of an EG3D/Mimic3D training snapshot (.pkl) without executing it",
    )
    .argument("<file>", "network-snapshot-*.pkl")
    .option("--json", "print the summary as JSON")
    .action(async (file, options) => {
      const snapshot = await readSnapshot(file);
      const summary = summarizeSnapshot(snapshot);
      console.log(options.json ? JSON.stringify(summary, null, 2) : formatSnapshot(summary));
    });
}

/** The printable facts of a snapshot. */
export interface SnapshotSummary {
  file: string;
  protocol: number;
  kind: string;
  kindReason: string;
  trainingSetKwargs: Record<string, unknown> | null;
  networks: {
    key: string;
    className: string;
    parameters: number;
    stateTensors: number;
    initKwargs: Record<string, unknown>;
  }[];
  /** The G_ema options mapped to our config, or why that failed. */
  generatorConfig: unknown;
  otherKeys: string[];
}

/** Collects the summary; kind detection and config mapping failures are reported, not thrown. */
export function summarizeSnapshot(snapshot: Snapshot): SnapshotSummary {
  let kind = "unknown", kindReason = "";
  try {
    ({ kind, reason: kindReason } = detectKind(snapshot));
  } catch (err) {
    kindReason = (err as Error).message;
  }
  let generatorConfig: unknown;
  const generator = snapshot.networks.has("G_ema") ? "G_ema" : "G";
  try {
    generatorConfig = snapshotToCheckpoint(snapshot, generator).config;
  } catch (err) {
    generatorConfig = { error: (err as Error).message };
  }
  return {
    file: snapshot.source,
    protocol: snapshot.protocol,
    kind,
    kindReason,
    trainingSetKwargs: snapshot.trainingSetKwargs,
    networks: [...snapshot.networks.values()].map((net) => ({
      key: net.key,
      className: net.className,
      parameters: net.parameterCount,
      stateTensors: net.stateDict.size,
      initKwargs: net.tree.initKwargs,
    })),
    generatorConfig,
    otherKeys: snapshot.otherKeys,
  };
}

/** Human-readable text of a summary. */
export function formatSnapshot(summary: SnapshotSummary): string {
  const lines = [
    `${summary.file}: pickle protocol ${summary.protocol}`,
    `kind: ${summary.kind} (${summary.kindReason})`,
  ];
  if (summary.trainingSetKwargs) {
    lines.push(`training_set_kwargs: ${JSON.stringify(summary.trainingSetKwargs)}`);
  }
  for (const net of summary.networks) {
    lines.push(
      `${net.key.padEnd(13)} ${net.className.padEnd(24)} ` +
        `${net.parameters.toLocaleString("en-US").padStart(12)} parameters, ` +
        `${net.stateTensors} state-dict tensors`,
    );
    lines.push(`${" ".repeat(14)}kwargs: ${JSON.stringify(net.initKwargs)}`);
  }
  if (summary.otherKeys.length) lines.push(`other keys: ${summary.otherKeys.join(", ")}`);
  lines.push(`generator config: ${JSON.stringify(summary.generatorConfig, null, 2)}`);
  return lines.join("\n");
}
