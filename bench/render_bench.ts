/**
 * Renderer benchmarks: the fused inference renderer on a full 512² direct
 * render (Mimic3D's 3-D branch: 48 + 48 samples, coarse 256² [+ detail 512²]
 * tri-planes of 32 channels, decoder hidden 64, out 32), the unfused
 * (differentiable) renderer at training size, and `gridSample` and its two gradients.
 *
 *   deno run -A bench/render_bench.ts                 all sections, paper sizes
 *   deno run -A bench/render_bench.ts --quick         tiny sizes (CPU adapter)
 *   deno run -A bench/render_bench.ts --only render,grid-sample
 *   deno run -A bench/render_bench.ts --profile       also GPU time per op of the render rows
 *   deno run -A bench/render_bench.ts --rows patch    only the rows whose name contains "patch"
 */
import {
  flush,
  gpu,
  grad,
  gridSample,
  gridSampleGridGrad,
  gridSampleImageGrad,
  initGpu,
  memoryStats,
  mul,
  noGrad,
  profileReport,
  resetPeakMemory,
  Rng,
  scope,
  setProfiling,
  slice,
  sum,
  Tensor,
} from "../kernels/mod.ts";
import { OSGDecoder } from "../stages/model/decoder.ts";
import { renderFused } from "../stages/model/fused_renderer.ts";
import { sampleRays } from "../stages/model/rays.ts";
import { ImportanceRenderer, type RenderOptions } from "../stages/model/renderer.ts";
import { timeGpu, type Timing } from "./timing.ts";
import { saveResults } from "./results.ts";

const args = Deno.args.filter((a) => a !== "--");
const quick = args.includes("--quick");
const onlyAt = args.indexOf("--only");
const only = onlyAt >= 0 ? new Set(args[onlyAt + 1]?.split(",") ?? []) : null;
const wanted = (s: string) => !only || only.has(s);
const profiling = args.includes("--profile");
const rowsAt = args.indexOf("--rows");
const rowFilter = rowsAt >= 0 ? args[rowsAt + 1] ?? "" : null;
const rowWanted = (name: string) => rowFilter === null || name.includes(rowFilter);

await initGpu();
const g = gpu();
console.log(`device: ${g.name}${quick ? " (quick sizes)" : ""}`);

interface Row {
  section: string;
  name: string;
  ms: number;
  clock: string;
  note?: string;
}
const rows: Row[] = [];
/** A benchmark run whose tensors (outputs, autograd graph) are all released after recording. */
const scoped = (f: () => void) => () => scope(f);
function report(section: string, name: string, t: Timing, note?: string): void {
  rows.push({ section, name, ms: t.ms, clock: t.clock, note });
  console.log(
    `${section.padEnd(12)} ${name.padEnd(58)} ${t.ms.toFixed(3).padStart(10)} ms${
      note ? `  ${note}` : ""
    }`,
  );
}

/**
 * Times `run` as `timeGpu` does and reports it; with `--profile`, one more run with every
 * dispatch timed (each in its own pass) prints the GPU time per op, largest first.
 */
async function measure(section: string, name: string, run: () => void, note?: string) {
  if (!rowWanted(name)) return;
  // Memory beyond what is in use already (the planes, the decoder, the rays): one run's peak.
  await flush();
  const inUse = memoryStats().inUse;
  resetPeakMemory();
  run();
  await flush();
  const extra = `${((memoryStats().peak - inUse) / 2 ** 30).toFixed(3)} GiB beyond the inputs`;
  const t = await timeGpu(run, { samples: quick ? 3 : 5, warmupMs: quick ? 0 : 400 });
  report(section, name, t, note ? `${note}, ${extra}` : extra);
  if (!profiling || !setProfiling(true)) return;
  profileReport(true);
  run();
  await flush();
  setProfiling(false);
  const ops = [...profileReport(true)].sort((a, b) => b[1].ms - a[1].ms);
  const total = ops.reduce((a, [, o]) => a + o.ms, 0);
  const count = ops.reduce((a, [, o]) => a + o.count, 0);
  console.log(`    profile: ${total.toFixed(2)} ms of GPU time in ${count} dispatches`);
  for (const [op, o] of ops.slice(0, 12)) {
    console.log(
      `      ${op.padEnd(36)} ${(100 * o.ms / total).toFixed(1).padStart(5)} %  ${
        o.ms.toFixed(3).padStart(8)
      } ms  ${String(o.count).padStart(5)} dispatches`,
    );
  }
}

