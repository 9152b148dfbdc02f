/**
 * EG3D / Mimic3D training snapshots (`network-snapshot-*.pkl`): a plain pickle
 * of `{training_set_kwargs, G, D, G_ema, [D_patch], [augment_pipe]}` whose
 * networks are `torch_utils.persistence` objects — in Python, loading one runs
 * the embedded module source. Here the source is kept as text and never run:
 * each network becomes plain data (class, init kwargs, attributes, child
 * modules) plus its state dict, named exactly as `state_dict()` names it.
 * @module
 */
import {
  type GlobalHandler,
  type GlobalTable,
  isTuple,
  loadPickle,
  PickleError,
  PickleObject,
  PyDict,
  PyObject,
} from "./pickle_vm.ts";
import { TORCH_GLOBALS, TorchTensor } from "./torch_storage.ts";
import type { NamedTensor } from "./pth.ts";

/** A persistent object (`_reconstruct_persistent_obj(meta)`): class name, its source, its state. */
export class PersistentObject {
  constructor(
    readonly className: string,
    /** The `.py` source that Python would execute on load; kept as text only. */
    readonly moduleSource: string,
    readonly state: PyDict,
  ) {}
}

/** A NumPy dtype (`numpy.dtype('f8', False, True)` + BUILD state giving the byte order). */
class NumpyDType extends PickleObject {
  byteOrder = "|";
  constructor(readonly code: string) {
    super();
  }
  build(state: unknown): void {
    if (!isTuple(state) || typeof state[1] !== "string") {
      throw new PickleError("unexpected numpy dtype state");
    }
    this.byteOrder = state[1];
  }
}

/** A NumPy array (`_reconstruct(ndarray, (0,), b'b')` + BUILD((version, shape, dtype, fortran, raw))). */
export class NumpyArray extends PickleObject {
  shape: number[] = [];
  dtype = "";
  values: number[] = [];
  build(state: unknown): void {
    if (!isTuple(state) || state.length !== 5) throw new PickleError("unexpected ndarray state");
    const [, shape, dtype, fortran, raw] = state;
    if (!Array.isArray(shape) || !(dtype instanceof NumpyDType)) {
      throw new PickleError("unexpected ndarray state");
    }
    if (fortran === true && shape.length > 1) {
      throw new PickleError("Fortran-ordered NumPy arrays are not supported");
    }
    this.shape = shape.map(Number);
    this.dtype = dtype.code;
    const count = this.shape.reduce((a, b) => a * b, 1);
    const bytes = rawBytes(raw);
    const size = numpyItemSize(dtype.code);
    if (bytes.length !== count * size) throw new PickleError("ndarray data has the wrong size");
    this.values = Array.from({ length: count }, (_, i) => numpyValue(dtype, bytes, i * size));
  }
}

function rawBytes(raw: unknown): Uint8Array {
  if (raw instanceof Uint8Array) return raw;
  // Python 2-era pickles carry raw bytes as latin-1 text.
  if (typeof raw === "string") return Uint8Array.from(raw, (ch) => ch.charCodeAt(0));
  throw new PickleError("NumPy data is not bytes (object arrays are not supported)");
}

const NUMPY_SIZES: Record<string, number> = {
  f8: 8,
  f4: 4,
  f2: 2,
  i8: 8,
  i4: 4,
  i2: 2,
  i1: 1,
  u8: 8,
  u4: 4,
  u2: 2,
  u1: 1,
  b1: 1,
};

function numpyItemSize(code: string): number {
  const size = NUMPY_SIZES[code];
  if (!size) throw new PickleError(`NumPy dtype '${code}' is not supported`);
  return size;
}

