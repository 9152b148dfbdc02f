/**
 * PyTorch tensors and storages as they appear in pickles: the allowlisted
 * rebuild functions (`torch._utils._rebuild_tensor_v2`, `_rebuild_parameter`,
 * ...), storage types (`torch.FloatStorage`, ...), the legacy (non-zip)
 * `torch.save` stream, and `torch.storage._load_from_bytes` — the nested legacy
 * stream each tensor's storage is pickled as inside EG3D / StyleGAN `.pkl`
 * snapshots. Tensors become contiguous float32 host arrays with size, stride
 * and storage offset honoured.
 * @module
 */
import {
  type GlobalHandler,
  type GlobalTable,
  isTuple,
  loadPickle,
  PickleError,
  PickleGlobal,
  PYTHON_BUILTIN_GLOBALS,
} from "./pickle_vm.ts";

/** Element types of PyTorch storages this reader knows. */
export type TorchDType =
  | "float32"
  | "float64"
  | "float16"
  | "bfloat16"
  | "int64"
  | "int32"
  | "int16"
  | "int8"
  | "uint8"
  | "bool";

const ELEMENT_SIZE: Record<TorchDType, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** `torch.<Name>Storage` → element type (also under `torch.cuda.` for GPU-saved files). */
const STORAGE_TYPES: Record<string, TorchDType> = {
  FloatStorage: "float32",
  DoubleStorage: "float64",
  HalfStorage: "float16",
  BFloat16Storage: "bfloat16",
  LongStorage: "int64",
  IntStorage: "int32",
  ShortStorage: "int16",
  CharStorage: "int8",
  ByteStorage: "uint8",
  BoolStorage: "bool",
};

/** `torch.<dtype>` globals (used by `_rebuild_tensor_v3`). */
const DTYPE_GLOBALS: Record<string, TorchDType> = {
  float32: "float32",
  float: "float32",
  float64: "float64",
  double: "float64",
  float16: "float16",
  half: "float16",
  bfloat16: "bfloat16",
  int64: "int64",
  long: "int64",
  int32: "int32",
  int: "int32",
  int16: "int16",
  int8: "int8",
  uint8: "uint8",
  bool: "bool",
};

/** A storage type global (`torch.FloatStorage`) as data. */
export class TorchStorageType {
  constructor(readonly name: string, readonly dtype: TorchDType) {}
}

/** A torch dtype global (`torch.float32`) as data. */
export class TorchDTypeValue {
  constructor(readonly dtype: TorchDType) {}
}

/**
 * One storage: a flat array of `numel` elements of `dtype`. The raw little-endian
 * `bytes` arrive after the pickle that references them (legacy stream, zip
 * entries), hence settable. A view (legacy `view_metadata`) shares its root's bytes.
 */
export class TorchStorage {
  #bytes: Uint8Array | undefined;
  constructor(
    readonly key: string,
    readonly dtype: TorchDType,
    readonly numel: number,
    readonly root: TorchStorage | null = null,
    /** Element offset into `root` (views only). */
    readonly rootOffset = 0,
  ) {}

  /** Attaches the raw data; its length must be exactly `numel` elements. */
  setBytes(bytes: Uint8Array, source: string): void {
    const expected = this.numel * ELEMENT_SIZE[this.dtype];
    if (bytes.length !== expected) {
      throw new PickleError(
        `${source}: storage '${this.key}' has ${bytes.length} bytes, expected ${expected} ` +
          `(${this.numel} × ${this.dtype})`,
      );
    }
    this.#bytes = bytes;
  }

  /** The raw bytes of this storage (a view's slice of its root). */
  bytes(): Uint8Array {
    if (this.root) {
      const size = ELEMENT_SIZE[this.dtype];
      return this.root.bytes().subarray(
        this.rootOffset * size,
        (this.rootOffset + this.numel) * size,
      );
    }
    if (!this.#bytes) throw new PickleError(`storage '${this.key}': its data was never read`);
    return this.#bytes;
  }
}

/** A tensor as pickled: a strided view of a storage. Call `toFloat32` for its values. */
export class TorchTensor {
  constructor(
    readonly storage: TorchStorage,
    readonly storageOffset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
    readonly requiresGrad: boolean,
    /** Rebuilt through `_rebuild_parameter` (an nn.Parameter). */
    readonly isParameter = false,
  ) {}

  /** Number of elements. */
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** The element type of the storage. */
  get dtype(): TorchDType {
    return this.storage.dtype;
  }

  /** This tensor marked as a parameter. */
  asParameter(requiresGrad: boolean): TorchTensor {
    return new TorchTensor(
      this.storage,
      this.storageOffset,
      this.shape,
      this.stride,
      requiresGrad,
      true,
    );
  }

