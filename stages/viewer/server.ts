/**
 * The viewer's HTTP server (Deno's own, loopback by default): the static page
 * (`page/`) and, per request, what the page computes with — model facts, the
 * fused renderer's WGSL, a seed's tri-planes — plus the 2-D branch image and
 * a mesh, computed on the server's adapter.
 *
 *   GET /                     the page (query: seed, psi, yaw, pitch, focal, res, view, dtype)
 *   GET /model.json           sizes, rendering options, decoder weights, adapter
 *   GET /kernel.json?res=&workgroupStorage=   WGSL + parameter block for an R×R view
 *   GET /shader.wgsl?workgroupStorage=        the same WGSL as text
 *   GET /planes?seed=&psi=&dtype=             channels-last planes (x-plane-shapes, x-plane-dtype)
 *   GET /image2d.png?seed=&psi=&yaw=&pitch=&focal=   the 2-D branch (super-resolution) image
 *   GET /mesh.ply?seed=&psi=&res=&level=      marching-cubes mesh of the density (x-mesh-faces)
 */
import { type LatentKey, type PlaneDtype, type ViewerCamera, ViewerModel } from "./viewer_model.ts";

/** Options of `startViewerServer`. */
export interface ViewerServerOptions {
  /** TCP port; 0 picks a free one (default 8080). */
  port?: number;
  /** Interface to listen on (default loopback, 127.0.0.1). */
  hostname?: string;
}

/** A running viewer server. */
export interface ViewerServer {
  /** e.g. http://127.0.0.1:8080/; bound beyond loopback, it carries the access token. */
  readonly url: string;
  readonly port: number;
  readonly model: ViewerModel;
  /** Stops listening; frees the model's GPU memory if the server loaded it. */
  close(): Promise<void>;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
}

/** The page's static files, served as they are on disk. */
const STATIC_FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/index.html": { file: "index.html", type: "text/html; charset=utf-8" },
  "/viewer.js": { file: "viewer.js", type: "text/javascript; charset=utf-8" },
  "/orbit_camera.js": { file: "orbit_camera.js", type: "text/javascript; charset=utf-8" },
  "/display.wgsl": { file: "display.wgsl", type: "text/plain; charset=utf-8" },
  "/viewer.css": { file: "viewer.css", type: "text/css; charset=utf-8" },
};

/** A request the server refuses with 400 and this message. */
class BadRequest extends Error {}

/**
 * Loads `checkpoint` (a generator `.safetensors` or an artifact directory) and
 * serves the viewer for it. Throws a one-line error for a bad checkpoint or a
 * port already in use.
 */
export async function startViewerServer(
  checkpoint: string | ViewerModel,
  { port = 8080, hostname = "127.0.0.1" }: ViewerServerOptions = {},
): Promise<ViewerServer> {
  const owned = typeof checkpoint === "string";
  const model = owned ? await ViewerModel.load(checkpoint) : checkpoint;
  const controller = new AbortController();
  const urlHost = hostname.includes(":") ? `[${hostname}]` : hostname;
  // Bound beyond loopback, a secret token (122 random bits) replaces the Host check.
  const token = isLoopback(hostname) ? null : crypto.randomUUID().replaceAll("-", "");
  const guard = new RequestGuard(urlHost, token);
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve(
      { port, hostname, signal: controller.signal, onListen: () => {} },
      async (request) =>
        guard.refusal(request) ?? guard.admit(request, await handle(model, request, guard)),
    );
  } catch (e) {
    if (owned) model.dispose();
    if (e instanceof Deno.errors.AddrInUse) {
      throw new Error(
        `port ${port} on ${hostname} is already in use: pick another with --port (0 = any free port)`,
      );
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new Error(`not allowed to listen on ${hostname}:${port} (${(e as Error).message})`);
    }
    throw e;
  }
  const bound = server.addr.port;
  const shown = urlHost === "0.0.0.0" || urlHost === "[::]" ? "127.0.0.1" : urlHost;
  return {
    url: `http://${shown}:${bound}/${token ? `?token=${token}` : ""}`,
    port: bound,
    model,
    finished: server.finished,
    async close() {
      controller.abort();
      await server.finished;
      if (owned) model.dispose();
    },
  };
}