function numpyValue(dtype: NumpyDType, bytes: Uint8Array, offset: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, numpyItemSize(dtype.code));
  const little = dtype.byteOrder !== ">";
  switch (dtype.code) {
    case "f8":
      return view.getFloat64(0, little);
    case "f4":
      return view.getFloat32(0, little);
    case "i8":
    case "u8": {
      const v = dtype.code === "i8" ? view.getBigInt64(0, little) : view.getBigUint64(0, little);
      return Number(v);
    }
    case "i4":
      return view.getInt32(0, little);
    case "u4":
      return view.getUint32(0, little);
    case "i2":
      return view.getInt16(0, little);
    case "u2":
      return view.getUint16(0, little);
    case "i1":
      return view.getInt8(0);
    default: // u1, b1
      return view.getUint8(0);
  }
}

/** `numpy.core.multiarray.scalar(dtype, raw)` → a number (NumPy float64 gains etc.). */
function numpyScalar(args: readonly unknown[]): number | boolean {
  const [dtype, raw] = args;
  if (!(dtype instanceof NumpyDType)) throw new PickleError("numpy scalar without a dtype");
  const bytes = rawBytes(raw);
  if (bytes.length !== numpyItemSize(dtype.code)) {
    throw new PickleError(`numpy ${dtype.code} scalar has ${bytes.length} bytes`);
  }
  const value = numpyValue(dtype, bytes, 0);
  return dtype.code === "b1" ? value !== 0 : value;
}

function numpyDType(args: readonly unknown[]): NumpyDType {
  const [code] = args;
  if (typeof code !== "string") throw new PickleError("numpy dtype code is not a string");
  numpyItemSize(code);
  return new NumpyDType(code);
}

/** `_reconstruct_persistent_obj(meta)`: keeps the class name and state; never runs `module_src`. */
function persistentObject(args: readonly unknown[]): PersistentObject {
  const [meta] = args;
  if (!(meta instanceof PyDict)) throw new PickleError("persistent object meta is not a dict");
  if (meta.get("type") !== "class") {
    throw new PickleError(`persistent object of type '${String(meta.get("type"))}'`);
  }
  const className = meta.get("class_name");
  const state = meta.get("state");
  const source = meta.get("module_src");
  if (typeof className !== "string" || !(state instanceof PyDict)) {
    throw new PickleError("persistent object without class_name or state");
  }
  return new PersistentObject(className, typeof source === "string" ? source : "", state);
}

/** Non-persistent classes a snapshot may hold, rebuilt as `PyObject` data (NEWOBJ + BUILD). */
const DATA_CLASSES = [
  "training.volumetric_rendering.renderer.ImportanceRenderer",
  "training.volumetric_rendering.ray_marcher.MipRayMarcher2",
  "training.volumetric_rendering.ray_sampler.RaySampler",
  "training.triplane.OSGDecoder",
  "torch.nn.modules.container.Sequential",
  "torch.nn.modules.container.ModuleList",
  "torch.nn.modules.container.ModuleDict",
  "torch.nn.modules.activation.Softplus",
  "torch.nn.modules.activation.ReLU",
  "torch.nn.modules.activation.LeakyReLU",
  "torch.nn.modules.activation.Sigmoid",
  "torch.nn.modules.activation.Tanh",
  "torch.nn.modules.linear.Linear",
  "torch.nn.modules.linear.Identity",
];

const easyDict: GlobalHandler = {
  construct: () => new PyDict("dnnlib.util.EasyDict"),
  call: () => new PyDict("dnnlib.util.EasyDict"),
};

/** The allowlist for snapshots: containers, torch tensors, persistence, NumPy scalars/arrays. */
export const SNAPSHOT_GLOBALS: GlobalTable = new Map<string, GlobalHandler>([
  ...TORCH_GLOBALS,
  ["torch_utils.persistence._reconstruct_persistent_obj", { call: persistentObject }],
  ["dnnlib.util.EasyDict", easyDict],
  ["dnnlib.EasyDict", easyDict],
  ["numpy.core.multiarray.scalar", { call: numpyScalar }],
  ["numpy._core.multiarray.scalar", { call: numpyScalar }],
  ["numpy.dtype", { call: numpyDType }],
  ["numpy.core.multiarray._reconstruct", { call: () => new NumpyArray() }],
  ["numpy._core.multiarray._reconstruct", { call: () => new NumpyArray() }],
  ["numpy.ndarray", { value: "numpy.ndarray" }],
  ...DATA_CLASSES.map((name): [string, GlobalHandler] => [
    name,
    { construct: (args) => new PyObject(name, args) },
  ]),
]);

