/**
 * The viewer page. The 3-D branch renders here, in the browser, with the
 * fused renderer's own WGSL (fetched from the server, which generates it with
 * the very function `renderFused` compiles), through the tri-planes of a seed
 * computed on the server. The 2-D branch (super-resolution) and meshes are
 * computed on the server. `window.viewer` exposes hooks for end-to-end tests.
 * @module
 */
import { cameraRays, DEFAULT_FOCAL, DEFAULT_RADIUS, orbitCameraLabel } from "./orbit_camera.js";

/** Display modes of `display.wgsl`. */
const VIEW_MODES = { rgb: 0, depth: 1, normals: 2, sr: 3 };
const VIEW_LABELS = { rgb: "3D branch", sr: "2D branch (SR)", depth: "depth", normals: "normals" };
/** Rays per compute dispatch (bounds the time of one dispatch on slow adapters). */
const CHUNK_RAYS = 1 << 16;
/** Uniform blocks of the chunks sit at this stride (WebGPU's largest offset alignment). */
const PARAM_STRIDE = 256;
const TURNTABLE_SECONDS = 8;
const PITCH_LIMIT = 1.4;

const query = new URLSearchParams(location.search);
/** Everything the picture depends on; URL parameters set the initial values. */
const state = {
  seed: integerOr(query.get("seed"), 0),
  psi: numberOr(query.get("psi"), 0.7),
  yaw: numberOr(query.get("yaw"), 0),
  pitch: numberOr(query.get("pitch"), 0),
  focal: numberOr(query.get("focal"), DEFAULT_FOCAL),
  res: integerOr(query.get("res"), 128),
  view: query.get("view") in VIEW_MODES ? query.get("view") : "rgb",
  /** Plane precision on the wire: "" = the server's choice (f16 when its adapter has it). */
  dtype: query.get("dtype") ?? "",
  meshRes: integerOr(query.get("meshRes"), 128),
  /** Iso-level of the raw density for meshes (EG3D's shape extraction uses 10). */
  meshLevel: numberOr(query.get("meshLevel"), 10),
  turntable: false,
};

const $ = (id) => document.getElementById(id);
const canvas = /** @type {HTMLCanvasElement} */ ($("canvas"));

/** The GPU side: the fused kernel, its buffers, and the display pass. */
class Renderer {
  constructor(device, model) {
    this.device = device;
    this.model = model;
    this.context = canvas.getContext("webgpu");
    this.format = navigator.gpu.getPreferredCanvasFormat();
    this.context.configure({ device, format: this.format, alphaMode: "opaque" });
    this.viewUniform = device.createBuffer({
      size: 32,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.weights = this.#storage(new Float32Array(model.decoderWeights));
    this.image = device.createTexture({
      size: [1, 1],
      format: "rgba8unorm",
      usage: GPUTextureUsage.TEXTURE_BINDING,
    });
    this.imageSize = [1, 1];
    this.planes = [];
    this.kernel = null;
    this.pipeline = null;
    this.lastRenderMs = NaN;
  }

  async init() {
    const code = await (await fetchOk("/display.wgsl")).text();
    const module = this.device.createShaderModule({ code, label: "display" });
    this.display = await this.device.createRenderPipelineAsync({
      layout: "auto",
      vertex: { module, entryPoint: "vs" },
      fragment: { module, entryPoint: "fs", targets: [{ format: this.format }] },
      primitive: { topology: "triangle-list" },
    });
  }

  /** Fetches the kernel for an R×R view, compiles it once, and sizes the buffers. */
  async setResolution(res) {
    const storage = this.device.limits.maxComputeWorkgroupStorageSize;
    const kernel = await (await fetchOk(`/kernel.json?res=${res}&workgroupStorage=${storage}`))
      .json();
    if (kernel.wgsl !== this.kernel?.wgsl) {
      const module = this.device.createShaderModule({ code: kernel.wgsl, label: "fused_render" });
      await throwOnCompileErrors(module, "fused renderer");
      this.pipeline = await this.device.createComputePipelineAsync({
        layout: "auto",
        compute: { module, entryPoint: "main" },
        label: "fused_render",
      });
    }
    this.kernel = kernel;
    this.res = res;
    const rays = res * res;
    this.rays?.destroy();
    this.result?.destroy();
    this.params?.destroy();
    this.rays = this.#buffer(rays * 6 * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    this.result = this.#buffer(
      rays * kernel.resultStride * 4,
      GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
    );
    this.chunks = [];
    for (let offset = 0; offset < rays; offset += CHUNK_RAYS) {
      this.chunks.push({ offset, count: Math.min(CHUNK_RAYS, rays - offset) });
    }
    this.params = this.#buffer(
      this.chunks.length * PARAM_STRIDE,
      GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    );
    this.chunks.forEach(({ offset, count }, i) => {
      const words = new Uint32Array(kernel.paramWords);
      words[kernel.countWord] = count;
      words[kernel.offsetWord] = offset;
      this.device.queue.writeBuffer(this.params, i * PARAM_STRIDE, words);
    });
    this.#bind();
  }

