import * as K from "./kernels/mod.ts";
import mimic3d, { config as ec } from "./experiments/mimic3d.ts";
import { Trainer } from "./stages/pretrain/trainer.ts";
import { lookAtCameraLabel } from "./stages/io/camera_label.ts";
import { renderSampleGrid, sampleCameras } from "./stages/pretrain/samples.ts";
await K.initGpu();
const preset = Deno.args[0] ?? "small";
const cfg = ec.parse(structuredClone(mimic3d.presets![preset])).pretrain;
cfg.batch = +(Deno.args[2] ?? cfg.batch);
const res = +(Deno.args[1] ?? 64);
const labels = {
  length: 4,
  label: (i: number) =>
    lookAtCameraLabel({ yaw: i * 0.1, pitch: 0, radius: 2.7, focal: 4.26, target: [0, 0, 0] }),
};
let t0 = performance.now();
const t = new Trainer(cfg, res, 0, labels);
await K.flush();
const lap = (what: string) => {
  const n = performance.now();
  console.log(what, (n - t0).toFixed(0), "ms", JSON.stringify(K.memoryStats()));
  t0 = n;
};
lap("init " + JSON.stringify(t.parameterCounts()));
const r = new K.Rng(3);
const B = cfg.batch;
const real = {
  images: r.uniform([B, 3, res, res]).keep(),
  labels: K.tensor(Array.from({ length: B }, (_, i) => labels.label(i % 4)).flat(), [B, 25]).keep(),
};
for (const p of t.phases) {
  t.runPhase(p, real);
  await K.flush();
  lap(p.name);
}
await renderSampleGrid(t.gEma, [0, 1, 2, 3], sampleCameras(labels));
lap("samples");
console.log(await t.metrics.drain());
