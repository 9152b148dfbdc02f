/**
 * One writer per key: an exclusive lock file `locks/<key>.lock` holding the owner's pid, host,
 * process start time and lock time. A lock is stale, and broken, when
 * - its owner is on this host and its process is gone (a `kill -9`),
 * - its lease has expired, whatever the host: the holder touches the file (its mtime) every
 *   `LEASE_RENEW_MS`, and a lock untouched for `LEASE_MS` has no live holder. A preempted pod or
 *   node never comes back, and its replacement has another hostname.
 * A lock that cannot be read (empty or damaged: locks are written complete, fsynced, and linked
 * into place, so only a crash of the filesystem leaves one) is reported and waited on for at
 * most one lease.
 * `releaseHeldLocksSync` removes this process's locks on the way out (SIGTERM).
 */
import * as path from "node:path";
import { hostname } from "node:os";

/** Who holds a lock. */
export interface LockOwner {
  pid: number;
  host: string;
  /** Kernel start time of the owner process (Linux), to tell a reused pid from the owner. */
  processStart: string | null;
  lockedAt: string;
}

/** A held lock's lease: renewed every `LEASE_RENEW_MS`, expired (any host) after `LEASE_MS`. */
export const LEASE_MS = 10 * 60_000;
export const LEASE_RENEW_MS = 60_000;

/** The lock files this process holds (to release on SIGTERM). */
const held = new Set<string>();

/** Removes every lock this process holds, synchronously (for signal handlers about to exit). */
export function releaseHeldLocksSync(): void {
  for (const file of held) {
    try {
      Deno.removeSync(file);
    } catch { /* already gone */ }
  }
  held.clear();
}

/** A held lock; release it in a `finally`. */
export interface HeldLock {
  release(): Promise<void>;
}

/** Options for waiting on a lock held by a live process. */
export interface AcquireOptions {
  /** Called once when the lock is busy, with its owner (null: unreadable) to tell the user why we wait. */
  onWait?: (owner: LockOwner | null) => void;
  /** Called when a stale lock was broken (owner null: the lock file could not be read). */
  onStaleBroken?: (owner: LockOwner | null) => void;
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
    if (await tryCreate(lockFile, me)) return holdLock(lockFile, me);
    const lock = await describeLock(lockFile);
    if (lock?.state === "stale") {
      if (await breakStale(lockFile, lock.owner)) options.onStaleBroken?.(lock.owner);
      continue;
    }
    if (lock && !waited) {
      waited = true;
      options.onWait?.(lock.owner);
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 100));
  }
}

/** Registers a freshly created lock and renews its lease until released. */
function holdLock(lockFile: string, me: LockOwner): HeldLock {
  held.add(lockFile);
  const renew = setInterval(() => {
    const now = new Date();
    Deno.utime(lockFile, now, now).catch(() => {});
  }, LEASE_RENEW_MS);
  Deno.unrefTimer(renew);
  return {
    release: async () => {
      clearInterval(renew);
      held.delete(lockFile);
      await releaseIfMine(lockFile, me);
    },
  };
}

/** The lock's owner, null when there is no lock, "unreadable" when its content is not an owner. */
async function readLock(lockFile: string): Promise<LockOwner | null | "unreadable"> {
  let text: string;
  try {
    text = await Deno.readTextFile(lockFile);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    return "unreadable";
  }
  try {
    const owner = JSON.parse(text) as LockOwner;
    return typeof owner?.pid === "number" && typeof owner.host === "string" ? owner : "unreadable";
  } catch {
    return "unreadable";
  }
}

/** Milliseconds since the lock's lease was last renewed (its mtime); 0 when unknown. */
async function leaseAge(lockFile: string): Promise<number> {
  const mtime = await Deno.stat(lockFile).then((s) => s.mtime).catch(() => null);
  return mtime ? Date.now() - mtime.getTime() : 0;
}

/** Reads the current owner of a lock, or null when it is free, stale or unreadable. */
export async function liveLockOwner(lockFile: string): Promise<LockOwner | null> {
  const lock = await describeLock(lockFile);
  return lock?.state === "live" ? lock.owner : null;
}

/** Creates the lock with its content in one step: write a temp file, hard-link it into place. */
async function tryCreate(lockFile: string, owner: LockOwner): Promise<boolean> {
  const temp = path.join(path.dirname(lockFile), `.${crypto.randomUUID()}.tmp`);
  using file = await Deno.open(temp, { write: true, createNew: true });
  await file.write(new TextEncoder().encode(JSON.stringify(owner)));
  await file.sync();
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

/**
 * Stale = its lease expired, or its owner is on this host and the process is gone (or the pid
 * now belongs to another process).
 */
function isStale(owner: LockOwner, leaseAgeMs: number): boolean {
  if (leaseAgeMs > LEASE_MS) return true;
  if (owner.host !== hostname()) return false; // can't see other hosts' processes
  if (!pidAlive(owner.pid)) return true;
  const start = processStartTime(owner.pid);
  return owner.processStart !== null && start !== null && start !== owner.processStart;
}

/**
 * Breaks a stale lock by renaming it aside (only one contender wins the rename), then checks it
 * moved the lock it judged stale; if a live owner's lock was taken by mistake, it is put back.
 */
async function breakStale(lockFile: string, judged: LockOwner | null): Promise<boolean> {
  const aside = `${lockFile}.stale-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.rename(lockFile, aside);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
  const moved = await readLock(aside);
  const same = judged === null
    ? moved === "unreadable"
    : moved !== null && moved !== "unreadable" && moved.pid === judged.pid &&
      moved.lockedAt === judged.lockedAt;
  if (!same) await Deno.link(aside, lockFile).catch(() => {});
  await Deno.remove(aside).catch(() => {});
  return same;
}

async function releaseIfMine(lockFile: string, me: LockOwner): Promise<void> {
  const owner = await readLock(lockFile);
  if (
    owner !== null && owner !== "unreadable" && owner.pid === me.pid &&
    owner.lockedAt === me.lockedAt
  ) {
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

/** A lock and its judgement: what `acquireLock`, `status` and `unlock` go by. */
export interface LockReport {
  file: string;
  /** Null: the file could not be read. */
  owner: LockOwner | null;
  /** Milliseconds since the holder last renewed the lease. */
  leaseAgeMs: number;
  /** "unreadable": within its first lease (waited on); after it, "stale" like any other. */
  state: "live" | "stale" | "unreadable";
}

/** Describes the lock file (null if there is none). */
export async function describeLock(lockFile: string): Promise<LockReport | null> {
  const owner = await readLock(lockFile);
  if (owner === null) return null;
  const leaseAgeMs = await leaseAge(lockFile);
  if (owner === "unreadable") {
    const state = leaseAgeMs > LEASE_MS ? "stale" : "unreadable";
    return { file: lockFile, owner: null, leaseAgeMs, state };
  }
  return {
    file: lockFile,
    owner,
    leaseAgeMs,
    state: isStale(owner, leaseAgeMs) ? "stale" : "live",
  };
}

/** Removes a lock whatever its state (`unlock --break`); false if there was none. */
export async function breakLock(lockFile: string): Promise<boolean> {
  try {
    await Deno.remove(lockFile);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}
