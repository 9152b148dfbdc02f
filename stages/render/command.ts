/**
 * The `render` command: images, raw images, depth maps, a grid and turntable
 * GIFs of a generator checkpoint (a `.safetensors` file, an artifact
 * directory, or an artifact id in the store — e.g. what `import-checkpoint` printed).
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import * as path from "node:path";
import { initGpu } from "../../kernels/mod.ts";
import { defaultStoreRoot } from "../../pipeline/paths.ts";
import { startProgress } from "../../pipeline/progress_bar.ts";
import { resolveCheckpointPath } from "../io/checkpoint_ref.ts";
import { loadGenerator } from "../io/generator_checkpoint.ts";
import {
  type CameraRig,
  DEFAULT_PITCHES_DEG,
  DEFAULT_YAWS_DEG,
  FFHQ_PIVOT,
  FFHQ_RIG,
  viewGrid,
} from "./cameras.ts";
import { countRenders, renderViews } from "./render_views.ts";
import { type Branch, checkBranch } from "./seed_scene.ts";

// deno-lint-ignore no-explicit-any
type AnyCommand = Command<any, any, any>;

/** Adds `render <checkpoint>` to a commander program. */
export function registerRenderCommands(program: AnyCommand): void {
  program.command("render")
    .description(
      "render seeds of a generator: images, raw images, depth maps, a grid, turntable GIFs",
    )
    .argument(
      "<checkpoint>",
      "G_ema.safetensors, an artifact directory, or an artifact id (prefix) in the store",
    )
    .option("--seeds <list>", "seeds, e.g. 0-3,7", "0-3")
    .option("--trunc <psi>", "truncation psi (1 = none)", "0.7")
    .option("--trunc-cutoff <n>", "truncate only the first n ws ('none' = all)", "14")
    .option("--yaw <deg...>", `camera yaws in degrees (default ${DEFAULT_YAWS_DEG.join(" ")})`)
    .option(
      "--pitch <deg...>",
      `camera elevations in degrees, > 0 above (default ${DEFAULT_PITCHES_DEG.join(" ")})`,
    )
    .option("--radius <r>", "camera distance from the pivot", String(FFHQ_RIG.radius))
    .option("--fov-focal <f>", "normalised focal length (FFHQ 4.2647)", String(FFHQ_RIG.focal))
    .option("--pivot <x,y,z>", "point the cameras look at", FFHQ_PIVOT.join(","))
    .option(
      "--resolution <n>",
      "3d branch: output side (default: image resolution); 2d: neural rendering resolution",
    )
    .option("--branch <2d|3d>", "2d: render + super-resolution; 3d: Mimic3D direct render")
    .option("--turntable <frames>", "also write a turntable GIF per seed with this many frames")
    .option("--out <dir>", "output directory", "renders")
    .action(async (checkpoint, opts, command) => {
      const request = parseRenderFlags(opts);
      await initGpu();
      const { generator, path: file } = await resolveCheckpoint(checkpoint, command);
      const branch: Branch = request.branch ??
        (generator.config.kind === "mimic3d" ? "3d" : "2d");
      checkBranch(generator, branch);
      console.error(
        `rendering ${generator.config.kind} generator ${file}: ` +
          `${count(request.seeds.length, "seed")} × ${count(request.views.length, "view")}, ` +
          `${branch} branch` +
          (request.turntableFrames ? `, ${request.turntableFrames}-frame turntables` : ""),
      );
      const job = { ...request, branch, source: file };
      const progress = startProgress("render", countRenders(generator, job), "images", {
        line: (text) => console.error(text),
        record: () => {},
        interactive: Deno.stderr.isTerminal(),
      });
      let files: string[];
      try {
        files = await renderViews(generator, job, (done) => progress.update(done));
      } finally {
        progress.stop();
      }
      console.log(`wrote ${files.length} files to ${path.resolve(request.outDir)}`);
      for (const name of files.filter((f) => !/_view\d+(_raw|_depth)?\.png$/.test(f))) {
        console.log(`  ${name}`);
      }
    });
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** The render flags as commander hands them over (strings). */
export interface RenderFlags {
  seeds: string;
  trunc: string;
  truncCutoff: string;
  yaw?: string[];
  pitch?: string[];
  radius: string;
  fovFocal: string;
  pivot: string;
  resolution?: string;
  branch?: string;
  turntable?: string;
  out: string;
}

/** Parses and checks the flags; each bad flag is one error naming it. */
export function parseRenderFlags(flags: RenderFlags) {
  const rig: CameraRig = {
    radius: positive(flags.radius, "--radius"),
    focal: positive(flags.fovFocal, "--fov-focal"),
    pivot: parsePivot(flags.pivot),
  };
  const yaws = flags.yaw ? numberList(flags.yaw, "--yaw") : DEFAULT_YAWS_DEG;
  const pitches = flags.pitch ? numberList(flags.pitch, "--pitch") : DEFAULT_PITCHES_DEG;
  if (pitches.some((p) => Math.abs(p) >= 90)) {
    throw new Error(`--pitch must be strictly between -90 and 90 degrees`);
  }
  if (flags.branch !== undefined && flags.branch !== "2d" && flags.branch !== "3d") {
    throw new Error(`--branch must be 2d or 3d, got "${flags.branch}"`);
  }
  const psi = Number(flags.trunc);
  if (flags.trunc.trim() === "" || !Number.isFinite(psi)) {
    throw new Error(`--trunc expects a number, got "${flags.trunc}"`);
  }
  return {
    seeds: parseSeeds(flags.seeds),
    views: viewGrid(yaws, pitches),
    branch: flags.branch as Branch | undefined,
    turntableFrames: flags.turntable === undefined
      ? 0
      : positiveInteger(flags.turntable, "--turntable"),
    settings: {
      rig,
      truncationPsi: psi,
      truncationCutoff: flags.truncCutoff === "none"
        ? null
        : positiveInteger(flags.truncCutoff, "--trunc-cutoff"),
      resolution: flags.resolution === undefined
        ? undefined
        : positiveInteger(flags.resolution, "--resolution"),
    },
    outDir: flags.out,
  };
}

/** "0-3,7" → [0, 1, 2, 3, 7] (ranges inclusive, as the original scripts' `parse_range`). */
export function parseSeeds(text: string): number[] {
  const seeds: number[] = [];
  for (const part of text.split(",")) {
    const range = part.trim().match(/^(\d+)(?:-(\d+))?$/);
    if (!range) throw new Error(`--seeds: "${part}" is not a seed or a range like 0-3`);
    const [from, to] = [Number(range[1]), Number(range[2] ?? range[1])];
    if (to < from) throw new Error(`--seeds: range ${part} runs backwards`);
    if (to > 0xffffffff) throw new Error(`--seeds: ${to} is above 2^32 - 1`);
    if (to - from >= 10_000) throw new Error(`--seeds: range ${part} has over 10000 seeds`);
    for (let s = from; s <= to; s++) seeds.push(s);
  }
  return seeds;
}

function numberList(values: string[], flag: string): number[] {
  return values.flatMap((v) => v.split(",")).map((v) => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n)) {
      throw new Error(`${flag} expects numbers (degrees), got "${v}"`);
    }
    return n;
  });
}

function positive(text: string, flag: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n <= 0) {
    throw new Error(`${flag} expects a positive number, got "${text}"`);
  }
  return n;
}

function positiveInteger(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < 1) {
    throw new Error(`${flag} expects a positive integer, got "${text}"`);
  }
  return n;
}

function parsePivot(text: string): [number, number, number] {
  const parts = text.split(",").map(Number);
  if (parts.length !== 3 || parts.some((p) => !Number.isFinite(p))) {
    throw new Error(`--pivot expects x,y,z, got "${text}"`);
  }
  return [parts[0], parts[1], parts[2]];
}

/** Loads the generator a user named (file, artifact directory or artifact id). */
async function resolveCheckpoint(ref: string, command: AnyCommand) {
  const { store: root = defaultStoreRoot() } = command.optsWithGlobals() as { store?: string };
  return await loadGenerator(await resolveCheckpointPath(ref, root));
}