  /** Uploads a latent's planes (channels-last, any wire precision) as f32 storage buffers. */
  setPlanes(arrays) {
    for (const p of this.planes) p.destroy();
    this.planes = arrays.map((a) => this.#storage(a));
    this.#bind();
  }

  setCamera(label) {
    this.device.queue.writeBuffer(this.rays, 0, cameraRays(label, this.res));
  }

  /** Shows a PNG of the 2-D branch (fetched from the server). */
  async setImage(blob) {
    const bitmap = await createImageBitmap(blob, {
      colorSpaceConversion: "none",
      premultiplyAlpha: "none",
    });
    this.image.destroy();
    this.image = this.device.createTexture({
      size: [bitmap.width, bitmap.height],
      format: "rgba8unorm",
      usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST |
        GPUTextureUsage.RENDER_ATTACHMENT,
    });
    this.device.queue.copyExternalImageToTexture({ source: bitmap }, { texture: this.image }, [
      bitmap.width,
      bitmap.height,
    ]);
    this.imageSize = [bitmap.width, bitmap.height];
    bitmap.close();
    this.#bind();
  }

  /**
   * Encodes and submits one frame: the fused kernel over every chunk of rays
   * (when `compute`), then the display pass into the canvas. Synchronous, so
   * a caller can snapshot the canvas in the same task.
   */
  draw({ compute, view }) {
    const mode = VIEW_MODES[view];
    const [w, h] = mode === VIEW_MODES.sr ? this.imageSize : [this.res, this.res];
    if (canvas.width !== w || canvas.height !== h) [canvas.width, canvas.height] = [w, h];
    const r = this.model.rendering;
    const uniform = new ArrayBuffer(32);
    new Uint32Array(uniform, 0, 4).set([
      this.res,
      mode,
      this.kernel.resultStride,
      this.kernel.resultStride - 4,
    ]);
    new Float32Array(uniform, 16, 2).set([r.rayStart, r.rayEnd]);
    this.device.queue.writeBuffer(this.viewUniform, 0, uniform);
    const encoder = this.device.createCommandEncoder();
    if (compute) {
      const pass = encoder.beginComputePass();
      pass.setPipeline(this.pipeline);
      this.computeGroups.forEach((group, i) => {
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(Math.ceil(this.chunks[i].count / this.kernel.workgroupSize));
      });
      pass.end();
    }
    const pass = encoder.beginRenderPass({
      colorAttachments: [{
        view: this.context.getCurrentTexture().createView(),
        loadOp: "clear",
        storeOp: "store",
        clearValue: [0, 0, 0, 1],
      }],
    });
    pass.setPipeline(this.display);
    pass.setBindGroup(0, this.displayGroup);
    pass.draw(3);
    pass.end();
    this.device.queue.submit([encoder.finish()]);
  }

  /** The raw per-ray result of the last render (features, depth, weight sum, near, far). */
  async readResult() {
    const staging = this.#buffer(
      this.result.size,
      GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    );
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(this.result, 0, staging, 0, this.result.size);
    this.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const data = new Float32Array(staging.getMappedRange().slice(0));
    staging.destroy();
    return data;
  }

