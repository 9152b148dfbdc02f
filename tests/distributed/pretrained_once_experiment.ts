/**
 * The mimic3d experiment with a pretrain stage that one process runs whatever
 * `--gpus` says (not data-parallel: its key has no world size), so a 1-rank
 * and a 2-rank imitate start from the same cached pretrain artifact. Test use
 * only: it isolates the imitate stage's data-parallel result.
 */
import { defineExperiment, defineStage, node } from "../../pipeline/mod.ts";
import mimic3d from "../../experiments/mimic3d.ts";
import { pretrain } from "../../stages/pretrain/stage.ts";

export default defineExperiment({
  ...mimic3d,
  dag: {
    ...mimic3d.dag,
    pretrain: node(defineStage({ ...pretrain, dataParallel: false }), {
      config: "pretrain",
      inputs: { data: "prep" },
    }),
  },
});
