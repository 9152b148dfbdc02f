/**
 * End to end: `serve` a tiny real checkpoint, drive the page in headless
 * Chromium (WebGPU on SwiftShader), and check that the browser's 3-D branch —
 * the fused renderer's WGSL run by Chromium — draws the same pixels as the
 * Deno-side `renderFused` for a fixed camera; that dragging orbits; that the
 * keyboard and wheel move the camera; that PNG and PLY exports download; and
 * that a browser without WebGPU gets a clear message.
 *
 * Needs Debian's `chromium` (`.ci/run` installs it). Without it the test is
 * ignored with the reason, except under CI=true, where it fails (tests/helpers/requires.ts).
 */
import { type Browser, chromium, type Page } from "playwright-core";
import { initGpu, noGrad, Rng, scopeAsync, slice, Tensor } from "../../kernels/mod.ts";
import { lookAtCameraLabel } from "../../stages/io/camera_label.ts";
import { decodePng } from "../../stages/io/png.ts";
import { readPly } from "../../stages/geometry/mesh_io.ts";
import { renderFused } from "../../stages/model/fused_renderer.ts";
import { sampleRays } from "../../stages/model/rays.ts";
import { latentForSeed } from "../../stages/render/seed_latent.ts";
import { startViewerServer, type ViewerServer } from "../../stages/viewer/server.ts";
import { toByte, type ViewerModel } from "../../stages/viewer/viewer_model.ts";
import { assertEquals } from "../helpers/assert.ts";
import { CHROMIUM, CHROMIUM_PATH, needs } from "../helpers/requires.ts";
import { writeTinyCheckpoint } from "./tiny_checkpoint.ts";

/**
 * WebGPU without a GPU: Chromium runs it on its bundled SwiftShader (Vulkan on the CPU), whatever
 * Vulkan driver the system has. The page's WebGPU canvas needs a shared-image backing for the swap
 * chain that only Vulkan compositing gives (`--enable-features=Vulkan`, on SwiftShader too); without
 * one the GPU process fails "Could not find SharedImageBackingFactory … WebgpuSwapChainTexture" and
 * every WebGPU call of the page then dies with "A valid external Instance reference no longer
 * exists". ANGLE must stay on SwiftShader: `--use-angle=vulkan` wants the system's Vulkan driver
 * (VK_KHR_surface) and fails to initialise without mesa-vulkan-drivers.
 */
const CHROMIUM_ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--enable-features=Vulkan",
  "--use-angle=swiftshader",
  "--use-vulkan=swiftshader",
];
const chromiumGate = await needs(CHROMIUM);

/** The fixed view compared against the Deno-side render. */
const VIEW = { seed: 7, psi: 0.7, yaw: 0.35, pitch: 0.12, focal: 4.2647, res: 48 };
/**
 * Tolerances in 8-bit levels between the canvas and the Deno render of f32 planes:
 * both quantise EG3D's way (x·127.5 + 128, truncated), so a pixel differs only
 * where SwiftShader's and Mesa's exp/log land on two sides of a level boundary.
 */
const MAX_LEVEL_DIFF = 1;
const MAX_MISMATCHED_FRACTION = 0.01;
/** f16 planes on the wire (the default when the server's adapter has shader-f16). */
const MAX_LEVEL_DIFF_F16 = 2;
/** The kernel's raw rgb floats, browser against Deno (f32 planes). */
const MAX_RAW_DIFF = 1e-4;

interface Reference {
  bytes: Uint8Array;
  rgb: Float32Array;
}

/** The Deno-side 3-D branch for `VIEW`: mapping, backbone, `renderFused` with `Rng(0)`. */
async function denoRender(model: ViewerModel): Promise<Reference> {
  const g = model.generator;
  const r = VIEW.res;
  return await scopeAsync(async () => {
    const z = Tensor.fromData(latentForSeed(VIEW.seed, g.config.zDim), [1, g.config.zDim]);
    const c = Tensor.fromData(lookAtCameraLabel({ yaw: 0, pitch: 0 }), [1, 25]);
    const ws = g.mapping(z, c, { truncationPsi: VIEW.psi });
    const { planes } = g.planes(ws, { noiseMode: "const" });
    const camera = Tensor.fromData(lookAtCameraLabel(VIEW), [1, 25]);
    const rays = sampleRays(camera, r);
    const out = noGrad(() =>
      renderFused(planes, g.decoder, rays.origins, rays.directions, g.renderer.options, new Rng(0))
    );
    const rgb = await slice(out.rgb, [null, null, [0, 3]]).read() as Float32Array;
    const bytes = new Uint8Array(r * r * 3);
    for (let i = 0; i < bytes.length; i++) bytes[i] = toByte(rgb[i]);
    return { bytes, rgb };
  });
}