/** The largest mesh grid a request may ask for (a 512³ grid takes minutes on a CPU adapter). */
export const MAX_MESH_RESOLUTION = 256;

/**
 * What every request must pass: its `Host` names this server (loopback names or the bind
 * address; bound beyond loopback, it carries the token instead), not another site that
 * resolves to it (DNS rebinding); an `Origin`, when sent, is the same host, so pages of other
 * sites cannot call the server through the browser. One mesh (the heavy request) is computed
 * at a time; other meshes get 503 instead of queueing behind it, light requests are served
 * between its slabs, and it stops when its client leaves.
 */
class RequestGuard {
  readonly #hosts: Set<string>;
  meshBusy = false;

  /**
   * `bindHost` as a URL writes it (IPv6 in brackets). `token`: bound beyond loopback, where any
   * host name may reach the viewer, every request must carry this secret instead (the URL's
   * `?token=`, then a same-site cookie set from it).
   */
  constructor(bindHost: string, readonly token: string | null) {
    this.#hosts = new Set(["127.0.0.1", "localhost", "[::1]", bindHost]);
  }

  /** A 403 response for a request from elsewhere, or null. */
  refusal(request: Request): Response | null {
    const host = request.headers.get("host") ?? "";
    if (this.token) {
      if (!this.#presentsToken(request)) {
        return text(403, "forbidden: open the URL that `serve` printed, with its token");
      }
    } else if (!this.#hosts.has(host.replace(/:\d+$/, ""))) {
      return text(403, `forbidden: Host ${JSON.stringify(host)} is not this viewer`);
    }
    const origin = request.headers.get("origin");
    if (origin !== null && origin !== `http://${host}`) {
      return text(403, `forbidden: Origin ${JSON.stringify(origin)} is not this viewer`);
    }
    return null;
  }

  /** Sets the token cookie on a response to a request that brought the token in its URL. */
  admit(request: Request, response: Response): Response {
    if (!this.token || new URL(request.url).searchParams.get("token") !== this.token) {
      return response;
    }
    response.headers.append(
      "set-cookie",
      `${TOKEN_COOKIE}=${this.token}; HttpOnly; SameSite=Strict; Path=/`,
    );
    return response;
  }

  #presentsToken(request: Request): boolean {
    if (new URL(request.url).searchParams.get("token") === this.token) return true;
    const cookies = (request.headers.get("cookie") ?? "").split(/;\s*/);
    return cookies.includes(`${TOKEN_COOKIE}=${this.token}`);
  }
}

const TOKEN_COOKIE = "mimic3d_viewer";