  /**
   * Contiguous row-major float32 values, bit-exact for float32 storages.
   * float16/bfloat16/float64 are converted; integer and bool storages are
   * converted when every value is exact in float32, otherwise refused.
   * `name` labels errors.
   */
  toFloat32(name = "tensor"): Float32Array {
    const count = this.numel;
    const out = new Float32Array(count);
    if (count === 0) return out;
    let last = this.storageOffset;
    for (let d = 0; d < this.shape.length; d++) last += (this.shape[d] - 1) * this.stride[d];
    if (last >= this.storage.numel) {
      throw new PickleError(
        `${name}: size [${this.shape}] stride [${this.stride}] offset ${this.storageOffset} ` +
          `reaches element ${last}, but its storage holds ${this.storage.numel} (shape mismatch ` +
          `or corrupt file)`,
      );
    }
    if (this.dtype === "float32" && isContiguous(this.shape, this.stride)) {
      // The common case: one byte copy, bit-exact (NaN payloads, -0) and any alignment.
      const raw = this.storage.bytes();
      new Uint8Array(out.buffer).set(
        raw.subarray(4 * this.storageOffset, 4 * (this.storageOffset + count)),
      );
      return out;
    }
    if (this.dtype === "float32") {
      // Strided: copy bits too, so float32 values stay bit-exact.
      const bits = new Uint32Array(out.buffer);
      const raw = this.storage.bytes();
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      forEachStridedIndex(this.shape, this.stride, this.storageOffset, (i, index) => {
        bits[i] = view.getUint32(4 * index, true);
      });
      return out;
    }
    const read = elementReader(this.storage, name);
    forEachStridedIndex(this.shape, this.stride, this.storageOffset, (i, index) => {
      out[i] = read(index);
    });
    return out;
  }
}

function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}

/** Calls `visit(i, storageIndex)` for every element of a strided tensor, in row-major order. */
function forEachStridedIndex(
  shape: readonly number[],
  stride: readonly number[],
  offset: number,
  visit: (i: number, index: number) => void,
): void {
  const count = shape.reduce((a, b) => a * b, 1);
  const position = new Array<number>(shape.length).fill(0);
  let index = offset;
  for (let i = 0; i < count; i++) {
    visit(i, index);
    for (let d = shape.length - 1; d >= 0; d--) {
      position[d]++;
      index += stride[d];
      if (position[d] < shape[d]) break;
      index -= stride[d] * shape[d];
      position[d] = 0;
    }
  }
}

/** A function reading element i of a storage as a number (exactness checked for integers). */
function elementReader(storage: TorchStorage, name: string): (i: number) => number {
  const raw = storage.bytes();
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const exact = (value: number | bigint, i: number): number => {
    const n = Number(value);
    if (Math.abs(n) > 2 ** 24 || BigInt(n) !== BigInt(value)) {
      throw new PickleError(
        `${name}: ${storage.dtype} value ${value} at element ${i} is not exact in float32; ` +
          `refusing to convert`,
      );
    }
    return n;
  };
  switch (storage.dtype) {
    case "float32":
      return (i) => view.getFloat32(4 * i, true);
    case "float64":
      return (i) => view.getFloat64(8 * i, true);
    case "float16":
      return (i) => halfToFloat(view.getUint16(2 * i, true));
    case "bfloat16":
      return (i) => {
        const bits = new DataView(new ArrayBuffer(4));
        bits.setUint32(0, view.getUint16(2 * i, true) << 16);
        return bits.getFloat32(0);
      };
    case "int64":
      return (i) => exact(view.getBigInt64(8 * i, true), i);
    case "int32":
      return (i) => exact(view.getInt32(4 * i, true), i);
    case "int16":
      return (i) => view.getInt16(2 * i, true);
    case "int8":
      return (i) => view.getInt8(i);
    case "uint8":
    case "bool":
      return (i) => view.getUint8(i);
  }
}

/** IEEE 754 binary16 → number. */
function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

// ---------------------------------------------------------------------------
// Allowlisted torch globals.

function integer(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new PickleError(`${what} is not a non-negative integer`);
  }
  return value;
}

function integerTuple(value: unknown, what: string): number[] {
  if (!Array.isArray(value)) throw new PickleError(`${what} is not a tuple`);
  return value.map((v, i) => integer(v, `${what}[${i}]`));
}