  #bind() {
    if (!this.kernel || !this.display) return;
    const b = this.kernel.bindings;
    if (this.planes.length === b.planes.length) {
      const paramBytes = this.kernel.paramWords.length * 4;
      this.computeGroups = this.chunks.map((_, i) =>
        this.device.createBindGroup({
          layout: this.pipeline.getBindGroupLayout(0),
          entries: [
            { binding: b.rays, resource: { buffer: this.rays } },
            ...b.planes.map((binding, p) => ({ binding, resource: { buffer: this.planes[p] } })),
            { binding: b.weights, resource: { buffer: this.weights } },
            { binding: b.result, resource: { buffer: this.result } },
            {
              binding: b.params,
              resource: { buffer: this.params, offset: i * PARAM_STRIDE, size: paramBytes },
            },
          ],
        })
      );
    }
    this.displayGroup = this.device.createBindGroup({
      layout: this.display.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: this.result } },
        { binding: 1, resource: { buffer: this.rays } },
        { binding: 2, resource: { buffer: this.viewUniform } },
        { binding: 3, resource: this.image.createView() },
      ],
    });
  }

  #buffer(size, usage) {
    return this.device.createBuffer({ size: Math.max(16, Math.ceil(size / 4) * 4), usage });
  }

  #storage(array) {
    const buffer = this.#buffer(array.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    this.device.queue.writeBuffer(buffer, 0, array);
    return buffer;
  }
}

// ---- Frames: one update at a time, coalescing changes made meanwhile ------------------------

let renderer = null;
const loaded = { res: 0, latent: "", camera: "", computed: "", image: "" };
let busy = false;
let again = false;
const idleWaiters = [];
let lastFrameAt = 0;

function schedule() {
  if (busy) {
    again = true;
    return;
  }
  busy = true;
  requestAnimationFrame(async () => {
    try {
      await update();
      document.body.dataset.state = "ready";
      $("message").hidden = true;
    } catch (e) {
      showError(e);
    } finally {
      busy = false;
      if (again || state.turntable) {
        again = false;
        schedule();
      } else {
        for (const resolve of idleWaiters.splice(0)) resolve();
      }
    }
  });
}

/** Resolves once every pending change is on the canvas. */
function idle() {
  return new Promise((resolve) => {
    if (!busy && renderer) resolve();
    else idleWaiters.push(resolve);
  });
}

async function update() {
  if (!renderer) return;
  const now = performance.now();
  if (state.turntable && lastFrameAt) {
    state.yaw = wrapAngle(
      state.yaw + (2 * Math.PI * Math.min(now - lastFrameAt, 200)) / (TURNTABLE_SECONDS * 1000),
    );
  }
  lastFrameAt = now;
  if (loaded.res !== state.res) {
    await renderer.setResolution(state.res);
    Object.assign(loaded, { res: state.res, camera: "", computed: "" });
  }
  const latent = `seed=${state.seed}&psi=${state.psi}`;
  if (loaded.latent !== latent) {
    $("frame-time").textContent = `computing the tri-planes of seed ${state.seed} on the server…`;
    renderer.setPlanes(await fetchPlanes(latent));
    Object.assign(loaded, { latent, computed: "", image: "" });
  }
  const camera = `yaw=${state.yaw}&pitch=${state.pitch}&focal=${state.focal}`;
  if (loaded.camera !== camera) {
    renderer.setCamera(orbitCameraLabel(cameraView()));
    loaded.camera = camera;
  }
  showCamera();
  const started = performance.now();
  if (state.view === "sr") {
    const key = `${latent}&${camera}`;
    if (loaded.image !== key) {
      await renderer.setImage(await (await fetchOk(`/image2d.png?${key}`)).blob());
      loaded.image = key;
    }
    renderer.draw({ compute: false, view: "sr" });
    await renderer.device.queue.onSubmittedWorkDone();
    const [w] = renderer.imageSize;
    showFrameTime(`2D branch (SR, on the server) · ${w}² · ${ms(performance.now() - started)}`);
    return;
  }
  const key = `${latent}&${camera}&res=${state.res}`;
  const compute = loaded.computed !== key;
  renderer.draw({ compute, view: state.view });
  await renderer.device.queue.onSubmittedWorkDone();
  if (compute) renderer.lastRenderMs = performance.now() - started;
  loaded.computed = key;
  const fps = 1000 / renderer.lastRenderMs;
  showFrameTime(
    `${VIEW_LABELS[state.view]} · ${state.res}² · ${ms(renderer.lastRenderMs)}/frame · ${
      fps.toFixed(fps < 10 ? 1 : 0)
    } fps`,
  );
}