/** One FFHQ-like camera label (frontal, radius 2.7, focal 4.2647). */
function camera(batch: number): Tensor {
  const row = [
    1,
    0,
    0,
    0,
    0,
    -1,
    0,
    0,
    0,
    0,
    -1,
    2.7,
    0,
    0,
    0,
    1,
    4.2647,
    0,
    0.5,
    0,
    4.2647,
    0.5,
    0,
    0,
    1,
  ];
  return Tensor.fromData(Array.from({ length: batch }, () => row).flat(), [batch, 25]);
}

const sizes = quick
  ? {
    res: 32,
    coarse: 32,
    detail: 64,
    d: 12,
    q: 12,
    channels: 8,
    hidden: 16,
    out: 8,
    batch: 1,
    patch: 16,
  }
  : {
    res: 512,
    coarse: 256,
    detail: 512,
    d: 48,
    q: 48,
    channels: 32,
    hidden: 64,
    out: 32,
    batch: 1,
    patch: 64,
  };

const options: RenderOptions = {
  depthResolution: sizes.d,
  depthResolutionImportance: sizes.q,
  rayStart: 2.25,
  rayEnd: 3.3,
  boxWarp: 1,
  planeAxes: "mimic3d",
};

if (wanted("render")) {
  const rng = new Rng(1);
  const n = sizes.batch;
  // Planes scaled so that densities vary (a realistic mix of empty and opaque space).
  const coarse = mul(rng.normal([n, 3, sizes.channels, sizes.coarse, sizes.coarse]), 2);
  const detail = mul(rng.normal([n, 3, sizes.channels, sizes.detail, sizes.detail]), 0.5);
  const decoder = new OSGDecoder({
    nFeatures: sizes.channels,
    hiddenDim: sizes.hidden,
    outputDim: sizes.out,
  }, rng);
  const { origins, directions } = sampleRays(camera(n), sizes.res);
  const label =
    `${sizes.res}² direct, ${sizes.d}+${sizes.q} samples, C ${sizes.channels}, hidden ${sizes.hidden}, out ${sizes.out}`;
  for (const planes of [[coarse], [coarse, detail]]) {
    const which = planes.length === 1
      ? `coarse ${sizes.coarse}²`
      : `coarse ${sizes.coarse}² + detail ${sizes.detail}²`;
    await measure(
      "render",
      `fused ${label}, ${which}`,
      scoped(() => {
        renderFused(planes, decoder, origins, directions, options, new Rng(7));
      }),
      "ms per image",
    );
  }
  // A viewer frame: the browser runs this same kernel (fusedRenderSource) at its view size.
  const frame = sampleRays(camera(n), sizes.res / 2);
  await measure(
    "render",
    `fused ${sizes.res / 2}² viewer frame, coarse ${sizes.coarse}² + detail ${sizes.detail}²`,
    scoped(() => {
      renderFused([coarse, detail], decoder, frame.origins, frame.directions, options, new Rng(7));
    }),
    "ms per frame",
  );
  // The unfused renderer without gradients (its decodes through the point decoder, as in
  // G inference and mesh extraction), over the whole image in chunks of rays.
  const renderer = new ImportanceRenderer(options);
  const rays = sizes.res * sizes.res;
  const chunk = Math.min(rays, 1 << 16);
  await measure(
    "render",
    `unfused ${label}, coarse ${sizes.coarse}² + detail ${sizes.detail}², ${chunk} rays a chunk`,
    scoped(() =>
      noGrad(() => {
        const rng = new Rng(7);
        for (let start = 0; start < rays; start += chunk) {
          scope(() => {
            const part: [number, number] = [start, Math.min(rays, start + chunk)];
            renderer.render(
              [coarse, detail],
              decoder,
              slice(origins, [[0, n], part]),
              slice(directions, [[0, n], part]),
              rng,
            );
          });
        }
      })
    ),
    "ms per image",
  );
  // The unfused, differentiable renderer at the imitation patch size (forward and forward+backward).
  const patchRays = sampleRays(camera(n), sizes.patch);
  await measure(
    "render",
    `unfused forward ${sizes.patch}² patch, coarse + detail`,
    scoped(() => {
      renderer.render(
        [coarse, detail],
        decoder,
        patchRays.origins,
        patchRays.directions,
        new Rng(7),
      );
    }),
  );
  await measure(
    "render",
    `fused forward ${sizes.patch}² patch, coarse + detail`,
    scoped(() => {
      renderFused(
        [coarse, detail],
        decoder,
        patchRays.origins,
        patchRays.directions,
        options,
        new Rng(7),
      );
    }),
  );
  coarse.requiresGrad = true;
  detail.requiresGrad = true;
  const params = [coarse, detail, ...decoder.parameters().values()];
  await measure(
    "render",
    `unfused forward+backward ${sizes.patch}² patch, coarse + detail`,
    scoped(() => {
      const r = renderer.render(
        [coarse, detail],
        decoder,
        patchRays.origins,
        patchRays.directions,
        new Rng(7),
      );
      grad(sum(r.rgb), params);
    }),
  );
  coarse.requiresGrad = false;
  detail.requiresGrad = false;
  // The same at a training batch (the 3-D stage's 4 per GPU): per image, with the GPU filled.
  const batch = quick ? 2 : 4;
  const batchName =
    `unfused forward+backward ${sizes.patch}² patch, coarse + detail, batch ${batch}`;
  if (rowWanted(batchName)) {
    const planes = [
      mul(rng.normal([batch, 3, sizes.channels, sizes.coarse, sizes.coarse]), 2),
      mul(rng.normal([batch, 3, sizes.channels, sizes.detail, sizes.detail]), 0.5),
    ];
    for (const p of planes) p.requiresGrad = true;
    const rays = sampleRays(camera(batch), sizes.patch);
    await measure(
      "render",
      batchName,
      scoped(() => {
        const r = renderer.render(planes, decoder, rays.origins, rays.directions, new Rng(7));
        grad(sum(r.rgb), [...planes, ...decoder.parameters().values()]);
      }),
      `ms for ${batch} images`,
    );
    for (const p of planes) p.dispose();
  }
}