/** `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks, metadata?)`. */
function rebuildTensor(args: readonly unknown[]): TorchTensor {
  const [storage, offset, size, stride, requiresGrad] = args;
  if (!(storage instanceof TorchStorage)) {
    throw new PickleError("the tensor's storage argument is not a storage");
  }
  const shape = integerTuple(size, "tensor size");
  const strides = integerTuple(stride, "tensor stride");
  if (shape.length !== strides.length) {
    throw new PickleError(`tensor size [${shape}] and stride [${strides}] differ in length`);
  }
  return new TorchTensor(
    storage,
    integer(offset, "storage offset"),
    shape,
    strides,
    requiresGrad === true,
  );
}

/** `_rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype, metadata?)`. */
function rebuildTensorV3(args: readonly unknown[]): TorchTensor {
  const dtype = args[6] instanceof PickleGlobal ? args[6].handler.value : undefined;
  const tensor = rebuildTensor(args);
  if (!(dtype instanceof TorchDTypeValue) || dtype.dtype !== tensor.storage.dtype) {
    throw new PickleError("_rebuild_tensor_v3 with a dtype other than its storage's");
  }
  return tensor;
}

function rebuildParameter(args: readonly unknown[]): TorchTensor {
  const [data, requiresGrad] = args;
  if (!(data instanceof TorchTensor)) throw new PickleError("parameter data is not a tensor");
  return data.asParameter(requiresGrad === true);
}

const TENSOR_TYPES = new Set([
  "torch.Tensor",
  "torch._tensor.Tensor",
  "torch.nn.parameter.Parameter",
]);

/** `_rebuild_from_type_v2(func, new_type, args, state)`: tensors pickled with Python state. */
function rebuildFromType(args: readonly unknown[]): unknown {
  const [func, newType, funcArgs] = args;
  if (!(func instanceof PickleGlobal) || !func.handler.call || !Array.isArray(funcArgs)) {
    throw new PickleError("_rebuild_from_type_v2 needs an allowlisted rebuild function");
  }
  if (!(newType instanceof PickleGlobal) || !TENSOR_TYPES.has(newType.qualifiedName)) {
    throw new PickleError("_rebuild_from_type_v2 of a type other than Tensor/Parameter");
  }
  const tensor = func.handler.call(funcArgs);
  if (!(tensor instanceof TorchTensor)) throw new PickleError("rebuild did not give a tensor");
  return newType.qualifiedName.endsWith("Parameter") ? tensor.asParameter(false) : tensor;
}

/** `torch.storage._load_from_bytes(blob)`: a complete legacy torch.save stream of one storage. */
function loadStorageFromBytes(args: readonly unknown[]): TorchStorage {
  const [blob] = args;
  if (!(blob instanceof Uint8Array)) throw new PickleError("storage blob is not bytes");
  const { value } = parseLegacyTorchStream(blob, "storage blob");
  if (!(value instanceof TorchStorage)) {
    throw new PickleError("storage blob does not hold a storage");
  }
  return value;
}

function torchGlobalTable(): Map<string, GlobalHandler> {
  const table = new Map<string, GlobalHandler>([
    ["torch._utils._rebuild_tensor", { call: rebuildTensor }],
    ["torch._utils._rebuild_tensor_v2", { call: rebuildTensor }],
    ["torch._utils._rebuild_tensor_v3", { call: rebuildTensorV3 }],
    ["torch._utils._rebuild_parameter", { call: rebuildParameter }],
    ["torch._utils._rebuild_parameter_with_state", { call: rebuildParameter }],
    ["torch._tensor._rebuild_from_type_v2", { call: rebuildFromType }],
    ["torch.storage._load_from_bytes", { call: loadStorageFromBytes }],
  ]);
  for (const name of TENSOR_TYPES) table.set(name, { value: name });
  for (const [name, dtype] of Object.entries(STORAGE_TYPES)) {
    table.set(`torch.${name}`, { value: new TorchStorageType(name, dtype) });
    table.set(`torch.cuda.${name}`, { value: new TorchStorageType(name, dtype) });
  }
  for (const [name, dtype] of Object.entries(DTYPE_GLOBALS)) {
    table.set(`torch.${name}`, { value: new TorchDTypeValue(dtype) });
  }
  return table;
}

/** Python containers + torch tensors/storages: the allowlist for `.pth` state dicts. */
export const TORCH_GLOBALS: GlobalTable = new Map([
  ...PYTHON_BUILTIN_GLOBALS,
  ...torchGlobalTable(),
]);

/** The storage type named by a persistent id's type field. */
export function storageTypeOf(value: unknown): TorchStorageType {
  const type = value instanceof PickleGlobal ? value.handler.value : undefined;
  if (!(type instanceof TorchStorageType)) {
    throw new PickleError(`persistent id names no known storage type`);
  }
  return type;
}

/** Element size in bytes of a dtype. */
export function elementSize(dtype: TorchDType): number {
  return ELEMENT_SIZE[dtype];
}

