// The viewer's display pass (the page's own shader; the 3-D branch itself is
// rendered by the fused renderer's WGSL, fetched from the server). It turns
// the fused kernel's per-ray result into the canvas: features as RGB, depth,
// or normals from neighbouring depths; or shows the 2-D branch image.

struct View {
  res: u32,       // rays per side of the rendered image
  mode: u32,      // 0 rgb, 1 depth, 2 normals, 3 the 2-D branch image
  stride: u32,    // floats per ray in `result`
  outDim: u32,    // feature channels (depth follows them)
  rayStart: f32,
  rayEnd: f32,
  pad0: f32,
  pad1: f32,
}

@group(0) @binding(0) var<storage, read> result: array<f32>;
@group(0) @binding(1) var<storage, read> rays: array<f32>;
@group(0) @binding(2) var<uniform> view: View;
@group(0) @binding(3) var image: texture_2d<f32>;

@vertex
fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4f {
  let xy = vec2f(f32((i << 1u) & 2u), f32(i & 2u));
  return vec4f(xy * 2.0 - 1.0, 0.0, 1.0);
}

const BACKGROUND = vec3f(0.07, 0.08, 0.1);

fn rayIndex(p: vec2i) -> u32 {
  let q = clamp(p, vec2i(0), vec2i(i32(view.res) - 1));
  return u32(q.y) * view.res + u32(q.x);
}

fn surfacePoint(r: u32) -> vec3f {
  let o = vec3f(rays[6u * r], rays[6u * r + 1u], rays[6u * r + 2u]);
  let d = vec3f(rays[6u * r + 3u], rays[6u * r + 4u], rays[6u * r + 5u]);
  return o + clamp(result[r * view.stride + view.outDim], view.rayStart, view.rayEnd) * d;
}

// [−1, 1] → the byte EG3D saves (x·127.5 + 128, clamped, truncated), as a unorm value,
// so the canvas holds exactly the bytes of the Deno-side image.
fn toUnorm(x: vec3f) -> vec3f {
  return clamp(floor(x * 127.5 + 128.0), vec3f(0.0), vec3f(255.0)) / 255.0;
}

@fragment
fn fs(@builtin(position) position: vec4f) -> @location(0) vec4f {
  let p = vec2i(floor(position.xy));
  if (view.mode == 3u) {
    return vec4f(textureLoad(image, p, 0).rgb, 1.0);
  }
  let r = rayIndex(p);
  let base = r * view.stride;
  let coverage = clamp(result[base + view.outDim + 1u], 0.0, 1.0);
  if (view.mode == 0u) {
    return vec4f(toUnorm(vec3f(result[base], result[base + 1u], result[base + 2u])), 1.0);
  }
  if (view.mode == 1u) {
    let depth = clamp(result[base + view.outDim], view.rayStart, view.rayEnd);
    let near = 1.0 - (depth - view.rayStart) / (view.rayEnd - view.rayStart);
    return vec4f(mix(BACKGROUND, vec3f(near), coverage), 1.0);
  }
  let dx = surfacePoint(rayIndex(p + vec2i(1, 0))) - surfacePoint(rayIndex(p - vec2i(1, 0)));
  let dy = surfacePoint(rayIndex(p + vec2i(0, 1))) - surfacePoint(rayIndex(p - vec2i(0, 1)));
  var n = cross(dx, dy);
  let len = length(n);
  if (len < 1e-12) {
    return vec4f(BACKGROUND, 1.0);
  }
  n = n / len;
  let dir = vec3f(rays[6u * r + 3u], rays[6u * r + 4u], rays[6u * r + 5u]);
  if (dot(n, dir) > 0.0) {
    n = -n;
  }
  return vec4f(mix(BACKGROUND, n * 0.5 + 0.5, coverage), 1.0);
}
