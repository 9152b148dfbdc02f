/** Structured run logs: one JSON object per line in `logs/<run>.jsonl`, appended as events happen. */
import type { Store } from "./store.ts";

/** An append-only JSONL event log for one run. */
export class RunLog {
  private constructor(readonly file: string, private handle: Deno.FsFile | null) {}

  /** Opens the log of a run. */
  static async open(store: Store, runId: string): Promise<RunLog> {
    const file = store.at("logs", `${runId}.jsonl`);
    const handle = await Deno.open(file, { append: true, create: true });
    return new RunLog(file, handle);
  }

  /** Appends one event; each line is written with a single write so concurrent readers see whole lines. */
  event(type: string, fields: Record<string, unknown> = {}): void {
    if (!this.handle) return;
    const line = JSON.stringify({ time: new Date().toISOString(), type, ...fields }) + "\n";
    const bytes = new TextEncoder().encode(line);
    let offset = 0;
    while (offset < bytes.length) offset += this.handle.writeSync(bytes.subarray(offset));
  }

  /** Closes the log. */
  close(): void {
    this.handle?.close();
    this.handle = null;
  }
}

/** Reads all events of a log file. */
export async function readRunLog(file: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(file);
  return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

/** A sortable, unique run id: UTC time + random suffix. */
export function newRunId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return `${stamp}-${crypto.randomUUID().slice(0, 8)}`;
}