/** Whether a listen address is the loopback interface only. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

async function handle(
  model: ViewerModel,
  request: Request,
  guard: RequestGuard,
): Promise<Response> {
  const url = new URL(request.url);
  if (request.method !== "GET" && request.method !== "HEAD") {
    return text(405, "only GET is served");
  }
  try {
    const asset = STATIC_FILES[url.pathname];
    if (asset) return await staticFile(asset.file, asset.type);
    const q = url.searchParams;
    switch (url.pathname) {
      case "/favicon.ico":
        return new Response(null, { status: 204 });
      case "/model.json":
        return json(await model.info());
      case "/kernel.json":
        return json(model.kernel(intParam(q, "res", 128, 8, 2048), workgroupStorage(q)));
      case "/shader.wgsl":
        return text(200, model.kernel(8, workgroupStorage(q)).wgsl);
      case "/planes": {
        const payload = await model.planes(latentParams(q), dtypeParam(q, model.defaultDtype));
        return new Response(asBody(payload.bytes), {
          headers: {
            "content-type": "application/octet-stream",
            "cache-control": "no-store",
            "x-plane-shapes": JSON.stringify(payload.shapes),
            "x-plane-dtype": payload.dtype,
          },
        });
      }
      case "/image2d.png": {
        const png = await model.image2d(latentParams(q), cameraParams(q));
        return new Response(asBody(png), {
          headers: { "content-type": "image/png", "cache-control": "no-store" },
        });
      }
      case "/mesh.ply": {
        const latent = latentParams(q);
        const resolution = intParam(q, "res", 128, 8, MAX_MESH_RESOLUTION);
        if (guard.meshBusy) return text(503, "busy with another mesh: retry when it is done");
        guard.meshBusy = true;
        const { ply, faces } = await model.mesh(latent, {
          resolution,
          level: numberParam(q, "level", 10),
          signal: request.signal,
        }).finally(() => guard.meshBusy = false);
        return new Response(asBody(ply), {
          headers: {
            "content-type": "application/octet-stream",
            "content-disposition": `attachment; filename="mimic3d_seed${latent.seed}.ply"`,
            "x-mesh-faces": String(faces),
            "cache-control": "no-store",
          },
        });
      }
      default:
        return text(404, `no such page: ${url.pathname}`);
    }
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (e instanceof BadRequest) return text(400, message);
    if (request.signal.aborted) {
      console.error(`viewer: ${url.pathname}: stopped, the client left`);
      return text(499, "the client left");
    }
    console.error(`viewer: ${url.pathname}: ${message}`);
    return text(500, message);
  }
}

const staticCache = new Map<string, Uint8Array>();

async function staticFile(name: string, type: string): Promise<Response> {
  let bytes = staticCache.get(name);
  if (!bytes) {
    const fileUrl = new URL(`./page/${name}`, import.meta.url);
    bytes = fileUrl.protocol === "file:"
      ? await Deno.readFile(fileUrl)
      : new Uint8Array(await (await fetch(fileUrl)).arrayBuffer());
    staticCache.set(name, bytes);
  }
  return new Response(asBody(bytes), {
    headers: { "content-type": type, "cache-control": "no-cache" },
  });
}

function latentParams(q: URLSearchParams): LatentKey {
  return {
    seed: intParam(q, "seed", 0, 0, 0xffffffff),
    psi: numberParam(q, "psi", 0.7, -2, 2),
  };
}

function cameraParams(q: URLSearchParams): ViewerCamera {
  return {
    yaw: numberParam(q, "yaw", 0),
    pitch: numberParam(q, "pitch", 0, -Math.PI / 2, Math.PI / 2),
    radius: numberParam(q, "radius", 2.7, 0.1, 100),
    focal: numberParam(q, "focal", 4.2647, 0.1, 100),
  };
}

function workgroupStorage(q: URLSearchParams): number {
  // WebGPU's guaranteed minimum when the page does not say.
  return intParam(q, "workgroupStorage", 16384, 0, 1 << 30);
}

function dtypeParam(q: URLSearchParams, fallback: PlaneDtype): PlaneDtype {
  const v = q.get("dtype") ?? fallback;
  if (v !== "f16" && v !== "f32") throw new BadRequest(`dtype must be f16 or f32, got '${v}'`);
  return v;
}

function numberParam(
  q: URLSearchParams,
  name: string,
  fallback: number,
  min = -1e6,
  max = 1e6,
): number {
  const raw = q.get(name);
  if (raw === null || raw === "") return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || v > max) {
    throw new BadRequest(`${name} must be a number in [${min}, ${max}], got '${raw}'`);
  }
  return v;
}

function intParam(q: URLSearchParams, name: string, fallback: number, min: number, max: number) {
  const v = numberParam(q, name, fallback, min, max);
  if (!Number.isInteger(v)) throw new BadRequest(`${name} must be an integer, got '${v}'`);
  return v;
}

/** Bytes as a response body (ours are never views of a SharedArrayBuffer). */
function asBody(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes as Uint8Array<ArrayBuffer>;
}

function json(value: unknown): Response {
  return new Response(JSON.stringify(value), {
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}

function text(status: number, body: string): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
  });
}