/** One module of a network as plain data. */
export interface ModuleTree {
  /** Class name (persistent classes: the name recorded by persistence; others: module.Class). */
  className: string;
  /** Whether the class is a `torch_utils.persistence` class (its source travels in the file). */
  persistent: boolean;
  initArgs: unknown[];
  initKwargs: Record<string, unknown>;
  /** Plain attributes (`rendering_kwargs`, `neural_rendering_resolution`, gains, ...). */
  attributes: Record<string, unknown>;
  parameters: string[];
  buffers: string[];
  children: Record<string, ModuleTree>;
}

/** One network of a snapshot (G, D, G_ema, D_patch, augment_pipe). */
export interface NetworkSnapshot {
  key: string;
  className: string;
  tree: ModuleTree;
  /** `state_dict()`: parameters and persistent buffers, in PyTorch's order. */
  stateDict: Map<string, NamedTensor>;
  /** Names in `stateDict` that are parameters (the rest are buffers). */
  parameterNames: Set<string>;
  /** Elements of all parameters (buffers excluded), as PyTorch's `numel()` sum. */
  parameterCount: number;
}

/** A training snapshot read without executing anything. */
export interface Snapshot {
  source: string;
  protocol: number;
  networks: Map<string, NetworkSnapshot>;
  /** The dataset options (`training_set_kwargs`), or null when absent. */
  trainingSetKwargs: Record<string, unknown> | null;
  /** Top-level keys that are neither networks nor `training_set_kwargs`. */
  otherKeys: string[];
}

/** Reads a snapshot file. Errors name the file and the problem; nothing is executed. */
export async function readSnapshot(path: string): Promise<Snapshot> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    throw new PickleError(`${path}: cannot read (${(err as Error).message})`);
  }
  return parseSnapshot(bytes, path);
}

/** Parses snapshot bytes (see `readSnapshot`). */
export function parseSnapshot(bytes: Uint8Array, source = "snapshot"): Snapshot {
  if (bytes.length >= 2 && bytes[0] === 0x50 && bytes[1] === 0x4b) {
    throw new PickleError(
      `${source}: is a zip (a torch.save .pth file), not a training snapshot pickle`,
    );
  }
  const { value, end, protocol } = loadPickle(bytes, { source, globals: SNAPSHOT_GLOBALS });
  if (end !== bytes.length) {
    throw new PickleError(`${source}: ${bytes.length - end} unexpected bytes after the pickle`);
  }
  if (!(value instanceof PyDict)) {
    throw new PickleError(
      `${source}: not a training snapshot: the pickle holds a ${pythonTypeName(value)}, ` +
        `expected a dict with G, D, G_ema`,
    );
  }
  const networks = new Map<string, NetworkSnapshot>();
  let trainingSetKwargs: Record<string, unknown> | null = null;
  const otherKeys: string[] = [];
  for (const [key, item] of value) {
    const name = String(key);
    if (isModule(item)) {
      networks.set(name, networkOf(name, item, source));
    } else if (name === "training_set_kwargs" && item instanceof PyDict) {
      trainingSetKwargs = toPlain(item) as Record<string, unknown>;
    } else {
      otherKeys.push(name);
    }
  }
  if (!networks.has("G_ema") && !networks.has("G")) {
    throw new PickleError(
      `${source}: not a training snapshot: no G or G_ema network (keys: ${
        [...value.keys()].map(String).join(", ") || "none"
      })`,
    );
  }
  return { source, protocol, networks, trainingSetKwargs, otherKeys };
}