/** Per-channel level differences between RGBA canvas bytes and RGB reference bytes. */
function compareLevels(rgba: ArrayLike<number>, rgb: Uint8Array) {
  let max = 0;
  let mismatched = 0;
  let sum = 0;
  for (let i = 0; i < rgb.length / 3; i++) {
    for (let ch = 0; ch < 3; ch++) {
      const d = Math.abs(rgba[4 * i + ch] - rgb[3 * i + ch]);
      max = Math.max(max, d);
      sum += d;
      if (d > 0) mismatched++;
    }
  }
  return { max, mean: sum / rgb.length, mismatchedFraction: mismatched / rgb.length };
}

async function waitIdle(page: Page): Promise<void> {
  await page.evaluate(() =>
    (globalThis as unknown as { viewer: { idle(): Promise<void> } }).viewer.idle()
  );
}

// deno-lint-ignore no-explicit-any
type Hooks = any;

Deno.test(chromiumGate.wrap({
  name: "viewer e2e: Chromium renders the Deno-side pixels, orbits, exports PNG and PLY",
  // Playwright keeps its pipe to the browser process in module-level state.
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await initGpu();
    const dir = await Deno.makeTempDir({ prefix: "viewer_e2e_" });
    let server: ViewerServer | null = null;
    let browser: Browser | null = null;
    try {
      server = await startViewerServer(await writeTinyCheckpoint(dir), { port: 0 });
      const reference = await denoRender(server.model);
      browser = await chromium.launch({
        executablePath: CHROMIUM_PATH,
        args: CHROMIUM_ARGS,
        timeout: 30_000,
      });
      const page = await browser.newPage({ viewport: { width: 1100, height: 720 } });
      page.setDefaultTimeout(45_000);
      const pageErrors: string[] = [];
      page.on("pageerror", (e) => pageErrors.push(e.message));
      page.on("console", (m) => m.type() === "error" && pageErrors.push(m.text()));

      const query = new URLSearchParams({
        ...stringify(VIEW),
        dtype: "f32",
        meshRes: "20",
        meshLevel: "-0.5",
      });
      await page.goto(`${server.url}?${query}`);
      // Polling, not requestAnimationFrame: frames stop when Chromium's GPU process fails.
      await page.waitForFunction(() => (globalThis as Hooks).viewer?.ready, null, { polling: 100 });
      await page.evaluate(() => (globalThis as Hooks).viewer.ready);
      const state = await page.getAttribute("body", "data-state");
      if (state !== "ready") {
        // Before waiting for the viewer to be idle: a page whose WebGPU died never is.
        throw new Error(
          `the page's WebGPU failed in Chromium (state ${state}): ${pageErrors.join("; ")}`,
        );
      }
      await waitIdle(page);

      // One source of truth: the page compiled the server's WGSL for its own limits.
      const storage = await page.evaluate(async () => {
        const adapter = await navigator.gpu.requestAdapter();
        return adapter!.limits.maxComputeWorkgroupStorageSize;
      });
      const wgsl = await page.evaluate(() => (globalThis as Hooks).viewer.shaderSource());
      assertEquals(wgsl, server.model.kernel(VIEW.res, storage).wgsl);

      // The fixed camera: canvas pixels against the Deno render.
      const pixels = await page.evaluate(() => (globalThis as Hooks).viewer.readPixels());
      assertEquals([pixels.width, pixels.height], [VIEW.res, VIEW.res]);
      const levels = compareLevels(pixels.data, reference.bytes);
      const raw: number[] = await page.evaluate(() => (globalThis as Hooks).viewer.readResult());
      const stride = raw.length / (VIEW.res * VIEW.res);
      let maxFloat = 0;
      for (let i = 0; i < VIEW.res * VIEW.res; i++) {
        for (let ch = 0; ch < 3; ch++) {
          maxFloat = Math.max(maxFloat, Math.abs(raw[i * stride + ch] - reference.rgb[3 * i + ch]));
        }
      }
      console.log(
        `viewer e2e (f32 planes): canvas vs Deno: max ${levels.max} levels, mean ${
          levels.mean.toFixed(4)
        }, ${(100 * levels.mismatchedFraction).toFixed(2)}% of values differ; ` +
          `raw rgb max |Δ| ${maxFloat.toExponential(2)}`,
      );
      if (
        levels.max > MAX_LEVEL_DIFF || levels.mismatchedFraction > MAX_MISMATCHED_FRACTION ||
        !(maxFloat <= MAX_RAW_DIFF)
      ) {
        throw new Error(
          `canvas differs from the Deno render: ${JSON.stringify({ ...levels, maxFloat })}`,
        );
      }
      // Not a blank canvas: the reference has structure and the canvas follows it.
      const distinct = new Set(Array.from(reference.bytes)).size;
      if (distinct < 8) throw new Error(`reference image nearly constant (${distinct} levels)`);

      // Drag to orbit: the yaw changes and so does the picture.
      const box = (await page.locator("#canvas").boundingBox())!;
      const [cx, cy] = [box.x + box.width / 2, box.y + box.height / 2];
      await page.mouse.move(cx, cy);
      await page.mouse.down();
      await page.mouse.move(cx + box.width / 4, cy + box.height / 10, { steps: 4 });
      await page.mouse.up();
      await waitIdle(page);
      const afterDrag = await page.evaluate(() => ({ ...(globalThis as Hooks).viewer.state }));
      if (!(afterDrag.yaw < VIEW.yaw - 0.3)) {
        throw new Error(`drag did not orbit: ${afterDrag.yaw}`);
      }
      const orbited = await page.evaluate(() => (globalThis as Hooks).viewer.readPixels());
      const changed = compareLevels(orbited.data, reference.bytes);
      if (changed.mismatchedFraction < 0.2) {
        throw new Error(`the view did not change after dragging: ${JSON.stringify(changed)}`);
      }

      // PNG export: the downloaded file holds exactly the canvas.
      const [pngDownload] = await Promise.all([
        page.waitForEvent("download"),
        page.click("#export-png"),
      ]);
      const png = decodePng(await Deno.readFile((await pngDownload.path())!), "exported PNG");
      assertEquals([png.width, png.height], [VIEW.res, VIEW.res]);
      const channels = png.channels;
      let pngDiff = 0;
      for (let i = 0; i < VIEW.res * VIEW.res; i++) {
        for (let ch = 0; ch < 3; ch++) {
          pngDiff = Math.max(
            pngDiff,
            Math.abs(png.data[i * channels + ch] - orbited.data[4 * i + ch]),
          );
        }
      }
      assertEquals(pngDiff, 0, "exported PNG = canvas pixels");
      if (!/^mimic3d_seed7_rgb_.*\.png$/.test(pngDownload.suggestedFilename())) {
        throw new Error(`unexpected PNG name ${pngDownload.suggestedFilename()}`);
      }

      // PLY export (marching cubes on the server).
      const [plyDownload] = await Promise.all([
        page.waitForEvent("download"),
        page.click("#export-ply"),
      ]);
      const mesh = readPly(await Deno.readFile((await plyDownload.path())!));
      if (!(mesh.faces.length > 0)) throw new Error("the exported mesh is empty");

      // Keyboard and wheel move the camera too.
      await page.locator("#canvas").focus();
      await page.keyboard.press("ArrowLeft");
      await page.mouse.move(cx, cy);
      await page.mouse.wheel(0, -300);
      await waitIdle(page);
      const moved = await page.evaluate(() => ({ ...(globalThis as Hooks).viewer.state }));
      if (!(moved.yaw > afterDrag.yaw) || !(moved.focal > VIEW.focal)) {
        throw new Error(`keyboard/wheel did not move the camera: ${JSON.stringify(moved)}`);
      }
      assertEquals(pageErrors, []);

      // f16 planes (the server's default on an adapter with shader-f16): same view, looser bound.
      const f16Query = new URLSearchParams({ ...stringify(VIEW), dtype: "f16" });
      await page.goto(`${server.url}?${f16Query}`);
      await page.waitForFunction(() => (globalThis as Hooks).viewer?.ready, null, { polling: 100 });
      await page.evaluate(() => (globalThis as Hooks).viewer.ready);
      const f16Pixels = await page.evaluate(() => (globalThis as Hooks).viewer.readPixels());
      const f16Levels = compareLevels(f16Pixels.data, reference.bytes);
      console.log(
        `viewer e2e (f16 planes): canvas vs Deno (f32): max ${f16Levels.max} levels, mean ${
          f16Levels.mean.toFixed(4)
        }`,
      );
      if (f16Levels.max > MAX_LEVEL_DIFF_F16) {
        throw new Error(`f16 view differs from the Deno render: ${JSON.stringify(f16Levels)}`);
      }

      // A browser without WebGPU gets a clear message.
      const bare = await browser.newPage();
      await bare.addInitScript(() => {
        Object.defineProperty(Navigator.prototype, "gpu", { get: () => undefined });
      });
      await bare.goto(server.url);
      await bare.waitForSelector('body[data-state="no-webgpu"]', { timeout: 15_000 });
      const message = await bare.textContent("#message");
      if (!message?.includes("This browser has no WebGPU")) {
        throw new Error(`no clear message without WebGPU: ${message}`);
      }
    } finally {
      await browser?.close().catch(() => {});
      await server?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
}));

function stringify(o: Record<string, number>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, String(v)]));
}