async function fetchPlanes(latent) {
  const dtype = state.dtype ? `&dtype=${state.dtype}` : "";
  const response = await fetchOk(`/planes?${latent}${dtype}`);
  const shapes = JSON.parse(response.headers.get("x-plane-shapes"));
  const wire = response.headers.get("x-plane-dtype");
  const bytes = await response.arrayBuffer();
  let offset = 0;
  return shapes.map((shape) => {
    const count = shape.reduce((a, b) => a * b, 1);
    const values = wire === "f16"
      ? halfToFloat(bytes, offset, count)
      : new Float32Array(bytes, offset, count);
    offset += count * (wire === "f16" ? 2 : 4);
    return values;
  });
}

/** f16 → f32 (Float16Array where the browser has it). */
function halfToFloat(buffer, byteOffset, count) {
  if (typeof Float16Array === "function") {
    return Float32Array.from(new Float16Array(buffer, byteOffset, count));
  }
  const half = new Uint16Array(buffer, byteOffset, count);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const h = half[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    out[i] = exponent === 0
      ? sign * mantissa * 2 ** -24
      : exponent === 31
      ? (mantissa ? NaN : sign * Infinity)
      : sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  return out;
}

// ---- Controls ---------------------------------------------------------------------------------

function cameraView() {
  return { yaw: state.yaw, pitch: state.pitch, focal: state.focal, radius: DEFAULT_RADIUS };
}

function change(patch) {
  Object.assign(state, patch);
  syncControls();
  schedule();
}

function syncControls() {
  $("seed").value = String(state.seed);
  $("psi").value = String(state.psi);
  $("psi-value").textContent = state.psi.toFixed(2);
  $("res").value = String(state.res);
  if (![...$("mesh-res").options].some((o) => o.value === String(state.meshRes))) {
    $("mesh-res").append(new Option(`${state.meshRes}³`, String(state.meshRes)));
  }
  $("mesh-res").value = String(state.meshRes);
  $("mesh-level").value = String(state.meshLevel);
  for (const b of document.querySelectorAll("#views button")) {
    b.classList.toggle("active", b.dataset.view === state.view);
    b.setAttribute("aria-checked", String(b.dataset.view === state.view));
  }
  $("turntable").setAttribute("aria-pressed", String(state.turntable));
  $("turntable").textContent = state.turntable ? "■ Stop" : "▶ Turntable";
}

function setSeed(seed) {
  const s = Math.trunc(seed);
  change({ seed: ((s % 2 ** 32) + 2 ** 32) % 2 ** 32 });
}

function orbit(dYaw, dPitch) {
  change({
    yaw: wrapAngle(state.yaw + dYaw),
    pitch: Math.max(-PITCH_LIMIT, Math.min(PITCH_LIMIT, state.pitch + dPitch)),
  });
}

function zoom(factor) {
  change({ focal: Math.max(1, Math.min(30, state.focal * factor)) });
}

function bindControls() {
  $("seed").addEventListener("change", () => setSeed(Number($("seed").value) || 0));
  $("seed-prev").addEventListener("click", () => setSeed(state.seed - 1));
  $("seed-next").addEventListener("click", () => setSeed(state.seed + 1));
  $("seed-random").addEventListener("click", () => setSeed(Math.random() * 100000));
  $("psi").addEventListener("input", () => change({ psi: Number($("psi").value) }));
  $("res").addEventListener("change", () => change({ res: Number($("res").value) }));
  $("mesh-res").addEventListener("change", () => (state.meshRes = Number($("mesh-res").value)));
  $("mesh-level").addEventListener("change", () => {
    state.meshLevel = numberOr($("mesh-level").value, state.meshLevel);
  });
  for (const b of document.querySelectorAll("#views button")) {
    b.addEventListener("click", () => change({ view: b.dataset.view }));
  }
  $("turntable").addEventListener("click", () => change({ turntable: !state.turntable }));
  $("reset").addEventListener("click", () => change({ yaw: 0, pitch: 0, focal: DEFAULT_FOCAL }));
  $("export-png").addEventListener("click", () => exportPng().catch(showError));
  $("export-ply").addEventListener("click", () => exportPly().catch(showError));

  let drag = null;
  canvas.addEventListener("pointerdown", (e) => {
    canvas.setPointerCapture(e.pointerId);
    canvas.focus();
    drag = { x: e.clientX, y: e.clientY };
    if (state.turntable) change({ turntable: false });
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const rect = canvas.getBoundingClientRect();
    // A drag across the canvas turns the model half a turn; dragging right turns it right.
    orbit(-((e.clientX - drag.x) / rect.width) * Math.PI, ((e.clientY - drag.y) / rect.height) * 2);
    drag = { x: e.clientX, y: e.clientY };
  });
  const endDrag = () => (drag = null);
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    zoom(Math.exp(-e.deltaY * 0.0015));
  }, { passive: false });
  addEventListener("keydown", (e) => {
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
    const step = e.shiftKey ? 0.3 : 0.08;
    const keys = {
      ArrowLeft: () => orbit(step, 0),
      ArrowRight: () => orbit(-step, 0),
      ArrowUp: () => orbit(0, step),
      ArrowDown: () => orbit(0, -step),
      "+": () => zoom(1.1),
      "=": () => zoom(1.1),
      "-": () => zoom(1 / 1.1),
      r: () => change({ yaw: 0, pitch: 0, focal: DEFAULT_FOCAL }),
      t: () => change({ turntable: !state.turntable }),
      "[": () => setSeed(state.seed - 1),
      "]": () => setSeed(state.seed + 1),
      1: () => change({ view: "rgb" }),
      2: () => change({ view: "sr" }),
      3: () => change({ view: "depth" }),
      4: () => change({ view: "normals" }),
    };
    const action = keys[e.key];
    if (action) {
      e.preventDefault();
      action();
    }
  });
}

