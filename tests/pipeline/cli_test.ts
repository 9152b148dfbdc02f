import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { fileURLToPath } from "node:url";
import { runCli, sandbox, TOY } from "./helpers.ts";

const COMMANDS = [
  "run",
  "status",
  "sweep",
  "table",
  "ls",
  "show",
  "gc",
  "verify",
  "export",
  "import",
];
const MOD = fileURLToPath(new URL("../../mod.ts", import.meta.url));

Deno.test("the project CLI (mod.ts) lists every pipeline command and each has help", async () => {
  const top = await runCli(["--help"], {}, MOD);
  assertEquals(top.code, 0, top.stderr);
  for (const command of COMMANDS) {
    assert(new RegExp(`^\\s+${command}\\b`, "m").test(top.stdout), command);
  }
  assertStringIncludes(top.stdout, "--store <dir>");
  const helps = await Promise.all(COMMANDS.map((command) => runCli([command, "--help"])));
  helps.forEach((help, i) => {
    assertEquals(help.code, 0, COMMANDS[i]);
    assertStringIncludes(help.stdout, `Usage: mimic3d ${COMMANDS[i]}`);
  });
});

Deno.test("bad --set values and unknown keys give one error line naming the key", async () => {
  const box = await sandbox();
  try {
    const cases: [string[], string][] = [
      [
        ["--set", "train.lrr=1"],
        'error: unknown config key "train.lrr" ("train" has: steps, lr, momentum, checkpointEvery)',
      ],
      [
        ["--set", "trian.lr=1"],
        'error: unknown config key "trian.lr" (top-level keys are: seed, data, normalize, features, train, eval)',
      ],
      [
        ["--set", "train.lr=fast"],
        'error: invalid value for config key "train.lr": expected a number, got "fast"',
      ],
      [
        ["--set", "train.steps=2.5"],
        'error: invalid config key "train.steps": Invalid input: expected int, received number',
      ],
      [
        ["--set", "eval.metric=fid"],
        'error: invalid config key "eval.metric": Invalid option: expected one of "mse"|"mae"',
      ],
      [["--set", "train.lr"], 'error: --set expects key=value, got "train.lr"'],
      [["--preset", "huge"], 'error: experiment "toy" has no preset "huge" (presets: quick)'],
      [
        ["--until", "nope"],
        'error: unknown stage "nope"; the DAG has: generate, normalize, featurize, train, evaluate',
      ],
    ];
    const results = await Promise.all(
      cases.map(([args]) => runCli(["run", TOY, "--store", box.store.root, ...args])),
    );
    results.forEach((result, i) => {
      assertEquals(result.code, 1, cases[i][0].join(" "));
      assertEquals(result.stderr.trimEnd(), cases[i][1]);
    });
    assertEquals(await box.store.listObjects(), []);
  } finally {
    await box.cleanup();
  }
});

Deno.test("status on the CLI names the changed key; show, ls and --preset work", async () => {
  const box = await sandbox();
  try {
    const store = ["--store", box.store.root];
    const run = await runCli(["run", "toy", ...store, "--preset", "quick"]);
    assertEquals(run.code, 0, run.stderr);
    assertStringIncludes(run.stdout, "5 of 5 stages executed");
    const status = await runCli([
      "status",
      "toy",
      ...store,
      "--preset",
      "quick",
      "--set",
      "features.power=3",
    ]);
    assertEquals(status.code, 0, status.stderr);
    assertStringIncludes(status.stdout, "featurize  stale");
    assertStringIncludes(status.stdout, "- config features.power changed: 2 → 3");
    const ls = await runCli(["ls", ...store]);
    assertEquals(ls.stdout.trim().split("\n").length, 5);
    const id = ls.stdout.split(/\s+/)[0];
    const show = await runCli(["show", id, ...store]);
    assertEquals(show.code, 0, show.stderr);
    assertStringIncludes(show.stdout, "produced by toy-");
  } finally {
    await box.cleanup();
  }
});