// ---------------------------------------------------------------------------
// The legacy torch.save stream.

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;

/** Result of reading a legacy stream: the saved object and where the stream ended. */
export interface LegacyStream {
  value: unknown;
  end: number;
}

/**
 * Reads a legacy (pre-1.6, non-zip) `torch.save` stream: magic, protocol
 * version and sys-info pickles, the object pickle (storages as persistent ids
 * `('storage', type, key, location, numel, view_metadata)`), the list of
 * storage keys, then for each key an int64 element count and the raw data.
 */
export function parseLegacyTorchStream(
  bytes: Uint8Array,
  source: string,
  globals: GlobalTable = TORCH_GLOBALS,
): LegacyStream {
  if (bytes[0] === 0x50 && bytes[1] === 0x4b) {
    throw new PickleError(`${source}: is a zip archive, not a legacy torch.save stream`);
  }
  const header = (offset: number) => loadPickle(bytes, { source, offset, globals: new Map() });
  let magic;
  try {
    magic = header(0);
  } catch (err) {
    if (bytes.length > 262 && latinAt(bytes, 257, 5) === "ustar") {
      throw new PickleError(`${source}: the pre-0.4 tar torch.save format is not supported`);
    }
    throw err;
  }
  if (magic.value !== LEGACY_MAGIC) {
    throw new PickleError(`${source}: not a torch.save file (magic number missing)`);
  }
  const version = header(magic.end);
  if (version.value !== LEGACY_PROTOCOL_VERSION) {
    throw new PickleError(`${source}: unsupported torch.save protocol ${String(version.value)}`);
  }
  const sysInfo = header(version.end);
  const info = sysInfo.value instanceof Map ? sysInfo.value : undefined;
  if (info?.get("little_endian") === false) {
    throw new PickleError(`${source}: big-endian torch.save files are not supported`);
  }

  const roots = new Map<string, TorchStorage>();
  const persistentLoad = (pid: unknown): TorchStorage => {
    if (!isTuple(pid) || pid.length < 5) throw new PickleError("malformed persistent id");
    if (pid[0] === "module") {
      throw new PickleError(
        "the file holds a whole pickled nn.Module (torch.save(model)); save its state_dict()",
      );
    }
    if (pid[0] !== "storage") throw new PickleError(`unknown persistent id type '${pid[0]}'`);
    const [, typeGlobal, key, , numel, viewMetadata] = pid;
    const type = storageTypeOf(typeGlobal);
    if (typeof key !== "string") throw new PickleError("storage key is not a string");
    let root = roots.get(key);
    if (!root) {
      root = new TorchStorage(key, type.dtype, integer(numel, "storage size"));
      roots.set(key, root);
    }
    if (viewMetadata === null || viewMetadata === undefined) return root;
    if (!isTuple(viewMetadata) || viewMetadata.length !== 3) {
      throw new PickleError("malformed storage view metadata");
    }
    const offset = integer(viewMetadata[1], "view offset");
    const size = integer(viewMetadata[2], "view size");
    if (offset + size > root.numel) throw new PickleError(`storage view past its root '${key}'`);
    return new TorchStorage(String(viewMetadata[0]), root.dtype, size, root, offset);
  };
  const main = loadPickle(bytes, { source, offset: sysInfo.end, globals, persistentLoad });
  const keys = loadPickle(bytes, { source, offset: main.end, globals: new Map() });
  if (!Array.isArray(keys.value)) throw new PickleError(`${source}: storage key list is missing`);

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keys.end;
  for (const key of keys.value) {
    const storage = roots.get(String(key));
    if (!storage) throw new PickleError(`${source}: data for unknown storage '${key}'`);
    if (pos + 8 > bytes.length) {
      throw new PickleError(`${source}: truncated: storage '${key}' data missing`);
    }
    const count = Number(view.getBigInt64(pos, true));
    if (count !== storage.numel) {
      throw new PickleError(
        `${source}: storage '${key}' has ${count} elements in the data, ${storage.numel} in the pickle`,
      );
    }
    const length = count * ELEMENT_SIZE[storage.dtype];
    if (pos + 8 + length > bytes.length) {
      throw new PickleError(
        `${source}: truncated: storage '${key}' needs ${length} bytes, ` +
          `${bytes.length - pos - 8} left`,
      );
    }
    storage.setBytes(bytes.subarray(pos + 8, pos + 8 + length), source);
    pos += 8 + length;
  }
  for (const [key, storage] of roots) {
    try {
      storage.bytes();
    } catch {
      throw new PickleError(`${source}: storage '${key}' has no data in the file`);
    }
  }
  return { value: main.value, end: pos };
}

function latinAt(bytes: Uint8Array, offset: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(offset, offset + length));
}
