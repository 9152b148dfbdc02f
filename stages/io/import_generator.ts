/**
 * An imported snapshot generator as one of ours: its recovered options mapped
 * to `GeneratorConfig`, a `TriplaneGenerator` built from them, and the
 * snapshot's tensors copied in by their original names (strict: a missing or
 * unexpected tensor is an error naming it).
 */
import { type Device, Tensor } from "../../kernels/mod.ts";
import { type GeneratorConfig, TriplaneGenerator } from "../model/generator.ts";
import { generatorConfigFromKwargs } from "../model/generator_config.ts";
import type { ImportedGenerator } from "./snapshot_checkpoint.ts";

/** Our generator config for an imported generator. */
export function generatorConfigFromImport(
  imported: ImportedGenerator,
  device: Device = "gpu",
): GeneratorConfig {
  const c = imported.config;
  return generatorConfigFromKwargs(imported.kind, {
    z_dim: c.zDim,
    c_dim: c.cDim,
    w_dim: c.wDim,
    img_resolution: c.imgResolution,
    plane_resolution: c.planeResolution,
    triplane_channels: c.planeChannels,
    neural_rendering_resolution: c.neuralRenderingResolution,
    decoder_output_dim: c.decoder.outputDim,
    mapping_kwargs: { num_layers: c.mappingLayers },
    rendering_kwargs: {
      ...c.rendering,
      superresolution_module: c.superresolution.className,
      sr_antialias: c.superresolution.antialias,
    },
    sr_kwargs: {
      input_resolution: c.superresolution.inputResolution,
      block_channels: c.superresolution.blockChannels,
    },
    channel_base: c.channelBase,
    channel_max: c.channelMax,
    conv_clamp: c.convClamp,
    aware3d_res: c.mimic3d?.aware3dResolutions,
    retidx: c.mimic3d?.returnIndices,
  }, device);
}

/** Builds our generator for `imported` and loads its tensors. */
export function buildImportedGenerator(
  imported: ImportedGenerator,
  device: Device = "gpu",
): TriplaneGenerator {
  const g = new TriplaneGenerator(generatorConfigFromImport(imported, device));
  const state = new Map<string, Tensor>();
  for (const [name, t] of imported.stateDict) {
    state.set(name, Tensor.fromData(t.data, t.shape, device));
  }
  g.loadStateDict(state);
  for (const t of state.values()) t.dispose();
  return g;
}
