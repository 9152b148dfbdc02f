/**
 * How a run's HTML report points at the viewer: the `serve` command for its
 * checkpoint (a static report cannot start a server) and the address that
 * command will open.
 */
import { escapeHtml } from "../../pipeline/html.ts";

/** The shell command that opens `checkpoint` in the viewer. */
export function serveCommandLine(checkpoint: string, port = 8080): string {
  const quoted = /^[\w./:@=+-]+$/.test(checkpoint)
    ? checkpoint
    : `'${checkpoint.replaceAll("'", `'\\''`)}'`;
  return `npx -y deno@2.9.6 run -A mod.ts serve ${quoted}${port === 8080 ? "" : ` --port ${port}`}`;
}

/** An HTML fragment for a report: the command to copy, and a link to the page it serves. */
export function viewerLinkHtml(checkpoint: string, port = 8080): string {
  const url = `http://127.0.0.1:${port}/`;
  const command = escapeHtml(serveCommandLine(checkpoint, port));
  return `<div class="viewer-link"><strong>Open in the 3-D viewer:</strong> run ` +
    `<code>${command}</code>, then <a href="${url}">${url}</a></div>`;
}
