/**
 * The viewer's server side without a browser: the page's camera module
 * against the project's camera labels and rays, the HTTP endpoints (same WGSL
 * as `renderFused`, planes in f16 and f32, the 2-D branch image, the mesh),
 * and the clear errors for a bad checkpoint, a busy port and bad parameters.
 */
import { initGpu, Tensor } from "../../kernels/mod.ts";
import { lookAtCameraLabel } from "../../stages/io/camera_label.ts";
import { decodePng } from "../../stages/io/png.ts";
import { readPly } from "../../stages/geometry/mesh_io.ts";
import { fusedKernelShape, fusedRenderSource } from "../../stages/model/fused_renderer.ts";
import { sampleRays } from "../../stages/model/rays.ts";
import {
  MAX_MESH_RESOLUTION,
  startViewerServer,
  type ViewerServer,
} from "../../stages/viewer/server.ts";
import { serveCommandLine, viewerLinkHtml } from "../../stages/viewer/report_link.ts";
import { cameraRays, orbitCameraLabel } from "../../stages/viewer/page/orbit_camera.js";
import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { assertClose } from "../helpers/check.ts";
import { writeTinyCheckpoint } from "./tiny_checkpoint.ts";

await initGpu();

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("viewer camera (page JS) = lookAtCameraLabel and sampleRays", async () => {
  for (
    const view of [{ yaw: 0, pitch: 0 }, { yaw: 0.7, pitch: -0.3, focal: 6 }, {
      yaw: -2.9,
      pitch: 1.1,
    }]
  ) {
    const label = orbitCameraLabel(view);
    assertClose(label, lookAtCameraLabel(view), `label ${JSON.stringify(view)}`, { atol: 1e-12 });
    const rays = cameraRays(label, 5);
    const want = sampleRays(Tensor.fromData(label, [1, 25]), 5);
    const origins = await want.origins.read();
    const directions = await want.directions.read();
    const got = { o: [] as number[], d: [] as number[] };
    for (let i = 0; i < 25; i++) {
      got.o.push(...rays.subarray(6 * i, 6 * i + 3));
      got.d.push(...rays.subarray(6 * i + 3, 6 * i + 6));
    }
    assertClose(got.o, origins, "ray origins", { atol: 1e-6 });
    assertClose(got.d, directions, "ray directions", { atol: 1e-6 });
  }
});

