/**
 * Stage checkpoints: each one is a store object (so it is written atomically and verified like
 * any artifact) and `checkpoints/<key>.json` points at the latest. The pointer is replaced
 * atomically after the new object is in place, so a kill at any moment leaves a usable checkpoint.
 */
import * as path from "node:path";
import { readJsonOrNull, writeJsonAtomic } from "./atomic_fs.ts";
import { faultPoint } from "./fault_injection.ts";
import { listFiles } from "./manifest.ts";
import type { CheckpointState, ResumedState } from "./stage.ts";
import type { Store } from "./store.ts";

/** The pointer to a key's latest checkpoint. */
export interface CheckpointPointer {
  key: string;
  step: number;
  artifact: string;
  savedAt: string;
}

// A marker file makes every checkpoint object unique to its key and step, so deleting an old
// checkpoint object can never delete a stage output with identical bytes.
const MARKER = "_checkpoint.json";

/** Checkpoints of one stage key. */
export class CheckpointSlot {
  constructor(private store: Store, readonly key: string) {}

  private get pointerFile() {
    return this.store.at("checkpoints", `${this.key}.json`);
  }

  /** The current pointer, or null. */
  pointer(): Promise<CheckpointPointer | null> {
    return readJsonOrNull<CheckpointPointer>(this.pointerFile);
  }

  /** Saves a checkpoint and then drops the previous one. */
  async save(state: CheckpointState): Promise<void> {
    const previous = await this.pointer();
    const staging = await this.store.makeStagingDir("checkpoint");
    for (const [name, data] of Object.entries(state.files)) {
      if (name === MARKER || name.includes("..") || path.isAbsolute(name)) {
        throw new Error(`checkpoint file name "${name}" is not allowed`);
      }
      const file = path.join(staging.outDir, name);
      await Deno.mkdir(path.dirname(file), { recursive: true });
      await (typeof data === "string"
        ? Deno.writeTextFile(file, data)
        : Deno.writeFile(file, data));
    }
    await Deno.writeTextFile(
      path.join(staging.outDir, MARKER),
      JSON.stringify({ key: this.key, step: state.step }),
    );
    const artifact = await this.store.commit(staging.dir, "checkpoint");
    faultPoint("checkpoint:before-pointer");
    await writeJsonAtomic(
      this.pointerFile,
      {
        key: this.key,
        step: state.step,
        artifact,
        savedAt: new Date().toISOString(),
      } satisfies CheckpointPointer,
    );
    faultPoint("checkpoint:after-pointer");
    if (previous && previous.artifact !== artifact) {
      await this.store.removeObject(previous.artifact);
    }
  }

  /** Loads the latest checkpoint; a damaged one is reported and ignored (the stage starts over). */
  async load(warn: (message: string) => void): Promise<ResumedState | null> {
    const pointer = await this.pointer();
    if (!pointer) return null;
    try {
      await this.store.check(pointer.artifact, "cached");
    } catch (err) {
      warn(`ignoring damaged checkpoint at step ${pointer.step}: ${(err as Error).message}`);
      return null;
    }
    const dir = this.store.filesDir(pointer.artifact);
    const files: Record<string, Uint8Array> = {};
    for (const name of await listFiles(dir)) {
      if (name !== MARKER) files[name] = await Deno.readFile(path.join(dir, name));
    }
    const decoder = new TextDecoder();
    return {
      step: pointer.step,
      files,
      text(name: string) {
        if (!(name in files)) throw new Error(`checkpoint has no file "${name}"`);
        return decoder.decode(files[name]);
      },
    };
  }

  /** Removes the pointer and its object (the stage finished). */
  async clear(): Promise<void> {
    const pointer = await this.pointer();
    if (!pointer) return;
    await Deno.remove(this.pointerFile).catch(() => {});
    await this.store.removeObject(pointer.artifact);
  }
}
