/**
 * The procedural dataset's renderer: a WGSL compute shader that sphere-traces
 * each head's SDF (`head_sdf.ts`) along EG3D's camera rays and shades the hit.
 * Runs on whatever WebGPU adapter the shared device has — a GPU, or Mesa's CPU
 * adapter (lavapipe) in CI.
 *
 * Per pixel it returns the colour, the ground-truth depth and the mask. Depth
 * follows EG3D's renderer: the ray parameter t along the unit-length ray
 * direction from the camera origin (not the camera-space z), +∞ where the ray
 * misses; the mask is exactly `depth < ∞`. Rays are EG3D's `RaySampler` rays
 * through pixel centres (u = (j + 0.5)/R, v = (i + 0.5)/R), so depth and mask
 * are those of the centre ray; colour averages `supersample²` rays per pixel.
 * @module
 */
import { initGpu } from "../../kernels/mod.ts";
import type { PixelImage } from "../io/png.ts";
import type { HeadParams } from "./head_params.ts";
import { HEAD_PARAM_FLOATS, HEAD_SDF_WGSL, HEAD_SLOTS, packHeadParams } from "./head_sdf.ts";

/** One rendered view: RGB image, depth (t along unit rays, +∞ = background) and 0/1 mask. */
export interface RenderedView {
  readonly image: PixelImage;
  readonly depth: Float32Array;
  readonly mask: Uint8Array;
}

/** Options for `renderProcedural`. */
export interface RenderOptions {
  /** Colour rays per pixel side (antialiasing); depth/mask always use the centre ray. Default 2. */
  supersample?: number;
}

const CAMERA_VEC4S = 5;
const WORKGROUP_SIZE = 64;
const MAX_WORKGROUPS_X = 65535;
// Pixels per dispatch: keeps buffers small and each submission short on CPU adapters.
const PIXELS_PER_BATCH = 1 << 18;

/**
 * Renders head `i` from camera `labels[i]` (25-number EG3D labels) at
 * `resolution`², on the shared WebGPU device.
 */
export async function renderProcedural(
  heads: readonly HeadParams[],
  labels: readonly (readonly number[])[],
  resolution: number,
  options: RenderOptions = {},
): Promise<RenderedView[]> {
  if (heads.length !== labels.length) {
    throw new Error(`renderProcedural: ${heads.length} heads but ${labels.length} cameras`);
  }
  if (!Number.isInteger(resolution) || resolution < 1) {
    throw new Error(`renderProcedural: bad resolution ${resolution}`);
  }
  const supersample = options.supersample ?? 2;
  const { device } = await initGpu();
  const pipeline = getPipeline(device);
  const perBatch = Math.max(1, Math.floor(PIXELS_PER_BATCH / (resolution * resolution)));
  const views: RenderedView[] = [];
  for (let start = 0; start < heads.length; start += perBatch) {
    const end = Math.min(heads.length, start + perBatch);
    views.push(
      ...await renderBatch(
        device,
        pipeline,
        heads.slice(start, end),
        labels.slice(start, end),
        resolution,
        supersample,
      ),
    );
  }
  return views;
}

