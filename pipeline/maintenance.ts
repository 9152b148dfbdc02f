/**
 * Store maintenance: `gc` (drop objects no recorded run or live checkpoint reaches),
 * `verify` (rehash everything; `--repair` drops what is corrupted so runs recompute it),
 * `exportArtifact` / `importArtifact` (move artifacts, with their cache keys, between stores).
 * @module
 */
import * as path from "node:path";
import { readJsonOrNull, writeJsonAtomic } from "./atomic_fs.ts";
import type { CheckpointPointer } from "./checkpoints.ts";
import { liveLockOwner, type LockOwner, pidAlive } from "./key_lock.ts";
import { type KeyInputs, keyOf } from "./stage_key.ts";
import { hostname } from "node:os";
import { listFiles } from "./manifest.ts";
import { sha256Hex } from "./canonical_json.ts";
import { CorruptArtifactError, type KeyRecord, removeTree, type Store } from "./store.ts";

async function jsonFiles<T>(dir: string): Promise<T[]> {
  const found: T[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".json") || entry.name.startsWith(".")) continue;
    const value = await readJsonOrNull<T>(path.join(dir, entry.name));
    if (value) found.push(value);
  }
  return found;
}

/** Objects reachable from recorded runs and unfinished checkpoints. */
export async function reachableObjects(store: Store): Promise<Set<string>> {
  const roots = new Set<string>();
  type RunRecord = { nodes: Record<string, { artifact: string }> };
  for (const run of await jsonFiles<RunRecord>(store.at("runs"))) {
    for (const { artifact } of Object.values(run.nodes ?? {})) roots.add(artifact);
  }
  for (const pointer of await jsonFiles<CheckpointPointer>(store.at("checkpoints"))) {
    roots.add(pointer.artifact);
  }
  return roots;
}

/** What `gc` removed (or would remove). */
export interface GcReport {
  objects: string[];
  bytes: number;
  keyRecords: number;
  stagingDirs: string[];
}

/**
 * Removes objects that no run record or checkpoint reaches, key records whose object is gone,
 * and staging directories of dead processes. Objects younger than `graceSeconds` are kept: a run
 * in progress may have committed one and not yet recorded it.
 */
export async function collectGarbage(
  store: Store,
  options: { dryRun?: boolean; graceSeconds?: number } = {},
): Promise<GcReport> {
  const reachable = await reachableObjects(store);
  const graceMs = (options.graceSeconds ?? 600) * 1000;
  const report: GcReport = { objects: [], bytes: 0, keyRecords: 0, stagingDirs: [] };
  for (const id of await store.listObjects()) {
    if (reachable.has(id)) continue;
    const info = await Deno.stat(store.objectDir(id));
    if (Date.now() - (info.mtime?.getTime() ?? 0) < graceMs) continue;
    report.objects.push(id);
    const manifest = await store.manifest(id).catch(() => null);
    report.bytes += manifest?.files.reduce((sum, f) => sum + f.size, 0) ?? 0;
    if (!options.dryRun) await store.removeObject(id);
  }
  const removed = new Set(report.objects);
  for (const record of await store.listKeyRecords()) {
    const gone = removed.has(record.artifact) || !(await store.hasObject(record.artifact));
    if (!gone) continue;
    report.keyRecords++;
    if (!options.dryRun) await store.removeKeyRecord(record.key);
  }
  const liveOwners = await liveLockOwners(store);
  for await (const entry of Deno.readDir(store.at("tmp"))) {
    if (!(await orphanStagingDir(store, entry.name, liveOwners, graceMs))) continue;
    report.stagingDirs.push(entry.name);
    if (!options.dryRun) await removeTree(store.at("tmp", entry.name));
  }
  return report;
}

/** The holders of the store's locks that are alive (a fresh lease, or a live pid here). */
async function liveLockOwners(store: Store): Promise<LockOwner[]> {
  const owners: LockOwner[] = [];
  for await (const entry of Deno.readDir(store.at("locks"))) {
    if (!entry.name.endsWith(".lock")) continue;
    const owner = await liveLockOwner(store.at("locks", entry.name));
    if (owner) owners.push(owner);
  }
  return owners;
}

/**
 * Whether a staging directory (`<purpose>-<pid>-<random>@<host>`) belongs to no running stage:
 * on this host, its process is gone; of another host (a shared store), or of the older naming
 * without a host, no lock with a live lease is held by that process (a stage computes under its
 * key's lock). Directories younger than the grace period are always kept; trash (objects being
 * deleted) is always removable.
 */
async function orphanStagingDir(
  store: Store,
  name: string,
  liveOwners: readonly LockOwner[],
  graceMs: number,
): Promise<boolean> {
  if (name.startsWith("trash-")) return true;
  const info = await Deno.stat(store.at("tmp", name)).catch(() => null);
  if (Date.now() - (info?.mtime?.getTime() ?? 0) < graceMs) return false;
  const at = name.lastIndexOf("@");
  const host = at < 0 ? null : name.slice(at + 1);
  const pid = Number((at < 0 ? name : name.slice(0, at)).split("-")[1]);
  if (!Number.isInteger(pid)) return false;
  if (host === hostname()) return !pidAlive(pid);
  return !liveOwners.some((o) => o.pid === pid && (host === null || o.host === host));
}

/** Whether a key record's key is the hash of the inputs recorded with it (not edited). */
function keyMatchesInputs(record: KeyRecord): boolean {
  try {
    return keyOf(record.keyInputs as KeyInputs) === record.key;
  } catch {
    return false;
  }
}

