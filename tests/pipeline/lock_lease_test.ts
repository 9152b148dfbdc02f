/**
 * Locks a scheduler or a crash can leave behind: an unreadable lock file, the lock of a preempted
 * pod on another host (its lease runs out), and the locks of a run stopped by SIGTERM.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import toy from "../../experiments/toy.ts";
import { experimentStatus, runExperiment } from "../../pipeline/mod.ts";
import {
  acquireLock,
  describeLock,
  LEASE_MS,
  liveLockOwner,
  releaseHeldLocksSync,
} from "../../pipeline/key_lock.ts";
import { readRunLog } from "../../pipeline/run_log.ts";
import { PIPELINE_CLI, REPO, runCli, sandbox, TOY } from "./helpers.ts";

const lockFiles = (dir: string) =>
  [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".lock")).map((e) => e.name);

Deno.test("an empty or damaged lock file is reported, and broken once a lease has passed", async () => {
  const box = await sandbox();
  try {
    const [generate] = await experimentStatus(toy, box.store);
    const lockFile = box.store.at("locks", `${generate.key}.lock`);
    await Deno.writeTextFile(lockFile, "");
    assertEquals((await describeLock(lockFile))?.state, "unreadable");
    // Fresh, it is waited on (a run gives up here through its abort signal).
    const waits: (string | null)[] = [];
    const abort = new AbortController();
    const pending = acquireLock(lockFile, {
      pollMs: 10,
      signal: abort.signal,
      onWait: (owner) => waits.push(owner?.host ?? null),
    }).then(() => "acquired", () => "aborted");
    await new Promise((r) => setTimeout(r, 100));
    abort.abort();
    assertEquals([await pending, waits], ["aborted", [null]]);
    const old = new Date(Date.now() - LEASE_MS - 60_000);
    await Deno.utime(lockFile, old, old);
    const result = await runExperiment(toy, box.store, { quiet: true });
    assertEquals(result.executed.length, 5);
    const events = await readRunLog(result.logFile);
    const recovered = events.find((e) => e.type === "lock_recovered");
    assert(recovered, "a lock_recovered event");
    assertEquals(recovered.owner, null);
    assertEquals(lockFiles(box.store.at("locks")), []);
  } finally {
    await box.cleanup();
  }
});

Deno.test("another host's lock holds while its lease is renewed, and is broken once it expires", async () => {
  const box = await sandbox();
  try {
    const [generate] = await experimentStatus(toy, box.store);
    const lockFile = box.store.at("locks", `${generate.key}.lock`);
    const owner = { pid: 1, host: "preempted-pod-7f9c", processStart: null, lockedAt: "x" };
    await Deno.writeTextFile(lockFile, JSON.stringify(owner));
    assertEquals((await liveLockOwner(lockFile))?.host, owner.host);
    const expired = new Date(Date.now() - LEASE_MS - 60_000);
    await Deno.utime(lockFile, expired, expired);
    assertEquals(await liveLockOwner(lockFile), null);
    const result = await runExperiment(toy, box.store, { quiet: true });
    assertEquals(result.executed.length, 5);
    const events = await readRunLog(result.logFile);
    const recovered = events.find((e) => e.type === "lock_recovered");
    assertEquals((recovered?.owner as { host?: string })?.host, owner.host);
  } finally {
    await box.cleanup();
  }
});

Deno.test("SIGTERM stops a run at its next step and releases its locks", async () => {
  const box = await sandbox();
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        PIPELINE_CLI,
        "run",
        TOY,
        "--store",
        box.store.root,
        "--set",
        "train.steps=400",
      ],
      env: { TOY_STEP_DELAY_MS: "50" },
      cwd: REPO,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // Wait until the slow stage holds its lock.
    const locks = box.store.at("locks");
    for (let i = 0; i < 600 && lockFiles(locks).length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert(lockFiles(locks).length > 0, "the run took a lock");
    child.kill("SIGTERM");
    const { code, stderr } = await child.output();
    const text = new TextDecoder().decode(stderr);
    assert(text.includes("terminated (SIGTERM): finishing the current step"), text);
    assert(code !== 0, `a stopped run exits non-zero: ${code}\n${text}`);
    assertEquals(lockFiles(locks), []);
  } finally {
    await box.cleanup();
  }
});

Deno.test("releaseHeldLocksSync (a second signal's exit) removes this process's locks only", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const mine = await acquireLock(`${dir}/mine.lock`);
    await Deno.writeTextFile(`${dir}/other.lock`, "{}");
    releaseHeldLocksSync();
    assertEquals(lockFiles(dir), ["other.lock"]);
    await mine.release(); // nothing left to remove: no error
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unlock lists the store's locks; unlock --break removes one", async () => {
  const box = await sandbox();
  try {
    const key = (await experimentStatus(toy, box.store))[0].key!;
    const lockFile = box.store.at("locks", `${key}.lock`);
    const owner = { pid: 1, host: "other-host", processStart: null, lockedAt: "x" };
    await Deno.writeTextFile(lockFile, JSON.stringify(owner));
    const list = await runCli(["--store", box.store.root, "unlock"]);
    assertEquals(list.code, 0, list.stderr);
    assert(list.stdout.includes(`${key.slice(0, 12)}  live`), list.stdout);
    assert(list.stdout.includes("pid 1 on other-host"), list.stdout);
    const removed = await runCli([
      "--store",
      box.store.root,
      "unlock",
      "--break",
      key.slice(0, 8),
    ]);
    assertEquals(removed.code, 0, removed.stderr);
    assertEquals(lockFiles(box.store.at("locks")), []);
    const none = await runCli(["--store", box.store.root, "unlock", "--break", "ffff"]);
    assertEquals(none.code, 1);
    assert(none.stderr.includes("no lock"), none.stderr);
  } finally {
    await box.cleanup();
  }
});
