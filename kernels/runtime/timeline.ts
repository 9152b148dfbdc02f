/**
 * A timeline of what the CPU and the GPU queue are doing — submit requests,
 * read-backs, gradient exchanges, training phases — printed to stderr with
 * millisecond timestamps when `MIMIC3D_TIMELINE=1`. Under MPI each line starts
 * with the rank. It is how one finds where a data-parallel step loses time
 * (docs/distributed.md, "Reading a timeline"); off, each event costs one test.
 * @module
 */

function flag(): boolean {
  try {
    return Deno.env.get("MIMIC3D_TIMELINE") === "1";
  } catch {
    return false; // no env permission: off
  }
}

function rankPrefix(): string {
  try {
    const rank = Deno.env.get("OMPI_COMM_WORLD_RANK") ?? Deno.env.get("PMIX_RANK");
    return rank === undefined ? "" : `r${rank} `;
  } catch {
    return "";
  }
}

/** True when timeline events are printed (read once, at start). */
export const timelineOn: boolean = flag();
const prefix = timelineOn ? rankPrefix() : "";

/** Prints one event (call as `timelineOn && timeline(...)`: the message is built only then). */
export function timeline(event: string): void {
  console.error(`${prefix}${performance.now().toFixed(1)} ${event}`);
}
