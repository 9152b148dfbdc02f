/**
 * Progress for long stages: a cli-progress bar (steps, rate, ETA) on a terminal, plain
 * throttled lines otherwise (CI logs, redirected output), and throttled JSONL records.
 */
import cliProgress from "cli-progress";
import process from "node:process";
import type { Progress } from "./stage.ts";

/** Where progress goes besides the terminal. */
export interface ProgressSinks {
  /** Prints one human line (non-TTY mode). */
  line(text: string): void;
  /** Records a structured event (throttled). */
  record(fields: Record<string, unknown>): void;
  /** Whether to draw an interactive bar. */
  interactive: boolean;
}

const LINE_INTERVAL_MS = 2000;

/** Starts progress reporting over `total` steps for a stage. */
export function startProgress(
  label: string,
  total: number,
  unit: string,
  sinks: ProgressSinks,
): Progress {
  const started = performance.now();
  let done = 0;
  let lastLine = 0;
  let lastReported = -1;
  let stopped = false;
  const bar = sinks.interactive
    ? new cliProgress.SingleBar({
      format:
        `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 50,
    }, cliProgress.Presets.shades_classic)
    : null;
  bar?.start(total, 0, { rate: "0" });

  const rate = () => done / Math.max((performance.now() - started) / 1000, 1e-9);
  const report = (force: boolean) => {
    const now = performance.now();
    if (bar) bar.update(done, { rate: rate().toFixed(2) });
    if (done === lastReported) return;
    if (!force && now - lastLine < LINE_INTERVAL_MS && done < total) return;
    lastLine = now;
    lastReported = done;
    const eta = rate() > 0 ? (total - done) / rate() : Infinity;
    const fields = {
      done,
      total,
      rate: Number(rate().toPrecision(4)),
      etaSeconds: Math.round(eta),
    };
    sinks.record(fields);
    if (!bar) {
      const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
      const etaText = Number.isFinite(eta) ? `${Math.round(eta)}s` : "?";
      sinks.line(
        `${label} ${done}/${total} ${unit} (${pct}%) ${rate().toFixed(2)} ${unit}/s ETA ${etaText}`,
      );
    }
  };

  return {
    update(value: number) {
      if (stopped) return;
      done = Math.min(value, total);
      report(false);
    },
    increment(n = 1) {
      this.update(done + n);
    },
    stop() {
      if (stopped) return;
      report(true);
      stopped = true;
      bar?.stop();
    },
  };
}