// ---- Exports ----------------------------------------------------------------------------------

/** Saves the current view at its rendered resolution (the canvas is snapshotted as drawn). */
async function exportPng() {
  await idle();
  const view = state.view;
  const blob = await new Promise((resolve) => {
    renderer.draw({ compute: false, view });
    canvas.toBlob(resolve, "image/png");
  });
  const deg = (a) => Math.round((a * 180) / Math.PI);
  download(
    blob,
    `mimic3d_seed${state.seed}_${view}_yaw${deg(state.yaw)}_pitch${deg(state.pitch)}.png`,
  );
  $("export-status").textContent = `saved ${canvas.width}×${canvas.height} PNG`;
}

async function exportPly() {
  const res = state.meshRes;
  $("export-status").textContent = `marching cubes on a ${res}³ grid on the server…`;
  const started = performance.now();
  const url = `/mesh.ply?seed=${state.seed}&psi=${state.psi}&res=${res}&level=${state.meshLevel}`;
  const response = await fetchOk(url);
  const faces = Number(response.headers.get("x-mesh-faces"));
  const blob = await response.blob();
  download(blob, `mimic3d_seed${state.seed}.ply`);
  $("export-status").textContent = faces
    ? `saved mesh: ${faces} triangles (${ms(performance.now() - started)})`
    : `saved an empty mesh: no density reaches ${state.meshLevel}; try a lower level`;
}

function download(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

// ---- Messages ---------------------------------------------------------------------------------

function showFrameTime(text) {
  $("frame-time").textContent = text;
}

function showCamera() {
  const deg = (a) => ((a * 180) / Math.PI).toFixed(1);
  $("camera-readout").textContent = `yaw ${deg(state.yaw)}° · pitch ${deg(state.pitch)}° · focal ${
    state.focal.toFixed(2)
  }`;
}

function showError(e) {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  document.body.dataset.state = "error";
  const text = e instanceof Error ? e.message : String(e);
  // Chromium's GPU process dies making the canvas's swap chain when WebGPU runs on SwiftShader
  // and the compositor on GL (headless Linux without a GPU); Vulkan compositing avoids it.
  const hint = /Instance reference no longer exists/.test(text)
    ? `<br><br>The browser's GPU process failed while presenting to the canvas. Headless Chromium
      on SwiftShader needs <code>--enable-features=Vulkan --use-angle=swiftshader
      --use-vulkan=swiftshader</code> besides <code>--enable-unsafe-webgpu</code>.`
    : "";
  showMessage("Something went wrong", escapeHtml(text) + hint);
}

function showMessage(title, html) {
  const box = $("message");
  box.innerHTML = `<h2>${escapeHtml(title)}</h2><p>${html}</p>`;
  box.hidden = false;
}

function noWebGpu(reason) {
  document.body.dataset.state = "no-webgpu";
  $("frame-time").textContent = "no WebGPU";
  showMessage(
    "This browser has no WebGPU",
    `The viewer renders the model on your GPU through WebGPU, and this browser does not offer it
    (${escapeHtml(reason)}). Use a recent Chrome or Edge (113+), Safari (26+) or Firefox (141+);
    on Linux, Chrome needs <code>--enable-unsafe-webgpu</code> (and Vulkan drivers).
    The page must come from <code>localhost</code>/<code>127.0.0.1</code> or HTTPS.`,
  );
}

// ---- Helpers ----------------------------------------------------------------------------------

async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return response;
}

