/**
 * What users type for a checkpoint: a file, an artifact directory, or an
 * artifact id (prefix) in the store. Resolved to a path on disk, with a clear
 * error for a training-snapshot pickle (import it first) or an unknown id. Whatever lies in
 * a store is checked against its content hashes before it is read.
 */
import path from "node:path";
import { Store } from "../../pipeline/store.ts";

/** A path on disk as it is; otherwise the files of the store artifact whose id starts with `ref`. */
export async function resolveCheckpointPath(ref: string, storeRoot: string): Promise<string> {
  const stat = await Deno.stat(ref).catch(() => null);
  if (stat?.isFile && await looksLikePickle(ref)) {
    throw new Error(
      `${ref} is a training snapshot pickle, not our checkpoint: import it first ` +
        `(import-checkpoint ${ref}), then use the artifact id it prints`,
    );
  }
  if (stat) {
    await checkIfStored(ref);
    return ref;
  }
  if (!/^[0-9a-f]{4,64}$/.test(ref)) {
    throw new Error(`${ref}: no such checkpoint file or directory (nor an artifact id)`);
  }
  if (!(await Deno.stat(path.join(storeRoot, "objects")).then(() => true, () => false))) {
    throw new Error(
      `${ref}: no such file, and no store at ${path.resolve(storeRoot)} to look it up in`,
    );
  }
  const store = await Store.open(storeRoot);
  const id = await store.resolveId(ref);
  await store.check(id, "cached");
  await store.flush();
  return store.filesDir(id);
}

/**
 * A path inside a store's artifact (`<store>/objects/<id>/out/...`) is checked against that
 * artifact's content hashes, as an id would be: a same-size rewrite of a file is refused.
 */
async function checkIfStored(file: string): Promise<void> {
  const real = await Deno.realPath(file);
  const match = /^(.*)\/objects\/([0-9a-f]{64})\/out(\/.*)?$/.exec(real);
  if (!match || !(await Deno.stat(path.join(match[1], "objects")).catch(() => null))) return;
  const store = await Store.open(match[1]);
  await store.check(match[2], "cached");
  await store.flush();
}

/** Pickles start with the PROTO opcode (0x80) for every protocol a snapshot uses. */
async function looksLikePickle(file: string): Promise<boolean> {
  using handle = await Deno.open(file);
  const head = new Uint8Array(2);
  const read = await handle.read(head);
  return read === 2 && head[0] === 0x80 && head[1] >= 2 && head[1] <= 5;
}
