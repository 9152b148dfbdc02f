/** HTML escaping for the reports and tables the pipeline renders. */

/** Escapes &, <, > and " for use in HTML text and attribute values. */
export function escapeHtml(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll(
    '"',
    "&quot;",
  );
}