async function renderBatch(
  device: GPUDevice,
  pipeline: GPUComputePipeline,
  heads: readonly HeadParams[],
  labels: readonly (readonly number[])[],
  resolution: number,
  supersample: number,
): Promise<RenderedView[]> {
  const count = heads.length;
  const pixels = resolution * resolution;
  const headData = new Float32Array(count * HEAD_PARAM_FLOATS);
  heads.forEach((head, i) => headData.set(packHeadParams(head), i * HEAD_PARAM_FLOATS));
  const cameraData = new Float32Array(count * CAMERA_VEC4S * 4);
  labels.forEach((label, i) => cameraData.set(packCamera(label), i * CAMERA_VEC4S * 4));
  const settings = new Uint32Array([resolution, count, supersample, 0]);

  const storage = (data: Float32Array<ArrayBuffer>) => {
    const buffer = device.createBuffer({
      size: data.byteLength,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(buffer, 0, data);
    return buffer;
  };
  const settingsBuffer = device.createBuffer({
    size: 16,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(settingsBuffer, 0, settings);
  const headBuffer = storage(headData);
  const cameraBuffer = storage(cameraData);
  const outBytes = count * pixels * 4;
  const colorBuffer = device.createBuffer({
    size: outBytes,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
  });
  const depthBuffer = device.createBuffer({
    size: outBytes,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
  });
  const readColor = device.createBuffer({
    size: outBytes,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const readDepth = device.createBuffer({
    size: outBytes,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [settingsBuffer, headBuffer, cameraBuffer, colorBuffer, depthBuffer].map((
        buffer,
        binding,
      ) => ({
        binding,
        resource: { buffer },
      })),
    });
    const workgroups = Math.ceil((count * pixels) / WORKGROUP_SIZE);
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(
      Math.min(workgroups, MAX_WORKGROUPS_X),
      Math.ceil(workgroups / MAX_WORKGROUPS_X),
    );
    pass.end();
    encoder.copyBufferToBuffer(colorBuffer, 0, readColor, 0, outBytes);
    encoder.copyBufferToBuffer(depthBuffer, 0, readDepth, 0, outBytes);
    device.queue.submit([encoder.finish()]);
    await Promise.all([readColor.mapAsync(GPUMapMode.READ), readDepth.mapAsync(GPUMapMode.READ)]);
    const colors = new Uint8Array(readColor.getMappedRange().slice(0));
    const depths = new Float32Array(readDepth.getMappedRange().slice(0));
    return heads.map((_, i) => unpackView(colors, depths, i, resolution));
  } finally {
    for (
      const b of [
        settingsBuffer,
        headBuffer,
        cameraBuffer,
        colorBuffer,
        depthBuffer,
        readColor,
        readDepth,
      ]
    ) {
      b.destroy();
    }
  }
}

function unpackView(
  colors: Uint8Array,
  depths: Float32Array,
  index: number,
  resolution: number,
): RenderedView {
  const pixels = resolution * resolution;
  const rgb = new Uint8Array(pixels * 3);
  const mask = new Uint8Array(pixels);
  const base = index * pixels;
  for (let k = 0; k < pixels; k++) {
    rgb[k * 3] = colors[(base + k) * 4];
    rgb[k * 3 + 1] = colors[(base + k) * 4 + 1];
    rgb[k * 3 + 2] = colors[(base + k) * 4 + 2];
    mask[k] = colors[(base + k) * 4 + 3] > 127 ? 1 : 0;
  }
  return {
    image: { width: resolution, height: resolution, channels: 3, data: rgb },
    depth: depths.slice(base, base + pixels),
    mask,
  };
}

/** cam2world rows (rotation | translation), then (fx, fy, cx, cy), then (skew, 0, 0, 0). */
function packCamera(label: readonly number[]): number[] {
  return [...label.slice(0, 12), label[16], label[20], label[18], label[21], label[17], 0, 0, 0];
}

const pipelines = new WeakMap<GPUDevice, GPUComputePipeline>();

function getPipeline(device: GPUDevice): GPUComputePipeline {
  let pipeline = pipelines.get(device);
  if (!pipeline) {
    const module = device.createShaderModule({ code: RENDER_WGSL, label: "procedural heads" });
    pipeline = device.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint: "main" },
    });
    pipelines.set(device, pipeline);
  }
  return pipeline;
}

const S = HEAD_SLOTS;

/** The renderer: EG3D rays → sphere tracing → shading. */
export const RENDER_WGSL = /* wgsl */ `
struct Settings { resolution: u32, image_count: u32, supersample: u32, pad: u32 };
@group(0) @binding(0) var<uniform> settings: Settings;
@group(0) @binding(1) var<storage, read> heads: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> cameras: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> colors: array<u32>;
@group(0) @binding(4) var<storage, read_write> depths: array<f32>;

${HEAD_SDF_WGSL}

const MAX_STEPS: u32 = 160u;
const HIT_EPSILON: f32 = 1e-4;
// Ellipsoid distances are bounds, not exact: step a little short of them.
const STEP_SCALE: f32 = 0.9;

struct Ray { origin: vec3<f32>, dir: vec3<f32> };

// EG3D RaySampler: normalised pixel (u, v) → world ray through the camera.
fn camera_ray(cam: u32, u: f32, v: f32) -> Ray {
  let r0 = cameras[cam * ${CAMERA_VEC4S}u];
  let r1 = cameras[cam * ${CAMERA_VEC4S}u + 1u];
  let r2 = cameras[cam * ${CAMERA_VEC4S}u + 2u];
  let k = cameras[cam * ${CAMERA_VEC4S}u + 3u];
  let skew = cameras[cam * ${CAMERA_VEC4S}u + 4u].x;
  let x = (u - k.z + k.w * skew / k.y - skew * v / k.y) / k.x;
  let y = (v - k.w) / k.y;
  let local = vec3<f32>(x, y, 1.0);
  let dir = normalize(vec3<f32>(dot(r0.xyz, local), dot(r1.xyz, local), dot(r2.xyz, local)));
  return Ray(vec3<f32>(r0.w, r1.w, r2.w), dir);
}

// Entry and exit t of the tri-plane box [-0.5, 0.5]^3 (empty when x > y).
fn box_span(ray: Ray) -> vec2<f32> {
  let inv = 1.0 / ray.dir;
  let a = (vec3<f32>(-0.5) - ray.origin) * inv;
  let b = (vec3<f32>(0.5) - ray.origin) * inv;
  let lo = min(a, b);
  let hi = max(a, b);
  return vec2<f32>(max(max(lo.x, lo.y), max(lo.z, 0.0)), min(hi.x, min(hi.y, hi.z)));
}

// t of the first surface hit, or -1.
fn trace(base: u32, ray: Ray) -> f32 {
  let span = box_span(ray);
  if (span.x > span.y) { return -1.0; }
  var t = span.x;
  for (var i = 0u; i < MAX_STEPS; i++) {
    let d = head_sdf(base, ray.origin + t * ray.dir);
    if (d < HIT_EPSILON) {
      // Land on the zero set: a few unrelaxed steps (forward or back).
      for (var j = 0u; j < 4u; j++) { t += head_sdf(base, ray.origin + t * ray.dir); }
      return t;
    }
    t += d * STEP_SCALE;
    if (t > span.y) { return -1.0; }
  }
  return -1.0;
}

fn surface_normal(base: u32, p: vec3<f32>) -> vec3<f32> {
  let e = vec2<f32>(1.0, -1.0) * 4e-4;
  return normalize(
    e.xyy * head_sdf(base, p + e.xyy) + e.yyx * head_sdf(base, p + e.yyx) +
    e.yxy * head_sdf(base, p + e.yxy) + e.xxx * head_sdf(base, p + e.xxx));
}

fn skin_albedo(base: u32, p: vec3<f32>, parts: HeadParts) -> vec3<f32> {
  let skin = heads[base + ${S.skin}u];
  let pattern = heads[base + ${S.patternColor}u];
  let axis = heads[base + ${S.patternAxis}u];
  var albedo = skin.xyz;
  var m = 0.0;
  if (skin.w > 1.5) {
    let f = axis.w;
    let s = sin(f * p.x + 1.3) * sin(f * 1.07 * p.y + 0.4) * sin(f * 0.93 * p.z + 2.1);
    m = smoothstep(0.25, 0.45, s);
  } else if (skin.w > 0.5) {
    m = smoothstep(0.3, 0.7, 0.5 + 0.5 * sin(axis.w * dot(p, axis.xyz)));
  }
  albedo = mix(albedo, pattern.xyz, m * pattern.w);
  let mouth_blend = hw(base, ${S.mouthCenter}u);
  let lips = 1.0 - smoothstep(0.0, mouth_blend + 0.006, parts.mouth);
  albedo = mix(albedo, heads[base + ${S.lips}u].xyz, lips);
  let hair = heads[base + ${S.hair}u];
  let wave = heads[base + ${S.hairWave}u];
  let field = p.y + 0.8 * max(0.02 - p.z, 0.0) - hair.w - wave.x * sin(wave.y * atan2(p.x, p.z));
  let strands = 0.8 + 0.2 * sin(180.0 * (p.x + 0.3 * p.z) + 40.0 * p.y);
  albedo = mix(albedo, hair.xyz * strands, smoothstep(-0.008, 0.008, field));
  // Eyebrows: a flat ellipse above each eye socket, in the hair colour.
  let eye = hv(base, ${S.eyeCenter}u);
  let socket = heads[base + ${S.misc}u].x;
  let bx = (abs(p.x) - eye.x) / (socket * 1.4);
  let by = (p.y - eye.y - socket * 1.3) / (socket * 0.32);
  let brow = (1.0 - smoothstep(0.7, 1.0, bx * bx + by * by)) * step(eye.z - 0.02, p.z);
  albedo = mix(albedo, hair.xyz * 0.8, 0.9 * brow);
  return albedo;
}

fn eye_albedo(base: u32, p: vec3<f32>) -> vec3<f32> {
  let q = vec3<f32>(abs(p.x), p.y, p.z);
  let c = dot(normalize(q - hv(base, ${S.eyeCenter}u)), vec3<f32>(0.0, 0.0, 1.0));
  var albedo = vec3<f32>(0.85, 0.83, 0.8);
  albedo = mix(albedo, heads[base + ${S.iris}u].xyz, smoothstep(0.78, 0.82, c));
  return mix(albedo, vec3<f32>(0.01), smoothstep(0.94, 0.96, c));
}

fn ambient_occlusion(base: u32, p: vec3<f32>, n: vec3<f32>) -> f32 {
  var occlusion = 0.0;
  for (var k = 1u; k <= 3u; k++) {
    let h = 0.012 * f32(k);
    occlusion += (h - head_sdf(base, p + n * h)) / h / f32(k);
  }
  return clamp(1.0 - 0.45 * occlusion, 0.3, 1.0);
}

fn shade(base: u32, ray: Ray, t: f32) -> vec3<f32> {
  let p = ray.origin + t * ray.dir;
  let n = surface_normal(base, p);
  let parts = head_parts(base, p);
  let is_eye = parts.eye < parts.body;
  var albedo: vec3<f32>;
  if (is_eye) { albedo = eye_albedo(base, p); } else { albedo = skin_albedo(base, p, parts); }
  let light = normalize(hv(base, ${S.light}u));
  let fill = normalize(vec3<f32>(-light.x, 0.2, 0.8));
  let view = -ray.dir;
  let key = max(dot(n, light), 0.0);
  let fill_term = 0.3 * max(dot(n, fill), 0.0);
  let sky = mix(vec3<f32>(0.35, 0.3, 0.28), vec3<f32>(0.55, 0.6, 0.7), 0.5 + 0.5 * n.y);
  let ao = ambient_occlusion(base, p, n);
  let rim = 0.12 * pow(1.0 - max(dot(n, view), 0.0), 3.0);
  var shininess = 24.0;
  var specular_weight = 0.08;
  if (is_eye) { shininess = 80.0; specular_weight = 0.6; }
  let specular = specular_weight * pow(max(dot(n, normalize(light + view)), 0.0), shininess);
  let linear = albedo * (sky * ao + vec3<f32>(1.0, 0.97, 0.92) * key * (0.6 + 0.4 * ao) + fill_term) +
    vec3<f32>(specular + rim) * ao;
  return linear;
}

fn background(base: u32, v: f32) -> vec3<f32> {
  return heads[base + ${S.background}u].xyz * (1.05 - 0.35 * v);
}

fn to_srgb(linear: vec3<f32>) -> vec3<f32> {
  return pow(clamp(linear, vec3<f32>(0.0), vec3<f32>(1.0)), vec3<f32>(1.0 / 2.2));
}

@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let index = gid.x + gid.y * groups.x * ${WORKGROUP_SIZE}u;
  let res = settings.resolution;
  let pixels = res * res;
  if (index >= pixels * settings.image_count) { return; }
  let image = index / pixels;
  let pixel = index % pixels;
  let row = pixel / res;
  let col = pixel % res;
  let base = image * HEAD_VEC4S;
  let size = f32(res);

  // Ground truth from the EG3D pixel-centre ray.
  let centre = camera_ray(image, (f32(col) + 0.5) / size, (f32(row) + 0.5) / size);
  let t_centre = trace(base, centre);
  let hit = t_centre >= 0.0;
  if (hit) { depths[index] = t_centre; } else { depths[index] = bitcast<f32>(0x7f800000u); }

  // Colour: the average of a supersample x supersample grid of rays inside the pixel.
  let n = max(settings.supersample, 1u);
  var color = vec3<f32>(0.0);
  for (var sy = 0u; sy < n; sy++) {
    for (var sx = 0u; sx < n; sx++) {
      let u = (f32(col) + (f32(sx) + 0.5) / f32(n)) / size;
      let v = (f32(row) + (f32(sy) + 0.5) / f32(n)) / size;
      var ray = centre;
      var t = t_centre;
      if (n > 1u) { ray = camera_ray(image, u, v); t = trace(base, ray); }
      if (t >= 0.0) { color += to_srgb(shade(base, ray, t)); } else { color += to_srgb(background(base, v)); }
    }
  }
  color /= f32(n * n);
  var alpha = 0.0;
  if (hit) { alpha = 1.0; }
  colors[index] = pack4x8unorm(vec4<f32>(color, alpha));
}
`;
