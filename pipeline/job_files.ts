/**
 * Job files for an existing scheduler: a sweep becomes a Slurm job array or a Kubernetes
 * Indexed Job, one task per point, every task running `run` against one shared store (the store's
 * locks make shared upstream stages run once). We emit files; we do not schedule.
 */
import * as path from "node:path";
import type { SweepPoint } from "./sweep.ts";

/** What the job files need to know. */
export interface JobFileOptions {
  /** The experiment as the tasks will name it (path or name). */
  experiment: string;
  /** Store path as seen by the tasks (a shared filesystem or volume). */
  store: string;
  /** Command that starts the CLI in the task's working directory. */
  launcher: string;
  /** Points run at once (Slurm `%N` throttle, Kubernetes `parallelism`). */
  parallelism: number;
  /** Extra `--set`s applied to every point, and an optional preset. */
  sets: readonly string[];
  preset?: string;
  /** Kubernetes: container image and the PersistentVolumeClaim holding the store. */
  image: string;
  volumeClaim: string;
}

/** Quotes a word for bash. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

function commonArgs(options: JobFileOptions): string {
  const words = ["run", options.experiment, "--store", options.store];
  if (options.preset) words.push("--preset", options.preset);
  for (const set of options.sets) words.push("--set", set);
  return words.map(shellQuote).join(" ");
}

function caseBlock(points: readonly SweepPoint[], indexVar: string, indent: string): string {
  const lines = [`${indent}case "$${indexVar}" in`];
  points.forEach((point, i) => {
    const args = point.sets.flatMap((set) => ["--set", set]).map(shellQuote).join(" ");
    lines.push(`${indent}  ${i}) point=(${args}) ;;`);
  });
  lines.push(`${indent}  *) echo "no sweep point $${indexVar}" >&2; exit 1 ;;`, `${indent}esac`);
  return lines.join("\n");
}

/**
 * A Slurm batch script with one array task per point. The tasks see this machine's shared
 * filesystem: a relative store becomes its absolute path here.
 */
export function slurmArray(points: readonly SweepPoint[], options: JobFileOptions): string {
  const name = jobName(options.experiment);
  const store = path.resolve(options.store);
  return [
    "#!/bin/bash",
    `#SBATCH --job-name=${name}`,
    `#SBATCH --array=0-${points.length - 1}%${options.parallelism}`,
    `#SBATCH --output=${name}-%A_%a.log`,
    `# ${points.length} sweep points of ${options.experiment}, one array task each, sharing the store`,
    `# ${store}. Submit with: sbatch ${name}.sbatch`,
    "set -euo pipefail",
    caseBlock(points, "SLURM_ARRAY_TASK_ID", ""),
    `exec ${options.launcher} ${commonArgs({ ...options, store })} "\${point[@]}"`,
    "",
  ].join("\n");
}

/** Where the pods mount the store volume when the store path given is relative. */
export const KUBERNETES_STORE_MOUNT = "/mimic3d-store";

/**
 * A Kubernetes Indexed Job with one completion per point. The store volume is mounted at the
 * store path when it is absolute, else at `KUBERNETES_STORE_MOUNT`: Kubernetes would make a
 * relative mount path absolute while the task resolved it against the image's working
 * directory, and every pod would write a private store. Values are written as YAML
 * double-quoted strings (JSON), so `:` or `#` in a path or image name cannot change the YAML.
 */
export function kubernetesJob(points: readonly SweepPoint[], options: JobFileOptions): string {
  const name = jobName(options.experiment);
  const store = options.store.startsWith("/") ? options.store : KUBERNETES_STORE_MOUNT;
  const script = [
    caseBlock(points, "JOB_COMPLETION_INDEX", ""),
    `exec ${options.launcher} ${commonArgs({ ...options, store })} "\${point[@]}"`,
  ].join("\n");
  const q = (value: string) => JSON.stringify(value);
  return [
    "# " +
    `${points.length} sweep points of ${options.experiment}; apply with: kubectl apply -f ${name}.yaml`,
    "apiVersion: batch/v1",
    "kind: Job",
    "metadata:",
    `  name: ${q(name)}`,
    "spec:",
    "  completionMode: Indexed",
    `  completions: ${points.length}`,
    `  parallelism: ${options.parallelism}`,
    "  backoffLimit: 2",
    "  template:",
    "    spec:",
    "      restartPolicy: Never",
    "      containers:",
    "        - name: point",
    `          image: ${q(options.image)}`,
    '          command: ["bash", "-c"]',
    "          args:",
    "            - |",
    ...script.split("\n").map((line) => `              ${line}`),
    "          volumeMounts:",
    "            - name: store",
    `              mountPath: ${q(store)}`,
    "      volumes:",
    "        - name: store",
    "          persistentVolumeClaim:",
    `            claimName: ${q(options.volumeClaim)}`,
    "",
  ].join("\n");
}

function jobName(experiment: string): string {
  const base = experiment.split("/").pop()!.replace(/\.ts$/, "");
  return `mimic3d-${base.toLowerCase().replace(/[^a-z0-9-]/g, "-")}-sweep`;
}