/** Which code base wrote a snapshot, and why we think so. */
export interface KindDetection {
  kind: "eg3d" | "mimic3d";
  reason: string;
}

/**
 * EG3D or Mimic3D, from class names and kwargs: Mimic3D's generator is
 * `DualTriPlaneGenerator` with 3D-aware blocks (`aware3d_res`, `Aware3DBlock`)
 * and its loop also saves `D_patch`; EG3D's is `TriPlaneGenerator`.
 */
export function detectKind(snapshot: Snapshot): KindDetection {
  const generator = snapshot.networks.get("G_ema") ?? snapshot.networks.get("G")!;
  const evidence: string[] = [];
  if (generator.className === "DualTriPlaneGenerator") {
    evidence.push(`${generator.key} is DualTriPlaneGenerator`);
  }
  const aware = findModule(generator.tree, (m) => m.className === "Aware3DBlock");
  if (aware) evidence.push("it has Aware3DBlock modules");
  else if (findModule(generator.tree, (m) => "aware3d_res" in m.initKwargs)) {
    evidence.push("its backbone takes aware3d_res");
  }
  if (snapshot.networks.has("D_patch")) {
    evidence.push("the snapshot has a patch discriminator D_patch");
  }
  if (evidence.length > 0) return { kind: "mimic3d", reason: evidence.join("; ") };
  if (generator.className === "TriPlaneGenerator") {
    return {
      kind: "eg3d",
      reason: `${generator.key} is TriPlaneGenerator without 3D-aware blocks`,
    };
  }
  throw new PickleError(
    `${snapshot.source}: neither an EG3D nor a Mimic3D snapshot (${generator.key} is ` +
      `${generator.className})`,
  );
}

/** The first module of the tree (pre-order) matching `test`. */
export function findModule(
  tree: ModuleTree,
  test: (module: ModuleTree) => boolean,
): ModuleTree | undefined {
  if (test(tree)) return tree;
  for (const child of Object.values(tree.children)) {
    const found = findModule(child, test);
    if (found) return found;
  }
  return undefined;
}

// ---------------------------------------------------------------------------

/** Keys of `torch.nn.Module.__dict__` that are machinery, not attributes. */
const MODULE_INTERNALS = new Set([
  "training",
  "_parameters",
  "_buffers",
  "_modules",
  "_non_persistent_buffers_set",
  "_is_full_backward_hook",
  "_init_args",
  "_init_kwargs",
]);

function moduleState(value: unknown): PyDict | undefined {
  const state = value instanceof PersistentObject
    ? value.state
    : value instanceof PyObject
    ? value.state
    : undefined;
  return state instanceof PyDict && state.get("_modules") instanceof PyDict ? state : undefined;
}

function isModule(value: unknown): boolean {
  return moduleState(value) !== undefined;
}

