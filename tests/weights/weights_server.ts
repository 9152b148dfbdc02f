/**
 * A small HTTP/1.1 server on 127.0.0.1 (port 0) for download tests, over raw TCP so a test can
 * misbehave as real servers do: close before Content-Length, stall mid-body, trickle slowly.
 * Every connection is closed by `close()`, which also ends a stalled response.
 */

/** How a path is answered. */
export type Route =
  /** The whole body, in `chunks` pieces `delayMs` apart (slow but progressing when > 0). */
  | { kind: "file"; body: Uint8Array; chunks?: number; delayMs?: number }
  /** Content-Length of the whole body, then `sent` bytes and the connection closes. */
  | { kind: "truncated"; body: Uint8Array; sent: number }
  /** Content-Length of the whole body, then `sent` bytes and silence until the server closes. */
  | { kind: "stall"; body: Uint8Array; sent: number }
  /** Reads the request and never answers, until the server closes. */
  | { kind: "silent" }
  | { kind: "status"; status: number; reason: string };

/** A running test server. */
export interface WeightsServer {
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** Requests seen per path. */
  requests: Map<string, number>;
  close(): Promise<void>;
}

const MAX_HEAD = 16 << 10;

/** Starts serving `routes` (path → behaviour); other paths get 404. */
export function startWeightsServer(routes: Record<string, Route>): WeightsServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const requests = new Map<string, number>();
  const conns = new Set<Deno.Conn>();
  const handlers = new Set<Promise<void>>();
  const closing = Promise.withResolvers<void>();
  let closed = false;
  const sleep = (ms: number) =>
    Promise.race([new Promise<void>((r) => setTimeout(r, ms)), closing.promise]);

  async function serve(conn: Deno.Conn) {
    const path = await readRequestPath(conn);
    if (path === null) return;
    requests.set(path, (requests.get(path) ?? 0) + 1);
    const route = routes[path] ?? { kind: "status", status: 404, reason: "Not Found" };
    const write = (bytes: Uint8Array) => writeAll(conn, bytes);
    const head = (status: string, length: number) =>
      new TextEncoder().encode(
        `HTTP/1.1 ${status}\r\nContent-Length: ${length}\r\n` +
          `Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n`,
      );
    switch (route.kind) {
      case "status": {
        const body = new TextEncoder().encode(route.reason);
        await write(head(`${route.status} ${route.reason}`, body.length));
        await write(body);
        return;
      }
      case "file": {
        await write(head("200 OK", route.body.length));
        const chunks = route.chunks ?? 1;
        const size = Math.ceil(route.body.length / chunks);
        for (let at = 0; at < route.body.length && !closed; at += size) {
          if (at > 0 && route.delayMs) await sleep(route.delayMs);
          await write(route.body.subarray(at, at + size));
        }
        return;
      }
      case "truncated":
        await write(head("200 OK", route.body.length));
        await write(route.body.subarray(0, route.sent));
        return;
      case "silent":
        await closing.promise;
        return;
      case "stall":
        await write(head("200 OK", route.body.length));
        await write(route.body.subarray(0, route.sent));
        await closing.promise;
        return;
    }
  }

  const accepting = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      const handler: Promise<void> = serve(conn).catch(() => {}).finally(() => {
        conns.delete(conn);
        handlers.delete(handler);
        try {
          conn.close();
        } catch { /* already closed */ }
      });
      handlers.add(handler);
    }
  })().catch(() => {});

  const { port } = listener.addr as Deno.NetAddr;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      closed = true;
      closing.resolve();
      listener.close();
      await accepting;
      await Promise.allSettled([...handlers]);
    },
  };
}

/** Reads a request head and returns its path (null when the client went away). */
async function readRequestPath(conn: Deno.Conn): Promise<string | null> {
  const buf = new Uint8Array(MAX_HEAD);
  let used = 0;
  while (used < buf.length) {
    const n = await conn.read(buf.subarray(used));
    if (n === null) return null;
    used += n;
    const text = new TextDecoder().decode(buf.subarray(0, used));
    if (text.includes("\r\n\r\n")) return text.split(" ")[1] ?? "/";
  }
  return null;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array) {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}
