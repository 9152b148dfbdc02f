/**
 * FID against samples per ray (Trevithick et al., arXiv:2401.02411, Table 3)
 * beside one of our models evaluated at 20 / 50 / 96 samples per ray. The
 * sweep trains once and evaluates three times (each count is its own eval
 * artifact; prep, pretrain, imitate and the reference statistics are shared):
 *
 *   task cli sweep experiments/mimic3d.ts --preset small --set eval.samplesPerRay=20,50,96
 *   task cli table experiments/samples_per_ray.ts --format md
 *
 * Without `eval.inceptionWeights` (add `--fixed eval.inceptionWeights=…` to the
 * sweep and the same key to `set` below) FID is unavailable, with the reason;
 * geometry and multi-view consistency are still measured at each count.
 */
import mimic3d from "./mimic3d.ts";
import { samplesPerRayTable } from "./paper_tables.ts";

export default samplesPerRayTable(mimic3d, { preset: "small" });
