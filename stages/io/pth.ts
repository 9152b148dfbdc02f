/**
 * `.pth` weight files (`torch.save(state_dict)`), as users have them for FID
 * (pt_inception), LPIPS (vgg.pth) and torchvision (vgg16-*.pth): the zip format
 * of PyTorch ≥ 1.6 (`<archive>/data.pkl` + `<archive>/data/<key>` storages) and
 * the legacy stream before it. Returns named float32 tensors; nested dicts are
 * flattened with dots. Nothing in the file is executed (see `pickle_vm.ts`).
 * @module
 */
import { isTuple, loadPickle, PickleError, PyDict } from "./pickle_vm.ts";
import {
  parseLegacyTorchStream,
  storageTypeOf,
  TORCH_GLOBALS,
  TorchStorage,
  TorchTensor,
} from "./torch_storage.ts";
import { ZipReader } from "./zip_reader.ts";

/** A tensor read from a weight file: row-major float32 values. */
export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

/**
 * Reads a `torch.save`d state dict (zip or legacy) and returns its tensors by
 * name. Throws one error naming the file and the problem for a truncated or
 * corrupt file, a pickle of something other than tensors, or a refused global.
 */
export async function readPth(path: string): Promise<Map<string, NamedTensor>> {
  const head = await readHead(path);
  const value = head[0] === 0x50 && head[1] === 0x4b
    ? await loadZipPth(path)
    : parseLegacyTorchStream(await Deno.readFile(path), path).value;
  const tensors = flattenTensors(value, path);
  if (tensors.size === 0) {
    throw new PickleError(`${path}: holds no tensors (not a state dict)`);
  }
  return tensors;
}

/** Flattens dicts (and lists) of tensors into `a.b.c` names → float32 tensors. */
export function flattenTensors(value: unknown, source: string): Map<string, NamedTensor> {
  const out = new Map<string, NamedTensor>();
  const visit = (node: unknown, prefix: string) => {
    if (node instanceof TorchTensor) {
      out.set(prefix, { shape: [...node.shape], data: node.toFloat32(`${source}: ${prefix}`) });
    } else if (node instanceof PyDict) {
      for (const [key, child] of node) {
        visit(child, prefix === "" ? String(key) : `${prefix}.${String(key)}`);
      }
    } else if (Array.isArray(node)) {
      node.forEach((child, i) => visit(child, prefix === "" ? String(i) : `${prefix}.${i}`));
    }
  };
  if (!(value instanceof PyDict)) {
    const what = value instanceof TorchTensor ? "a single tensor" : "no dict";
    throw new PickleError(`${source}: expected a state dict (name → tensor), found ${what}`);
  }
  visit(value, "");
  return out;
}

async function readHead(path: string): Promise<Uint8Array> {
  using file = await Deno.open(path, { read: true });
  const head = new Uint8Array(4);
  const n = await file.read(head);
  if (n === null || n < 2) throw new PickleError(`${path}: file is empty or too short`);
  return head;
}

/**
 * The zip format: one top-level folder (named after the file when saved) with
 * `data.pkl`, whose persistent ids `('storage', type, key, location, numel)`
 * point at `data/<key>` entries of raw little-endian elements.
 */
async function loadZipPth(path: string): Promise<unknown> {
  using zip = await ZipReader.open(path);
  const pickles = zip.names.filter((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (pickles.length !== 1) {
    throw new PickleError(
      `${path}: not a torch.save zip (expected one '<archive>/data.pkl', found ${pickles.length})`,
    );
  }
  const prefix = pickles[0].slice(0, -"data.pkl".length);
  const byteOrderEntry = `${prefix}byteorder`;
  if (zip.has(byteOrderEntry) && (await zip.readText(byteOrderEntry)).trim() !== "little") {
    throw new PickleError(`${path}: big-endian torch.save files are not supported`);
  }
  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: unknown): TorchStorage => {
    if (!isTuple(pid) || pid.length < 5 || pid[0] !== "storage") {
      throw new PickleError("malformed persistent id (expected a storage reference)");
    }
    const [, typeGlobal, key, , numel] = pid;
    if (typeof key !== "string" || !/^[\w.-]+$/.test(key)) {
      throw new PickleError(`bad storage key ${JSON.stringify(key)}`);
    }
    if (typeof numel !== "number" || !Number.isInteger(numel) || numel < 0) {
      throw new PickleError(`storage '${key}' has a bad size`);
    }
    let storage = storages.get(key);
    if (!storage) {
      storage = new TorchStorage(key, storageTypeOf(typeGlobal).dtype, numel);
      storages.set(key, storage);
    }
    return storage;
  };
  const source = `${path}: ${pickles[0]}`;
  const { value } = loadPickle(await zip.read(pickles[0]), {
    source,
    globals: TORCH_GLOBALS,
    persistentLoad,
  });
  for (const [key, storage] of storages) {
    const entry = `${prefix}data/${key}`;
    if (!zip.has(entry)) throw new PickleError(`${path}: storage entry '${entry}' is missing`);
    storage.setBytes(await zip.read(entry), `${path}: ${entry}`);
  }
  return value;
}
