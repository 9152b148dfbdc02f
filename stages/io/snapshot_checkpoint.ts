/**
 * From a snapshot's generator to what our checkpoint needs: the kind (which
 * fixes the tri-plane axes), the constructor options mapped to our config
 * names, and the state dict (original `state_dict()` names, which our modules
 * keep). Structural checks here turn a missing tensor or a shape that
 * contradicts the kwargs into one clear error before anything is stored.
 * @module
 */
import { PickleError } from "./pickle_vm.ts";
import type { NamedTensor } from "./pth.ts";
import { detectKind, type ModuleTree, type Snapshot } from "./snapshot.ts";

/** The generator options recovered from a snapshot (original names in comments). */
export interface ImportedGeneratorConfig {
  /** Tri-plane projection: EG3D (xy, xz, zx) or Mimic3D (xy, yz, zx); see `stages/model/triplane.ts`. */
  planeAxes: "eg3d" | "mimic3d";
  zDim: number; // z_dim
  cDim: number; // c_dim
  wDim: number; // w_dim
  /** Final image resolution after super-resolution (img_resolution). */
  imgResolution: number;
  imgChannels: number; // img_channels
  /** Resolution the volume renderer works at (neural_rendering_resolution, a plain attribute). */
  neuralRenderingResolution: number;
  /** Tri-plane side (the backbone synthesis img_resolution; Mimic3D's coarse plane). */
  planeResolution: number;
  /** 3 planes × channels (the backbone img_channels, 96). */
  planeChannels: number;
  numWs: number; // backbone.num_ws
  mappingLayers: number; // mapping_kwargs.num_layers
  channelBase: number; // channel_base
  channelMax: number; // channel_max
  convClamp: number | null; // conv_clamp
  /** `rendering_kwargs` verbatim (ray_start, ray_end, box_warp, depth_resolution, ...). */
  rendering: Record<string, unknown>;
  superresolution: {
    className: string;
    channels: number;
    imgResolution: number;
    inputResolution: number;
    blockChannels: [number, number];
    antialias: boolean;
  };
  decoder: { hiddenDim: number; outputDim: number };
  /** Mimic3D's 3-D-aware branch (absent for EG3D). */
  mimic3d?: { aware3dResolutions: number[]; returnIndices: number[] };
}

/** What `snapshotToCheckpoint` returns: one step from our checkpoint artifact. */
export interface ImportedGenerator {
  kind: "eg3d" | "mimic3d";
  /** Why this kind (detection evidence, or that it was given). */
  kindReason: string;
  network: string;
  className: string;
  config: ImportedGeneratorConfig;
  stateDict: Map<string, NamedTensor>;
}

/**
 * Maps a snapshot's generator (`network`, normally G_ema — the one to render
 * and evaluate) to our config and state dict. `kind` overrides detection.
 * Throws naming the problem for a missing network, option or tensor, or a
 * tensor whose shape contradicts the network's options.
 */
export function snapshotToCheckpoint(
  snapshot: Snapshot,
  network = "G_ema",
  kind?: "eg3d" | "mimic3d",
): ImportedGenerator {
  const source = `${snapshot.source}: ${network}`;
  const net = snapshot.networks.get(network);
  if (!net) {
    throw new PickleError(
      `${snapshot.source}: no network '${network}' (has ${
        [...snapshot.networks.keys()].join(", ")
      })`,
    );
  }
  const detected = detectKind(snapshot);
  const chosen = kind ?? detected.kind;
  const kindReason = kind === undefined
    ? detected.reason
    : `given by --kind (detected ${detected.kind}: ${detected.reason})`;

  const root = net.tree;
  const backbone = child(root, "backbone", source);
  const synthesis = child(backbone, "synthesis", source);
  const mapping = child(backbone, "mapping", source);
  const sr = child(root, "superresolution", source);
  const decoder = child(root, "decoder", source);
  const backboneKwargs = backbone.initKwargs;
  const mappingKwargs = (backboneKwargs.mapping_kwargs ?? {}) as Record<string, unknown>;
  const decoderOut = net.stateDict.get("decoder.net.2.weight");
  if (!decoderOut) throw new PickleError(`${source}: missing tensor 'decoder.net.2.weight'`);

  const config: ImportedGeneratorConfig = {
    planeAxes: chosen,
    zDim: num(root, "z_dim", source),
    cDim: num(root, "c_dim", source),
    wDim: num(root, "w_dim", source),
    imgResolution: num(root, "img_resolution", source),
    imgChannels: num(root, "img_channels", source),
    neuralRenderingResolution: num(root, "neural_rendering_resolution", source),
    planeResolution: num(synthesis, "img_resolution", source),
    planeChannels: num(synthesis, "img_channels", source),
    numWs: num(backbone, "num_ws", source),
    mappingLayers: typeof mappingKwargs.num_layers === "number"
      ? mappingKwargs.num_layers
      : num(mapping, "num_layers", source),
    channelBase: numberOr(backboneKwargs.channel_base, 32768),
    channelMax: numberOr(backboneKwargs.channel_max, 512),
    convClamp: typeof backboneKwargs.conv_clamp === "number" ? backboneKwargs.conv_clamp : null,
    rendering: record(root, "rendering_kwargs", source),
    superresolution: {
      className: sr.className,
      channels: numberOr(sr.initKwargs.channels, 32),
      imgResolution: numberOr(sr.initKwargs.img_resolution, num(root, "img_resolution", source)),
      inputResolution: num(sr, "input_resolution", source),
      blockChannels: [
        outChannels(child(sr, "block0", source), source),
        outChannels(child(sr, "block1", source), source),
      ],
      antialias: sr.attributes.sr_antialias !== false,
    },
    decoder: {
      hiddenDim: num(decoder, "hidden_dim", source),
      outputDim: decoderOut.shape[0] - 1,
    },
  };
  if (chosen === "mimic3d") {
    config.mimic3d = {
      aware3dResolutions: numbers(backboneKwargs.aware3d_res),
      returnIndices: numbers(backboneKwargs.retidx),
    };
  }
  checkTensors(net.stateDict, config, source);
  return {
    kind: chosen,
    kindReason,
    network,
    className: net.className,
    config,
    stateDict: net.stateDict,
  };
}

