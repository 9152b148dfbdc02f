/**
 * The kernel, network, renderer and fixture tests on the WebGPU backend this
 * run does not use. Mesa's CPU adapter comes as Vulkan lavapipe and as GL
 * llvmpipe, and they differ (the GL backend once sorted wrongly where lavapipe
 * did not: docs/adapters.md), so both must pass: this run's backend is
 * whatever Deno picks (Vulkan when a Vulkan driver is installed, else GL) or
 * DENO_WEBGPU_BACKEND forces; this test runs those directories again, in a
 * subprocess with DENO_WEBGPU_BACKEND set to the other one, and fails naming
 * the tests that fail there. Without that backend's driver it is ignored with
 * the reason (tests/helpers/requires.ts), and fails under CI=true.
 */
import { fileURLToPath } from "node:url";
import { BACKEND_ENV, forcedBackend } from "../kernels/runtime/device.ts";
import { backendHasAdapter, needs, webgpuBackend } from "./helpers/requires.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
/**
 * What runs on the other backend: the kernel, renderer and fixture tests (the fixtures cover the
 * networks end to end). Not tests/kernels/nn: on GL llvmpipe it adds minutes to a CI run already
 * near its budget (measured in the commit that chose this).
 */
const DIRS = [
  ...["ops", "runtime", "tensor", "io", "optim"].map((d) => `tests/kernels/${d}`),
  "tests/model",
  "tests/fixtures",
];
/** The backend of this run: forced, or Deno's pick (Vulkan first, as wgpu orders them). */
const main = forcedBackend() ?? (await backendHasAdapter("vulkan") ? "vulkan" : "gl");
const other = main === "gl" ? "vulkan" : "gl";
const gate = await needs(webgpuBackend(other));

/** The names in the FAILURES section of Deno's test report ("name => ./file:line:col"). */
export function failedTests(report: string): string[] {
  const start = report.lastIndexOf(" FAILURES ");
  if (start < 0) return [];
  return report.slice(start).split("\n").map((l) => l.match(/^(.+) => (\S+:\d+:\d+)\s*$/))
    .filter((m) => m !== null).map((m) => `${m![1]} (${m![2]})`);
}

/** The ERRORS section of Deno's test report: each failed test's message and where it was thrown. */
export function errorsSection(report: string): string {
  const start = report.lastIndexOf(" ERRORS ");
  const end = report.lastIndexOf(" FAILURES ");
  return start < 0 || end < start ? "" : report.slice(start + " ERRORS ".length, end).trim();
}

/** Seconds of a Deno duration: "820µs", "6ms", "34s", "1m2s". */
function seconds(d: string): number {
  const m = d.match(/^(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?(?:(\d+)µs)?$/);
  return m ? 60 * +(m[1] ?? 0) + +(m[2] ?? 0) + +(m[3] ?? 0) / 1e3 + +(m[4] ?? 0) / 1e6 : 0;
}

/** Each file's total test time in Deno's report, slowest first. */
export function fileTimes(report: string): [string, number][] {
  const times = new Map<string, number>();
  let file = "";
  for (const line of report.split("\n")) {
    const running = line.match(/^running \d+ tests? from (\S+)/);
    if (running) file = running[1];
    // Top-level tests only (steps are indented and counted in their test).
    const done = line.match(/^\S.* \.\.\. (?:ok|FAILED)[^(]*\(([^)]+)\)\s*$/);
    if (done && file) times.set(file, (times.get(file) ?? 0) + seconds(done[1]));
  }
  return [...times].sort((a, b) => b[1] - a[1]);
}

Deno.test(gate.wrap({
  name: `${DIRS.join(", ")} also pass on the ${other} backend (this run: ${main})`,
  async fn() {
    const t0 = performance.now();
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", ...DIRS],
      cwd: root,
      env: { [BACKEND_ENV]: other, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const report = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    const summary = report.match(/^(ok|FAILED) \| .*$/m)?.[0] ?? "no summary";
    const took = ((performance.now() - t0) / 1000).toFixed(0);
    console.log(`${BACKEND_ENV}=${other} deno test -A ${DIRS.join(" ")}: ${summary} (${took} s)`);
    const slowest = fileTimes(report).slice(0, 6).map(([f, s]) => `${f} ${s.toFixed(0)} s`);
    console.log(`slowest files there: ${slowest.join(", ")}`);
    // A run that selected nothing would pass: it must have run tests.
    const passed = Number(summary.match(/\| (\d+) passed/)?.[1] ?? 0);
    if (out.success && passed > 0) return;
    const failed = failedTests(report);
    throw new Error(
      failed.length
        ? `on the ${other} backend, ${failed.length} test(s) failed:\n  ${failed.join("\n  ")}\n` +
          errorsSection(report).slice(0, 4000)
        : `on the ${other} backend, deno test exited ${out.code}:\n${report.slice(-3000)}`,
    );
  },
}));

Deno.test("other backend: failed test names and their errors are read from Deno's report", () => {
  const report = [
    "ok | … ",
    " ERRORS ",
    "",
    "matmul: tiles => ./tests/kernels/ops/matmul_test.ts:12:6",
    "error: boom",
    "",
    " FAILURES ",
    "",
    "matmul: tiles => ./tests/kernels/ops/matmul_test.ts:12:6",
    "fused renderer => ./tests/model/renderer_test.ts:40:6",
    "",
    "FAILED | 10 passed | 2 failed (3s)",
  ].join("\n");
  const names = failedTests(report);
  if (
    names.join("|") !==
      "matmul: tiles (./tests/kernels/ops/matmul_test.ts:12:6)|" +
        "fused renderer (./tests/model/renderer_test.ts:40:6)"
  ) throw new Error(names.join("|"));
  if (
    !errorsSection(report).startsWith("matmul: tiles => ") ||
    !errorsSection(report).endsWith("error: boom")
  ) {
    throw new Error(errorsSection(report));
  }
  const times = fileTimes(
    "running 2 tests from ./a.ts\nx ... ok (1m2s)\ny ... ok (500ms)\n" +
      "running 1 test from ./b.ts\nz ... FAILED (3s)\n",
  );
  if (JSON.stringify(times) !== '[["./a.ts",62.5],["./b.ts",3]]') {
    throw new Error(JSON.stringify(times));
  }
});