function networkOf(key: string, root: unknown, source: string): NetworkSnapshot {
  const stateDict = new Map<string, NamedTensor>();
  const parameterNames = new Set<string>();
  let parameterCount = 0;
  const build = (value: unknown, prefix: string): ModuleTree => {
    const state = moduleState(value)!;
    const parameters: string[] = [];
    const buffers: string[] = [];
    const take = (name: string, tensor: unknown, isParameter: boolean) => {
      const full = prefix + name;
      if (!(tensor instanceof TorchTensor)) {
        throw new PickleError(
          `${source}: ${key}.${full} is a ${pythonTypeName(tensor)}, not a tensor`,
        );
      }
      stateDict.set(full, {
        shape: [...tensor.shape],
        data: tensor.toFloat32(`${source}: ${key}.${full}`),
      });
      if (isParameter) {
        parameterNames.add(full);
        parameterCount += tensor.numel;
      }
    };
    for (const [name, tensor] of dictOf(state, "_parameters")) {
      if (tensor === null) continue;
      parameters.push(String(name));
      take(String(name), tensor, true);
    }
    const nonPersistent = state.get("_non_persistent_buffers_set");
    for (const [name, tensor] of dictOf(state, "_buffers")) {
      if (tensor === null || (nonPersistent instanceof Set && nonPersistent.has(name))) continue;
      buffers.push(String(name));
      take(String(name), tensor, false);
    }
    const children: Record<string, ModuleTree> = {};
    for (const [name, child] of dictOf(state, "_modules")) {
      if (child === null) continue;
      if (!isModule(child)) {
        throw new PickleError(`${source}: ${key}.${prefix}${String(name)} is not a module`);
      }
      Object.defineProperty(children, String(name), {
        value: build(child, `${prefix}${String(name)}.`),
        enumerable: true,
      });
    }
    const attributes: Record<string, unknown> = {};
    for (const [name, item] of state) {
      const attribute = String(name);
      if (MODULE_INTERNALS.has(attribute) || /^_.*hooks?$/.test(attribute)) continue;
      Object.defineProperty(attributes, attribute, { value: toPlain(item), enumerable: true });
    }
    const initKwargs = state.get("_init_kwargs");
    const initArgs = state.get("_init_args");
    return {
      className: value instanceof PersistentObject
        ? value.className
        : (value as PyObject).pythonClass,
      persistent: value instanceof PersistentObject,
      initArgs: Array.isArray(initArgs) ? (toPlain(initArgs) as unknown[]) : [],
      initKwargs: initKwargs instanceof PyDict
        ? (toPlain(initKwargs) as Record<string, unknown>)
        : {},
      attributes,
      parameters,
      buffers,
      children,
    };
  };
  const tree = build(root, "");
  return { key, className: tree.className, tree, stateDict, parameterNames, parameterCount };
}

function dictOf(state: PyDict, name: string): PyDict {
  const dict = state.get(name);
  if (dict === undefined || dict === null) return new PyDict();
  if (!(dict instanceof PyDict)) throw new PickleError(`module ${name} is not a dict`);
  return dict;
}

/** Python data → JSON-like plain data (tensors and arrays summarised; small ones with values). */
export function toPlain(value: unknown): unknown {
  if (value instanceof PyDict) {
    const entries = [...value];
    if (entries.every(([k]) => typeof k === "string")) {
      return Object.fromEntries(entries.map(([k, v]) => [k, toPlain(v)]));
    }
    return entries.map(([k, v]) => [toPlain(k), toPlain(v)]);
  }
  if (Array.isArray(value)) return value.map(toPlain);
  if (value instanceof Set) return [...value].map(toPlain);
  if (typeof value === "bigint") return value.toString();
  if (value instanceof TorchTensor) {
    const summary: Record<string, unknown> = { tensor: [...value.shape], dtype: value.dtype };
    if (value.numel <= 64) summary.values = [...value.toFloat32()];
    return summary;
  }
  if (value instanceof NumpyArray) {
    return { ndarray: value.shape, dtype: value.dtype, values: value.values.slice(0, 64) };
  }
  if (value instanceof PersistentObject) return { object: value.className };
  if (value instanceof PyObject) return { object: value.pythonClass };
  if (value instanceof Uint8Array) return { bytes: value.length };
  if (value instanceof NumpyDType) return { dtype: value.code };
  return value;
}

/** A Python-style type name for messages. */
function pythonTypeName(value: unknown): string {
  if (value === null) return "None";
  if (value instanceof PyDict) return value.pythonClass.replace(/^builtins\./, "");
  if (isTuple(value)) return "tuple";
  if (Array.isArray(value)) return "list";
  if (value instanceof TorchTensor) return "tensor";
  if (value instanceof Uint8Array) return "bytes";
  if (typeof value === "string") return "str";
  if (typeof value === "number") return Number.isInteger(value) ? "int" : "float";
  if (value instanceof PyObject) return value.pythonClass;
  if (value instanceof PersistentObject) return value.className;
  return typeof value;
}