async function throwOnCompileErrors(module, what) {
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === "error");
  if (errors.length) {
    throw new Error(`${what}: WGSL error: ${errors.map((m) => `${m.lineNum}: ${m.message}`)}`);
  }
}

function integerOr(text, fallback) {
  const v = Number(text);
  return text !== null && text !== "" && Number.isInteger(v) ? v : fallback;
}

function numberOr(text, fallback) {
  const v = Number(text);
  return text !== null && text !== "" && Number.isFinite(v) ? v : fallback;
}

function wrapAngle(a) {
  return Math.atan2(Math.sin(a), Math.cos(a));
}

function ms(t) {
  return `${t.toFixed(t < 10 ? 2 : 1)} ms`;
}

function escapeHtml(s) {
  return s.replace(
    /[&<>"]/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c],
  );
}

// ---- Start ------------------------------------------------------------------------------------

/** Hooks for end-to-end tests (and the console). */
const hooks = {
  state,
  /** Resolves when the first frame is on the canvas (or WebGPU turned out missing). */
  ready: null,
  idle,
  /** Changes the state (seed, psi, yaw, pitch, focal, res, view) and waits for the frame. */
  set(patch) {
    change(patch);
    return idle();
  },
  /** The WGSL the page compiled for the 3-D branch. */
  shaderSource: () => renderer?.kernel?.wgsl ?? null,
  /** The canvas's pixels (RGBA bytes), read through a 2-D canvas right after drawing. */
  async readPixels() {
    await idle();
    renderer.draw({ compute: false, view: state.view });
    const copy = document.createElement("canvas");
    [copy.width, copy.height] = [canvas.width, canvas.height];
    const ctx = copy.getContext("2d");
    ctx.drawImage(canvas, 0, 0);
    const { data } = ctx.getImageData(0, 0, copy.width, copy.height);
    return { width: copy.width, height: copy.height, data: Array.from(data) };
  },
  /** The fused kernel's raw output for the current view. */
  async readResult() {
    await idle();
    return Array.from(await renderer.readResult());
  },
  exportPng,
};
globalThis.viewer = hooks;

async function start() {
  bindControls();
  syncControls();
  if (!navigator.gpu) return noWebGpu("navigator.gpu is missing");
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) return noWebGpu("no WebGPU adapter was found");
  const wanted = [
    "maxStorageBufferBindingSize",
    "maxBufferSize",
    "maxComputeWorkgroupStorageSize",
    "maxStorageBuffersPerShaderStage",
  ];
  const requiredLimits = Object.fromEntries(wanted.map((name) => [name, adapter.limits[name]]));
  const device = await adapter.requestDevice({ requiredLimits });
  device.lost.then((info) => {
    if (info.reason !== "destroyed") showError(new Error(`GPU device lost: ${info.message}`));
  });
  const model = await (await fetchOk("/model.json")).json();
  const parts = model.checkpoint.split("/");
  $("model-name").textContent = `${model.kind === "mimic3d" ? "Mimic3D" : "EG3D"} · ${
    parts.slice(-2).join("/")
  }`;
  $("model-name").title = model.checkpoint;
  const info = adapter.info ?? {};
  $("browser-gpu").textContent = `browser GPU: ${
    [info.vendor, info.architecture, info.description].filter(Boolean).join(" ") || "unknown"
  }`;
  $("server-gpu").textContent = `server GPU: ${model.adapter} · planes ${
    state.dtype || model.planeDtype
  }`;
  // Software adapters (SwiftShader) take seconds per 128² frame: start small there.
  if (!query.has("res") && (info.isFallbackAdapter || info.architecture === "swiftshader")) {
    state.res = 64;
    syncControls();
  }
  renderer = new Renderer(device, model);
  await renderer.init();
  schedule();
  await idle();
}

hooks.ready = start().catch((e) => showError(e));