/** Tensors every tri-plane generator has, with the shapes its options imply. */
function checkTensors(
  stateDict: Map<string, NamedTensor>,
  config: ImportedGeneratorConfig,
  source: string,
): void {
  const perPlane = config.planeChannels / 3;
  const expected: [string, (number | null)[]][] = [
    ["backbone.mapping.w_avg", [config.wDim]],
    ["backbone.mapping.fc0.weight", [config.wDim, null]],
    [`backbone.synthesis.b${config.planeResolution}.torgb.weight`, [
      config.planeChannels,
      null,
      1,
      1,
    ]],
    ["decoder.net.0.weight", [config.decoder.hiddenDim, perPlane]],
    ["decoder.net.2.weight", [1 + config.decoder.outputDim, config.decoder.hiddenDim]],
    ["superresolution.block1.torgb.weight", [config.imgChannels, null, 1, 1]],
  ];
  if (config.cDim > 0) expected.push(["backbone.mapping.embed.weight", [null, config.cDim]]);
  for (const [name, shape] of expected) {
    const tensor = stateDict.get(name);
    if (!tensor) throw new PickleError(`${source}: missing tensor '${name}'`);
    const matches = tensor.shape.length === shape.length &&
      shape.every((size, i) => size === null || size === tensor.shape[i]);
    if (!matches) {
      throw new PickleError(
        `${source}: shape mismatch: '${name}' is [${tensor.shape}], the network's options ` +
          `imply [${shape.map((s) => s ?? "*")}]`,
      );
    }
  }
}

function child(tree: ModuleTree, name: string, source: string): ModuleTree {
  const found = Object.hasOwn(tree.children, name) ? tree.children[name] : undefined;
  if (!found) throw new PickleError(`${source}: no '${name}' module in ${tree.className}`);
  return found;
}

/** An option from the module's attributes, else its init kwargs. */
function option(tree: ModuleTree, name: string): unknown {
  if (Object.hasOwn(tree.attributes, name)) return tree.attributes[name];
  return Object.hasOwn(tree.initKwargs, name) ? tree.initKwargs[name] : undefined;
}

function num(tree: ModuleTree, name: string, source: string): number {
  const value = option(tree, name);
  if (typeof value !== "number") {
    throw new PickleError(`${source}: ${tree.className} has no numeric '${name}'`);
  }
  return value;
}

function record(tree: ModuleTree, name: string, source: string): Record<string, unknown> {
  const value = option(tree, name);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new PickleError(`${source}: ${tree.className} has no '${name}' dict`);
  }
  return value as Record<string, unknown>;
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === "number" ? value : fallback;
}

function numbers(value: unknown): number[] {
  return Array.isArray(value) ? value.filter((v): v is number => typeof v === "number") : [];
}

/** Output channels of a StyleGAN2 block: `SynthesisBlock(in_channels, out_channels, ...)`. */
function outChannels(block: ModuleTree, source: string): number {
  const value = block.initArgs[1] ?? block.initKwargs.out_channels;
  if (typeof value !== "number") {
    throw new PickleError(`${source}: ${block.className} has no out_channels argument`);
  }
  return value;
}
