/**
 * One writer per key: an exclusive lock file `locks/<key>.lock` holding the owner's pid, host,
 * process start time and lock time. A lock whose owner process is gone (on this host) is stale
 * and is broken, so a `kill -9` never wedges the store.
 */
import * as path from "node:path";
import { hostname } from "node:os";
import { readJsonOrNull } from "./atomic_fs.ts";

/** Who holds a lock. */
export interface LockOwner {
  pid: number;
  host: string;
  /** Kernel start time of the owner process (Linux), to tell a reused pid from the owner. */
  processStart: string | null;
  lockedAt: string;
}

/** A held lock; release it in a `finally`. */
export interface HeldLock {
  release(): Promise<void>;
}

/** Options for waiting on a lock held by a live process. */
export interface AcquireOptions {
  /** Called once when the lock is busy, with its owner (to tell the user why we wait). */
  onWait?: (owner: LockOwner) => void;
  /** Called when a stale lock was broken. */
  onStaleBroken?: (owner: LockOwner) => void;
  signal?: AbortSignal;
  pollMs?: number;
}

/** Acquires `lockFile`, waiting while a live process holds it and breaking stale locks. */
export async function acquireLock(
  lockFile: string,
  options: AcquireOptions = {},
): Promise<HeldLock> {
  const me: LockOwner = {
    pid: Deno.pid,
    host: hostname(),
    processStart: processStartTime(Deno.pid),
    lockedAt: new Date().toISOString(),
  };
  let waited = false;
  for (;;) {
    options.signal?.throwIfAborted();
    if (await tryCreate(lockFile, me)) {
      return { release: () => releaseIfMine(lockFile, me) };
    }
    const owner = await readJsonOrNull<LockOwner>(lockFile).catch(() => null);
    if (owner && isStale(owner)) {
      if (await breakStale(lockFile, owner)) options.onStaleBroken?.(owner);
      continue;
    }
    if (owner && !waited) {
      waited = true;
      options.onWait?.(owner);
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 100));
  }
}

/** Reads the current owner of a lock, or null when it is free or stale. */
export async function liveLockOwner(lockFile: string): Promise<LockOwner | null> {
  const owner = await readJsonOrNull<LockOwner>(lockFile).catch(() => null);
  return owner && !isStale(owner) ? owner : null;
}

/** Creates the lock with its content in one step: write a temp file, hard-link it into place. */
async function tryCreate(lockFile: string, owner: LockOwner): Promise<boolean> {
  const temp = path.join(path.dirname(lockFile), `.${crypto.randomUUID()}.tmp`);
  await Deno.writeTextFile(temp, JSON.stringify(owner));
  try {
    await Deno.link(temp, lockFile);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) return false;
    throw err;
  } finally {
    await Deno.remove(temp).catch(() => {});
  }
}

/** Stale = owner on this host and its process is gone (or the pid now belongs to another process). */
function isStale(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return false; // can't see other hosts' processes
  if (!pidAlive(owner.pid)) return true;
  const start = processStartTime(owner.pid);
  return owner.processStart !== null && start !== null && start !== owner.processStart;
}

/**
 * Breaks a stale lock by renaming it aside (only one contender wins the rename), then checks it
 * moved the lock it judged stale; if a live owner's lock was taken by mistake, it is put back.
 */
async function breakStale(lockFile: string, judged: LockOwner): Promise<boolean> {
  const aside = `${lockFile}.stale-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.rename(lockFile, aside);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
  const moved = await readJsonOrNull<LockOwner>(aside).catch(() => null);
  const same = moved?.pid === judged.pid && moved?.lockedAt === judged.lockedAt;
  if (!same) await Deno.link(aside, lockFile).catch(() => {});
  await Deno.remove(aside).catch(() => {});
  return same;
}

async function releaseIfMine(lockFile: string, me: LockOwner): Promise<void> {
  const owner = await readJsonOrNull<LockOwner>(lockFile).catch(() => null);
  if (owner?.pid === me.pid && owner.lockedAt === me.lockedAt) {
    await Deno.remove(lockFile).catch(() => {});
  }
}

/** Whether a process exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
  }
  try {
    Deno.kill(pid, "SIGCONT"); // no /proc (macOS): probe with a harmless signal
    return true;
  } catch (err) {
    return !(err instanceof Deno.errors.NotFound);
  }
}

function processStartTime(pid: number): string | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}
