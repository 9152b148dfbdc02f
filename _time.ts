import { prepareDataset } from "./stages/prep/prepare_dataset.ts";
import { datasetSpecSchema } from "./stages/prep/dataset_spec.ts";
const dir = "/tmp/proc2000"; await Deno.remove(dir, { recursive: true }).catch(() => {}); await Deno.mkdir(dir);
const t0 = performance.now();
await prepareDataset(datasetSpecSchema.parse({ kind: "procedural" }), dir);
console.log(`prepareDataset 2000×64²: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
