/**
 * Crash testing: `MIMIC3D_FAULT=<point>[@<n>]` makes the process SIGKILL itself the n-th time
 * (default first) it reaches a named point, so tests can kill exactly mid-write;
 * `<point>[@<n>]=enospc` throws the error a full disk gives there instead. Inert otherwise.
 */
const hits = new Map<string, number>();

/** Named points where a crash must leave the store consistent. */
export type FaultPoint =
  | "commit:before-rename"
  | "commit:after-rename"
  | "checkpoint:before-rename"
  | "checkpoint:after-rename"
  | "checkpoint:before-pointer"
  | "checkpoint:after-pointer";

/** Kills the process here when `MIMIC3D_FAULT` selects this point. */
export function faultPoint(point: FaultPoint): void {
  const spec = Deno.env.get("MIMIC3D_FAULT");
  if (!spec) return;
  const [where, action] = spec.split("=");
  const [name, nth] = where.split("@");
  if (name !== point) return;
  const count = (hits.get(point) ?? 0) + 1;
  hits.set(point, count);
  if (count !== Number(nth ?? "1")) return;
  if (action === "enospc") {
    // What Deno throws for a write on a full filesystem (os error 28, a string `code`).
    throw Object.assign(new Error(`No space left on device (os error 28): ${point}`), {
      code: "ENOSPC",
    });
  }
  console.error(`fault injected at ${point}`);
  Deno.kill(Deno.pid, "SIGKILL");
}
