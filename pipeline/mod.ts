/**
 * The pipeline engine: content-addressed store, stages and keys, runner (locks, checkpoints,
 * progress, logs), sweeps, tables and the CLI commands. Knows nothing of GANs.
 * See pipeline/README.md for how to define stages and experiments.
 * @module
 */
// Defining stages and experiments.
export { defineStage } from "./stage.ts";
export { memberOf } from "./declared_outs.ts";
export type {
  CheckpointState,
  ExternalFile,
  Progress,
  ResumedState,
  SourceRef,
  Stage,
  StageContext,
  StageSpec,
} from "./stage.ts";
export { defineExperiment, node } from "./experiment.ts";
export type { ConfigSelector, DagNode, Experiment, ExperimentSpec } from "./experiment.ts";
export { defineTable, gridRows } from "./tables.ts";
export type {
  ReferenceValue,
  Table,
  TableColumn,
  TableFormat,
  TableRow,
  TableSpec,
} from "./tables.ts";

// Running.
export { configFor, runExperiment, RunInterruptedError, StageFailedError } from "./runner.ts";
export type { NodeOutcome, RunOptions, RunResult } from "./runner.ts";
export { experimentStatus, formatStatus } from "./status.ts";
export type { NodeState, NodeStatus } from "./status.ts";
export { gridPoints, parseSweepAxes, runSweep } from "./sweep.ts";
export type { PointOutcome, SweepAxis, SweepOptions, SweepPoint } from "./sweep.ts";
export { kubernetesJob, slurmArray } from "./job_files.ts";
export type { JobFileOptions } from "./job_files.ts";
export { collectTable, renderTable } from "./tables.ts";
export type { MeasuredValue, TableData } from "./tables.ts";
export { loadExperiment } from "./load_module.ts";

// The store.
export { CorruptArtifactError, Store } from "./store.ts";
export type { CheckLevel, KeyRecord } from "./store.ts";
export { FileHashCache, hashFile, sha256File } from "./file_hash.ts";
export { canonicalJson, hashJson } from "./canonical_json.ts";
export { collectGarbage, exportArtifact, importArtifact, verifyStore } from "./maintenance.ts";
export type { GcReport, VerifyReport } from "./maintenance.ts";

// The CLI.
export { registerPipelineCommands } from "./cli.ts";
