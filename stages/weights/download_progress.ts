/**
 * Progress of one download on stderr: a cli-progress bar on a terminal; otherwise (CI logs,
 * redirected output) one line per tenth of the file, so a log shows progress without flooding.
 * @module
 */
import cliProgress from "cli-progress";
import process from "node:process";

/** Receives byte counts as a download goes. */
export interface DownloadProgress {
  update(received: number, total: number | null): void;
  stop(): void;
}

const MiB = 1 << 20;
/** Without a Content-Length, a line per this many bytes. */
const UNKNOWN_TOTAL_STEP = 64 * MiB;

const mib = (bytes: number) => (bytes / MiB).toFixed(1);

/** Starts reporting a download of `label`; `line` prints one line (non-interactive mode). */
export function downloadProgress(
  label: string,
  { interactive, line }: { interactive: boolean; line: (text: string) => void },
): DownloadProgress {
  let bar: cliProgress.SingleBar | null = null;
  let lastStep = -1;
  return {
    update(received, total) {
      if (interactive && total !== null) {
        if (!bar) {
          bar = new cliProgress.SingleBar({
            format: `${label} [{bar}] {percentage}% | {got}/{size} MiB | ETA {eta_formatted}`,
            stream: process.stderr,
            hideCursor: true,
          }, cliProgress.Presets.shades_classic);
          bar.start(total, 0, { got: mib(0), size: mib(total) });
        }
        bar.update(received, { got: mib(received) });
        return;
      }
      const step = total
        ? Math.floor((10 * received) / total)
        : Math.floor(received / UNKNOWN_TOTAL_STEP);
      if (step === lastStep) return;
      lastStep = step;
      line(
        total
          ? `${label}: ${step * 10}% (${mib(received)}/${mib(total)} MiB)`
          : `${label}: ${mib(received)} MiB`,
      );
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}
