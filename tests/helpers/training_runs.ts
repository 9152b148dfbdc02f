/**
 * Training runs through the CLI for tests that compare two ways of training the same batch
 * (ranks, rounds): run the tiny preset into a store, read an artifact's networks, and check
 * that two runs' parameters agree to rounding.
 *
 * Two ways of summing the same gradients differ in float32 summation order only. Adam
 * (β₁ = 0) normalises each gradient element (|update| ≤ lr·√t at step t), so rounding
 * differences stay rounding-sized, except where a gradient element is ~0 and its sign flips:
 * then the element differs by up to 2·lr·√t per step.
 */
import { fileURLToPath } from "node:url";
import { parseSafetensors } from "../../kernels/mod.ts";
import { assert, assertEquals } from "./assert.ts";
import { MOD } from "./cli.ts";

export const MIMIC3D = fileURLToPath(new URL("../../experiments/mimic3d.ts", import.meta.url));

/**
 * The tiny preset's pretrain as the same mathematics whichever way its batch is split: 2 steps
 * of 4 images (every phase at step 0), minibatch-std groups of 2 (the interleaved split keeps
 * them), no pose swap (it rolls within a rank's or a round's images; with no fade, which
 * starts at 1).
 */
export const SAME_MATH_PRETRAIN = [
  "pretrain.kimg=0.008",
  "pretrain.batch=4",
  "pretrain.discriminator.mbstdGroupSize=2",
  "pretrain.loss.gpcRegProb=0",
  "pretrain.loss.gpcRegFadeKimg=0",
];

/** Most elements: rounding-level agreement. */
export const ATOL = 1e-5;
export const RTOL = 1e-4;
/**
 * Elements whose ~0 gradient changed sign: ≤ 2·lr·Σ√t over the Adam steps (G: Gmain, Greg at
 * step 0, Gmain at step 1 → 3; lr ≤ 0.0025; D and the patch D alike).
 */
const SIGN_FLIP_BOUND = 2 * 0.0025 * (1 + Math.SQRT2 + Math.sqrt(3)) + 1e-6;
/**
 * At most this fraction of elements may be beyond rounding. Measured: none, in pretrain and
 * imitate. (2.8 % before the 3-D-aware blocks' noise maps were drawn per sample: the ranks
 * had drawn them per rank, so a noise strength trained at step 0 changed step 1 everywhere.)
 */
const MAX_FLIP_FRACTION = 1e-3;

export interface Run {
  store: string;
  artifact: string;
  stderr: string;
  seconds: number;
}

/** The names in one of a store's directories. */
export function entries(store: string, dir: string): string[] {
  return [...Deno.readDirSync(`${store}/${dir}`)].map((e) => e.name);
}

/** The store's key records (stage, artifact, key inputs). */
export function keyRecords(
  store: string,
): { stage: string; artifact: string; keyInputs: { worldSize?: number } }[] {
  return entries(store, "keys").map((name) =>
    JSON.parse(Deno.readTextFileSync(`${store}/keys/${name}`))
  );
}

/**
 * `run <experiment> --preset tiny --set <settings…> --until <until> --gpus <gpus>` in `store`
 * (a new one if not given); the artifact of `until` run with this many ranks.
 */
export async function runStages(
  gpus: number,
  settings: readonly string[],
  options: { until: string; experiment?: string; store?: string; force?: string },
): Promise<Run> {
  const store = options.store ??
    await Deno.makeTempDir({ prefix: `mimic3d-ranks${gpus}-` });
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MOD,
      "run",
      options.experiment ?? MIMIC3D,
      "--store",
      store,
      "--preset",
      "tiny",
      ...settings.flatMap((s) => ["--set", s]),
      "--until",
      options.until,
      "--gpus",
      String(gpus),
      ...(options.force ? ["--force", options.force] : []),
    ],
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`--gpus ${gpus} run exited ${out.code}\n${stderr}`);
  const record = keyRecords(store).find((k) =>
    k.stage === options.until && (k.keyInputs.worldSize ?? 1) === gpus
  );
  assert(record, `no ${options.until} key record for ${gpus} ranks in ${store}`);
  return { store, artifact: record.artifact, stderr, seconds: (performance.now() - t0) / 1000 };
}

export const NETWORK_FILES = ["G.safetensors", "D.safetensors", "G_ema.safetensors"];

export function tensorsOf(run: Run, file: string): Map<string, Float32Array> {
  const bytes = Deno.readFileSync(`${run.store}/objects/${run.artifact}/out/${file}`);
  const out = new Map<string, Float32Array>();
  for (const [name, t] of parseSafetensors(bytes, file).tensors) {
    out.set(name, Float32Array.from(t.data as ArrayLike<number>));
  }
  return out;
}

export async function removeStore(run: Run) {
  await new Deno.Command("chmod", { args: ["-R", "u+w", run.store] }).output();
  await Deno.remove(run.store, { recursive: true });
}

/** Every element of `files` in runs `a` and `b` (named in `labels`): within rounding, or a bounded sign flip (few). */
export function assertParametersAgree(
  a: Run,
  b: Run,
  files: string[],
  labels: [string, string],
) {
  let flips = 0;
  let total = 0;
  let maxRounding = 0;
  for (const file of files) {
    const xs = tensorsOf(a, file);
    const ys = tensorsOf(b, file);
    assertEquals([...ys.keys()], [...xs.keys()]);
    for (const [name, x] of xs) {
      const y = ys.get(name)!;
      for (let i = 0; i < x.length; i++) {
        const err = Math.abs(x[i] - y[i]);
        total++;
        if (err <= ATOL + RTOL * Math.abs(x[i])) {
          maxRounding = Math.max(maxRounding, err);
          continue;
        }
        flips++;
        assert(
          err <= SIGN_FLIP_BOUND,
          `${file} ${name}[${i}]: ${labels[0]} ${x[i]}, ${labels[1]} ${y[i]}`,
        );
      }
    }
  }
  console.log(
    `${labels[0]} vs ${labels[1]}: ${flips} of ${total} elements beyond rounding ` +
      `(max within: ${maxRounding})`,
  );
  assert(flips <= MAX_FLIP_FRACTION * total, `${flips} of ${total} elements differ`);
}