/** Runs `fn` against a server of the tiny Mimic3D checkpoint on a free loopback port. */
async function withServer(
  fn: (server: ViewerServer, dir: string) => Promise<void>,
  hostname = "127.0.0.1",
) {
  const dir = await Deno.makeTempDir({ prefix: "viewer_server_" });
  let server: ViewerServer | null = null;
  try {
    server = await startViewerServer(await writeTinyCheckpoint(dir), { port: 0, hostname });
    await fn(server, dir);
  } finally {
    await server?.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("viewer server: page, model, kernel (the renderFused WGSL), planes, 2-D image, mesh", async () => {
  await withServer(async (server) => {
    const get = (path: string) => fetch(new URL(path, server.url));
    const page = await get("/");
    assertEquals(page.headers.get("content-type"), "text/html; charset=utf-8");
    const html = await page.text();
    assertEquals(html.includes('src="/viewer.js"'), true);
    for (const asset of ["/viewer.js", "/orbit_camera.js", "/display.wgsl", "/viewer.css"]) {
      const r = await get(asset);
      assertEquals(r.status, 200, asset);
      await r.body?.cancel();
    }

    const model = await (await get("/model.json")).json();
    assertEquals(model.kind, "mimic3d");
    assertEquals(model.planeSets, 2);
    assertEquals(model.rendering.planeAxes, "mimic3d");
    const decoder = server.model.generator.decoder;
    assertEquals(model.decoderWeights.length, 32 * 64 + 64 + 33 * 64 + 33);

    // The kernel the page compiles is the fused renderer's own source for these sizes.
    const kernel = await (await get("/kernel.json?res=16&workgroupStorage=16384")).json();
    const shape = fusedKernelShape(decoder, server.model.renderOptions, 2, {
      injected: false,
      maxWorkgroupStorage: 16384,
    });
    assertEquals(kernel.wgsl, fusedRenderSource(shape));
    assertEquals(shape.sharedWeights, false);
    assertEquals(await (await get("/shader.wgsl?workgroupStorage=16384")).text(), kernel.wgsl);
    assertEquals(kernel.paramWords.slice(2, 4), [256, 256]);
    assertEquals(kernel.bindings, { rays: 0, planes: [1, 2], weights: 3, result: 4, params: 5 });

    // Planes: channels-last coarse 16² + detail 32², f16 within half precision of f32.
    const f32 = await get("/planes?seed=3&psi=0.5&dtype=f32");
    assertEquals(JSON.parse(f32.headers.get("x-plane-shapes")!), [[3, 16, 16, 32], [
      3,
      32,
      32,
      32,
    ]]);
    const full = new Float32Array(await f32.arrayBuffer());
    const f16 = await get("/planes?seed=3&psi=0.5&dtype=f16");
    assertEquals(f16.headers.get("x-plane-dtype"), "f16");
    const half = new Float16Array(await f16.arrayBuffer());
    assertEquals(half.length, full.length);
    let worst = 0;
    for (let i = 0; i < full.length; i++) {
      worst = Math.max(worst, Math.abs(half[i] - full[i]) / Math.max(Math.abs(full[i]), 2 ** -14));
    }
    if (worst > 2 ** -11) throw new Error(`f16 planes off by ${worst} (relative)`);
    const other = new Float32Array(
      await (await get("/planes?seed=4&psi=0.5&dtype=f32")).arrayBuffer(),
    );
    assertEquals(other.some((v, i) => v !== full[i]), true, "another seed, other planes");

    // The 2-D branch: the super-resolved image at the model's resolution.
    const png = await get("/image2d.png?seed=3&psi=0.5&yaw=0.4&pitch=0.1");
    assertEquals(png.headers.get("content-type"), "image/png");
    const image = decodePng(new Uint8Array(await png.arrayBuffer()), "image2d");
    assertEquals([image.width, image.height], [32, 32]);

    // The mesh, at a level where the tiny random model has a surface (its densities are < 0).
    const ply = await get("/mesh.ply?seed=3&psi=0.5&res=20&level=-0.5");
    assertEquals(
      ply.headers.get("content-disposition"),
      'attachment; filename="mimic3d_seed3.ply"',
    );
    const mesh = readPly(new Uint8Array(await ply.arrayBuffer()));
    if (!(mesh.faces.length > 0 && mesh.colors)) throw new Error("empty or colourless mesh");
    if (mesh.positions.some((v) => Math.abs(v) > 0.5 + 1e-6)) {
      throw new Error("mesh leaves the tri-plane box");
    }
  });
});

Deno.test("viewer server: bad parameters → 400, unknown paths → 404", async () => {
  await withServer(async (server) => {
    for (
      const path of [
        "/planes?seed=-1",
        "/planes?seed=1.5",
        "/planes?dtype=f8",
        "/image2d.png?yaw=x",
        "/mesh.ply?res=4",
        "/kernel.json?res=0",
      ]
    ) {
      const r = await fetch(new URL(path, server.url));
      assertEquals(r.status, 400, path);
      const text = await r.text();
      if (!/must be/.test(text)) throw new Error(`${path}: unclear message '${text}'`);
    }
    const missing = await fetch(new URL("/etc/passwd", server.url));
    assertEquals(missing.status, 404);
    await missing.body?.cancel();
    const post = await fetch(new URL("/", server.url), { method: "POST" });
    assertEquals(post.status, 405);
    await post.body?.cancel();
  });
});

Deno.test("viewer server: a forged Host or a foreign Origin gets 403; no absolute paths; mesh grid capped", async () => {
  await withServer(async (server) => {
    // A raw request: fetch sets Host itself.
    const status = async (headers: string) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      await conn.write(
        new TextEncoder().encode(`GET /model.json HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`),
      );
      const reply = new Uint8Array(256);
      const n = await conn.read(reply);
      conn.close();
      return new TextDecoder().decode(reply.subarray(0, n ?? 0)).split(" ")[1];
    };
    const local = `Host: 127.0.0.1:${server.port}\r\n`;
    assertEquals(await status(`Host: attacker.example\r\n`), "403");
    assertEquals(await status(`Host: attacker.example:${server.port}\r\n`), "403");
    assertEquals(await status(`${local}Origin: http://attacker.example\r\n`), "403");
    assertEquals(await status(`${local}Origin: http://127.0.0.1:${server.port}\r\n`), "200");
    const same = await fetch(new URL("/model.json", server.url));
    assertEquals(same.status, 200);
    const info = await same.json();
    if (String(info.checkpoint).startsWith("/")) {
      throw new Error(`model.json shows an absolute path: ${info.checkpoint}`);
    }
    const big = await fetch(new URL(`/mesh.ply?res=${MAX_MESH_RESOLUTION + 1}`, server.url));
    assertEquals(big.status, 400);
    await big.body?.cancel();
  });
});

Deno.test("viewer server: light requests are served while a mesh runs, and a mesh stops when its client leaves", async () => {
  await withServer(async (server) => {
    const statusOf = async (path: string) => {
      const response = await fetch(new URL(path, server.url));
      await response.body?.cancel();
      return response.status;
    };
    const logged: string[] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => logged.push(args.join(" "));
    try {
      const client = new AbortController();
      let heavyDone = false;
      const heavy = fetch(new URL(`/mesh.ply?res=${MAX_MESH_RESOLUTION}`, server.url), {
        signal: client.signal,
      }).then((r) => r.body?.cancel(), () => {}).finally(() => heavyDone = true);
      // Running once a second mesh is refused as busy.
      while (await statusOf("/mesh.ply?res=8") !== 503) await delay(20);
      assertEquals(await statusOf("/image2d.png?seed=1&psi=0.5&yaw=0.2"), 200);
      assertEquals(heavyDone, false, "the image waited for the whole mesh");
      client.abort();
      await heavy;
      // The server notices, stops at the next slab and takes the next mesh.
      const deadline = Date.now() + 120_000;
      while (await statusOf("/mesh.ply?res=8&level=-0.5") !== 200) {
        if (Date.now() > deadline) throw new Error("the abandoned mesh was not stopped");
        await delay(50);
      }
      assertEquals(
        logged.filter((l) => l.includes("/mesh.ply: stopped, the client left")).length,
        1,
      );
    } finally {
      console.error = consoleError;
    }
  });
});

Deno.test("viewer server: bound beyond loopback, only requests with the printed URL's token (or its cookie) are served", async () => {
  await withServer(async (server) => {
    const url = new URL(server.url);
    const token = url.searchParams.get("token");
    assertEquals(token?.length, 32);
    const at = (path: string, init?: RequestInit) =>
      fetch(new URL(path, `http://127.0.0.1:${server.port}`), init);
    for (const path of ["/", "/model.json", "/model.json?token=wrong"]) {
      const refused = await at(path);
      assertEquals(refused.status, 403, path);
      await refused.body?.cancel();
    }
    const page = await fetch(url);
    assertEquals(page.status, 200);
    const cookie = page.headers.get("set-cookie") ?? "";
    assertEquals(cookie.startsWith(`mimic3d_viewer=${token};`), true, cookie);
    assertEquals(cookie.includes("HttpOnly") && cookie.includes("SameSite=Strict"), true, cookie);
    await page.body?.cancel();
    // The page's own requests carry the cookie; any host name may reach a non-loopback bind.
    const info = await at("/model.json", { headers: { cookie: `mimic3d_viewer=${token}` } });
    assertEquals(info.status, 200);
    await info.body?.cancel();
  }, "0.0.0.0");
});

Deno.test("viewer server: bad checkpoint and busy port are one clear error each", async () => {
  await assertThrows(() => startViewerServer("/nonexistent/G.safetensors"), "no such checkpoint");
  const fixture = new URL("../fixtures/reference/mimic3d_tiny.pkl", import.meta.url).pathname;
  await assertThrows(() => startViewerServer(fixture), "import it first (import-checkpoint ");
  await withServer(async (server) => {
    await assertThrows(
      () => startViewerServer(server.model, { port: server.port }),
      `port ${server.port} on 127.0.0.1 is already in use`,
    );
    // The refused second server must not have freed the running one's model.
    const r = await fetch(new URL("/planes?seed=1&dtype=f32", server.url));
    assertEquals(r.status, 200);
    await r.body?.cancel();
  });
});

Deno.test("viewer report link: the serve command for a checkpoint", () => {
  assertEquals(
    serveCommandLine("runs/a b/G_ema.safetensors"),
    "npx -y deno@2.9.6 run -A mod.ts serve 'runs/a b/G_ema.safetensors'",
  );
  assertEquals(
    serveCommandLine(".mimic3d/objects/ab12", 9000),
    "npx -y deno@2.9.6 run -A mod.ts serve .mimic3d/objects/ab12 --port 9000",
  );
  const html = viewerLinkHtml("x<y>/G.safetensors");
  assertEquals(html.includes("x&lt;y&gt;/G.safetensors"), true);
  assertEquals(html.includes('href="http://127.0.0.1:8080/"'), true);
});
