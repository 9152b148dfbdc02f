/**
 * A timeline of what the CPU and the GPU queue are doing — submit requests,
 * read-backs, gradient exchanges, training phases — printed to stderr with
 * millisecond timestamps when `MIMIC3D_TIMELINE=1`. Under MPI each line starts
 * with the rank. It is how one finds where a data-parallel step loses time
 * (docs/distributed.md, "Reading a timeline"); off, each event costs one test.
 * @module
 */

/** An environment variable, or undefined when unset or not permitted (then: off, no prefix). */
function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** True when timeline events are printed (read once, at start). */
export const timelineOn: boolean = env("MIMIC3D_TIMELINE") === "1";
const rank = timelineOn ? env("OMPI_COMM_WORLD_RANK") ?? env("PMIX_RANK") : undefined;
const prefix = rank === undefined ? "" : `r${rank} `;

/** Prints one event (call as `timelineOn && timeline(...)`: the message is built only then). */
export function timeline(event: string): void {
  console.error(`${prefix}${performance.now().toFixed(1)} ${event}`);
}