if (wanted("grid-sample")) {
  // A training-like tri-plane sample: batch·3 planes, rays·samples points per plane.
  const planes = quick ? 2 * 3 : 4 * 3;
  const [c, h] = quick ? [16, 64] : [32, 256];
  const points = quick ? 32 * 32 * 24 : 64 * 64 * 96;
  const rng = new Rng(3);
  const image = rng.normal([planes, c, h, h]);
  const gOut = rng.normal([planes, c, 1, points]);
  const samplesPerRay = quick ? 24 : 96;
  // "spread": uniform over [−1.2, 1.2]²; "rays": like a frontal render, each ray's samples land
  // within ~1 texel of each other (many points per texel: contention in the image gradient).
  const spread = Float32Array.from(
    { length: planes * points * 2 },
    (_, i) => 2.4 * hash01(i) - 1.2,
  );
  const rays = Float32Array.from({ length: planes * points * 2 }, (_, i) => {
    const ray = Math.floor(i / (2 * samplesPerRay));
    return 1.2 * (2 * hash01(ray * 2 + (i % 2) + 7919) - 1) + (hash01(i + 104729) - 0.5) * (2 / h);
  });
  for (const [kind, values] of [["spread", spread], ["rays", rays]] as const) {
    const grid = Tensor.fromData(values, [planes, 1, points, 2]);
    const label = `[${planes}, ${c}, ${h}, ${h}], ${points} ${kind} points/plane`;
    report(
      "grid-sample",
      `forward ${label}`,
      await timeGpu(() => gridSample(image, grid), { samples: 5, warmupMs: quick ? 0 : 400 }),
    );
    report(
      "grid-sample",
      `∂grid ${label}`,
      await timeGpu(() => gridSampleGridGrad(gOut, image, grid), {
        samples: 5,
        warmupMs: quick ? 0 : 400,
      }),
    );
    report(
      "grid-sample",
      `∂image ${label}`,
      await timeGpu(() => gridSampleImageGrad(gOut, grid, image.shape), {
        samples: 5,
        warmupMs: quick ? 0 : 400,
      }),
    );
    grid.dispose();
  }
}

/** A cheap deterministic hash of an integer to [0, 1). */
function hash01(i: number): number {
  let x = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return ((x ^ (x >>> 16)) >>> 0) / 4294967296;
}
await flush();

const date = new Date().toISOString().slice(0, 10);
await saveResults({ device: g.name, date, quick, sizes, rows }, "render", "render_bench.json");
