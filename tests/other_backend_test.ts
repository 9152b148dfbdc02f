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
/** What runs on the other backend: every GPU kernel, network, renderer and fixture test. */
const DIRS = ["tests/kernels", "tests/nn", "tests/model", "tests/fixtures"];

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

gate.test({
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
    const seconds = ((performance.now() - t0) / 1000).toFixed(0);
    console.log(
      `${BACKEND_ENV}=${other} deno test -A ${DIRS.join(" ")}: ${summary} (${seconds} s)`,
    );
    if (out.success) return;
    const failed = failedTests(report);
    throw new Error(
      failed.length
        ? `on the ${other} backend, ${failed.length} test(s) failed:\n  ${failed.join("\n  ")}`
        : `on the ${other} backend, deno test exited ${out.code}:\n${report.slice(-3000)}`,
    );
  },
});

Deno.test("other backend: failed test names are read from Deno's report", () => {
  const report = [
    "ok | … ",
    " ERRORS ",
    "",
    "matmul: tiles => ./tests/kernels/matmul_test.ts:12:6",
    "error: boom",
    "",
    " FAILURES ",
    "",
    "matmul: tiles => ./tests/kernels/matmul_test.ts:12:6",
    "fused renderer => ./tests/model/renderer_test.ts:40:6",
    "",
    "FAILED | 10 passed | 2 failed (3s)",
  ].join("\n");
  const names = failedTests(report);
  if (
    names.join("|") !==
      "matmul: tiles (./tests/kernels/matmul_test.ts:12:6)|" +
        "fused renderer (./tests/model/renderer_test.ts:40:6)"
  ) throw new Error(names.join("|"));
});