/** What `verify` found. */
export interface VerifyReport {
  checked: number;
  corrupted: { id: string; problem: string }[];
  danglingKeys: string[];
  /** Key files that cannot be read (`keys/<name>`): their stage reruns once they are removed. */
  damagedKeys: string[];
  repaired: boolean;
}

/**
 * Rehashes every object. With `repair`, corrupted objects are removed together with the key
 * records and checkpoint pointers that name them, so the next run recomputes them.
 */
export async function verifyStore(
  store: Store,
  options: { repair?: boolean } = {},
): Promise<VerifyReport> {
  const report: VerifyReport = {
    checked: 0,
    corrupted: [],
    danglingKeys: [],
    damagedKeys: [],
    repaired: false,
  };
  for (const id of await store.listObjects()) {
    report.checked++;
    try {
      await store.check(id, "full");
    } catch (err) {
      if (!(err instanceof CorruptArtifactError)) throw err;
      report.corrupted.push({ id, problem: err.problem });
    }
  }
  const bad = new Set(report.corrupted.map((c) => c.id));
  const scan = await store.scanKeyRecords();
  // A record whose key is not the hash of its own inputs was edited: as good as damaged.
  const records = scan.records.filter(keyMatchesInputs);
  const damaged = [
    ...scan.damaged,
    ...scan.records.filter((r) => !keyMatchesInputs(r)).map((r) => `${r.key}.json`),
  ].sort();
  report.damagedKeys = damaged;
  for (const record of records) {
    if (!bad.has(record.artifact) && !(await store.hasObject(record.artifact))) {
      report.danglingKeys.push(record.key);
    }
  }
  if (options.repair) {
    for (const record of records) {
      if (bad.has(record.artifact) || report.danglingKeys.includes(record.key)) {
        await store.removeKeyRecord(record.key);
      }
    }
    for (const pointer of await jsonFiles<CheckpointPointer>(store.at("checkpoints"))) {
      if (bad.has(pointer.artifact)) {
        await Deno.remove(store.at("checkpoints", `${pointer.key}.json`));
      }
    }
    for (const id of bad) await store.removeObject(id);
    for (const name of damaged) await Deno.remove(store.at("keys", name));
    report.repaired = true;
  }
  return report;
}

/** Copies an artifact (manifest.json, out/, and the key records that produced it) to `dir`. */
export async function exportArtifact(store: Store, id: string, dir: string): Promise<void> {
  await store.check(id, "full");
  try {
    for await (const _ of Deno.readDir(dir)) {
      throw new Error(`export directory ${dir} is not empty`);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  await Deno.mkdir(path.join(dir, "out"), { recursive: true });
  await Deno.copyFile(
    path.join(store.objectDir(id), "manifest.json"),
    path.join(dir, "manifest.json"),
  );
  for (const file of await listFiles(store.filesDir(id))) {
    const target = path.join(dir, "out", file);
    await Deno.mkdir(path.dirname(target), { recursive: true });
    await Deno.copyFile(path.join(store.filesDir(id), file), target);
    await Deno.chmod(target, 0o644);
  }
  const keys = (await store.listKeyRecords()).filter((r) => r.artifact === id);
  await writeJsonAtomic(path.join(dir, "keys.json"), keys);
}

/**
 * Imports an exported artifact: its files are committed like a stage output, must hash to the
 * exported manifest, and its key records become cache entries (existing ones are kept).
 */
export async function importArtifact(
  store: Store,
  dir: string,
): Promise<{ id: string; keys: number }> {
  let expected: string;
  try {
    expected = sha256Hex(await Deno.readTextFile(path.join(dir, "manifest.json")));
  } catch {
    throw new Error(`${dir} has no manifest.json; is it a directory written by export?`);
  }
  const records = (await readJsonOrNull<KeyRecord[]>(path.join(dir, "keys.json"))) ?? [];
  const forged = records.find((r) => !keyMatchesInputs(r));
  if (forged) {
    throw new Error(
      `${dir}/keys.json: cache key ${
        String(forged.key).slice(0, 12)
      } does not match the inputs recorded with it (edited export?); nothing imported`,
    );
  }
  const staging = await store.makeStagingDir("import");
  for (const file of await listFiles(path.join(dir, "out")).catch(() => [])) {
    const target = path.join(staging.outDir, file);
    await Deno.mkdir(path.dirname(target), { recursive: true });
    await Deno.copyFile(path.join(dir, "out", file), target);
  }
  const id = await store.commit(staging.dir);
  if (id !== expected) {
    await store.removeObject(id);
    throw new Error(`files in ${dir}/out do not match its manifest.json (damaged export)`);
  }
  let installed = 0;
  for (const record of records) {
    if (record.artifact !== id || await store.readKeyRecord(record.key)) continue;
    await store.writeKeyRecord(record);
    installed++;
  }
  // Recorded like a run so gc keeps it.
  const runId = `import-${new Date().toISOString().replace(/[-:.]/g, "")}-${id.slice(0, 8)}`;
  await writeJsonAtomic(store.at("runs", `${runId}.json`), {
    runId,
    experiment: null,
    source: path.resolve(dir),
    outcome: "done",
    nodes: { imported: { key: records[0]?.key ?? null, artifact: id } },
  });
  await store.flush();
  return { id, keys: installed };
}
