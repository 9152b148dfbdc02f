/**
 * Locks a scheduler or a crash can leave behind: an unreadable lock file, the lock of a preempted
 * pod on another host (its lease runs out), and the locks of a run stopped by SIGTERM.
 */
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
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
import { unshareSucceeds } from "../helpers/unshare.ts";

const lockFiles = (dir: string) =>
  [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".lock")).map((e) => e.name);

/** Waits (up to 30 s) until a run on `storeRoot` holds a lock and has saved a checkpoint. */
async function untilTrainCheckpointed(storeRoot: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  const has = (dir: string) => [...Deno.readDirSync(`${storeRoot}/${dir}`)].length > 0;
  while (!(lockFiles(`${storeRoot}/locks`).length > 0 && has("checkpoints"))) {
    if (Date.now() > deadline) throw new Error("no lock and checkpoint appeared");
    await new Promise((r) => setTimeout(r, 50));
  }
}

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

Deno.test("SIGTERM stops a run at its next step, releases its locks and leaves a checkpoint the next run resumes", async () => {
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
    // Wait until the slow stage holds its lock and has checkpointed.
    const locks = box.store.at("locks");
    await untilTrainCheckpointed(box.store.root);
    assert(lockFiles(locks).length > 0, "the run took a lock");
    child.kill("SIGTERM");
    const { code, stderr } = await child.output();
    const text = new TextDecoder().decode(stderr);
    assert(text.includes("terminated (SIGTERM): finishing the current step"), text);
    assert(code !== 0, `a stopped run exits non-zero: ${code}\n${text}`);
    assertEquals(lockFiles(locks), []);
    // Like Ctrl-C, it leaves its checkpoint: the next run resumes from it.
    box.takeExecutions();
    const rerun = await runExperiment(toy, box.store, { quiet: true, sets: ["train.steps=400"] });
    assert(rerun.executed.includes("train"), rerun.executed.join(", "));
    const trainRuns = box.takeExecutions().filter((l) => l.startsWith("train"));
    assert(trainRuns.length === 1 && trainRuns[0].startsWith("train resumed@"), trainRuns.join());
  } finally {
    await box.cleanup();
  }
});

// Whether `unshare` may give a process a host name of its own (a UTS namespace, without root).
const utsNamespaces = await unshareSucceeds(["--uts", "--map-root-user", "hostname", "probe"]);
if (!utsNamespaces) {
  console.log(
    "lock_lease_test.ts: the two-host-name test is ignored: unshare --uts --map-root-user is not " +
      "allowed on this machine (the injected host name test above stands in for it)",
  );
}

Deno.test({
  name:
    "a run killed on another host (its own host name, unshare --uts) leaves a lock that is live " +
    "until its lease expires, then recovered; the stage resumes",
  ignore: !utsNamespaces,
  async fn() {
    const box = await sandbox();
    try {
      const pod = "preempted-pod-a";
      const child = new Deno.Command("unshare", {
        args: [
          ...["--uts", "--map-root-user", "sh", "-c", 'hostname "$0" && exec "$@"', pod],
          ...[Deno.execPath(), "run", "-A", PIPELINE_CLI, "run", TOY, "--store", box.store.root],
          ...["--set", "train.steps=400"],
        ],
        env: { TOY_STEP_DELAY_MS: "50" },
        cwd: REPO,
        stdout: "null",
        stderr: "piped",
      }).spawn();
      await untilTrainCheckpointed(box.store.root);
      const locks = box.store.at("locks");
      const [name] = lockFiles(locks);
      const lockFile = `${locks}/${name}`;
      // Preempted: its node is lost, or SIGKILL came after SIGTERM's grace period.
      child.kill("SIGKILL");
      await child.output();
      const lock = await describeLock(lockFile);
      assertEquals(lock?.owner?.host, pod);
      // Its process is dead, but this host cannot see another host's processes: the lock
      // holds while its lease could still be renewed.
      assertEquals(lock?.state, "live");
      const train = (await experimentStatus(toy, box.store, { sets: ["train.steps=400"] }))
        .find((row) => row.node === "train")!;
      assertEquals(train.state, "running");
      assertStringIncludes(train.reasons[0], `on ${pod}`);
      // A lease untouched for LEASE_MS: stale whatever its host.
      const expired = new Date(Date.now() - LEASE_MS - 60_000);
      await Deno.utime(lockFile, expired, expired);
      box.takeExecutions();
      const result = await runExperiment(toy, box.store, {
        quiet: true,
        sets: ["train.steps=400"],
      });
      assertEquals(result.executed, ["train", "evaluate"]);
      const events = await readRunLog(result.logFile);
      const recovered = events.find((e) => e.type === "lock_recovered");
      assertEquals((recovered?.owner as { host?: string })?.host, pod);
      const trainRuns = box.takeExecutions().filter((l) => l.startsWith("train"));
      assert(trainRuns[0]?.startsWith("train resumed@"), trainRuns.join());
      assertEquals(lockFiles(locks), []);
    } finally {
      await box.cleanup();
    }
  },
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
