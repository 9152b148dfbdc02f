/**
 * Crash testing: `MIMIC3D_FAULT=<point>[@<n>]` makes the process SIGKILL itself the n-th time
 * (default first) it reaches a named point, so tests can kill exactly mid-write. Inert otherwise.
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
  const [name, nth] = spec.split("@");
  if (name !== point) return;
  const count = (hits.get(point) ?? 0) + 1;
  hits.set(point, count);
  if (count !== Number(nth ?? "1")) return;
  console.error(`fault injected at ${point}`);
  Deno.kill(Deno.pid, "SIGKILL");
}
